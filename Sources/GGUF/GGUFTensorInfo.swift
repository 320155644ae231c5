/// One tensor as a GGUF header describes it.
public struct GGUFTensorInfo: Equatable, Sendable {
    public let name: String
    /// Dimensions in GGUF order: `ne0` (the row length) first.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset from the start of the data section, as stored in the file.
    public let relativeOffset: Int
    /// Offset from the start of the file.
    public let absoluteOffset: Int
    public let elementCount: Int
    public let byteCount: Int

    public var rowLength: Int { dimensions.first ?? 1 }
    public var byteRange: Range<Int> { absoluteOffset..<(absoluteOffset + byteCount) }
}

/// Everything before the tensor data: version, metadata, tensor table, alignment.
public struct GGUFHeader: Sendable, Equatable {
    public static let defaultAlignment = 32
    /// The largest alignment we accept; real files use 32, and a huge one only wastes padding.
    public static let maximumAlignment = 1 << 20

    public let version: UInt32
    public let metadata: GGUFMetadata
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Where the data section starts (the end of the tensor table, padded to `alignment`).
    public let dataOffset: Int
    /// Bytes of header actually read (the tensor table's end, before padding).
    public let headerByteCount: Int

    /// The offset just past the last tensor's bytes: what a complete file must reach.
    public var requiredFileSize: Int {
        tensors.map { $0.absoluteOffset + $0.byteCount }.max() ?? headerByteCount
    }

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }

    public func tensor(named name: String) -> GGUFTensorInfo? { tensors.first { $0.name == name } }
}
