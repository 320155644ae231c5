import COpenSSLCrypto
#if canImport(Glibc)
import Glibc
#endif

/// Incremental SHA-256 through the system's libcrypto (OpenSSL), which uses the CPU's SHA
/// extensions: about 1.5 GB per CPU-second from a file, as fast as swift-crypto's BoringSSL
/// (Benchmarks/sha256.sh) without compiling one.
public final class SHA256Digest {
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new() else { fatalError("OpenSSL could not allocate a digest context") }
        self.context = context
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    /// The digest as lower-case hex; the object must not be updated afterwards.
    public func finalizeHex() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        digest.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest.prefix(Int(length)) {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// SHA-256 of a file, read in 4 MiB pieces with read(2) rather than mapped, so hashing a
    /// 100 GB model does not pull it into the process's resident memory.
    public static func hex(ofFile path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        let digest = SHA256Digest()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return digest.finalizeHex()
    }

    /// SHA-256 of a whole buffer, fed in slices so the kernel can read ahead of the hash.
    public static func hex(of data: UnsafeRawBufferPointer) -> String {
        let digest = SHA256Digest()
        let step = 8 << 20
        var start = 0
        while start < data.count {
            let end = min(start + step, data.count)
            digest.update(UnsafeRawBufferPointer(rebasing: data[start..<end]))
            start = end
        }
        return digest.finalizeHex()
    }
}
