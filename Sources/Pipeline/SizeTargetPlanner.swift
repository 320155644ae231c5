import BinaryIO
import GGUF
import Inference
import Quantization

/// A size-target scheme's plan: the type of every tensor, and what was predicted of it.
public struct SizeTargetPlan: Sendable {
    public var target: SizeTarget
    /// Types of the tensors the plan chose (quantizable tensors only), by name.
    public var types: [String: GGMLType]
    /// The whole file's bytes allowed, and what the plan's file takes.
    public var budgetBytes: Int
    public var plannedBytes: Int
    /// The named mix of a `size_of` target: its file's bytes and its predicted KLD.
    public var namedMix: QuantMix?
    public var namedMixBytes: Int?
    /// Predicted mean KL divergence (nats) on the calibration chunk, from the per-tensor
    /// sensitivities × each type's measured error; for the plan and for the named mix.
    public var predictedKLD: Double
    public var predictedNamedMixKLD: Double?
    /// Forward passes the sensitivity measurement ran (probes, plus the reference's).
    public var probes: Int
    public var calibrationText: String
    public var calibrationTokens: Int
    public var seconds: Double
}

/// Turns a size target into one type per tensor, chosen to minimise the KL divergence to the source:
///
/// 1. **Error of each type on each tensor**, measured: a sample of every quantizable tensor's rows is
///    quantized at each candidate type (ggml's quantizers, with the importance matrix) and the
///    importance-weighted squared error Σ_j imatrix_j·Σ_rows (w − ŵ)² recorded — the expected
///    squared error of that matmul's output on the calibration activations.
/// 2. **Sensitivity of the output to each tensor**, measured with the forward pass on a chunk of the
///    calibration text: groups of tensors are quantized for real at a probe type (all of one layer;
///    all of one kind, e.g. every `attn_v`, across layers; each other tensor alone) and the KLD of
///    each such model against the source is measured. A tensor's sensitivity is modelled as
///    layer factor × kind factor (KLD per unit of weighted error), fitted to those measurements.
/// 3. **Allocation**: predicted KLD of a plan = Σ sensitivity × error; the plan with the least
///    predicted KLD whose file fits the budget is found exactly (`TypeAllocation`).
///
/// Layer × kind probes need layers + kinds + a few passes (39 on a 30-layer Llama) rather than one
/// per tensor (212), which is what keeps a size-target job within a small multiple of a plain one.
public struct SizeTargetPlanner {
    public var source: TensorSource
    public var model: ModelHyperparameters
    public var importance: ImportanceMatrix?
    public var threads: Int
    /// Rows sampled per tensor for the error table (at least; small tensors are measured whole).
    public var sampleRows = 256
    /// Fraction of a large tensor's rows sampled.
    public var sampleFraction = 0.125
    /// Measurements already made in this job, by candidates and text.
    let cache = MeasurementCache()

    public init(source: TensorSource, model: ModelHyperparameters, importance: ImportanceMatrix?, threads: Int) {
        self.source = source
        self.model = model
        self.importance = importance
        self.threads = threads
    }

    /// The file bytes and data offset of an artifact of `scheme` with `types`.
    func layout(scheme: PipelineConfig.Scheme, types: [GGMLType]) throws -> (fileBytes: Int, dataOffset: Int, alignment: Int) {
        let plans = zip(source.tensors, types).map {
            GGUFTensorPlan(name: $0.name, dimensions: ArtifactWriter.withoutTrailingOnes($0.dimensions), type: $1)
        }
        let header = try GGUFWriter.layOut(metadata: ArtifactWriter.metadata(source.metadata, scheme: scheme, importance: importance),
                                           tensors: plans)
        let end = header.tensors.last.map { padded($0.absoluteOffset + $0.byteCount, to: header.alignment) }
            ?? header.dataOffset
        return (end, header.dataOffset, header.alignment)
    }

