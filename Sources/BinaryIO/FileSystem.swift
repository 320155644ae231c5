#if canImport(Glibc)
import Glibc
#endif

/// The file-system calls quantd's writers and daemon depend on, as throwing Swift.
///
/// Every write, fsync, rename and statvfs of the artifact and manifest writers (`AtomicFileWriter`)
/// and of the daemon (its moves, ledger, markers, free-space check) goes through `FileSystem.call`,
/// which is where `FileSystemFaults` can put an error in place of the kernel's answer, and where
/// EINTR is retried once for everyone. Reads of inputs (mmap, small files) are not part of the seam:
/// they fail as the input's problem, not as the machine's. Opening, creating, listing and removing
/// files and folders are here too, for every target, outside the seam.
public enum FileSystem {
    public struct Info: Equatable, Sendable {
        public var isDirectory: Bool
        public var isRegularFile: Bool
        public var size: Int
        /// Modification time in nanoseconds since the epoch.
        public var modified: Int64
    }

    /// Makes one system call through the seam: an injected fault takes the kernel's place, and an
    /// interrupted call (EINTR) is made again. Returns the call's result; -1 leaves the error in `errno`.
    @inline(__always)
    public static func call(_ kind: FileSystemCall, _ path: String, _ body: () -> Int) -> Int {
        while true {
            let result: Int
            if case let .error(code)? = FileSystemFaults.fault(kind, path) {
                errno = code
                result = -1
            } else {
                result = body()
            }
            if result < 0 && errno == EINTR { continue }
            return result
        }
    }

    // MARK: Writing

