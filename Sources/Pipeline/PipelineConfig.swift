import BinaryIO
import GGUF
import JSON

/// A parsed, validated `pipeline.json` (schema version 1; documented in docs/pipeline.md).
///
/// Calibration stages run first and produce side data (importance weights, statistics); each
/// scheme stage plans one artifact; output stages act on the artifacts (compression, manifest).
public struct PipelineConfig: Sendable {
    public static let schemaVersion = 1

    public struct Scheme: Sendable {
        /// Names the artifact: `<model>-<name>.gguf`.
        public var name: String
        public var options: SchemeOptions
        /// Write this scheme's artifact as a split set (overrides the `split` output stage).
        public var split: GGUFSplitRule?

        public init(name: String, options: SchemeOptions) {
            self.name = name
            self.options = options
        }
    }

    public enum CalibrationStage: Sendable, Equatable {
        /// Import a llama.cpp importance matrix (GGUF or legacy .dat).
        case importImatrix(file: String)
        /// Compute one natively from a calibration text (see `ImatrixCalibration`).
        case computeImatrix(ImatrixSettings)
        /// Per-tensor weight statistics into the manifest.
        case weightStats
        /// GPTQ rounding from the calibration activations (`GPTQStage`).
        case gptq(GPTQSettings)
        /// AWQ channel scales folded into the norms (`GPTQStage`).
        case awq(AWQSettings)
    }

    public struct ZstdStage: Sendable, Equatable {
        public var level = 19
        /// libzstd worker threads (0: compress on the calling thread).
        public var workers = 2
        /// Keep the plain `.gguf` next to the `.gguf.zst`.
        public var keepPlain = true

        public init(level: Int = 19, workers: Int = 2, keepPlain: Bool = true) {
            self.level = level
            self.workers = workers
            self.keepPlain = keepPlain
        }
    }

    public var calibration: [CalibrationStage] = []
    public var schemes: [Scheme] = []
    public var zstd: ZstdStage?
    /// The `split` output stage: every artifact written as a split set cut by this rule.
    public var split: GGUFSplitRule?
    public var manifest = true
    /// The `evaluate` stage (perplexity and KL divergence of every artifact); nil: off.
    public var evaluation: EvaluationSettings? = EvaluationSettings()
    /// Threads for quantizing (0: all cores).
    public var threads = 0
    /// Requantize tensors that are already quantized (llama-quantize's `--allow-requantize`).
    public var allowRequantize = false
    /// The `converter` section: llama.cpp's converter for folders quantd does not convert natively.
    public var converter: ConverterSettings?
    /// The `daemon` object, left to the daemon's own parser.
    public var daemon: JSONValue?
    /// The file's JSON and SHA-256, when parsed from a file (for the manifest).
    public var sourceJSON: JSONValue?
    public var sourceSHA256: String?

    /// The JSON that describes a pipeline made on the command line (`--type MIX`).
    public var synthesizedJSON: JSONValue {
        var root: [(key: String, value: JSONValue)] = [("version", .number(JSONNumber(PipelineConfig.schemaVersion)))]
        if let file = importanceMatrixFile {
            root.append(("calibration", .array([.object([("stage", .string("imatrix")), ("file", .string(file))])])))
        }
        if evaluation != EvaluationSettings() { root.append(("evaluate", evaluation?.json ?? .bool(false))) }
        root.append(("schemes", .array(schemes.map { .object([("name", .string($0.name)), ("mix", .string($0.options.mix.rawValue))]) })))
        if let converter { root.append(("converter", converter.json)) }
        return .object(root)
    }

    public init() {}

    /// Where relative paths in the pipeline resolve: the pipeline file's folder (nil: the
    /// current directory, as for paths typed on the command line).
    public var baseDirectory: String?

    /// How a scheme's artifact is split, if it is: its own `split`, else the `split` stage's.
    public func splitRule(for scheme: Scheme) -> GGUFSplitRule? { scheme.split ?? split }

    /// The imatrix file as written in the pipeline (and recorded in artifacts).
    public var importanceMatrixFile: String? {
        for stage in calibration { if case .importImatrix(let file) = stage { return file } }
        return nil
    }