    public func plan(scheme: PipelineConfig.Scheme, reference: LlamaModel, tokens: [Int32], textName: String,
                     isCancelled: (() -> Bool)? = nil) throws -> SizeTargetPlan {
        guard let settings = scheme.options.sizeTarget else { throw SizeTargetError.notASizeTarget(scheme: scheme.name) }
        let started = Clock.monotonic()
        let tensors = source.tensors
        var baseOptions = scheme.options
        baseOptions.sizeTarget = nil
        baseOptions.plannedTypes = nil
        if case .sizeOf(let mix) = settings.target { baseOptions.mix = mix }
        let basePlan = try TensorTypePlanner.plan(tensors, model: model, options: baseOptions)
        let baseScheme = PipelineConfig.Scheme(name: scheme.name, options: baseOptions)
        let (baseFileBytes, dataOffset, alignment) = try layout(scheme: baseScheme, types: basePlan)

        // Tensors the plan chooses for, and their candidate types (as the block size allows).
        var chosen: [Int] = []
        var candidates: [[GGMLType]] = []
        for (i, tensor) in tensors.enumerated() {
            guard TensorTypePlanner.allowsQuantization(tensor, architecture: model.architecture,
                                                       quantizeOutputTensor: scheme.options.quantizeOutputTensor) else { continue }
            var types: [GGMLType] = []
            for type in settings.types + (basePlan[i].isQuantized ? [basePlan[i]] : []) {
                let fitted = try TensorTypePlanner.fallback(for: tensor, type)
                if Quantizer.supportsQuantize(fitted), Quantizer.supportsDequantize(fitted), !types.contains(fitted) { types.append(fitted) }
            }
            guard !types.isEmpty else { continue }
            chosen.append(i)
            candidates.append(types.sorted { bitsPerWeight($0) < bitsPerWeight($1) })
        }
        guard !chosen.isEmpty else { throw SizeTargetError.nothingToChoose(scheme: scheme.name) }

        // The budget for the chosen tensors' data: the target's file bytes less the header and
        // the tensors the plan does not touch.
        let fixedBytes = tensors.indices.filter { !chosen.contains($0) }.reduce(0) {
            $0 + padded(tensors[$1].rowCount * tensors[$1].rowBytes(basePlan[$1]), to: alignment)
        }
        let allElements = tensors.reduce(0) { $0 + $1.elementCount }
        let budgetFile: Int
        switch settings.target {
        case .sizeOf: budgetFile = baseFileBytes
        case .bitsPerWeight(let bpw): budgetFile = dataOffset + Int((bpw * Double(allElements) / 8).rounded(.down))
        case .bytes(let n): budgetFile = n
        }
        let budget = budgetFile - dataOffset - fixedBytes

        let ctx = min(tokens.count, settings.tokens)
        guard ctx >= 16 else { throw SizeTargetError.textTooShort(tokens: tokens.count) }
        // Schemes of one job with the same candidates share one measurement.
        let key = "\(textName)|\(ctx)|" + zip(chosen, candidates).map { "\($0):\($1.map(\.name).joined(separator: ","))" }.joined(separator: ";")
        let measurement: Measurement
        if let cached = cache.entries[key] {
            measurement = cached
        } else {
            measurement = try measure(chosen: chosen, candidates: candidates, reference: reference,
                                      tokens: Array(tokens.prefix(ctx)), isCancelled: isCancelled)
            cache.entries[key] = measurement
        }
        let errors = measurement.errors, sensitivity = measurement.sensitivity

        // 3. Allocation.
        let items = chosen.indices.map { n in
            candidates[n].indices.map { k in
                TypeAllocation.Option(
                    bytes: padded(tensors[chosen[n]].rowCount * tensors[chosen[n]].rowBytes(candidates[n][k]), to: alignment),
                    cost: sensitivity[n] * errors[n][k])
            }
        }
        guard let picks = TypeAllocation.solve(items, budget: budget) else {
            var smallest = dataOffset + fixedBytes
            for options in items { smallest += options.map(\.bytes).min() ?? 0 }
            throw SizeTargetError.budgetTooSmall(scheme: scheme.name, budget: budgetFile, smallest: smallest)
        }
        var types: [String: GGMLType] = [:]
        var plannedTypes = basePlan
        var predicted = 0.0, predictedNamed: Double? = 0
        for (n, i) in chosen.enumerated() {
            types[tensors[i].name] = candidates[n][picks[n]]
            plannedTypes[i] = candidates[n][picks[n]]
            predicted += items[n][picks[n]].cost
            if let k = candidates[n].firstIndex(of: basePlan[i]) { predictedNamed? += items[n][k].cost } else { predictedNamed = nil }
        }
        var named: QuantMix? = nil
        if case .sizeOf(let mix) = settings.target { named = mix }
        var plannedScheme = scheme
        plannedScheme.options.plannedTypes = types
        let plannedBytes = try layout(scheme: plannedScheme, types: plannedTypes).fileBytes
        return SizeTargetPlan(
            target: settings.target, types: types, budgetBytes: budgetFile, plannedBytes: plannedBytes, namedMix: named,
            namedMixBytes: named == nil ? nil : baseFileBytes, predictedKLD: predicted,
            predictedNamedMixKLD: named == nil ? nil : predictedNamed, probes: measurement.passes, calibrationText: textName,
            calibrationTokens: ctx, seconds: Clock.monotonic() - started)
    }

