#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import GGUF
import Inference
import JSON
import Quantization

/// `{"stage": "gptq"}`: GPTQ rounding of every layer matrix (see `GPTQ`).
public struct GPTQSettings: Sendable, Equatable {
    /// Dampening added to H's diagonal, as a fraction of its mean diagonal.
    public var damp = 0.01
    /// At most this many calibration chunks (nil: as many as the imatrix stage uses, or all).
    public var chunks: Int?

    public init(damp: Double = 0.01, chunks: Int? = nil) {
        self.damp = damp
        self.chunks = chunks
    }
}

/// `{"stage": "awq"}`: AWQ scales folded into the norms before q/k/v and gate/up (see `AWQ`).
public struct AWQSettings: Sendable, Equatable {
    /// α is searched over 0, 1/grid, …, 1.
    public var grid = 10
    public var chunks: Int?

    public init(grid: Int = 10, chunks: Int? = nil) {
        self.grid = grid
        self.chunks = chunks
    }
}

extension PipelineConfig.CalibrationStage {
    var providesImportanceMatrix: Bool {
        switch self {
        case .importImatrix, .computeImatrix: true
        default: false
        }
    }
}

extension PipelineConfig {
    public var gptq: GPTQSettings? {
        for stage in calibration { if case .gptq(let s) = stage { return s } }
        return nil
    }

    public var awq: AWQSettings? {
        for stage in calibration { if case .awq(let s) = stage { return s } }
        return nil
    }

    /// `gptq` (`damp`, `chunks`) or `awq` (`grid`, `chunks`); each at most once per pipeline.
    static func parseWeightCalibration(_ kind: String, _ reader: inout ConfigReader, path: String) throws(ConfigError) -> CalibrationStage {
        let chunks = try reader.int("chunks", in: 1...Int(Int32.max))
        if kind == "gptq" {
            var settings = GPTQSettings(chunks: chunks)
            if let raw = reader.raw("damp") {
                settings.damp = try ConfigReader.number(raw, at: reader.child("damp"), in: 0.000001...1,
                                                        unit: "(a fraction of the Hessian's mean diagonal)")
            }
            return .gptq(settings)
        }
        return .awq(AWQSettings(grid: try reader.int("grid", in: 1...100) ?? 10, chunks: chunks))
    }

    /// A second `gptq` or `awq` stage is refused: each rewrites the same tensors.
    static func checkWeightCalibration(_ stage: CalibrationStage, after earlier: [CalibrationStage], path: String) throws(ConfigError) {
        let repeated: Bool = switch stage {
        case .gptq: earlier.contains { if case .gptq = $0 { true } else { false } }
        case .awq: earlier.contains { if case .awq = $0 { true } else { false } }
        default: false
        }
        if repeated { throw ConfigError(path: path, message: "repeats a calibration stage; keep one") }
    }
}

/// What the `gptq` and `awq` stages made: per scheme, the tensors written in place of the plain
/// quantization, and for every matrix they looked at, both output errors.
public struct CalibratedTensors: Sendable {
    public struct Record: Sendable, Equatable {
        public var tensor: String
        public var type: GGMLType
        /// "gptq", "awq", "awq+gptq", or "plain" (neither lowered the error: llama.cpp's bytes kept).
        public var method: String
        /// The AWQ exponent of the tensor's norm group (nil: AWQ not applied).
        public var awqAlpha: Double?
        /// Σ ‖(W − W̃)x‖² over the calibration tokens with llama.cpp's rounding.
        public var plainError: Double
        /// The same for what the artifact holds.
        public var error: Double
    }

    /// Scheme name → tensor name → the tensor's bytes in the artifact.
    public var bytes: [String: [String: [UInt8]]] = [:]
    public var records: [String: [Record]] = [:]
    public var text = ""
    public var tokens = 0
    public var chunks = 0
    /// Forward passes over the calibration text (one per group of layers whose H fit in memory).
    public var passes = 0
    public var seconds = 0.0
    /// Why the stages did not run (no forward pass for the architecture).
    public var skipped: String?

    public func replacement(scheme: String, tensor: String) -> [UInt8]? { bytes[scheme]?[tensor] }
}

public enum WeightCalibrationError: Error, CustomStringConvertible {
    case textTooShort(tokens: Int, ctx: Int)
    case nonFinite(tensor: String)
    case factor(tensor: String, GPTQ.FactorError)