    /// One write(2) of at most `bytes.count` bytes at the file position (or at `offset`): the count
    /// written. Callers loop; `writeAll` does.
    public static func writeSome(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String, offset: Int? = nil) throws -> Int {
        guard !bytes.isEmpty else { return 0 }
        let n = call(.write, path) {
            if let offset { return pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)) }
            return Glibc.write(fd, bytes.baseAddress, bytes.count)
        }
        guard n >= 0 else { throw FileError(path: path, operation: "write", errno: errno) }
        return n
    }

    /// Writes all of `bytes` (at the file position, or from `offset`).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String, offset: Int? = nil) throws {
        var done = 0
        while done < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[done...])
            let n = try writeSome(fd, rest, path: path, offset: offset.map { $0 + done })
            // write(2) returning 0 for a non-empty buffer would loop forever: treat it as a full disk.
            guard n > 0 else { throw FileError(path: path, operation: "write", errno: ENOSPC) }
            done += n
        }
    }

    public static func fsync(_ fd: Int32, path: String, operation: String = "fsync") throws {
        guard call(.fsync, path, { Int(Glibc.fsync(fd)) }) == 0 else {
            throw FileError(path: path, operation: operation, errno: errno)
        }
    }

    /// fsyncs folders so that renames and creations inside them survive a crash.
    public static func sync(_ folders: String...) throws {
        for folder in folders { try syncFolder(folder) }
    }

    public static func syncFolder(_ folder: String) throws {
        let dfd = try open(folder, O_RDONLY | O_DIRECTORY, operation: "open folder")
        defer { Glibc.close(dfd) }
        try fsync(dfd, path: folder, operation: "fsync folder")
    }

    /// Writes a whole file atomically (temporary file, fsync, rename, folder fsync).
    public static func writeAtomically(_ path: String, _ text: String, permissions: mode_t = 0o644) throws {
        let writer = try AtomicFileWriter(destination: path, permissions: permissions)
        try writer.write(Array(text.utf8))
        try writer.commit()
    }

    // MARK: Renaming

    public static func rename(_ from: String, _ to: String, operation: String? = nil) throws {
        guard call(.rename, from, { Int(Glibc.rename(from, to)) }) == 0 else {
            throw FileError(path: from, operation: operation ?? "rename to \(to)", errno: errno)
        }
    }

    /// rename(2) that fails with EEXIST instead of replacing `to` (renameat2 RENAME_NOREPLACE).
    /// Returns 0, or -1 with `errno`: EINVAL or ENOSYS when the file system or the C library
    /// cannot do it (the caller then needs another way).
    public static func renameWithoutReplacing(_ from: String, _ to: String) -> Int32 {
        guard let renameNoReplace else {
            errno = ENOSYS
            return -1
        }
        return Int32(call(.rename, from) { Int(renameNoReplace(AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */)) })
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32

    /// glibc's renameat2 (2.28+), looked up at run time: Swift's Glibc module does not export it.
    private static let renameNoReplace: RenameAt2? =
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }

    // MARK: Opening, creating and removing

    /// open(2) of a file the caller keeps open (a ledger appended to, a lock file).
    public static func open(_ path: String, _ flags: Int32, permissions: mode_t = 0o644, operation: String = "open") throws -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, permissions)
            if fd >= 0 { return fd }
            if errno != EINTR { throw FileError(path: path, operation: operation, errno: errno) }
        }
    }

    /// Creates an empty file that must not exist yet (O_EXCL): EEXIST says the name is taken.
    public static func createNewFile(_ path: String, permissions: mode_t = 0o644) throws {
        let fd = try open(path, O_WRONLY | O_CREAT | O_EXCL, permissions: permissions, operation: "create")
        Glibc.close(fd)
    }

    /// Creates a folder that must not exist yet: EEXIST says the name is taken (compare
    /// `makeDirectory`, for which an existing folder is fine).
    public static func createNewFolder(_ path: String, permissions: mode_t = 0o755) throws {
        guard mkdir(path, permissions) == 0 else { throw FileError(path: path, operation: "create folder", errno: errno) }
    }

    /// Removes a file; a missing one counts as removed. For temporaries, failed outputs and
    /// replaced artifacts, where an error leaves an extra file, never a wrong one: it is returned
    /// (false), not thrown, and removals are not part of the fault seam.
    @discardableResult
    public static func removeFile(_ path: String) -> Bool {
        unlink(path) == 0 || errno == ENOENT
    }

    /// Removes a folder if it is empty; returns whether it is gone.
    @discardableResult
    public static func removeEmptyFolder(_ path: String) -> Bool {
        rmdir(path) == 0 || errno == ENOENT
    }

    // MARK: Space

    /// Bytes available to an unprivileged writer on the file system holding `path`; nil when
    /// statvfs fails (the caller goes ahead and lets the writes say whether the space is there).
    public static func freeBytes(_ path: String) -> Int? {
        var buffer = statvfs()
        while true {
            switch FileSystemFaults.fault(.statvfs, path) {
            case let .freeBytes(bytes)?: return max(0, bytes)
            case .error(EINTR)?: continue
            case .error?: return nil
            default: break
            }
            if statvfs(path, &buffer) == 0 { break }
            if errno != EINTR { return nil }
        }
        let (bytes, overflow) = Int(buffer.f_bavail).multipliedReportingOverflow(by: Int(buffer.f_frsize))
        return overflow ? Int.max : bytes
    }

    // MARK: Folders and metadata

    /// `stat` (symlinks followed: a link dropped into the inbox is judged by its target).
    public static func info(_ path: String) -> Info? {
        var buffer = stat()
        guard stat(path, &buffer) == 0 else { return nil }
        let kind = buffer.st_mode & S_IFMT
        return Info(isDirectory: kind == S_IFDIR, isRegularFile: kind == S_IFREG, size: Int(buffer.st_size),
                    modified: Int64(buffer.st_mtim.tv_sec) * 1_000_000_000 + Int64(buffer.st_mtim.tv_nsec))
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Whether this process may read `path`; when not, `errno` says why.
    public static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

    /// `path` made absolute with symbolic links, `.` and `..` resolved; nil when it does not exist.
    public static func resolved(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// What the symbolic link `path` points to; nil when it is not a link.
    public static func linkTarget(_ path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = buffer.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count - 1) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// The names in a folder, sorted (so scans and tests see a stable order), without `.` and `..`.
    public static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw FileError(path: path, operation: "list", errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Creates a folder; an existing folder is fine.
    public static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) == 0 || (errno == EEXIST && info(path)?.isDirectory == true) { return }
        throw FileError(path: path, operation: "create folder", errno: errno)
    }

    /// Removes a file or a folder tree. Missing paths are fine (a retry after a crash may find
    /// half of it gone already).
    public static func removeTree(_ path: String) throws {
        var buffer = stat()
        guard lstat(path, &buffer) == 0 else {
            if errno == ENOENT { return }
            throw FileError(path: path, operation: "stat", errno: errno)
        }
        if (buffer.st_mode & S_IFMT) == S_IFDIR {
            for name in try list(path) { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 || errno == ENOENT else { throw FileError(path: path, operation: "remove", errno: errno) }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else { throw FileError(path: path, operation: "remove", errno: errno) }
        }
    }

    /// The content of a small file (ledger, settings, markers, a report another process appends
    /// to) from byte `offset` on; nil when it cannot be opened.
    public static func read(_ path: String, from offset: Int = 0, limit: Int = 1 << 30) -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < limit {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset + bytes.count)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Every file under `path` with its path relative to `path`, depth first, sorted.
    /// Symlinked files count with their target's size and mtime (Hugging Face downloads link
    /// shards to a blob cache), but symlinked folders are not entered, so a link loop cannot make
    /// a scan explode; depth is capped as well.
    public static func walk(_ path: String, depth: Int = 16) -> [(relative: String, info: Info)] {
        var result: [(relative: String, info: Info)] = []
        func visit(_ folder: String, _ prefix: String, _ level: Int) {
            guard level < depth, let names = try? list(folder) else { return }
            for name in names {
                let full = folder + "/" + name
                var link = stat()
                guard lstat(full, &link) == 0, let entry = info(full) else { continue }
                let isLink = (link.st_mode & S_IFMT) == S_IFLNK
                if entry.isDirectory && isLink { continue }
                if entry.isDirectory {
                    visit(full, prefix + name + "/", level + 1)
                } else {
                    result.append((prefix + name, entry))
                }
            }
        }
        visit(path, "", 0)
        return result
    }

    /// Total bytes of a file or of the files in a folder.
    public static func totalBytes(_ path: String) -> Int {
        guard let entry = info(path) else { return 0 }
        if !entry.isDirectory { return entry.size }
        return walk(path).reduce(0) { $0 &+ $1.info.size }
    }

    /// `path`'s folder and last component (`"."` for a bare name).
    public static func split(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }
}