    /// Steps 1 and 2: each candidate's error on each chosen tensor, and each tensor's sensitivity.
    struct Measurement {
        var errors: [[Double]]
        var sensitivity: [Double]
        var passes: Int
    }

    final class MeasurementCache: @unchecked Sendable {
        var entries: [String: Measurement] = [:]
    }

    func measure(chosen: [Int], candidates: [[GGMLType]], reference: LlamaModel, tokens: [Int32],
                 isCancelled: (() -> Bool)?) throws -> Measurement {
        let tensors = source.tensors
        // 1. Each candidate type's measured error on each tensor.
        var errors: [[Double]] = []
        for (n, i) in chosen.enumerated() {
            if isCancelled?() == true { throw PipelineError.cancelled }
            errors.append(try measureErrors(index: i, types: candidates[n]))
        }

        // 2. Sensitivities from forward passes with groups quantized at a probe type.
        let probeChoice = candidates.map { $0.count > 2 ? $0.count / 3 : 0 }
        let probeBytes = ProbeBuffers()
        for (n, i) in chosen.enumerated() {
            probeBytes.store(tensors[i].name, try quantizeWhole(index: i, type: candidates[n][probeChoice[n]]))
        }
        var groups: [[Int]] = []  // indices into `chosen`
        var layerOf = [Int?](repeating: nil, count: chosen.count)
        var kindOf = [Int?](repeating: nil, count: chosen.count)
        var layerGroups: [Int: Int] = [:], kindGroups: [String: Int] = [:]
        var layers: [[Int]] = [], kinds: [[Int]] = []
        for (n, i) in chosen.enumerated() {
            let name = tensors[i].name
            let bytes = Array(name.utf8)
            if let block = TensorName.blockNumber(bytes) {
                let kind = name.split(separator: ".").dropFirst(2).joined(separator: ".")
                let l = layerGroups[block] ?? { layers.append([]); layerGroups[block] = layers.count - 1; return layers.count - 1 }()
                let k = kindGroups[kind] ?? { kinds.append([]); kindGroups[kind] = kinds.count - 1; return kinds.count - 1 }()
                layers[l].append(n)
                kinds[k].append(n)
                layerOf[n] = l
                kindOf[n] = k
            } else {
                groups.append([n])
            }
        }
        let singles = groups.count
        groups += layers
        groups += kinds
        let shared = reference.weights
        let probeModels = try groups.map { group -> LlamaModel in
            var replaced: [String: WeightTensor] = [:]
            for n in group {
                let t = tensors[chosen[n]]
                let type = candidates[n][probeChoice[n]]
                guard let base = shared.tensor(named: t.name), let bytes = probeBytes.buffers[t.name] else { continue }
                replaced[t.name] = WeightTensor(name: base.name, dimensions: base.dimensions, type: type,
                                                bytes: UnsafeRawBufferPointer(bytes), isMapped: false)
            }
            return try LlamaModel(weights: OverlayWeights(base: shared, replaced: replaced, storage: probeBytes))
        }
        let ctx = tokens.count
        let result = try PerplexityEvaluator.compare(reference: reference, candidates: probeModels, tokens: tokens,
                                                     ctx: ctx, first: ctx / 4, threads: threads,
                                                     progress: { _, _ in if isCancelled?() == true { throw PipelineError.cancelled } })
        // A probe whose logits diverged (not finite) counts as very sensitive rather than poisoning the fit.
        let measured = result.candidates.map { $0.kldMean.isFinite ? max($0.kldMean, 1e-9) : 1e3 }
        let probeError = chosen.indices.map { errors[$0][probeChoice[$0]] }

        // Layer × kind factors fitted to the grouped measurements (alternating scaling).
        var sensitivity = [Double](repeating: 0, count: chosen.count)
        for g in 0..<singles {
            let n = groups[g][0]
            sensitivity[n] = measured[g] / max(probeError[n], 1e-30)
        }
        var alpha = [Double](repeating: 1, count: layers.count), beta = [Double](repeating: 1, count: kinds.count)
        for _ in 0..<50 {
            for l in layers.indices {
                let predicted = layers[l].reduce(0.0) { $0 + beta[kindOf[$1]!] * probeError[$1] }
                alpha[l] = measured[singles + l] / max(predicted, 1e-30)
            }
            for k in kinds.indices {
                let predicted = kinds[k].reduce(0.0) { $0 + alpha[layerOf[$1]!] * probeError[$1] }
                beta[k] = measured[singles + layers.count + k] / max(predicted, 1e-30)
            }
        }
        // The kind probes fix the scale last; the layer probes' total is matched too, so neither
        // set of measurements dominates the overall level.
        let layerTotal = layers.indices.reduce(0.0) { $0 + measured[singles + $1] }
        let fittedTotal = layers.flatMap { $0 }.reduce(0.0) { $0 + alpha[layerOf[$1]!] * beta[kindOf[$1]!] * probeError[$1] }
        let scale = fittedTotal > 0 ? layerTotal / fittedTotal : 1
        for n in chosen.indices {
            if let l = layerOf[n], let k = kindOf[n] { sensitivity[n] = alpha[l] * beta[k] * scale }
        }

        return Measurement(errors: errors, sensitivity: sensitivity, passes: groups.count + 1)
    }

