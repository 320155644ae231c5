import Foundation

/// The weights of one mixture-of-experts FFN (llama.cpp's `build_moe_ffn`): a router
/// (`ffn_gate_inp`, one row per expert), GLM4-MoE's selection bias (`exp_probs_b`), the experts'
/// SwiGLU matrices as 3-D tensors (`ffn_{gate,up,down}_exps`), and a shared expert (Qwen2-MoE's
/// gated one, GLM4-MoE's plain one). gpt-oss adds biases to the router and to every expert matmul
/// and uses its clamped SwiGLU (`Kernels.swigluOAI`).
struct MixtureOfExperts {
    let router: WeightMatrix
    /// gpt-oss's router bias (`ffn_gate_inp.bias`), added to the logits.
    let routerBias: [Float]?
    let selectionBias: [Float]?
    /// gpt-oss's per-expert biases (`ffn_{gate,up,down}_exps.bias`, expert-major), added after each matmul.
    let gateBias, upBias, downBias: [Float]?
    let gate, up, down: ExpertWeights
    let shared: SharedExpert?
    let used: Int
    let normalizesWeights: Bool
    let gating: ExpertGating
    let weightsScale: Float
    /// DeepSeek-V3's expert groups (`expert_group_count`, `expert_group_used_count`); 0 = no groups.
    let groups, groupsUsed: Int

    var expertCount: Int { router.rows }

    /// Every tensor it reads, to hand their pages back after the layer.
    var tensors: [WeightTensor] {
        [router.tensor, gate.tensor, up.tensor, down.tensor]
            + (shared.map { [$0.gate.tensor, $0.up.tensor, $0.down.tensor] + ($0.gateInput.map { [$0.tensor] } ?? []) } ?? [])
    }

    /// Loads layer `prefix`'s MoE tensors (`blk.N.`).
    init(weights: any ModelWeights, prefix p: String, hp: LlamaHyperParameters) throws {
        let e = hp.embeddingLength, count = hp.expertCount, ff = hp.expertFeedForwardLength
        func tensor(_ name: String) throws -> WeightTensor {
            guard let t = weights.tensor(named: p + name) else { throw InferenceError.missingTensor(p + name) }
            return t
        }
        router = try WeightMatrix(tensor: tensor("ffn_gate_inp.weight"), rows: count, columns: e)
        switch hp.architecture {
        case "glm4moe": selectionBias = try loadVector(weights: weights, name: p + "exp_probs_b.bias", count: count)
        // DeepSeek-V2 has none, V3 and Kimi-K2 have one.
        case "deepseek2": selectionBias = try loadOptionalVector(weights: weights, name: p + "exp_probs_b.bias", count: count)
        default: selectionBias = nil
        }
        let oai = hp.architecture == "gpt-oss"
        routerBias = oai ? try loadVector(weights: weights, name: p + "ffn_gate_inp.bias", count: count) : nil
        gateBias = oai ? try loadVector(weights: weights, name: p + "ffn_gate_exps.bias", count: ff * count) : nil
        upBias = oai ? try loadVector(weights: weights, name: p + "ffn_up_exps.bias", count: ff * count) : nil
        downBias = oai ? try loadVector(weights: weights, name: p + "ffn_down_exps.bias", count: e * count) : nil
        gate = try ExpertWeights(tensor: tensor("ffn_gate_exps.weight"), experts: count, rows: ff, columns: e)
        up = try ExpertWeights(tensor: tensor("ffn_up_exps.weight"), experts: count, rows: ff, columns: e)
        down = try ExpertWeights(tensor: tensor("ffn_down_exps.weight"), experts: count, rows: e, columns: ff)
        if hp.sharedExpertFeedForwardLength > 0 {
            let sff = hp.sharedExpertFeedForwardLength
            shared = SharedExpert(
                gateInput: hp.architecture == "qwen2moe"
                    ? try WeightMatrix(tensor: tensor("ffn_gate_inp_shexp.weight"), rows: 1, columns: e) : nil,
                gate: try WeightMatrix(tensor: tensor("ffn_gate_shexp.weight"), rows: sff, columns: e),
                up: try WeightMatrix(tensor: tensor("ffn_up_shexp.weight"), rows: sff, columns: e),
                down: try WeightMatrix(tensor: tensor("ffn_down_shexp.weight"), rows: e, columns: sff))
        } else {
            shared = nil
        }
        used = hp.expertsUsed
        normalizesWeights = hp.normalizesExpertWeights
        gating = hp.expertGating
        weightsScale = hp.expertWeightsScale
        groups = hp.expertGroupCount > 1 ? hp.expertGroupCount : 0
        groupsUsed = hp.expertGroupsUsed
    }
}

