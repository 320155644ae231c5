import Foundation

/// A fresh temporary directory per test, so tests can run in parallel without sharing files.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("quantd-model-folder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = (path as NSString).appendingPathComponent(name)
        let parent = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    @discardableResult
    func write(_ name: String, text: String) throws -> String {
        try write(name, Array(text.utf8))
    }
}

/// Builds a safetensors file by hand: the 8-byte little-endian length, the header, the data.
/// - Parameters:
///   - padToEight: pad the header with spaces to a multiple of 8, as the reference writer does.
///   - declaredLength: a header length to write instead of the real one (for lying files).
func safetensorsBytes(header: String, data: [UInt8] = [], padToEight: Bool = false,
                      declaredLength: UInt64? = nil) -> [UInt8] {
    var headerBytes = Array(header.utf8)
    if padToEight {
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
    }
    let length = declaredLength ?? UInt64(headerBytes.count)
    var bytes = withUnsafeBytes(of: length.littleEndian) { Array($0) }
    bytes += headerBytes
    bytes += data
    return bytes
}
