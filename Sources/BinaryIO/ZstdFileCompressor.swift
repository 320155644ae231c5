import CZstd

/// Compresses a file into `DEST` (atomically, hashing the output) with libzstd's streaming API,
/// using its own worker threads when asked; the frame declares the content size, so readers
/// know the uncompressed size without decompressing (`quantd inspect x.gguf.zst`).
public enum ZstdFileCompressor {
    public struct Result: Sendable {
        public var bytes: Int
        public var sha256: String
    }

    public static func compress(source path: String, destination: String, level: Int, workers: Int) throws -> Result {
        let input = try MappedFile(path: path)
        input.adviseSequential()
        guard let context = ZSTD_createCCtx() else { throw ZstdError(path: path, message: "libzstd could not allocate a compression context") }
        defer { ZSTD_freeCCtx(context) }
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level)), path)
        if workers > 0 {
            // A libzstd built without threads refuses this; compressing on one thread is still correct.
            _ = ZSTD_CCtx_setParameter(context, ZSTD_c_nbWorkers, Int32(workers))
        }
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), path)
        try check(ZSTD_CCtx_setPledgedSrcSize(context, UInt64(input.count)), path)

        // The loop below reads the map only through `inBuffer`; keep the map alive for it.
        defer { withExtendedLifetime(input) {} }
        let output = try AtomicFileWriter(destination: destination, hashing: true)
        let chunk = ZSTD_CStreamOutSize()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var inBuffer = ZSTD_inBuffer(src: input.bytes.baseAddress, size: input.count, pos: 0)
        while true {
            var outBuffer = ZSTD_outBuffer(dst: buffer.baseAddress, size: chunk, pos: 0)
            let remaining = ZSTD_compressStream2(context, &outBuffer, &inBuffer, ZSTD_e_end)
            try check(remaining, path)
            try output.write(UnsafeRawBufferPointer(rebasing: buffer[0..<outBuffer.pos]))
            if remaining == 0 { break }
        }
        let bytes = output.bytesWritten
        try output.commit()
        return Result(bytes: bytes, sha256: output.sha256 ?? "")
    }

    private static func check(_ code: Int, _ path: String) throws {
        if ZSTD_isError(code) != 0 {
            throw ZstdError(path: path, message: "zstd compression failed: \(String(cString: ZSTD_getErrorName(code)))")
        }
    }
}
