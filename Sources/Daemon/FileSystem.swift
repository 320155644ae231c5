import BinaryIO
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's whole state is on disk (docs/design.md, "The drop folder"), so every step that
/// moves a job forward is a rename inside ROOT followed by an fsync of the folders involved: after
/// a crash the listing, not memory, says where each input is.
extension FileSystem {
    /// Renames `from` into `folder` under `name`, or `name-2`, `name-3`, ... when taken, never
    /// replacing anything, and returns the name used. rename(2) would silently replace an empty
    /// folder or a file, so this uses renameat2(RENAME_NOREPLACE); on a file system without it,
    /// an exclusively created placeholder that the rename then replaces.
    static func moveWithoutReplacing(_ from: String, into folder: String, name: String) throws -> String {
        guard let source = info(from) else { throw FileError(path: from, operation: "move", errno: ENOENT) }
        var noReplaceWorks = true
        for attempt in 1...10_000 {
            let candidate = DropFolder.suffixed(name, attempt)
            let target = folder + "/" + candidate
            if noReplaceWorks {
                if renameWithoutReplacing(from, target) == 0 { return candidate }
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
}
