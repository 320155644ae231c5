#if canImport(Glibc)
import Glibc
#endif
import BinaryIO
import GGUF
import JSON

/// One artifact of a model planned as the files of a split set that separate tasks write: every
/// tensor's type (chosen as the pipeline chooses it for the whole model, so mixes that depend on
/// the layer's position come out the same), where the set is cut (as the single-machine split
/// artifact is cut), and per file its tensors and the byte ranges of the source they are read from.
/// Made from headers only; written as `PLAN.json` for `quantd shard write` and `finalize`.
public struct ShardPlan: Sendable, Equatable {
    public static let formatVersion = 1

    public struct SourceRange: Sendable, Equatable {
        public var file: String
        public var offset: Int
        public var bytes: Int

        public init(file: String, offset: Int, bytes: Int) {
            self.file = file
            self.offset = offset
            self.bytes = bytes
        }
    }

    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var type: GGMLType
        public var sourceType: GGMLType
        public var dimensions: [Int]
        /// Bytes in `type`.
        public var bytes: Int
        /// Where the tensor's source bytes are; empty when the source is not a file region
        /// (a tensor the converter generates).
        public var sources: [SourceRange]
    }

    public struct File: Sendable, Equatable {
        /// The file's name (no folder): `PREFIX-0000i-of-0000N.gguf`.
        public var name: String
        public var tensors: [Tensor]
    }

    /// The model as given (folder or GGUF), absolute when the plan was made from an absolute path.
    public var model: String
    /// The mix given with `--type` (nil: a pipeline file).
    public var type: String?
    public var pipeline: String?
    public var scheme: String
    public var mix: String
    public var imatrix: String?
    public var allowRequantize: Bool
    public var rule: GGUFSplitRule
    /// The set's path prefix without a folder: `<model>-<scheme>`.
    public var prefix: String
    public var files: [File]

    public var tensorCount: Int { files.reduce(0) { $0 + $1.tensors.count } }

    /// The settings a plan is made from, and that `write` and `finalize` rebuild from the plan.
    public struct Settings: Sendable, Equatable {
        public var model: String
        public var type: String?
        public var pipeline: String?
        public var scheme: String?
        public var imatrix: String?
        public var allowRequantize = false
        /// nil: the pipeline's own split for the scheme.
        public var rule: GGUFSplitRule?

        public init(model: String, type: String? = nil, pipeline: String? = nil, scheme: String? = nil, imatrix: String? = nil,
                    allowRequantize: Bool = false, rule: GGUFSplitRule? = nil) {
            self.model = model
            self.type = type
            self.pipeline = pipeline
            self.scheme = scheme
            self.imatrix = imatrix
            self.allowRequantize = allowRequantize
            self.rule = rule
        }
    }

    public var settings: Settings {
        Settings(model: model, type: type, pipeline: pipeline, scheme: scheme, imatrix: imatrix, allowRequantize: allowRequantize, rule: rule)
    }
}

public enum ShardError: Error, CustomStringConvertible, Equatable {
    case invalidPlan(file: String, problem: String)
    case settings(String)
    /// The model or a setting changed between the plan and a later step.
    case planMismatch(plan: String, problem: String)
    case noSuchFile(plan: String, index: Int, count: Int)
    case missingShard(path: String, number: Int, count: Int)

    public var description: String {
        switch self {
        case .invalidPlan(let file, let problem):
            "\(file): \(problem) — make the plan again with quantd shard plan"
        case .settings(let message): message
        case .planMismatch(let plan, let problem):
            "\(plan): \(problem) — the model or a setting changed since the plan was made; make the plan again with quantd shard plan and rewrite every file"
        case .noSuchFile(let plan, let index, let count):
            "\(plan): there is no file \(index) — the plan has files 1 to \(count)"
        case .missingShard(let path, let number, let count):
            "\(path): file \(number) of \(count) has not been written — run quantd shard write PLAN --file \(number) -o DIR (a failed task can be run again)"
        }
    }
}

extension ShardPlan {
    // MARK: JSON

    public var json: JSONValue {
        func int(_ n: Int) -> JSONValue { .number(JSONNumber(n)) }
        func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        let split: JSONValue = switch rule {
        case .maxBytes(let bytes): .object([("max_bytes", int(bytes))])
        case .maxTensors(let n): .object([("max_tensors", int(n))])
        }
        return .object([
            ("version", int(Self.formatVersion)), ("model", .string(model)), ("type", optional(type)),
            ("pipeline", optional(pipeline)), ("scheme", .string(scheme)), ("mix", .string(mix)), ("imatrix", optional(imatrix)),
            ("allow_requantize", .bool(allowRequantize)), ("split", split), ("prefix", .string(prefix)),
            ("tensor_count", int(tensorCount)),
            ("files", .array(files.map { file in
                .object([("file", .string(file.name)), ("tensors", .array(file.tensors.map { t in
                    .object([
                        ("name", .string(t.name)), ("type", .string(t.type.name)), ("source_type", .string(t.sourceType.name)),
                        ("shape", .array(t.dimensions.map(int))), ("bytes", int(t.bytes)),
                        ("source", .array(t.sources.map { .object([("file", .string($0.file)), ("offset", int($0.offset)), ("bytes", int($0.bytes))]) })),
                    ])
                }))])
            })),
        ])
    }

