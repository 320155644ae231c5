import JSON
import Foundation
import Safetensors
import Testing

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum Fixtures {
    /// The folder of a committed fixture (`Fixtures/models/NAME`, `Fixtures/expected/NAME.json`).
    static func path(_ relative: String) throws -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(relative)", withExtension: nil) else {
            throw TestFailure("missing fixture \(relative)")
        }
        return url.path
    }

    static func json(_ relative: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: try path(relative)))
        return try StrictJSON.parse([UInt8](data))
    }
}

/// A temporary folder removed when the test ends.
final class TemporaryFolder {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "quantd-convert-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }

    /// A copy of a fixture model folder, to damage or extend in a test.
    func copy(fixture name: String) throws -> String {
        let destination = file(name)
        try FileManager.default.copyItem(atPath: try Fixtures.path("models/\(name)"), toPath: destination)
        return destination
    }
}
