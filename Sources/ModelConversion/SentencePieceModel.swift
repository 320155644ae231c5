import BinaryIO

/// The pieces of a SentencePiece `tokenizer.model` (a `sentencepiece.ModelProto` protobuf), read
/// without a protobuf library: only field 1 (`repeated SentencePiece pieces`, each with
/// `1: piece`, `2: score`, `3: type`) matters for GGUF; everything else is skipped by wire type.
/// Every length is checked against the bytes left, so a damaged file is an error, not a trap.
public struct SentencePieceModel: Sendable {
    /// `SentencePiece.Type`; also the GGUF token type of the same name.
    public enum PieceType: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public struct Piece: Sendable, Equatable {
        public var text: String
        public var score: Float
        public var type: PieceType

        public init(text: String, score: Float, type: PieceType) {
            self.text = text
            self.score = score
            self.type = type
        }
    }

    public let pieces: [Piece]

    public struct FormatError: Error, CustomStringConvertible, Sendable {
        public let offset: Int
        public let message: String
        public var description: String { "byte \(offset): \(message)" }
    }

    public init(bytes: UnsafeRawBufferPointer) throws(FormatError) {
        var reader = ProtobufReader(bytes: bytes, start: 0, end: bytes.count)
        var pieces: [Piece] = []
        while !reader.atEnd {
            let (field, wire) = try reader.key()
            if field == 1 && wire == 2 {
                var inner = try reader.message()
                var piece = Piece(text: "", score: 0, type: .normal)
                while !inner.atEnd {
                    let (f, w) = try inner.key()
                    switch (f, w) {
                    case (1, 2): piece.text = try inner.string()
                    case (2, 5): piece.score = Float(bitPattern: try inner.fixed32())
                    case (3, 0):
                        let raw = try inner.varint()
                        guard let type = PieceType(rawValue: Int32(truncatingIfNeeded: raw)) else {
                            throw FormatError(offset: inner.position, message: "piece \(pieces.count) has unknown type \(raw)")
                        }
                        piece.type = type
                    default: try inner.skip(wire: w)
                    }
                }
                pieces.append(piece)
            } else {
                try reader.skip(wire: wire)
            }
        }
        self.pieces = pieces
    }
}

/// A bounded cursor over protobuf wire format.
struct ProtobufReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int
    let end: Int

    init(bytes: UnsafeRawBufferPointer, start: Int, end: Int) {
        self.bytes = bytes
        position = start
        self.end = end
    }

    var atEnd: Bool { position >= end }

    mutating func varint() throws(SentencePieceModel.FormatError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw .init(offset: position, message: "varint runs past the end") }
            let byte = bytes[position]
            position += 1
            guard shift < 64 else { throw .init(offset: position, message: "varint longer than 10 bytes") }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func key() throws(SentencePieceModel.FormatError) -> (field: UInt64, wire: UInt64) {
        let k = try varint()
        return (k >> 3, k & 7)
    }

    mutating func fixed32() throws(SentencePieceModel.FormatError) -> UInt32 {
        guard end - position >= 4 else { throw .init(offset: position, message: "32-bit field runs past the end") }
        let value = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
        position += 4
        return value
    }

    /// The extent of a length-delimited field, which the cursor then steps over.
    mutating func lengthDelimited() throws(SentencePieceModel.FormatError) -> Range<Int> {
        let length = try varint()
        guard length <= UInt64(end - position) else {
            throw .init(offset: position, message: "field of \(length) bytes runs past the end (\(end - position) left)")
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    mutating func message() throws(SentencePieceModel.FormatError) -> ProtobufReader {
        let range = try lengthDelimited()
        return ProtobufReader(bytes: bytes, start: range.lowerBound, end: range.upperBound)
    }

    mutating func string() throws(SentencePieceModel.FormatError) -> String {
        let range = try lengthDelimited()
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    mutating func skip(wire: UInt64) throws(SentencePieceModel.FormatError) {
        switch wire {
        case 0: _ = try varint()
        case 1:
            guard end - position >= 8 else { throw .init(offset: position, message: "64-bit field runs past the end") }
            position += 8
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed32()
        default: throw .init(offset: position, message: "unsupported wire type \(wire)")
        }
    }
}