    public var description: String {
        switch self {
        case .textTooShort(let tokens, let ctx):
            "the gptq/awq calibration text has \(tokens) tokens, fewer than one chunk of \(ctx); use a longer text (the imatrix stage's \"text\") or a smaller \"ctx\""
        case .nonFinite(let tensor):
            "the calibration activations of '\(tensor)' overflowed to a non-finite value; the model's weights are probably broken"
        case .factor(let tensor, let error):
            "'\(tensor)': \(error)"
        }
    }
}

extension PipelineJob {
    /// H for all layers of a group of layers is held at once; groups are sized to stay under this.
    static let hessianBudgetBytes = 1 << 30

    /// Runs the `gptq`/`awq` stages for every scheme of `config`; nil when the pipeline has neither.
    func computeWeightCalibration(config: PipelineConfig, importance: ImportanceMatrix?) throws -> CalibratedTensors? {
        let gptq = config.gptq, awq = config.awq
        guard gptq != nil || awq != nil else { return nil }
        var result = CalibratedTensors()
        if let reason = EvaluationStage.unsupportedReason(source: source) {
            result.skipped = reason
            return result
        }
        var clock = Stopwatch()
        let hyper = try ModelHyperparameters(metadata: source.metadata)
        let plans = try config.schemes.map { try TensorTypePlanner.plan(source.tensors, model: hyper, options: $0.options) }
        let tensors = source.tensors
        let index = Dictionary(tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })

        // Matrices worth calibrating: 2-D layer weights some scheme quantizes to a block type.
        var layers: [Int: [Int]] = [:]
        for (i, t) in tensors.enumerated() {
            guard t.name.hasPrefix("blk."), t.name.hasSuffix(".weight"), t.dimensions.count == 2,
                  t.rowCount > 0, t.rowLength > 0,
                  let layer = Int(t.name.dropFirst(4).prefix { $0 != "." }) else { continue }
            let quantized = plans.contains { plan in
                plan[i] != t.type && Self.calibrates(plan[i]) && t.rowLength % plan[i].blockSize == 0
            }
            if quantized { layers[layer, default: []].append(i) }
        }
        guard !layers.isEmpty else { return result }

        let model = try referenceModel().open()
        let text: ImatrixCalibration.Text
        if let path = config.calibrationTextPath {
            text = try .file(path, recordedName: config.computedImatrix?.text)
        } else {
            text = .bundled
        }
        let tokens = try ImatrixCalibration.tokens(of: text, model: model)
        let ctx = config.computedImatrix?.ctx ?? 512
        let available = tokens.count / ctx
        guard available >= 1 else { throw WeightCalibrationError.textTooShort(tokens: tokens.count, ctx: ctx) }
        let wanted = [gptq?.chunks, awq?.chunks].compactMap { $0 }.min() ?? config.computedImatrix?.chunks ?? available
        let chunks = min(available, max(1, wanted))
        result.text = text.name
        result.chunks = chunks
        result.tokens = chunks * ctx

        // Layers in groups whose H (one per distinct input, q/k/v and gate/up sharing) fit the budget.
        var groups: [[Int]] = [[]]
        var groupBytes = 0
        for layer in layers.keys.sorted() {
            let bytes = layers[layer, default: []].reduce(0) { sum, i in
                Self.sharesInput(tensors[i].name) ? sum : sum + tensors[i].rowLength * tensors[i].rowLength * 4
            }
            if groupBytes + bytes > Self.hessianBudgetBytes, !(groups.last ?? []).isEmpty {
                groups.append([])
                groupBytes = 0
            }
            groups[groups.count - 1].append(layer)
            groupBytes += bytes
        }