/// A shared expert: a dense SwiGLU FFN every token goes through, added to the routed experts' output;
/// Qwen2-MoE scales it by sigmoid(`ffn_gate_inp_shexp` · x), GLM4-MoE does not.
struct SharedExpert {
    let gateInput: WeightMatrix?
    let gate, up, down: WeightMatrix
}

/// The routing of one chunk: each token's experts, best first, and their weights.
struct ExpertRouting {
    /// `tokens × used` expert ids.
    var selected: [Int32]
    /// `tokens × used` weights, in the same order.
    var weights: [Float]
    /// For each expert, the (token, slot) pairs routed to it, in token order, as `token * used + slot`.
    var members: [[Int]]

    /// As `build_moe_ffn`: probabilities from the router's logits — softmax (ggml_soft_max: max
    /// subtracted, exponentials summed in double, scaled by the float reciprocal) or sigmoid
    /// (1 / (1 + e^-x)) — then the `used` largest of probability + `bias` where a selection bias is
    /// given (ggml_argsort_top_k, descending; equal ones by lower index), their unbiased
    /// probabilities as weights, divided by their sum (clamped below at F16's smallest normal) when
    /// `normalize`, times `scale` unless it is 0 or 1. With `groups` > 1 (DeepSeek-V3) the experts
    /// are split into that many consecutive groups, each scored by the sum of its two largest
    /// (biased) selection values; only the `groupsUsed` best groups' experts can be selected (the
    /// others' values become -inf), equal scores ordered by lower group index.
    init(logits: UnsafeMutablePointer<Float>, tokens n: Int, experts: Int, used k: Int, normalize: Bool,
         gating: ExpertGating = .softmax, bias: [Float]? = nil, scale: Float = 0, groups: Int = 0,
         groupsUsed: Int = 0) {
        selected = [Int32](repeating: 0, count: n * k)
        weights = [Float](repeating: 0, count: n * k)
        members = [[Int]](repeating: [], count: experts)
        var order = [Int](repeating: 0, count: experts)
        var selection = [Float](repeating: 0, count: experts)
        for t in 0..<n {
            let p = logits + t * experts
            switch gating {
            case .softmax:
                var maximum = -Float.infinity
                for i in 0..<experts { maximum = max(maximum, p[i]) }
                var sum = 0.0
                for i in 0..<experts {
                    p[i] = expf(p[i] - maximum)
                    sum += Double(p[i])
                }
                let inverse = Float(1.0 / sum)
                for i in 0..<experts { p[i] *= inverse }
            case .sigmoid:
                for i in 0..<experts { p[i] = 1 / (1 + expf(-p[i])) }
            case .softmaxOfSelected:
                break
            }
            for i in 0..<experts { selection[i] = bias.map { p[i] + $0[i] } ?? p[i] }
            if groups > 1 { Self.maskGroups(&selection, groups: groups, used: groupsUsed) }
            for i in 0..<experts { order[i] = i }
            order.sort { selection[$0] > selection[$1] || (selection[$0] == selection[$1] && $0 < $1) }
            var total = 0.0
            for s in 0..<k {
                selected[t * k + s] = Int32(order[s])
                weights[t * k + s] = p[order[s]]
                total += Double(p[order[s]])
                members[order[s]].append(t * k + s)
            }
            if gating == .softmaxOfSelected {
                // ggml_soft_max over the k chosen logits.
                var maximum = -Float.infinity
                for s in 0..<k { maximum = max(maximum, weights[t * k + s]) }
                var sum = 0.0
                for s in 0..<k {
                    weights[t * k + s] = expf(weights[t * k + s] - maximum)
                    sum += Double(weights[t * k + s])
                }
                let inverse = Float(1.0 / sum)
                for s in 0..<k { weights[t * k + s] *= inverse }
                total = 1
            }
            if normalize {
                let divisor = max(Float(total), 6.103515625e-5)
                for s in 0..<k { weights[t * k + s] /= divisor }
            }
            if scale != 0 && scale != 1 {
                for s in 0..<k { weights[t * k + s] *= scale }
            }
        }
    }
}

extension ExpertRouting {
    /// build_moe_ffn's group selection over one token's selection values.
    static func maskGroups(_ selection: inout [Float], groups: Int, used: Int) {
        let per = selection.count / groups
        var scores = [Float](repeating: 0, count: groups)
        for g in 0..<groups {
            var first = -Float.infinity, second = -Float.infinity
            for i in (g * per)..<((g + 1) * per) {
                let v = selection[i]
                if v > first {
                    second = first
                    first = v
                } else if v > second {
                    second = v
                }
            }
            scores[g] = first + second
        }
        let order = (0..<groups).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        for g in order[used...] {
            for i in (g * per)..<((g + 1) * per) { selection[i] = -.infinity }
        }
    }
}

