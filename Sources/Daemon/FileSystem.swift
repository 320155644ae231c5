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
            do {
                if source.isDirectory { try createNewFolder(target) } else { try createNewFile(target) }
            } catch let error as FileError where error.errno == EEXIST {
                continue
            }
            do {
                try rename(from, target)
            } catch {
                if source.isDirectory { removeEmptyFolder(target) } else { removeFile(target) }
                throw error
            }
            return candidate
        }
        throw FileError(path: folder + "/" + name, operation: "find a free name", errno: EEXIST)
    }
}
