import Foundation
import Testing

/// systemd/quantd.service under a real systemd booted in a container (scripts/systemd/test-unit.sh):
/// readiness, watchdog, SIGTERM stop, restart after kill -9 and the sandbox. It needs root,
/// systemd-nspawn and a cached Debian root made with debootstrap, and takes about a minute, so it runs
/// only when asked for.
struct SystemdBootTests {
    static let requested = ProcessInfo.processInfo.environment["QUANTD_SYSTEMD_TEST"] == "1"

    @Test(.enabled(if: requested, "set QUANTD_SYSTEMD_TEST=1 to boot systemd with the shipped unit (scripts/systemd/test-unit.sh)"),
          .timeLimit(.minutes(10)))
    func shippedUnitUnderRealSystemd() throws {
        let script = DaemonHarness.repositoryRoot.appendingPathComponent("scripts/systemd/test-unit.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, WatchProcessTests.quantdBinary]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        switch process.terminationStatus {
        case 0:
            for check in ["readiness", "watchdog: still active", "watchdog: pings", "SIGTERM stop", "restart after kill -9", "sandbox"] {
                #expect(output.contains("PASS \(check)"), "no passing '\(check)' check in:\n\(output)")
            }
        case 77:
            // The script could not boot systemd on this machine and says why.
            try Test.cancel(Comment(rawValue: "systemd could not be booted here: " + String(output.suffix(600))))
        default:
            Issue.record("scripts/systemd/test-unit.sh exited \(process.terminationStatus):\n\(output)")
        }
    }
}
