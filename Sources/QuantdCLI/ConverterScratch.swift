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
        try? FileSystem.removeTree(path)
        try FileSystem.createNewFolder(path, permissions: 0o700)
    }

    deinit { try? FileSystem.removeTree(path) }
}