        let threads = workerCount
        let hp = model.hyperParameters
        for group in groups {
            let names = Set(group.flatMap { layers[$0, default: []] }.map { tensors[$0].name })
            let collector = HessianCollector(threads: threads) { names.contains($0) }
            let previous = model.activationObserver
            model.activationObserver = collector
            defer { model.activationObserver = previous }
            for c in 0..<chunks {
                if isCancelled?() == true { throw PipelineError.cancelled }
                var chunk = Array(tokens[(c * ctx)..<((c + 1) * ctx)])
                if hp.addsBOS { chunk[0] = hp.bosToken }
                try model.observeActivations(tokens: chunk, threads: threads)
            }
            model.activationObserver = previous
            if let bad = collector.nonFiniteTensor { throw WeightCalibrationError.nonFinite(tensor: bad) }
            collector.finish()
            result.passes += 1
            for layer in group {
                if isCancelled?() == true { throw PipelineError.cancelled }
                var calibrator = LayerCalibrator(
                    layer: layer, members: layers[layer, default: []], tensors: tensors, index: index, source: source,
                    collector: collector, importance: importance, gptq: gptq, awq: awq, threads: threads)
                try calibrator.load()
                for (s, scheme) in config.schemes.enumerated() {
                    try calibrator.run(scheme: scheme.name, plan: plans[s], into: &result)
                }
            }
        }
        result.seconds = clock.lap()
        return result
    }

    /// Types GPTQ can write: ggml's block types quantd quantizes (not the float types).
    static func calibrates(_ type: GGMLType) -> Bool {
        type.isQuantized && Quantizer.supportsQuantize(type)
    }

    /// Matrices that read the same input as a sibling collected first (q → k, v; gate → up).
    static func sharesInput(_ name: String) -> Bool {
        name.hasSuffix(".attn_k.weight") || name.hasSuffix(".attn_v.weight") || name.hasSuffix(".ffn_up.weight")
    }
}

/// One layer's matrices, calibrated for each scheme in turn.
struct LayerCalibrator {
    let layer: Int
    let members: [Int]
    let tensors: [PlannedTensorSource]
    let index: [String: Int]
    let source: TensorSource
    let collector: HessianCollector
    let importance: ImportanceMatrix?
    let gptq: GPTQSettings?
    let awq: AWQSettings?
    let threads: Int

    /// The source's f32 weights of every member.
    private var weights: [Int: [Float]] = [:]
    /// U of each distinct H (by leader name), for GPTQ.
    private var factors: [String: [Float]] = [:]
    /// Plain quantization's error, per (type, tensor): the same for every scheme that picks the type.
    private var plainErrors: [String: Double] = [:]

    init(layer: Int, members: [Int], tensors: [PlannedTensorSource], index: [String: Int], source: TensorSource,
         collector: HessianCollector, importance: ImportanceMatrix?, gptq: GPTQSettings?, awq: AWQSettings?, threads: Int) {
        self.layer = layer
        self.members = members
        self.tensors = tensors
        self.index = index
        self.source = source
        self.collector = collector
        self.importance = importance
        self.gptq = gptq
        self.awq = awq
        self.threads = threads
    }

    mutating func load() throws {
        for i in members where collector.matrix(for: tensors[i].name) != nil {
            let t = tensors[i]
            var w = [Float](repeating: 0, count: t.rowCount * t.rowLength)
            // In slabs of at most the runner's size: a converted folder's source reads no more at once.
            let slab = max(1, (1 << 22) / t.rowLength)
            try w.withUnsafeMutableBufferPointer { all in
                var row = 0
                while row < t.rowCount {
                    let rows = row..<min(t.rowCount, row + slab)
                    try source.floatRows(i, rows: rows, into: UnsafeMutableBufferPointer(rebasing: all[(rows.lowerBound * t.rowLength)..<(rows.upperBound * t.rowLength)]))
                    row = rows.upperBound
                }
            }
            weights[i] = w
            let leader = collector.leader(of: t.name)
            if let gptq, factors[leader] == nil, let h = collector.matrix(for: t.name) {
                do {
                    factors[leader] = try GPTQ.inverseFactor(hessian: h.values, columns: h.columns, damp: gptq.damp)
                } catch {
                    throw WeightCalibrationError.factor(tensor: t.name, error)
                }
            }
        }
    }

    /// The importance weights ggml's quantizer gets for `i`: the job's imatrix row, or (without one)
    /// H's diagonal per token, which is what an imatrix over the same text would hold.
    private func importanceRow(_ i: Int) throws -> [Float]? {
        let t = tensors[i]
        if let importance { return try importance.weights(for: t.name, rowLength: t.rowLength, experts: 1) }
        guard let h = collector.matrix(for: t.name) else { return nil }
        let n = h.columns
        return (0..<n).map { h.values[$0 * n + $0] / Float(max(1, h.tokens)) }
    }