extension LlamaModel {
    /// One MoE FFN over the normed hidden states `x` (`tokens × embedding`) into `out`.
    ///
    /// Only the selected experts run: each expert's tokens are gathered into one block, its gate and
    /// up matmuls, SwiGLU and down matmul run on that block (with the activation rounding of its
    /// type, as ggml's mul_mat_id), and the rows go back to their (token, slot) places. A token's
    /// output is then its experts' outputs times their weights, added in slot order, as ggml adds
    /// the views of `ffn_moe_weighted`; the shared expert's gated output comes last.
    func mixtureOfExperts(
        _ moe: MixtureOfExperts, input x: UnsafePointer<Float>, tokens n: Int, into out: UnsafeMutablePointer<Float>,
        threads: Int
    ) {
        let e = hyperParameters.embeddingLength, experts = moe.expertCount, k = moe.used
        let ff = moe.gate.experts[0].rows
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: n * experts)
        defer { logits.deallocate() }
        multiply(x, tokens: n, by: moe.router, into: logits, threads: threads, rounding: rounding(for: moe.router))
        if let b = moe.routerBias { Kernels.addBias(logits, tokens: n, bias: b) }
        let routing = ExpertRouting(logits: logits, tokens: n, experts: experts, used: k, normalize: moe.normalizesWeights,
                                    gating: moe.gating, bias: moe.selectionBias, scale: moe.weightsScale,
                                    groups: moe.groups, groupsUsed: moe.groupsUsed)
        if let observer = activationObserver {
            routing.selected.withUnsafeBufferPointer { sel in
                for w in [moe.gate.name, moe.up.name] {
                    observer.observeExperts(weight: w, input: x, tokens: n, columns: e, inputsPerToken: 1,
                                            selected: sel.baseAddress!, used: k, experts: experts)
                }
            }
        }
        let largest = routing.members.map(\.count).max() ?? 0
        // Outputs per (token, slot), and for the observer the down matmul's inputs in the same places.
        let slotOutputs = UnsafeMutablePointer<Float>.allocate(capacity: n * k * e)
        let slotInputs = activationObserver == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: n * k * ff)
        defer {
            slotOutputs.deallocate()
            slotInputs?.deallocate()
        }
        let job = ExpertJob(
            moe: moe, members: routing.members, input: x, used: k, embedding: e, width: ff, slotOutputs: slotOutputs,
            slotInputs: slotInputs, gateRounding: rounding(for: moe.gate.experts[0]),
            upRounding: rounding(for: moe.up.experts[0]), downRounding: rounding(for: moe.down.experts[0]))
        let active = (0..<experts).filter { !routing.members[$0].isEmpty }
        // Many experts with work: one expert per thread at a time (a small expert's matmul split
        // between threads costs more in hand-offs than it saves). Few: each matmul split instead.
        // Each output row is computed the same way either way.
        if threads > 1, active.count >= 2 * threads {
            let counter = WorkCounter(count: active.count)
            let shared = UncheckedSendable((job, active))
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                let scratch = ExpertScratch(rows: largest, embedding: e, width: ff)
                defer { scratch.deallocate() }
                while let i = counter.take() {
                    shared.value.0.run(expert: shared.value.1[i], scratch: scratch, threads: 1)
                }
            }
        } else {
            let scratch = ExpertScratch(rows: largest, embedding: e, width: ff)
            defer { scratch.deallocate() }
            for expert in active { job.run(expert: expert, scratch: scratch, threads: threads) }
        }
        if let observer = activationObserver, let slotInputs {
            routing.selected.withUnsafeBufferPointer { sel in
                observer.observeExperts(weight: moe.down.name, input: slotInputs, tokens: n, columns: ff,
                                        inputsPerToken: k, selected: sel.baseAddress!, used: k, experts: experts)
            }
        }
        routing.weights.withUnsafeBufferPointer { w in
            for t in 0..<n {
                let o = out + t * e
                for s in 0..<k {
                    let row = slotOutputs + (t * k + s) * e, weight = w[t * k + s]
                    if s == 0 {
                        for j in 0..<e { o[j] = row[j] * weight }
                    } else {
                        for j in 0..<e { o[j] = o[j] + row[j] * weight }
                    }
                }
            }
        }
        if let shared = moe.shared { addSharedExpert(shared, input: x, tokens: n, into: out, threads: threads) }
    }

    /// `out += ffn_shexp(x) · sigmoid(ffn_gate_inp_shexp · x)` (Qwen2-MoE; the sigmoid computed as
    /// llama.cpp's graph does: silu(v) / v), or `out += ffn_shexp(x)` without a gate (GLM4-MoE, DeepSeek2).
    private func addSharedExpert(
        _ shared: SharedExpert, input x: UnsafePointer<Float>, tokens n: Int, into out: UnsafeMutablePointer<Float>,
        threads: Int
    ) {
        let e = hyperParameters.embeddingLength, ff = shared.gate.rows
        let gateLogit = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let gate = UnsafeMutablePointer<Float>.allocate(capacity: n * ff)
        let up = UnsafeMutablePointer<Float>.allocate(capacity: n * ff)
        let down = UnsafeMutablePointer<Float>.allocate(capacity: n * e)
        defer { for p in [gateLogit, gate, up, down] { p.deallocate() } }
        if let gateInput = shared.gateInput {
            multiply(x, tokens: n, by: gateInput, into: gateLogit, threads: threads, rounding: rounding(for: gateInput))
        }
        multiply(x, tokens: n, by: shared.gate, into: gate, threads: threads, rounding: rounding(for: shared.gate))
        multiply(x, tokens: n, by: shared.up, into: up, threads: threads, rounding: rounding(for: shared.up))
        Kernels.swiglu(gate, up, count: n * ff, threads: threads)
        multiply(gate, tokens: n, by: shared.down, into: down, threads: threads, rounding: rounding(for: shared.down))
        guard shared.gateInput != nil else {
            Kernels.add(out, down, count: n * e)
            return
        }
        for t in 0..<n {
            let v = gateLogit[t]
            let sigmoid = (v / (1 + expf(-v))) / v
            let o = out + t * e, d = down + t * e
            for j in 0..<e { o[j] = o[j] + d[j] * sigmoid }
        }
    }
}

