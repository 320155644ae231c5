import CZstd

/// Decompresses a zstd file incrementally, as far as the caller asks.
///
/// `quantd inspect x.gguf.zst` needs only the GGUF header, which sits at the front of the
/// decompressed stream: it asks for more bytes until the header parses, and never decompresses
/// the tensor data behind it.
public final class ZstdStreamReader {
    public let path: String
    /// The decompressed bytes produced and not yet discarded; `output[0]` is stream byte `outputStart`.
    public private(set) var output: [UInt8] = []
    /// Stream offset of `output[0]` (non-zero once a caller discards what it has consumed).
    public private(set) var outputStart = 0
    /// True once the compressed input is exhausted and every frame is complete.
    public private(set) var isAtEnd = false
    /// The size the first frame declares for its content, when it declares one.
    public let declaredContentSize: Int?

    private let source: MappedFile
    private var inputOffset = 0
    /// zstd's hint after the last call: 0 when a frame has just been completed.
    private var lastHint = 1
    private let stream: OpaquePointer

    public init(path: String) throws {
        self.path = path
        source = try MappedFile(path: path)
        guard let stream = ZSTD_createDStream() else {
            throw FileError(path: path, operation: "start zstd", errno: 12)
        }
        self.stream = stream
        ZSTD_initDStream(stream)
        if source.count > 0, let base = source.bytes.baseAddress {
            let size = ZSTD_getFrameContentSize(base, source.count)
            // ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are the two largest UInt64 values.
            declaredContentSize = size < UInt64.max - 1 && size <= UInt64(Int.max) ? Int(size) : nil
        } else {
            declaredContentSize = nil
        }
    }

    deinit { ZSTD_freeDStream(stream) }

    public var compressedSize: Int { source.count }

    /// Decompresses until the stream's first `count` bytes have been produced or the stream ends.
    public func fill(upTo count: Int) throws {
        let chunk = 1 << 20
        while outputStart + output.count < count && !isAtEnd {
            if inputOffset >= source.count {
                // No compressed bytes left: a stream that ends inside a frame is truncated.
                if lastHint != 0 {
                    throw ZstdError(path: path, message: "the compressed stream ends inside a frame (truncated .zst)")
                }
                isAtEnd = true
                break
            }
            let start = output.count
            output.append(contentsOf: repeatElement(0, count: chunk))
            var produced = 0
            var result = 0
            output.withUnsafeMutableBytes { out in
                var outBuffer = ZSTD_outBuffer(dst: out.baseAddress! + start, size: chunk, pos: 0)
                var inBuffer = ZSTD_inBuffer(
                    src: source.bytes.baseAddress!, size: source.count, pos: inputOffset)
                result = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                inputOffset = inBuffer.pos
                produced = outBuffer.pos
            }
            output.removeLast(chunk - produced)
            if ZSTD_isError(result) != 0 {
                let name = String(cString: ZSTD_getErrorName(result))
                throw ZstdError(path: path, message: "not a valid zstd stream at compressed byte \(inputOffset): \(name)")
            }
            lastHint = result
        }
    }
}

extension ZstdStreamReader {
    /// Drops decompressed bytes before stream offset `offset`, so a long stream can be read in
    /// bounded memory.
    public func discard(before offset: Int) {
        let n = min(max(0, offset - outputStart), output.count)
        output.removeFirst(n)
        outputStart += n
    }
}

public struct ZstdError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }
}
