import Foundation
import QuantdTestSupport
import Testing

/// systemd/quantd.service must pass `systemd-analyze verify` and keep its hardening: the
/// exposure `systemd-analyze security` computes offline must stay at 2.0 or lower.
/// (scripts/install-deps.sh installs systemd-analyze for the tests.)
struct SystemdUnitTests {
    static let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The shipped unit with ExecStart pointed at the binary just built (verify checks it exists).
    private func unitForThisMachine(in folder: TemporaryFolder) throws -> String {
        let shipped = try String(contentsOfFile: DaemonHarness.repositoryRoot.appendingPathComponent("systemd/quantd.service").path, encoding: .utf8)
        let lines = shipped.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("ExecStart=") else { return String(line) }
            var words = line.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
            words[0] = WatchProcessTests.quantdBinary
            return "ExecStart=" + words.joined(separator: " ")
        }
        return try folder.write("quantd.service", text: lines.joined(separator: "\n"))
    }

    private func run(_ arguments: [String]) throws -> (Int32, String) {
        let result = try runProcess(Self.analyze ?? "/usr/bin/systemd-analyze", arguments)
        return (result.status, result.stdout + result.stderr)
    }

    @Test(.enabled(if: Self.analyze != nil, "systemd-analyze is not installed (scripts/install-deps.sh --python installs it)"))
    func unitVerifiesAndStaysHardened() throws {
        let folder = TemporaryFolder("unit")
        defer { withExtendedLifetime(folder) {} }
        let unit = try unitForThisMachine(in: folder)
        let (status, output) = try run(["verify", unit])
        #expect(status == 0, "systemd-analyze verify: \(output)")
        let (_, security) = try run(["security", "--offline=true", unit])
        let line = try #require(security.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let exposure = line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        #expect(exposure != nil && exposure! <= 2.0, "\(line)")
    }
}
