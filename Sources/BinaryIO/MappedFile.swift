#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file.
///
/// Readers parse headers straight from the map, so opening a 100 GB model touches only the pages
/// its header occupies. The map is private and read-only: nothing we do can modify an input.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The mapped bytes; empty for an empty file. Valid only while this object is alive — and
    /// Swift may release an object right after its last use, so code that reads `bytes` after
    /// its last use of the object must use `withUnsafeBytes` (or `withExtendedLifetime`).
    public let bytes: UnsafeRawBufferPointer
    public var count: Int { bytes.count }

    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, operation: "stat", errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw FileError(path: path, operation: "open", errno: EISDIR, detail: "not a regular file")
        }
        let size = Int(info.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw FileError(path: path, operation: "mmap", errno: errno)
        }
        base = mapped
        bytes = UnsafeRawBufferPointer(start: mapped, count: size)
    }

    /// Runs `body` with the mapped bytes, keeping the map alive until it returns.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(bytes) }
    }

    /// A copy of the whole file (for small files such as configurations).
    public static func contents(of path: String) throws -> [UInt8] {
        try MappedFile(path: path).withUnsafeBytes { Array($0) }
    }

    /// Tells the kernel the whole file will be read front to back (for `--verify` and conversion).
    public func adviseSequential() {
        if let base { _ = madvise(base, bytes.count, MADV_SEQUENTIAL) }
    }

    /// Drops the pages of `range` from this process's memory (the page cache keeps them), so a
    /// pass over a large file does not accumulate it all in the process's resident set.
    public func release(_ range: Range<Int>) {
        let clamped = range.clamped(to: 0..<bytes.count)
        MappedFile.releasePages(UnsafeRawBufferPointer(rebasing: bytes[clamped]))
    }

    /// Drops the whole pages inside `bytes` (part of a private read-only map) from the resident
    /// set; neighbours may share the first and last page, so those stay. A later read faults the
    /// pages back in from the page cache.
    public static func releasePages(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let page = UInt(max(sysconf(Int32(_SC_PAGESIZE)), 1))
        let start = (UInt(bitPattern: base) + page - 1) / page * page
        let end = (UInt(bitPattern: base) + UInt(bytes.count)) / page * page
        guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(pointer, Int(end - start), MADV_DONTNEED)
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }
}

/// A failed system call on a file, with the path and the C error.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let operation: String
    public let errno: Int32
    public let detail: String?

    public init(path: String, operation: String, errno: Int32, detail: String? = nil) {
        self.path = path
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        let reason = detail ?? String(cString: strerror(errno))
        return "\(path): cannot \(operation): \(reason)"
    }

    /// Errors that may go away on retry (full disk, I/O error) as opposed to a wrong path.
    public var isTransient: Bool { [ENOSPC, EIO, EDQUOT, EAGAIN, EINTR, ENOMEM].contains(errno) }
}
