import Foundation

/// A fresh folder under the temporary directory (`$TMPDIR`), removed with everything in it when
/// released, so tests can run side by side without sharing files and leave nothing behind.
public final class TemporaryFolder {
    public let path: String

    /// `label` goes into the folder's name, to tell whose folder a leftover is.
    public init(_ label: String = "test") {
        path = NSTemporaryDirectory() + "quantd-\(label)-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` inside the folder (nothing is created).
    public func file(_ name: String) -> String { path + "/" + name }

    /// Writes `bytes` to `name` (folders in the name are created) and returns the file's path.
    @discardableResult
    public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = file(name)
        let parent = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    @discardableResult
    public func write(_ name: String, text: String) throws -> String {
        try write(name, Array(text.utf8))
    }

    /// A copy of a file or folder tree under `name`, to damage or extend in a test.
    @discardableResult
    public func copy(_ source: String, as name: String) throws -> String {
        let destination = file(name)
        try FileManager.default.copyItem(atPath: source, toPath: destination)
        return destination
    }
}