    /// Rows of a tensor sampled for the error table: evenly spaced runs covering `sampleFraction`.
    func sampledRows(_ tensor: PlannedTensorSource) -> [Range<Int>] {
        let rows = tensor.rowCount
        let want = max(sampleRows, Int(Double(rows) * sampleFraction))
        guard want < rows else { return [0..<rows] }
        let runs = 8
        let runLength = max(1, want / runs)
        return (0..<runs).map { r in
            let start = (rows - runLength) * r / (runs - 1)
            return start..<(start + runLength)
        }
    }

    /// The importance weights of one tensor (one row per expert), or nil.
    func importanceValues(_ tensor: PlannedTensorSource) throws -> [Float]? {
        let experts = tensor.dimensions.count > 2 ? tensor.dimensions[2] : 1
        return try importance?.weights(for: tensor.name, rowLength: tensor.rowLength, experts: experts)
    }

    /// Σ_j w_j Σ_rows (x − x̂)² for each type, scaled from the sampled rows to the whole tensor.
    func measureErrors(index: Int, types: [GGMLType]) throws -> [Double] {
        let tensor = source.tensors[index]
        let n = tensor.rowLength
        let rowsPerExpert = tensor.dimensions.count > 1 ? max(1, tensor.dimensions[1]) : 1
        let weights = try importanceValues(tensor)
        var totals = [Double](repeating: 0, count: types.count)
        var sampled = 0
        for run in sampledRows(tensor) {
            // Runs are split at expert boundaries so each part has one expert's weights.
            var row = run.lowerBound
            while row < run.upperBound {
                let expert = row / rowsPerExpert
                let end = min(run.upperBound, (expert + 1) * rowsPerExpert)
                let rows = row..<end
                var x = [Float](repeating: 0, count: rows.count * n)
                try x.withUnsafeMutableBufferPointer { try source.floatRows(index, rows: rows, into: $0) }
                let w: [Float]? = weights.map { Array($0[(expert * n)..<((expert + 1) * n)]) }
                for (k, type) in types.enumerated() {
                    totals[k] += try Self.weightedError(type, rows: x, rowLength: n, weights: w, threads: threads)
                }
                sampled += rows.count
                row = end
            }
        }
        let scale = Double(tensor.rowCount) / Double(max(1, sampled))
        return totals.map { $0 * scale }
    }

    /// The importance-weighted squared error of quantizing `rows` at `type` (ggml's quantizer, the
    /// weights given to it as an imatrix row when the type takes one).
    static func weightedError(_ type: GGMLType, rows x: [Float], rowLength n: Int, weights: [Float]?, threads: Int) throws -> Double {
        let count = x.count / n
        let bytes = try Quantizer.byteCount(type, rows: count, rowLength: n)
        var q = [UInt8](repeating: 0, count: bytes)
        var y = [Float](repeating: 0, count: x.count)
        _ = try x.withUnsafeBufferPointer { xb in
            try q.withUnsafeMutableBytes { qb in
                try Self.withOptional(weights) { wb in
                    try Quantizer.quantize(type, rows: xb, rowLength: n, importance: wb, into: qb, threads: threads)
                }
            }
        }
        try q.withUnsafeBytes { qb in try y.withUnsafeMutableBufferPointer { try Quantizer.dequantize(type, qb, count: x.count, into: $0) } }
        var total = 0.0
        for r in 0..<count {
            for j in 0..<n {
                let d = Double(x[r * n + j] - y[r * n + j])
                total += Double(weights?[j] ?? 1) * d * d
            }
        }
        return total
    }

    static func withOptional<R>(_ values: [Float]?, _ body: (UnsafeBufferPointer<Float>?) throws -> R) rethrows -> R {
        guard let values else { return try body(nil) }
        return try values.withUnsafeBufferPointer { try body($0) }
    }

