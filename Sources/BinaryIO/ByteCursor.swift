/// A bounded little-endian reader over a byte buffer.
///
/// Every read checks the bytes remaining first and returns nil when they run out, so a caller
/// cannot read past the buffer whatever a file claims; the caller turns nil into a typed error
/// naming the field it was reading and `offset`.
public struct ByteCursor {
    public let buffer: UnsafeRawBufferPointer
    /// Offset of the next byte to read, from the start of `buffer`.
    public private(set) var offset: Int

    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    public var remaining: Int { buffer.count - offset }

    public mutating func readInteger<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { return nil }
        let value = buffer.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: value)
    }

    public mutating func readFloat() -> Float? {
        readInteger(UInt32.self).map(Float.init(bitPattern:))
    }

    public mutating func readDouble() -> Double? {
        readInteger(UInt64.self).map(Double.init(bitPattern:))
    }

    /// A view of the next `count` bytes, advancing past them.
    public mutating func readBytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)])
        offset += count
        return slice
    }

    public mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, remaining >= count else { return false }
        offset += count
        return true
    }
}
