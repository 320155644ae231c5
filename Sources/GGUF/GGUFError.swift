/// A GGUF file that cannot be read, with the field and byte offset where reading stopped.
///
/// `kind` separates a file that is cut short (`truncated`: it may still be arriving, so the daemon
/// waits) from one that is wrong (`malformed`: waiting will not help) and from a valid file that
/// uses something ggml no longer supports (`unsupported`).
public struct GGUFError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case truncated, malformed, unsupported
    }

    /// Machine-readable cause, one per class of bad input.
    public enum Code: String, Sendable {
        case badMagic, unsupportedVersion, wrongEndianness
        case countTooLarge, stringTooLong, arrayTooLong, invalidValueType, nestedArray
        case emptyKey, duplicateKey, badAlignmentType, badAlignment
        case nameTooLong, duplicateTensorName, tooManyDimensions, negativeDimension
        case elementCountOverflow, unknownTensorType, removedTensorType, rowNotBlockMultiple
        case tensorSizeOverflow, misalignedTensorOffset, overlappingTensors, tensorOffsetGap
        case unexpectedEnd, tensorDataBeyondEnd
    }

    public let kind: Kind
    public let code: Code
    /// What was being read, e.g. `metadata['general.name'] value` or `tensor 'blk.0.attn_q.weight' offset`.
    public let field: String
    /// Absolute byte offset of that field in the (decompressed) file.
    public let offset: Int
    public let message: String
    /// What the user can do about it.
    public let hint: String
    /// The file's path, filled in by the caller that knows it.
    public var path: String?

    public init(_ kind: Kind, _ code: Code, field: String, offset: Int, message: String, hint: String) {
        self.kind = kind
        self.code = code
        self.field = field
        self.offset = offset
        self.message = message
        self.hint = hint
    }

    public var description: String {
        let prefix = path.map { "\($0): " } ?? ""
        return "\(prefix)\(message) (\(field), byte \(offset)) — \(hint)"
    }

    public func at(path: String) -> GGUFError {
        var copy = self
        copy.path = path
        return copy
    }
}