    /// Plain quantization (ggml's quantizer on the rows as they are): bytes and dequantized values.
    private func plain(_ type: GGMLType, _ w: UnsafeBufferPointer<Float>, rowLength n: Int,
                       importance: [Float]?) throws -> (bytes: [UInt8], values: [Float]) {
        let rows = w.count / n
        var bytes = [UInt8](repeating: 0, count: try Quantizer.byteCount(type, rows: rows, rowLength: n))
        var values = [Float](repeating: 0, count: w.count)
        try bytes.withUnsafeMutableBytes { out in
            try Self.withOptional(importance) { imp in
                _ = try Quantizer.quantize(type, rows: w, rowLength: n,
                                           importance: Quantizer.usesImportanceWeights(type) ? imp : nil,
                                           into: out, threads: threads)
            }
            try values.withUnsafeMutableBufferPointer {
                try Quantizer.dequantize(type, UnsafeRawBufferPointer(out), count: w.count, into: $0, threads: threads)
            }
        }
        return (bytes, values)
    }

    static func withOptional<R>(_ values: [Float]?, _ body: (UnsafeBufferPointer<Float>?) throws -> R) rethrows -> R {
        guard let values else { return try body(nil) }
        return try values.withUnsafeBufferPointer { try body($0) }
    }

    /// Output error of `values` against the source weights of `i`, over the calibration tokens.
    private func error(_ i: Int, _ values: [Float]) -> Double {
        guard let w = weights[i], let h = collector.matrix(for: tensors[i].name) else { return .infinity }
        return w.withUnsafeBufferPointer { a in
            values.withUnsafeBufferPointer { b in
                GPTQ.outputError(a.baseAddress!, b.baseAddress!, rows: tensors[i].rowCount, columns: h.columns,
                                 hessian: h.values, threads: threads)
            }
        }
    }

    /// The norm before a group of matrices that read its output, when AWQ can fold into it: an
    /// F32 1-D weight of the input width (no bias), every member present and sharing one H.
    private func awqGroups(plan: [GGMLType]) -> [(norm: Int, members: [Int])] {
        var groups: [(Int, [Int])] = []
        for (normName, suffixes) in [("attn_norm", ["attn_q", "attn_k", "attn_v"]), ("ffn_norm", ["ffn_gate", "ffn_up"])] {
            let prefix = "blk.\(layer)."
            guard let norm = index[prefix + normName + ".weight"], index[prefix + normName + ".bias"] == nil else { continue }
            let group = suffixes.compactMap { index[prefix + $0 + ".weight"] }
            guard group.count == suffixes.count, group.allSatisfy({ weights[$0] != nil }) else { continue }
            let leaders = Set(group.map { collector.leader(of: tensors[$0].name) })
            let n = tensors[group[0]].rowLength
            let t = tensors[norm]
            guard leaders.count == 1, t.type == .f32, plan[norm] == .f32, t.dimensions == [n],
                  group.allSatisfy({ plan[$0] != tensors[$0].type && PipelineJob.calibrates(plan[$0]) })
            else { continue }
            groups.append((norm, group))
        }
        return groups
    }

    /// The α (of 0, 1/grid, …, 1) whose scales give the group the lowest output error with plain
    /// rounding, measured on up to 128 evenly spaced rows of each matrix (the search is the costly
    /// part; the chosen α is then measured on every row).
    private func searchAlpha(group: [Int], plan: [GGMLType], grid: Int) throws -> (alpha: Double, scales: [Float]) {
        guard let h = collector.matrix(for: tensors[group[0]].name) else { return (0, []) }
        let n = h.columns
        let magnitude = h.absoluteSums.map { $0 / Float(max(1, h.tokens)) }
        var samples: [(i: Int, w: [Float], imp: [Float]?)] = []
        for i in group {
            guard let w = weights[i] else { continue }
            let rows = tensors[i].rowCount
            let step = max(1, rows / 128)
            var picked: [Float] = []
            for r in stride(from: 0, to: rows, by: step) { picked += w[(r * n)..<((r + 1) * n)] }
            samples.append((i, picked, try importanceRow(i)))
        }
        var best = (alpha: 0.0, scales: [Float](repeating: 1, count: n), error: Double.infinity)
        for k in 0...grid {
            let alpha = Double(k) / Double(grid)
            let s = AWQ.scales(meanMagnitude: magnitude, alpha: alpha)
            var total = 0.0
            for sample in samples {
                var scaled = sample.w
                let rows = scaled.count / n
                scaled.withUnsafeMutableBufferPointer { AWQ.scaleColumns($0.baseAddress!, rows: rows, by: s) }
                let imp = sample.imp.map { zip($0, s).map { $0 / ($1 * $1) } }
                var (_, values) = try scaled.withUnsafeBufferPointer { try plain(plan[sample.i], $0, rowLength: n, importance: imp) }
                values.withUnsafeMutableBufferPointer { AWQ.unscaleColumns($0.baseAddress!, rows: rows, by: s) }
                total += sample.w.withUnsafeBufferPointer { a in
                    values.withUnsafeBufferPointer { b in
                        GPTQ.outputError(a.baseAddress!, b.baseAddress!, rows: rows, columns: n, hessian: h.values, threads: threads)
                    }
                }
            }
            if total < best.error { best = (alpha, s, total) }
        }
        return (best.alpha, best.scales)
    }

