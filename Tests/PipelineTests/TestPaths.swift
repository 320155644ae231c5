import Foundation
import QuantdTestSupport

enum TestPaths {
    static let repositoryRoot = Repository.root
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    static func temporaryFolder() -> String {
        let path = NSTemporaryDirectory() + "quantd-pipeline-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
