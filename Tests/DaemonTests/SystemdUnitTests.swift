import Foundation
import Testing

/// systemd/quantd.service must pass `systemd-analyze verify` and keep its hardening: the
/// exposure `systemd-analyze security` computes offline must stay at 2.0 or lower.
/// (scripts/install-deps.sh installs systemd-analyze for the tests.)
struct SystemdUnitTests {
    static let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The shipped unit with ExecStart pointed at the binary just built (verify checks it exists).
    private func unitForThisMachine() throws -> String {
        let shipped = try String(contentsOfFile: DaemonHarness.repositoryRoot.appendingPathComponent("systemd/quantd.service").path, encoding: .utf8)
        let lines = shipped.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("ExecStart=") else { return String(line) }
            var words = line.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
            words[0] = WatchProcessTests.quantdBinary
            return "ExecStart=" + words.joined(separator: " ")
        }
        let folder = NSTemporaryDirectory() + "quantd-unit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/quantd.service"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func run(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.analyze ?? "/usr/bin/systemd-analyze")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(.enabled(if: Self.analyze != nil, "systemd-analyze is not installed (scripts/install-deps.sh --python installs it)"))
    func unitVerifiesAndStaysHardened() throws {
        let unit = try unitForThisMachine()
        let (status, output) = try run(["verify", unit])
        #expect(status == 0, "systemd-analyze verify: \(output)")
        let (_, security) = try run(["security", "--offline=true", unit])
        let line = try #require(security.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let exposure = line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        #expect(exposure != nil && exposure! <= 2.0, "\(line)")
    }
}