    /// Writes the plan to `path` atomically.
    public func write(to path: String) throws {
        let writer = try AtomicFileWriter(destination: path)
        try writer.write(Array((json.serialized(pretty: true) + "\n").utf8))
        try writer.commit()
    }

    /// Reads a plan, checking every field before use.
    public static func load(path: String) throws -> ShardPlan {
        let mapped = try MappedFile(path: path)
        let value: JSONValue
        do {
            value = try mapped.withUnsafeBytes { bytes throws(JSONError) in try StrictJSON.parse(bytes) }
        } catch {
            throw ShardError.invalidPlan(file: path, problem: "is not JSON (\(error))")
        }
        return try parse(value, file: path)
    }

    static func parse(_ value: JSONValue, file: String) throws -> ShardPlan {
        func bad(_ problem: String) -> ShardError { .invalidPlan(file: file, problem: problem) }
        do {
            var root = try ConfigReader(value, path: "$")
            guard try root.int("version", in: 1...Int.max) == formatVersion else {
                throw bad("$.version is not \(formatVersion), the plan format this quantd reads")
            }
            let model = try root.requiredString("model")
            let type = try optionalString(&root, "type")
            let pipeline = try optionalString(&root, "pipeline")
            let scheme = try root.requiredString("scheme")
            let mix = try root.requiredString("mix")
            let imatrix = try optionalString(&root, "imatrix")
            let allow = try root.bool("allow_requantize") ?? false
            guard let splitValue = root.raw("split") else { throw bad("$.split is required") }
            var split = try ConfigReader(splitValue, path: "$.split")
            let rule: GGUFSplitRule
            if let bytes = try split.int("max_bytes", in: 1...Int(Int64.max)) {
                rule = .maxBytes(bytes)
            } else if let n = try split.int("max_tensors", in: 1...Int(Int32.max)) {
                rule = .maxTensors(n)
            } else {
                throw bad("$.split needs max_bytes or max_tensors")
            }
            try split.rejectUnknownKeys()
            let prefix = try root.requiredString("prefix")
            guard !prefix.isEmpty, !prefix.contains("/") else { throw bad("$.prefix must be a file name without a folder") }
            let count = try root.int("tensor_count", in: 0...Int(Int32.max)) ?? -1
            guard let filesJSON = try root.array("files"), !filesJSON.isEmpty, filesJSON.count <= GGUFSplitLayout.maximumFiles else {
                throw bad("$.files must list 1 to \(GGUFSplitLayout.maximumFiles) files")
            }
            try root.rejectUnknownKeys()
            var files: [File] = []
            for (i, fileJSON) in filesJSON.enumerated() {
                var reader = try ConfigReader(fileJSON, path: "$.files[\(i)]")
                let name = try reader.requiredString("file")
                guard name == GGUFSplitLayout.path(prefix: prefix, index: i, count: filesJSON.count) else {
                    throw bad("$.files[\(i)].file is '\(name)', not the name file \(i + 1) of \(filesJSON.count) has")
                }
                var tensors: [Tensor] = []
                for (j, tensorJSON) in (try reader.array("tensors") ?? []).enumerated() {
                    let path = "$.files[\(i)].tensors[\(j)]"
                    var t = try ConfigReader(tensorJSON, path: path)
                    let tensorName = try t.requiredString("name")
                    guard let type = GGMLType(name: try t.requiredString("type")),
                          let sourceType = GGMLType(name: try t.requiredString("source_type")) else {
                        throw bad("\(path) names a type quantd does not know")
                    }
                    let shape = try (t.array("shape") ?? []).enumerated().map { k, v throws(ConfigError) in
                        try ConfigReader.int(v, at: "\(path).shape[\(k)]", in: 1...Int(Int64.max))
                    }
                    guard (1...4).contains(shape.count) else { throw bad("\(path).shape must have 1 to 4 dimensions") }
                    let bytes = try t.int("bytes", in: 0...Int(Int64.max)) ?? 0
                    var sources: [SourceRange] = []
                    for (k, s) in (try t.array("source") ?? []).enumerated() {
                        var r = try ConfigReader(s, path: "\(path).source[\(k)]")
                        sources.append(SourceRange(file: try r.requiredString("file"),
                                                   offset: try r.int("offset", in: 0...Int(Int64.max)) ?? 0,
                                                   bytes: try r.int("bytes", in: 0...Int(Int64.max)) ?? 0))
                        try r.rejectUnknownKeys()
                    }
                    try t.rejectUnknownKeys()
                    tensors.append(Tensor(name: tensorName, type: type, sourceType: sourceType, dimensions: shape, bytes: bytes, sources: sources))
                }
                try reader.rejectUnknownKeys()
                files.append(File(name: name, tensors: tensors))
            }
            let plan = ShardPlan(model: model, type: type, pipeline: pipeline, scheme: scheme, mix: mix, imatrix: imatrix,
                                 allowRequantize: allow, rule: rule, prefix: prefix, files: files)
            guard plan.tensorCount == count else { throw bad("$.tensor_count is \(count), but the files list \(plan.tensorCount) tensors") }
            return plan
        } catch let error as ConfigError {
            throw bad("\(error.path) \(error.message)")
        }
    }

    private static func optionalString(_ reader: inout ConfigReader, _ key: String) throws(ConfigError) -> String? {
        guard let value = reader.raw(key), !value.isNull else { return nil }
        return try ConfigReader.string(value, at: reader.child(key))
    }
}
