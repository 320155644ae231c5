import BinaryIO

/// Why a safetensors file cannot be read.
///
/// `truncated` and `malformed` are kept apart on purpose: a file shorter than its header declares
/// may still be arriving (a copy in progress), so the daemon defers it and looks again, while a
/// malformed file will never become valid and goes to `failed/` with this error.
public enum SafetensorsError: Error, Sendable, CustomStringConvertible {
    /// The file is shorter than its own header says it must be. `requiredSize` is the size the
    /// header declares (a lower bound when even the header is incomplete).
    case truncated(SafetensorsErrorDetail, requiredSize: Int, actualSize: Int)
    /// The file contradicts the format; waiting will not fix it.
    case malformed(SafetensorsErrorDetail)
    /// The file could not be opened or mapped.
    case io(FileError)

    public var detail: SafetensorsErrorDetail? {
        switch self {
        case let .truncated(detail, _, _), let .malformed(detail): return detail
        case .io: return nil
        }
    }

    public var isTruncated: Bool { if case .truncated = self { return true } else { return false } }
    public var isMalformed: Bool { if case .malformed = self { return true } else { return false } }

    public var description: String {
        switch self {
        case let .truncated(detail, _, _), let .malformed(detail): return detail.description
        case let .io(error): return error.description
        }
    }
}

/// What is wrong, where, and what to do about it.
public struct SafetensorsErrorDetail: Sendable, Equatable, CustomStringConvertible {
    /// The file, as the caller named it.
    public let path: String
    /// The tensor (header key) involved, if any; `__metadata__` for metadata problems.
    public let tensor: String?
    /// The header field involved: `header length`, `header`, `dtype`, `shape`, `data_offsets`, ...
    public let field: String?
    /// Absolute byte offset in the file where the problem lies, when one is meaningful.
    public let offset: Int?
    /// What is wrong and where, in a sentence.
    public let message: String
    /// What to do about it.
    public let hint: String

    public init(path: String, tensor: String? = nil, field: String? = nil, offset: Int? = nil,
                message: String, hint: String) {
        self.path = path
        self.tensor = tensor
        self.field = field
        self.offset = offset
        self.message = message
        self.hint = hint
    }

    public var description: String { "\(path): \(message) — \(hint)" }
}

/// Hints shared by several errors, so the same problem is always explained the same way.
enum SafetensorsHint {
    static let truncated = "the file is truncated; was the copy finished?"
    static let reExport =
        "the file was not written by a conforming safetensors writer; re-export it with the `safetensors` library"
    static let corrupt = "the file is corrupt or not a safetensors file; re-download or re-export it"
}