    /// The imatrix file's path to open.
    public var importanceMatrixPath: String? {
        guard let file = importanceMatrixFile else { return nil }
        guard !file.hasPrefix("/"), let baseDirectory else { return file }
        return "\(baseDirectory)/\(file)"
    }

    /// The settings of an `imatrix` stage that computes the matrix (no `file`).
    public var computedImatrix: ImatrixSettings? {
        for stage in calibration { if case .computeImatrix(let settings) = stage { return settings } }
        return nil
    }

    /// The calibration text's path to open (nil: the bundled text, or no computed imatrix).
    public var calibrationTextPath: String? {
        guard let text = computedImatrix?.text else { return nil }
        guard !text.hasPrefix("/"), let baseDirectory else { return text }
        return "\(baseDirectory)/\(text)"
    }

    /// True when some stage provides an importance matrix (imported or computed).
    public var hasImportanceMatrix: Bool { importanceMatrixFile != nil || computedImatrix != nil }

    public func loadImportanceMatrix() throws -> ImportanceMatrix? {
        guard let path = importanceMatrixPath, let file = importanceMatrixFile else { return nil }
        return try ImportanceMatrix.load(path: path, recordedName: file)
    }

    public var collectsWeightStats: Bool { calibration.contains(.weightStats) }

    /// What `quantd watch` runs without `--pipeline`: the default pipeline.json's schemes.
    public static var defaultDaemonPipeline: PipelineConfig {
        var config = PipelineConfig()
        config.schemes = [QuantMix.q4_K_M, .q6_K, .q8_0].map { Scheme(name: $0.rawValue, options: SchemeOptions(mix: $0)) }
        return config
    }

    /// A one-scheme pipeline for `--type MIX` on the command line.
    public static func single(mix: QuantMix) -> PipelineConfig {
        var config = PipelineConfig()
        config.schemes = [Scheme(name: mix.rawValue, options: SchemeOptions(mix: mix))]
        return config
    }

    /// Reads and parses a pipeline file.
    public static func load(file: String) throws -> PipelineConfig {
        try parse(MappedFile.contents(of: file), file: file)
    }

    public static func parse(_ text: [UInt8], file: String? = nil) throws(ConfigError) -> PipelineConfig {
        let json: JSONValue
        do {
            json = try StrictJSON.parse(text)
        } catch {
            throw ConfigError(path: "$", message: "is not valid JSON: \(error)", file: file)
        }
        do {
            var config = try parse(json)
            if let file, let slash = file.lastIndex(of: "/") { config.baseDirectory = String(file[..<slash]) }
            config.converter?.baseDirectory = config.baseDirectory
            config.sourceJSON = json
            config.sourceSHA256 = text.withUnsafeBytes { SHA256Digest.hex(of: $0) }
            return config
        } catch {
            var located = error
            located.file = file
            throw located
        }
    }

    static func parse(_ json: JSONValue) throws(ConfigError) -> PipelineConfig {
        var root = try ConfigReader(json, path: "$")
        let version = try root.int("version", in: 1...Int.max)
        guard version == schemaVersion else {
            throw ConfigError(path: "$.version", message: version == nil
                ? "is required (this quantd reads pipeline schema version \(schemaVersion))"
                : "is \(version ?? 0); this quantd reads schema version \(schemaVersion)")
        }
        var config = PipelineConfig()
        config.threads = try root.int("threads", in: 0...4096) ?? 0
        config.allowRequantize = try root.bool("allow_requantize") ?? false
        config.daemon = root.raw("daemon")
        config.converter = try ConverterSettings.parse(root.raw("converter"), path: "$.converter")
        config.evaluation = try EvaluationSettings.parse(root.raw("evaluate"), path: "$.evaluate")
        for (i, stage) in (try root.array("calibration") ?? []).enumerated() {
            let parsed = try parseCalibration(stage, path: "$.calibration[\(i)]")
            try checkWeightCalibration(parsed, after: config.calibration, path: "$.calibration[\(i)]")
            if parsed.providesImportanceMatrix && config.hasImportanceMatrix {
                throw ConfigError(path: "$.calibration[\(i)]", message: "is a second imatrix stage; a job uses one importance matrix — keep one")
            }
            config.calibration.append(parsed)
        }
        let schemes = try root.array("schemes") ?? []
        guard !schemes.isEmpty else { throw ConfigError(path: "$.schemes", message: "must list at least one scheme") }
        for (i, stage) in schemes.enumerated() {
            let scheme = try parseScheme(stage, path: "$.schemes[\(i)]", hasImatrix: config.hasImportanceMatrix)
            if config.schemes.contains(where: { $0.name == scheme.name }) {
                throw ConfigError(path: "$.schemes[\(i)].name", message: "'\(scheme.name)' names two schemes; each artifact needs its own name")
            }
            config.schemes.append(scheme)
        }
        for (i, stage) in (try root.array("outputs") ?? []).enumerated() {
            try parseOutput(stage, path: "$.outputs[\(i)]", into: &config)
        }
        if config.zstd != nil, let i = config.schemes.firstIndex(where: { config.splitRule(for: $0) != nil }) {
            throw ConfigError(path: config.split != nil ? "$.outputs" : "$.schemes[\(i)].split",
                              message: "splits an artifact, and the zstd stage compresses single files only — drop one of the two")
        }
        try root.rejectUnknownKeys()
        return config
    }

