#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that readers see either nothing or the whole file.
///
/// Bytes go to a hidden temporary file in the destination folder (same file system, so the final
/// rename is atomic). `commit()` flushes, fsyncs the file, renames it into place and fsyncs the
/// folder so the rename survives a crash. A writer dropped without `commit()` removes its
/// temporary file. Output is buffered: callers may append in small pieces. Writes, fsyncs and the
/// rename go through `FileSystem` (EINTR retried, faults injectable in tests).
public final class AtomicFileWriter {
    public let destination: String
    public let temporaryPath: String
    /// Bytes appended so far (including those still in the buffer).
    public private(set) var bytesWritten: Int = 0

    /// SHA-256 of everything written, when asked for at creation: manifests need the hash of
    /// every artifact, and hashing as the bytes go out saves reading the file again.
    private let digest: SHA256Digest?
    /// The hex SHA-256 of the file, available after `commit()` when hashing was asked for.
    public private(set) var sha256: String?

    private var fd: Int32
    private var buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    private var finished = false
    /// The temporary file is complete and closed (`seal()`); only the rename is left.
    private var sealed = false
    /// Writing with O_DIRECT: whole aligned buffers go from `buffer` to the device without
    /// passing through the page cache (see `init`).
    private var direct = false

    public static let bufferSize = 4 << 20
    /// Buffer address, write size and file offset alignment that O_DIRECT needs on any device.
    static let directAlignment = 4096

    /// `directIO`: write with O_DIRECT where the file system allows it (else silently as usual).
    /// For large one-shot outputs (a converted model): on a VM, filling hundreds of MiB of fresh
    /// page cache costs more CPU than the conversion itself (first touch of guest pages), while a
    /// direct write DMAs from one reused buffer and leaves little for the final fsync to do.
    public init(destination: String, permissions: mode_t = 0o644, hashing: Bool = false, directIO: Bool = false) throws {
        self.destination = destination
        digest = hashing ? SHA256Digest() : nil
        let (folder, name) = FileSystem.split(destination)
        var suffix = UInt64.random(in: 0...UInt64.max)
        var path = ""
        var descriptor: Int32 = -1
        for _ in 0..<8 {
            path = "\(folder)/.\(name).tmp-\(getpid())-\(String(suffix, radix: 36))"
            descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
            if descriptor >= 0 || errno != EEXIST { break }
            suffix &+= 1
        }
        guard descriptor >= 0 else { throw FileError(path: path, operation: "create", errno: errno) }
        fd = descriptor
        temporaryPath = path
        buffer = .allocate(byteCount: AtomicFileWriter.bufferSize, alignment: AtomicFileWriter.directAlignment)
        if directIO { direct = AtomicFileWriter.setDirect(fd, true) }
    }

    #if arch(x86_64)
    private static let oDirect: Int32 = 0o40000
    #elseif arch(arm64)
    private static let oDirect: Int32 = 0o200000
    #else
    private static let oDirect: Int32 = 0
    #endif

    /// Turns O_DIRECT on or off for `fd`; false when it cannot be on.
    private static func setDirect(_ fd: Int32, _ on: Bool) -> Bool {
        guard oDirect != 0 else { return false }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { return false }
        return fcntl(fd, F_SETFL, on ? flags | oDirect : flags & ~oDirect) == 0 && on
    }

    deinit {
        buffer.deallocate()
        if !finished {
            if !sealed { close(fd) }
            unlink(temporaryPath)
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished && !sealed, "write after commit")
        digest?.update(bytes)
        var source = bytes
        while !source.isEmpty {
            if !direct && buffered == 0 && source.count >= buffer.count {
                try writeFully(source)
                bytesWritten += source.count
                return
            }
            let n = min(source.count, buffer.count - buffered)
            UnsafeMutableRawBufferPointer(rebasing: buffer[buffered..<(buffered + n)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<n]))
            buffered += n
            bytesWritten += n
            source = UnsafeRawBufferPointer(rebasing: source[n...])
            if buffered == buffer.count { try flush() }
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in try write(raw) }
    }

    public func writeZeros(_ count: Int) throws {
        var left = count
        let zeros = [UInt8](repeating: 0, count: min(count, 4096))
        while left > 0 {
            let n = min(left, zeros.count)
            try zeros.withUnsafeBytes { raw in
                try write(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
            }
            left -= n
        }
    }

    /// Flushes, fsyncs, renames into place and fsyncs the folder.
    public func commit() throws {
        try seal()
        finished = true
        guard FileSystem.call(.rename, temporaryPath, { Int(rename(temporaryPath, destination)) }) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw FileError(path: destination, operation: "rename into place", errno: code)
        }
        try FileSystem.syncFolder(FileSystem.split(destination).folder)
    }

    /// Flushes, fsyncs and closes the temporary file without renaming it: the file is durable
    /// but still invisible. Files that must appear together (a split set) are all sealed before
    /// any is committed, so a failure while writing one leaves none in place. Idempotent.
    public func seal() throws {
        precondition(!finished, "seal after commit")
        guard !sealed else { return }
        try flush()
        sha256 = digest?.finalizeHex()
        try FileSystem.fsync(fd, path: temporaryPath)
        sealed = true
        guard close(fd) == 0 else { throw FileError(path: temporaryPath, operation: "close", errno: errno) }
    }

    /// Removes the temporary file; the destination is untouched.
    public func abort() {
        guard !finished else { return }
        finished = true
        if !sealed { close(fd) }
        unlink(temporaryPath)
    }

    private func flush() throws {
        guard buffered > 0 else { return }
        if direct && buffered % AtomicFileWriter.directAlignment != 0 {
            // Only the file's tail is not a whole number of blocks: write the aligned part
            // directly, the rest through the page cache.
            let aligned = buffered - buffered % AtomicFileWriter.directAlignment
            try writeFully(UnsafeRawBufferPointer(rebasing: buffer[0..<aligned]))
            direct = AtomicFileWriter.setDirect(fd, false)
            try writeFully(UnsafeRawBufferPointer(rebasing: buffer[aligned..<buffered]))
        } else {
            try writeFully(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]))
        }
        buffered = 0
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = FileSystem.call(.write, temporaryPath) { Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                // A file system that accepted O_DIRECT at open but not this write: go on buffered.
                if errno == EINVAL && direct { direct = AtomicFileWriter.setDirect(fd, false); continue }
                throw FileError(path: temporaryPath, operation: "write", errno: errno)
            }
            guard n > 0 else { throw FileError(path: temporaryPath, operation: "write", errno: ENOSPC) }
            done += n
        }
    }
}
