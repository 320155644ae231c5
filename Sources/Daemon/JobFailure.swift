import BinaryIO
import GGUF
import JSON
import Pipeline
import ModelFolder
import Safetensors
#if canImport(Glibc)
import Glibc
#endif

/// Why a job did not finish, in the form that goes into `error.json` and the ledger.
public struct JobFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// What the daemon does about it.
    public enum Kind: String, Sendable {
        /// The input is wrong and waiting will not fix it: it moves, untouched, to failed/ with error.json.
        case badInput = "bad_input"
        /// The machine had a problem (full disk, I/O error): retried with backoff, then failed/.
        case transient
        /// The input is not complete yet (truncated while a copy runs): back to the inbox, never failed.
        case stillArriving = "still_arriving"
    }

    public var kind: Kind
    /// The error's type, e.g. `GGUFError`, `SafetensorsError`, `FileError`.
    public var type: String
    /// A finer cause when the error has one (`GGUFError.Code`: `duplicateKey`, ...).
    public var code: String?
    public var message: String
    /// The file involved, when known.
    public var file: String?
    /// The field being read (`tensor 'x' data`), when known.
    public var field: String?
    /// Byte offset of the problem in `file`, when known.
    public var offset: Int?
    /// What the user can do about it.
    public var hint: String?
    /// How the job's own process ended, when it did not end by reporting (a crash, a timeout).
    public var process: JobProcessEnd?

    public init(kind: Kind, type: String, code: String? = nil, message: String, file: String? = nil,
                field: String? = nil, offset: Int? = nil, hint: String? = nil, process: JobProcessEnd? = nil) {
        self.process = process
        self.kind = kind
        self.type = type
        self.code = code
        self.message = message
        self.file = file
        self.field = field
        self.offset = offset
        self.hint = hint
    }

    public var description: String { message + (hint.map { " — \($0)" } ?? "") }

    /// Replaces the job's private path (`ROOT/work/ID/input/`) by nothing, so messages name the
    /// input as the user dropped it (`llama/model-00002-of-00004.safetensors`).
    func relative(to prefix: String) -> JobFailure {
        func strip(_ text: String) -> String { text.replacingAll(prefix + "/", with: "") }
        var copy = self
        copy.message = strip(message)
        copy.file = file.map(strip)
        copy.hint = hint.map(strip)
        copy.process?.stderrTail = process?.stderrTail.map(strip) ?? []
        return copy
    }

    /// The `error` object of error.json and of the ledger: every field, null when unknown; a
    /// `process` object only for a job whose process crashed or was stopped.
    public func json() -> JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("kind", .string(kind.rawValue)),
            ("type", .string(type)),
            ("code", code.map { .string($0) } ?? .null),
            ("message", .string(message)),
            ("file", file.map { .string($0) } ?? .null),
            ("field", field.map { .string($0) } ?? .null),
            ("offset", offset.map { .number(JSONNumber($0)) } ?? .null),
            ("hint", hint.map { .string($0) } ?? .null),
        ]
        if let process { pairs.append(("process", process.json())) }
        return jsonObject(pairs)
    }

    /// Reads back what `json()` wrote (the job process reports its failure this way); nil when
    /// `value` is not such an object.
    public init?(json value: JSONValue) {
        guard let kindName = value["kind"]?.stringValue, let kind = Kind(rawValue: kindName),
              let type = value["type"]?.stringValue, let message = value["message"]?.stringValue else { return nil }
        self.init(kind: kind, type: type, code: value["code"]?.stringValue, message: message,
                  file: value["file"]?.stringValue, field: value["field"]?.stringValue,
                  offset: value["offset"]?.intValue, hint: value["hint"]?.stringValue)
    }
}

/// Sorts any error an executor throws into a `JobFailure`.
///
/// A protocol so the pipeline can teach the daemon its own error types (a `PipelineError` whose
/// `.diskFull` is transient) by wrapping the default classifier.
public protocol JobFailureClassifier: Sendable {
    func classify(_ error: any Error) -> JobFailure
}

/// Knows the error types of the layers below the daemon. Anything it does not know is bad input:
/// the input goes to failed/ with the error's description, which is safer than retrying forever.
public struct DefaultJobFailureClassifier: JobFailureClassifier {
    public init() {}

    public func classify(_ error: any Error) -> JobFailure {
        switch error {
        case let failure as JobFailure:
            return failure
        case PipelineError.cancelled:
            // The daemon is stopping: the job did nothing wrong and is redone at the next start.
            return JobFailure(kind: .transient, type: JobFailure.cancelledType, message: "\(error)")
        case let gguf as GGUFError:
            let kind: JobFailure.Kind = gguf.kind == .truncated ? .stillArriving : .badInput
            return JobFailure(kind: kind, type: "GGUFError", code: gguf.code.rawValue, message: gguf.message,
                              file: gguf.path, field: gguf.field, offset: gguf.offset, hint: gguf.hint)
        case let safetensors as SafetensorsError:
            return classify(safetensors)
        case let folder as ModelFolderError:
            if case let .weights(inner) = folder { return classify(inner) }
            if case let .notADirectory(_, file?) = folder, file.isTransient { return classify(file) }
            return JobFailure(kind: .badInput, type: "ModelFolderError", code: folder.code,
                              message: folder.description, file: folder.path)
        case let file as FileError:
            return classify(file)
        case let zstd as ZstdError:
            // The zstd reader says "truncated" when the stream ends early: a copy in progress.
            let truncated = zstd.message.contains("truncated")
            return JobFailure(kind: truncated ? .stillArriving : .badInput, type: "ZstdError", message: zstd.message,
                              file: zstd.path, hint: truncated ? nil : "check that the file is a complete zstd stream")
        case let json as JSONError:
            return JobFailure(kind: .badInput, type: "JSONError", message: json.description, offset: json.offset)
        default:
            return JobFailure(kind: .badInput, type: String(describing: Swift.type(of: error)), message: "\(error)")
        }
    }

    private func classify(_ error: SafetensorsError) -> JobFailure {
        switch error {
        case let .io(file):
            return classify(file)
        case let .truncated(detail, _, _), let .malformed(detail):
            return JobFailure(kind: error.isTruncated ? .stillArriving : .badInput, type: "SafetensorsError",
                              code: error.isTruncated ? "truncated" : "malformed", message: detail.message,
                              file: detail.path, field: detail.field, offset: detail.offset, hint: detail.hint)
        }
    }

    private func classify(_ error: FileError) -> JobFailure {
        // ENOSPC, EIO, EDQUOT, ...: the machine's problem, worth another try. ENOENT, EACCES, ...:
        // something about this input a person has to fix.
        JobFailure(kind: error.isTransient ? .transient : .badInput, type: "FileError",
                   code: String(cString: strerror(error.errno)), message: error.description, file: error.path,
                   hint: error.isTransient ? "free space or fix the disk; the job is retried" : nil)
    }
}

extension ModelFolderError {
    /// The folder or file the error is about.
    var path: String? {
        switch self {
        case let .notADirectory(path, _), let .config(path, _), let .pickleOnly(path, _),
             let .noWeights(path, _), let .index(path, _):
            return path
        case let .weights(error):
            return error.detail?.path
        }
    }

    var code: String {
        switch self {
        case .notADirectory: "notADirectory"
        case .config: "config"
        case .pickleOnly: "pickleOnly"
        case .noWeights: "noWeights"
        case .index: "index"
        case .weights: "weights"
        }
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation here).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
