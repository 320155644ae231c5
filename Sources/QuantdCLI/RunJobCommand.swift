import ArgumentParser
import Daemon

/// `quantd run-job --request FILE`: one job of `quantd watch`, in its own process (docs/daemon.md).
/// Started by the daemon only, which reads its reports on fd 3; hidden from help.
struct RunJobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-job",
        abstract: "Run one job of quantd watch (internal).",
        shouldDisplay: false)

    @Option(name: .long, help: "The job request JSON file written by quantd watch.")
    var request: String

    func run() throws {
        let status = JobProcessChild.run(requestFile: request)
        if status != 0 { throw ExitCode(status) }
    }
}