    /// One matrix's best rounding for a scheme: plain, GPTQ, and (with AWQ scales `s`) the scaled
    /// weights rounded plainly or by GPTQ. Without `s` the result is nil when nothing beats plain.
    private mutating func candidate(_ i: Int, type: GGMLType, scales s: [Float]?) throws
        -> (chosen: (bytes: [UInt8], error: Double, method: String)?, plainError: Double)
    {
        guard let w = weights[i] else { return (nil, .infinity) }
        let t = tensors[i], n = t.rowLength
        let key = "\(type.name) \(t.name)"
        let baseImportance = try importanceRow(i)
        if plainErrors[key] == nil {
            let values = try w.withUnsafeBufferPointer { try plain(type, $0, rowLength: n, importance: baseImportance).values }
            plainErrors[key] = error(i, values)
        }
        let plainError = plainErrors[key] ?? .infinity
        let imp = s.map { s in baseImportance.map { zip($0, s).map { $0 / ($1 * $1) } } } ?? baseImportance
        var scaled = w
        if let s { scaled.withUnsafeMutableBufferPointer { AWQ.scaleColumns($0.baseAddress!, rows: t.rowCount, by: s) } }
        var candidates: [(bytes: [UInt8], error: Double, method: String)] = []
        if let s {
            var (bytes, values) = try scaled.withUnsafeBufferPointer { try plain(type, $0, rowLength: n, importance: imp) }
            values.withUnsafeMutableBufferPointer { AWQ.unscaleColumns($0.baseAddress!, rows: t.rowCount, by: s) }
            candidates.append((bytes, error(i, values), "awq"))
        }
        if gptq != nil, var u = factors[collector.leader(of: t.name)] {
            if let s {
                // H' = S⁻¹ H S⁻¹ for the scaled weights, so (H')⁻¹ = (U S)ᵀ (U S).
                for r in 0..<n { for j in r..<n { u[r * n + j] *= s[j] } }
            }
            var values = scaled
            var bytes = [UInt8](repeating: 0, count: try Quantizer.byteCount(type, rows: t.rowCount, rowLength: n))
            try bytes.withUnsafeMutableBytes { out in
                try values.withUnsafeMutableBufferPointer { v in
                    try u.withUnsafeBufferPointer { ub in
                        try Self.withOptional(imp) { ib in
                            try GPTQ.quantize(type, weights: v.baseAddress!, rows: t.rowCount, columns: n,
                                              factor: ub.baseAddress!, importance: ib?.baseAddress, into: out, threads: threads)
                        }
                    }
                }
            }
            if let s { values.withUnsafeMutableBufferPointer { AWQ.unscaleColumns($0.baseAddress!, rows: t.rowCount, by: s) } }
            candidates.append((bytes, error(i, values), s == nil ? "gptq" : "awq+gptq"))
        }
        // A non-finite error (weights that overflow) never wins.
        let best = candidates.filter { $0.error.isFinite }.min { $0.error < $1.error }
        // Without AWQ the plain bytes remain a choice; with it the norm is shared, so the group
        // decides (`run`).
        if s == nil, let b = best, b.error >= plainError { return (nil, plainError) }
        return (best, plainError)
    }

