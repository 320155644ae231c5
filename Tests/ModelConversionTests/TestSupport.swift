import Foundation
import JSON
import QuantdTestSupport
import Safetensors
import Testing

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

extension TemporaryFolder {
    /// A copy of a fixture model folder, to damage or extend in a test.
    func copy(fixture name: String) throws -> String {
        try copy(try Fixtures.path("models/\(name)"), as: name)
    }
}
