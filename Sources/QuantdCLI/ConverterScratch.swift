#if canImport(Glibc)
import Glibc
#endif
import BinaryIO

/// The hidden folder `quantd convert` gives llama.cpp's converter for its F16 file: inside the
/// output folder (the same disk as the artifacts, so space is checked where it is used), removed
/// with whatever is in it when the command ends, however it ends.
final class ConverterScratch {
    let path: String

    /// Creates `PARENT/.quantd-convert-PID`.
    init(in parent: String) throws {
        path = "\(parent)/.quantd-convert-\(getpid())"
        ConverterScratch.remove(path)
        guard mkdir(path, 0o700) == 0 else { throw FileError(path: path, operation: "create folder", errno: errno) }
    }

    deinit { ConverterScratch.remove(path) }

    /// Removes the folder's files (it holds no subfolders) and the folder.
    static func remove(_ path: String) {
        guard let directory = opendir(path) else { return }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { unlink("\(path)/\(name)") }
        }
        closedir(directory)
        rmdir(path)
    }
}