    /// The whole tensor quantized at `type` (for the probes), with its importance weights.
    func quantizeWhole(index: Int, type: GGMLType) throws -> [UInt8] {
        let tensor = source.tensors[index]
        let n = tensor.rowLength
        let rowsPerExpert = tensor.dimensions.count > 1 ? max(1, tensor.dimensions[1]) : 1
        let weights = try importanceValues(tensor)
        let rowBytes = tensor.rowBytes(type)
        var out = [UInt8](repeating: 0, count: tensor.rowCount * rowBytes)
        let slabRows = max(1, min(rowsPerExpert, (1 << 20) / max(1, n)))
        var x = [Float](repeating: 0, count: slabRows * n)
        var row = 0
        while row < tensor.rowCount {
            let expert = row / rowsPerExpert
            let end = min(tensor.rowCount, row + slabRows, (expert + 1) * rowsPerExpert)
            let rows = row..<end
            try x.withUnsafeMutableBufferPointer { try source.floatRows(index, rows: rows, into: UnsafeMutableBufferPointer(rebasing: $0[0..<(rows.count * n)])) }
            let w: [Float]? = weights.map { Array($0[(expert * n)..<((expert + 1) * n)]) }
            _ = try x.withUnsafeBufferPointer { xb in
                try out.withUnsafeMutableBytes { ob in
                    try Self.withOptional(w) { wb in
                        try Quantizer.quantize(type, rows: UnsafeBufferPointer(rebasing: xb[0..<(rows.count * n)]), rowLength: n,
                                               importance: wb,
                                               into: UnsafeMutableRawBufferPointer(rebasing: ob[(row * rowBytes)..<(end * rowBytes)]),
                                               threads: threads)
                    }
                }
            }
            row = end
        }
        return out
    }
}

/// A model's weights with some tensors replaced (by quantized copies held in memory): what a
/// sensitivity probe runs.
final class OverlayWeights: ModelWeights, @unchecked Sendable {
    let base: any ModelWeights
    let replaced: [String: WeightTensor]
    /// Keeps the replaced tensors' bytes alive.
    let storage: ProbeBuffers

    init(base: any ModelWeights, replaced: [String: WeightTensor], storage: ProbeBuffers) {
        self.base = base
        self.replaced = replaced
        self.storage = storage
    }

    var metadata: GGUFMetadata { base.metadata }
    func tensor(named name: String) -> WeightTensor? { replaced[name] ?? base.tensor(named: name) }
    var weightTensors: [WeightTensor] { base.weightTensors.map { replaced[$0.name] ?? $0 } }
    func release(_ tensor: WeightTensor) { if !tensor.isMapped { return }; base.release(tensor) }
}

/// The probes' quantized tensors, owned here (the overlays' tensors point into them).
final class ProbeBuffers: @unchecked Sendable {
    private(set) var buffers: [String: UnsafeMutableRawBufferPointer] = [:]

    func store(_ name: String, _ bytes: [UInt8]) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 64)
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        buffers[name]?.deallocate()
        buffers[name] = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count])
    }

    deinit { for buffer in buffers.values { buffer.deallocate() } }
}

/// `n` rounded up to a multiple of `alignment` (a tensor's bytes with the padding after it).
func padded(_ n: Int, to alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }

/// Bits per weight of a type (bytes of a block × 8 / its values).
func bitsPerWeight(_ type: GGMLType) -> Double { Double(type.bytesPerBlock * 8) / Double(max(1, type.blockSize)) }

public enum SizeTargetError: Error, CustomStringConvertible, Equatable {
    case notASizeTarget(scheme: String)
    case nothingToChoose(scheme: String)
    case budgetTooSmall(scheme: String, budget: Int, smallest: Int)
    case textTooShort(tokens: Int)
    case noForwardPass(scheme: String, reason: String)

    public var description: String {
        switch self {
        case .notASizeTarget(let scheme): "scheme '\(scheme)' has no size target"
        case .nothingToChoose(let scheme):
            "scheme '\(scheme)': the model has no tensor a size target can choose a type for"
        case .budgetTooSmall(let scheme, let budget, let smallest):
            "scheme '\(scheme)': the target allows \(budget) bytes, but the smallest file its types can make is \(smallest) bytes — raise the target or add smaller types to \"types\""
        case .textTooShort(let tokens):
            "the sensitivity text has \(tokens) tokens, fewer than 16; name a longer \"sensitivity_text\""
        case .noForwardPass(let scheme, let reason):
            "scheme '\(scheme)' has a size target, which measures sensitivities with the forward pass, but \(reason) — use a named mix for this model"
        }
    }
}