    private static func parseCalibration(_ json: JSONValue, path: String) throws(ConfigError) -> CalibrationStage {
        var reader = try ConfigReader(json, path: path)
        let kind = try reader.requiredString("stage")
        let stage: CalibrationStage
        switch kind {
        case "imatrix": stage = try parseImatrix(&reader, path: path)
        case "weight-stats": stage = .weightStats
        case "gptq", "awq": stage = try parseWeightCalibration(kind, &reader, path: path)
        default:
            throw ConfigError(path: "\(path).stage", message: "'\(kind)' is not a calibration stage (imatrix, weight-stats, gptq, awq)")
        }
        try reader.rejectUnknownKeys()
        return stage
    }

    /// `file` imports a finished matrix; without it the matrix is computed (`text`, `ctx`,
    /// `chunks`, `process_output`), so the two sets of keys exclude each other.
    private static func parseImatrix(_ reader: inout ConfigReader, path: String) throws(ConfigError) -> CalibrationStage {
        let file = try reader.string("file")
        let text = try reader.string("text")
        let ctx = try reader.int("ctx", in: 16...1_048_576)
        let chunks = try reader.int("chunks", in: 1...Int(Int32.max))
        let processOutput = try reader.bool("process_output")
        guard let file else {
            if text == "" { throw ConfigError(path: "\(path).text", message: "is empty; name a calibration text file, or leave \"text\" out for the bundled one") }
            return .computeImatrix(ImatrixSettings(text: text, ctx: ctx ?? 512, chunks: chunks, processOutput: processOutput ?? false))
        }
        let computeKeys = [("text", text != nil), ("ctx", ctx != nil), ("chunks", chunks != nil),
                           ("process_output", processOutput != nil)].filter(\.1).map(\.0)
        if let key = computeKeys.first {
            throw ConfigError(path: "\(path).\(key)", message: "cannot go with \"file\": \"file\" imports a finished importance matrix, \"\(key)\" is for computing one from a text — remove one of them")
        }
        guard !file.isEmpty else { throw ConfigError(path: "\(path).file", message: "is empty; name an imatrix file, or leave \"file\" out to compute the matrix") }
        return .importImatrix(file: file)
    }