    /// Every member's candidates for one scheme; the lowest output error wins, plain rounding
    /// included, so a stage never makes a tensor worse on the calibration text. AWQ is kept for a
    /// norm group only when the group's summed error is lower with it than without.
    mutating func run(scheme: String, plan: [GGMLType], into result: inout CalibratedTensors) throws {
        var done: [Int: (chosen: (bytes: [UInt8], error: Double, method: String)?, plainError: Double, alpha: Double?)] = [:]
        if let awq {
            for (norm, group) in awqGroups(plan: plan) {
                let found = try searchAlpha(group: group, plan: plan, grid: awq.grid)
                guard found.alpha > 0 else { continue }
                var withAWQ: [Int: (chosen: (bytes: [UInt8], error: Double, method: String)?, plainError: Double)] = [:]
                for i in group { withAWQ[i] = try candidate(i, type: plan[i], scales: found.scales) }
                var without: [Int: (chosen: (bytes: [UInt8], error: Double, method: String)?, plainError: Double)] = [:]
                for i in group { without[i] = try candidate(i, type: plan[i], scales: nil) }
                func total(_ r: [Int: (chosen: (bytes: [UInt8], error: Double, method: String)?, plainError: Double)]) -> Double {
                    r.values.reduce(0) { $0 + ($1.chosen?.error ?? $1.plainError) }
                }
                // Every member must be written scaled, since the norm they share is.
                if withAWQ.values.allSatisfy({ $0.chosen != nil }), total(withAWQ) < total(without) {
                    for (i, r) in withAWQ { done[i] = (r.chosen, r.plainError, found.alpha) }
                    var g = [Float](repeating: 0, count: found.scales.count)
                    try g.withUnsafeMutableBufferPointer { try source.floatRows(norm, rows: 0..<1, into: $0) }
                    let folded = AWQ.foldedNorm(g, scales: found.scales)
                    result.bytes[scheme, default: [:]][tensors[norm].name] = folded.withUnsafeBytes { Array($0) }
                } else {
                    for (i, r) in without { done[i] = (r.chosen, r.plainError, nil) }
                }
            }
        }
        for i in members where done[i] == nil && weights[i] != nil && plan[i] != tensors[i].type && PipelineJob.calibrates(plan[i]) {
            let r = try candidate(i, type: plan[i], scales: nil)
            done[i] = (r.chosen, r.plainError, nil)
        }
        for i in members {
            guard let r = done[i] else { continue }
            let t = tensors[i]
            if let chosen = r.chosen { result.bytes[scheme, default: [:]][t.name] = chosen.bytes }
            result.records[scheme, default: []].append(CalibratedTensors.Record(
                tensor: t.name, type: plan[i], method: r.chosen?.method ?? "plain", awqAlpha: r.alpha,
                plainError: r.plainError, error: r.chosen?.error ?? r.plainError))
        }
    }
}

extension Manifest {
    /// `calibration.gptq` / `calibration.awq`: the settings and what the stages read.
    static func weightCalibrationFields(_ c: CalibratedTensors, config: PipelineConfig) -> [(key: String, value: JSONValue)] {
        var shared: [(key: String, value: JSONValue)] = []
        if let skipped = c.skipped {
            shared = [("skipped", .string(skipped))]
        } else {
            shared = [("text", .string(c.text)), ("chunks", .number(JSONNumber(c.chunks))), ("tokens", .number(JSONNumber(c.tokens))),
                      ("passes", .number(JSONNumber(c.passes))), ("seconds", number(c.seconds))]
        }
        var fields: [(key: String, value: JSONValue)] = []
        if let g = config.gptq { fields.append(("gptq", .object([("damp", number(g.damp))] + shared))) }
        if let a = config.awq { fields.append(("awq", .object([("grid", .number(JSONNumber(a.grid)))] + shared))) }
        return fields
    }

    /// An artifact's `calibrated` object: whether its bytes are still llama.cpp's, and per matrix
    /// the method kept and both output errors (Σ‖(W − W̃)x‖² over the calibration tokens).
    static func calibratedJSON(_ records: [CalibratedTensors.Record]) -> JSONValue {
        let changed = records.filter { $0.method != "plain" }
        let plain = records.reduce(0) { $0 + $1.plainError }, error = records.reduce(0) { $0 + $1.error }
        return .object([
            ("departs_from_llama_cpp", .bool(!changed.isEmpty)),
            ("tensors_changed", .number(JSONNumber(changed.count))),
            ("tensors_measured", .number(JSONNumber(records.count))),
            ("output_error_plain", number(plain)),
            ("output_error", number(error)),
            ("tensors", .array(records.map { r in
                var entry: [(key: String, value: JSONValue)] = [
                    ("name", .string(r.tensor)), ("type", .string(r.type.name)), ("method", .string(r.method)),
                    ("output_error_plain", number(r.plainError)), ("output_error", number(r.error)),
                    ("error_ratio", number(r.plainError > 0 ? r.error / r.plainError : 1)),
                ]
                if let alpha = r.awqAlpha { entry.append(("awq_alpha", number(alpha))) }
                return .object(entry)
            })),
        ])
    }
}
