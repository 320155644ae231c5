import BinaryIO

/// The header of a zstd-compressed GGUF (`.gguf.zst`), read by decompressing only its front.
///
/// The header of even a 100 GB model is a few MB at the start of the stream, so inspecting a
/// compressed artifact costs milliseconds: we decompress a little, try to parse, and decompress
/// more only while the parser reports that it ran out of bytes.
public struct CompressedGGUFHeader: Sendable {
    public let header: GGUFHeader
    public let compressedSize: Int
    /// The uncompressed size the zstd frame declares, when it declares one (tensor bounds are
    /// checked against it; without it they cannot be).
    public let declaredSize: Int?

    /// Headers larger than this are refused when the stream does not declare its size, so a
    /// hostile stream cannot make us allocate without bound.
    public static let maximumHeaderBytes = 1 << 30

    public static func read(path: String) throws -> CompressedGGUFHeader {
        let stream = try ZstdStreamReader(path: path)
        let limit = min(stream.declaredContentSize ?? maximumHeaderBytes, maximumHeaderBytes)
        var want = 1 << 20
        while true {
            try stream.fill(upTo: want)
            do {
                let header = try stream.output.withUnsafeBytes { bytes throws(GGUFError) in
                    try GGUFHeaderParser.parse(bytes, fileSize: stream.declaredContentSize)
                }
                return CompressedGGUFHeader(header: header, compressedSize: stream.compressedSize,
                                            declaredSize: stream.declaredContentSize)
            } catch let error as GGUFError {
                guard error.code == .unexpectedEnd, !stream.isAtEnd, want < limit else {
                    throw error.at(path: path)
                }
                want = min(want * 4, limit)
            }
        }
    }
}