    private static func parseScheme(_ json: JSONValue, path: String, hasImatrix: Bool) throws(ConfigError) -> Scheme {
        var reader = try ConfigReader(json, path: path)
        let sizeTarget = try parseSizeTarget(&reader, path: path)
        let mix: QuantMix
        if let mixName = try reader.string("mix") {
            guard let named = QuantMix(name: mixName) else {
                throw ConfigError(path: "\(path).mix", message: "'\(mixName)' is not a mix llama-quantize knows (e.g. Q4_K_M, Q6_K, Q8_0, IQ4_XS, F16)")
            }
            mix = named
        } else if let sizeTarget {
            // The file type a size-target artifact is labelled with: the mix it takes the size of.
            if case .sizeOf(let named) = sizeTarget.target { mix = named } else { mix = .q4_K_M }
        } else {
            throw ConfigError(path: "\(path).mix", message: "is required (or a \"target\" for a size-target scheme)")
        }
        var options = SchemeOptions(mix: mix)
        options.sizeTarget = sizeTarget
        if let rounding = try reader.string("rounding") {
            guard let parsed = Rounding(rawValue: rounding) else {
                throw ConfigError(path: "\(path).rounding", message: "'\(rounding)' is not a rounding (ggml: llama-quantize's bytes; refined: improved blocks, never worse under the importance-weighted error)")
            }
            options.rounding = parsed
        }
        options.hasImportanceMatrix = hasImatrix
        options.pure = try reader.bool("pure") ?? false
        options.outputTensorType = try type(&reader, "output_tensor_type", path: path)
        options.tokenEmbeddingType = try type(&reader, "token_embedding_type", path: path)
        if sizeTarget != nil, options.pure || reader.raw("rules") != nil {
            throw ConfigError(path: "\(path).target", message: "chooses every tensor's type itself; it cannot go with \"pure\" or \"rules\" — remove one")
        }
        for (i, rule) in (try reader.array("rules") ?? []).enumerated() {
            var r = try ConfigReader(rule, path: "\(path).rules[\(i)]")
            let pattern = try r.requiredString("match")
            guard let ruleType = try type(&r, "type", path: r.path) else {
                throw ConfigError(path: "\(r.path).type", message: "is required")
            }
            try r.rejectUnknownKeys()
            do {
                options.rules.append(try TensorTypeRule(pattern: pattern, type: ruleType))
            } catch {
                throw ConfigError(path: "\(r.path).match", message: "\(error)")
            }
        }
        var split: GGUFSplitRule?
        if let json = reader.raw("split") {
            var r = try ConfigReader(json, path: "\(path).split")
            split = try parseSplit(&r)
            try r.rejectUnknownKeys()
        }
        let name = try reader.string("name") ?? mix.rawValue
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw ConfigError(path: "\(path).name", message: "'\(name)' cannot be part of a file name")
        }
        try reader.rejectUnknownKeys()
        var scheme = Scheme(name: name, options: options)
        scheme.split = split
        return scheme
    }

    private static func type(_ reader: inout ConfigReader, _ key: String, path: String) throws(ConfigError) -> GGMLType? {
        guard let name = try reader.string(key) else { return nil }
        guard let type = GGMLType(name: name), Quantizable.types.contains(type) else {
            throw ConfigError(path: "\(path).\(key)", message: "'\(name)' is not a type quantd can write (\(Quantizable.types.map(\.name).joined(separator: ", ")))")
        }
        return type
    }

    private static func parseOutput(_ json: JSONValue, path: String, into config: inout PipelineConfig) throws(ConfigError) {
        var reader = try ConfigReader(json, path: path)
        let kind = try reader.requiredString("stage")
        switch kind {
        case "zstd":
            var zstd = ZstdStage()
            zstd.level = try reader.int("level", in: 1...22) ?? zstd.level
            zstd.workers = try reader.int("workers", in: 0...256) ?? zstd.workers
            zstd.keepPlain = try reader.bool("keep_plain") ?? zstd.keepPlain
            config.zstd = zstd
        case "manifest":
            config.manifest = try reader.bool("enabled") ?? true
        case "split":
            config.split = try parseSplit(&reader)
        default:
            throw ConfigError(path: "\(path).stage", message: "'\(kind)' is not an output stage (zstd, split, manifest)")
        }
        try reader.rejectUnknownKeys()
    }

    /// `max_size` (llama-gguf-split's `--split-max-size` syntax, e.g. "45G") or `max_tensors`.
    private static func parseSplit(_ reader: inout ConfigReader) throws(ConfigError) -> GGUFSplitRule {
        let size = try reader.string("max_size")
        let tensors = try reader.int("max_tensors", in: 1...Int(Int32.max))
        switch (size, tensors) {
        case (let size?, nil):
            do {
                return try GGUFSplitRule.size(size)
            } catch {
                throw ConfigError(path: "\(reader.path).max_size", message: "\(error)")
            }
        case (nil, let tensors?):
            return .maxTensors(tensors)
        case (_?, _?):
            throw ConfigError(path: "\(reader.path).max_tensors", message: "cannot go with \"max_size\": a split is cut by size or by tensor count — keep one")
        case (nil, nil):
            throw ConfigError(path: "\(reader.path)", message: "needs \"max_size\" (e.g. \"45G\") or \"max_tensors\"")
        }
    }
}
