import BinaryIO
#if canImport(Glibc)
import Glibc
#endif

/// The few POSIX file operations the daemon needs, as throwing Swift calls.
///
/// The daemon's whole state is on disk (DESIGN.md, "The drop folder"), so every step that moves
/// a job forward is a rename inside ROOT followed by an fsync of the folders involved: after a
/// crash the listing, not memory, says where each input is.
enum FileSystem {
    struct Info: Equatable {
        var isDirectory: Bool
        var isRegularFile: Bool
        var size: Int
        /// Modification time in nanoseconds since the epoch.
        var modified: Int64
    }

    /// `stat` (symlinks followed: a link dropped into the inbox is judged by its target).
    static func info(_ path: String) -> Info? {
        var buffer = stat()
        guard stat(path, &buffer) == 0 else { return nil }
        let kind = buffer.st_mode & S_IFMT
        return Info(isDirectory: kind == S_IFDIR, isRegularFile: kind == S_IFREG, size: Int(buffer.st_size),
                    modified: Int64(buffer.st_mtim.tv_sec) * 1_000_000_000 + Int64(buffer.st_mtim.tv_nsec))
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The names in a folder, sorted (so scans and tests see a stable order), without `.` and `..`.
    static func list(_ path: String) throws -> [String] {
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
    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) == 0 || (errno == EEXIST && info(path)?.isDirectory == true) { return }
        throw FileError(path: path, operation: "create folder", errno: errno)
    }

    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw FileError(path: from, operation: "rename to \(to)", errno: errno)
        }
    }

    /// Renames `from` into `folder` under `name`, or `name-2`, `name-3`, ... when taken, never
    /// replacing anything, and returns the name used. rename(2) would silently replace an empty
    /// folder or a file, so this uses renameat2(RENAME_NOREPLACE); on a file system without it,
    /// an exclusively created placeholder that the rename then replaces.
    static func moveWithoutReplacing(_ from: String, into folder: String, name: String) throws -> String {
        guard let source = info(from) else { throw FileError(path: from, operation: "move", errno: ENOENT) }
        var noReplaceWorks = renameNoReplace != nil
        for attempt in 1...10_000 {
            let candidate = DropFolder.suffixed(name, attempt)
            let target = folder + "/" + candidate
            if noReplaceWorks, let renameNoReplace {
                if renameNoReplace(AT_FDCWD, from, AT_FDCWD, target, 1 /* RENAME_NOREPLACE */) == 0 { return candidate }
                if errno == EEXIST { continue }
                guard errno == EINVAL || errno == ENOSYS else {
                    throw FileError(path: from, operation: "rename to \(target)", errno: errno)
                }
                noReplaceWorks = false
            }
            let created: Bool
            if source.isDirectory {
                created = mkdir(target, 0o755) == 0
            } else {
                let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                created = fd >= 0
                if fd >= 0 { close(fd) }
            }
            if !created {
                if errno == EEXIST { continue }
                throw FileError(path: target, operation: "create", errno: errno)
            }
            do {
                try rename(from, target)
            } catch {
                _ = source.isDirectory ? rmdir(target) : unlink(target)
                throw error
            }
            return candidate
        }
        throw FileError(path: folder + "/" + name, operation: "find a free name", errno: EEXIST)
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32

    /// glibc's renameat2 (2.28+), looked up at run time: Swift's Glibc module does not export it.
    private static let renameNoReplace: RenameAt2? =
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }

    /// Removes a file or a folder tree. Missing paths are fine (a retry after a crash may find
    /// half of it gone already).
    static func removeTree(_ path: String) throws {
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

    /// fsyncs folders so renames and creations in them survive a crash.
    static func sync(_ folders: String...) throws {
        for folder in folders { try AtomicFileWriter.syncFolder(folder) }
    }

    /// Writes a whole file atomically (temporary file, fsync, rename, folder fsync).
    static func writeAtomically(_ path: String, _ text: String) throws {
        let writer = try AtomicFileWriter(destination: path)
        try writer.write(Array(text.utf8))
        try writer.commit()
    }

    /// The whole content of a small file (ledger, settings, markers); nil when it cannot be read.
    static func read(_ path: String, limit: Int = 1 << 30) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < limit {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Bytes available to an unprivileged writer on the file system holding `path`.
    static func freeBytes(_ path: String) -> Int? {
        var buffer = statvfs()
        guard statvfs(path, &buffer) == 0 else { return nil }
        let (bytes, overflow) = Int(buffer.f_bavail).multipliedReportingOverflow(by: Int(buffer.f_frsize))
        return overflow ? Int.max : bytes
    }

    /// Every file under `path` with its path relative to `path`, depth first, sorted.
    /// Symlinked files count with their target's size and mtime (Hugging Face downloads link
    /// shards to a blob cache), but symlinked folders are not entered, so a link loop cannot make
    /// a scan explode; depth is capped as well.
    static func walk(_ path: String, depth: Int = 16) -> [(relative: String, info: Info)] {
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
    static func totalBytes(_ path: String) -> Int {
        guard let entry = info(path) else { return 0 }
        if !entry.isDirectory { return entry.size }
        return walk(path).reduce(0) { $0 &+ $1.info.size }
    }
}