/// Per-thread buffers of one expert's block: its gathered inputs, gate/up activations, down outputs.
private struct ExpertScratch {
    let gathered, gate, up, down: UnsafeMutablePointer<Float>

    init(rows: Int, embedding e: Int, width ff: Int) {
        gathered = .allocate(capacity: max(1, rows * e))
        gate = .allocate(capacity: max(1, rows * ff))
        up = .allocate(capacity: max(1, rows * ff))
        down = .allocate(capacity: max(1, rows * e))
    }

    func deallocate() { for p in [gathered, gate, up, down] { p.deallocate() } }
}

/// One MoE layer's expert work for a chunk: everything `run` needs to compute one expert's block and
/// write its rows to their (token, slot) places, which no other expert writes.
private struct ExpertJob {
    let moe: MixtureOfExperts
    let members: [[Int]]
    let input: UnsafePointer<Float>
    let used, embedding, width: Int
    let slotOutputs: UnsafeMutablePointer<Float>
    let slotInputs: UnsafeMutablePointer<Float>?
    let gateRounding, upRounding, downRounding: ActivationRounding

    /// Gathers the expert's rows, runs gate and up (plus gpt-oss's biases), the activation, down,
    /// and scatters the results (and, for the observer, the down matmul's inputs).
    func run(expert: Int, scratch: ExpertScratch, threads: Int) {
        let rows = members[expert], m = rows.count, e = embedding, ff = width, k = used
        for (i, place) in rows.enumerated() {
            (scratch.gathered + i * e).update(from: input + (place / k) * e, count: e)
        }
        let g = moe.gate.experts[expert], u = moe.up.experts[expert], d = moe.down.experts[expert]
        MatMul.multiply(scratch.gathered, tokens: m, by: g, into: scratch.gate, threads: threads, rounding: gateRounding)
        MatMul.multiply(scratch.gathered, tokens: m, by: u, into: scratch.up, threads: threads, rounding: upRounding)
        if let b = moe.gateBias { Self.addBias(b, expert: expert, width: ff, to: scratch.gate, rows: m) }
        if let b = moe.upBias { Self.addBias(b, expert: expert, width: ff, to: scratch.up, rows: m) }
        if moe.gateBias != nil {
            Kernels.swigluOAI(scratch.gate, scratch.up, count: m * ff)
        } else {
            Kernels.swiglu(scratch.gate, scratch.up, count: m * ff, threads: threads)
        }
        if let slotInputs {
            for (i, place) in rows.enumerated() { (slotInputs + place * ff).update(from: scratch.gate + i * ff, count: ff) }
        }
        MatMul.multiply(scratch.gate, tokens: m, by: d, into: scratch.down, threads: threads, rounding: downRounding)
        if let b = moe.downBias { Self.addBias(b, expert: expert, width: e, to: scratch.down, rows: m) }
        for (i, place) in rows.enumerated() { (slotOutputs + place * e).update(from: scratch.down + i * e, count: e) }
    }

    /// `rows` rows of `width` values plus expert `expert`'s bias row (ggml_add_id).
    static func addBias(_ bias: [Float], expert: Int, width: Int, to x: UnsafeMutablePointer<Float>, rows: Int) {
        bias.withUnsafeBufferPointer { b in
            let row = b.baseAddress! + expert * width
            for r in 0..<rows {
                let xr = x + r * width
                for j in 0..<width { xr[j] += row[j] }
            }
        }
    }
}
