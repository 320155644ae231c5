import BinaryIO
import Foundation
import JSON
import Testing
@testable import Daemon

/// Jobs in their own process: the daemon runs the real `quantd run-job` (the built binary) through
/// `ChildProcessJobExecutor`. The child's test hooks (environment variables honoured only when set)
/// make a chosen input abort, hang or allocate beyond its limit.
@Suite(.serialized)
struct JobProcessTests {
    static func executor(_ harness: DaemonHarness, environment: [String] = []) throws -> ChildProcessJobExecutor {
        let pipeline = try WatchProcessTests.pipeline(harness, "{}")
        return try ChildProcessJobExecutor(executable: WatchProcessTests.quantdBinary, pipelineFile: pipeline,
                                           version: "test", environment: environment)
    }

    static func errorReport(_ harness: DaemonHarness, _ name: String) throws -> [String: Any] {
        let path = harness.folder.failed + "/\(name)/error.json"
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        return try #require(document?["error"] as? [String: Any], "error.json of \(name)")
    }

    /// Processes whose command line mentions `text` (a job process names its request file under ROOT).
    static func processes(mentioning text: String) -> [String] {
        let own = String(getpid())
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            guard pid != own, pid.allSatisfy(\.isNumber),
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(text)
        }
    }

    @Test func aJobWhoseProcessAbortsFailsAloneWithTheSignalWhileTheNextSucceeds() throws {
        let harness = DaemonHarness()
        let executor = try Self.executor(harness, environment: ["\(JobProcessChild.abortVariable)=crash-me"])
        try harness.start(executor, settings: DaemonHarness.settings(concurrency: 2))
        defer { try? harness.stop() }
        try harness.dropSample(as: "crash-me.gguf")
        try harness.dropSample(as: "good.gguf")
        try harness.waitFor("both jobs to end", timeout: 60) {
            harness.list(harness.folder.failed) == ["crash-me"] && harness.list(harness.folder.out) == ["good"]
        }
        #expect(harness.list(harness.folder.out + "/good") == ["good-Q8_0.gguf", "manifest.json"])
        let error = try Self.errorReport(harness, "crash-me")
        #expect(error["type"] as? String == "JobCrashed")
        #expect(error["kind"] as? String == "bad_input")
        #expect((error["message"] as? String)?.contains("SIGABRT") == true, "\(error)")
        let process = try #require(error["process"] as? [String: Any])
        #expect(process["signal"] as? String == "SIGABRT")
        #expect(process["signal_number"] as? Int == Int(SIGABRT))
        #expect((process["stderr_tail"] as? [String])?.contains { $0.contains("aborting on purpose") } == true, "\(process)")
        // The input went to failed/ untouched; the daemon (this process) carries on.
        #expect(harness.list(harness.folder.failed + "/crash-me").contains("crash-me.gguf"))
        try harness.waitFor("work/ to be empty") { harness.list(harness.folder.work).isEmpty }
    }

    @Test func aJobPastItsTimeoutIsKilledWithItsProcessGroupAndFails() throws {
        let harness = DaemonHarness()
        let executor = try Self.executor(harness, environment: ["\(JobProcessChild.hangVariable)=slow"])
        var settings = DaemonHarness.settings()
        settings.jobTimeoutSeconds = 1.5
        try harness.start(executor, settings: settings)
        defer { try? harness.stop() }
        try harness.dropSample(as: "slow.gguf")
        try harness.waitFor("the timeout", timeout: 30) { harness.list(harness.folder.failed) == ["slow"] }
        let error = try Self.errorReport(harness, "slow")
        #expect(error["type"] as? String == "JobTimeout")
        #expect((error["message"] as? String)?.contains("took longer than 1.5 s") == true, "\(error)")
        #expect((error["hint"] as? String)?.contains("job_timeout_seconds") == true)
        #expect(harness.list(harness.folder.out).isEmpty)
        #expect(Self.processes(mentioning: harness.root).isEmpty, "the job's process group was killed")
    }

    @Test func anAllocationBeyondTheMemoryLimitSaysHowMuchTheJobWasAllowed() throws {
        let harness = DaemonHarness()
        let executor = try Self.executor(harness, environment: ["\(JobProcessChild.allocateVariable)=greedy"])
        var settings = DaemonHarness.settings()
        settings.jobMemoryBytes = 1 << 30
        try harness.start(executor, settings: settings)
        defer { try? harness.stop() }
        try harness.dropSample(as: "greedy.gguf")
        try harness.waitFor("the failure", timeout: 30) { harness.list(harness.folder.failed) == ["greedy"] }
        let error = try Self.errorReport(harness, "greedy")
        #expect(error["type"] as? String == "JobOutOfMemory", "\(error)")
        #expect((error["message"] as? String)?.contains("needed more than 1 GiB") == true, "\(error)")
    }

    @Test func stoppingTheDaemonEndsTheJobProcessAndTheJobIsRedoneAtTheNextStart() throws {
        let harness = DaemonHarness()
        let hanging = try Self.executor(harness, environment: ["\(JobProcessChild.hangVariable)=long"])
        try harness.start(hanging, settings: DaemonHarness.settings(grace: 10))
        try harness.dropSample(as: "long.gguf")
        try harness.waitFor("the job to run") { harness.ledger().first?.state == .running }
        try harness.waitFor("the job's process to run") { Self.processes(mentioning: harness.root).count == 1 }
        try harness.stop()
        try harness.waitFor("the job's process to end") { Self.processes(mentioning: harness.root).isEmpty }
        // It stopped on SIGTERM and said so, well within the grace period.
        #expect(harness.log.contains { $0.contains("stopped before it finished; left in work/") }, "\(harness.log)")
        #expect(harness.list(harness.folder.out).isEmpty)
        #expect(harness.list(harness.folder.failed).isEmpty)
        #expect(harness.list(harness.folder.work).count == 1)
        #expect(harness.ledger().first?.state == .claimed)
        #expect(harness.ledger().first?.attempts == 0)

        try harness.start(try Self.executor(harness))
        defer { try? harness.stop() }
        try harness.waitFor("long.gguf redone", timeout: 60) { harness.list(harness.folder.out) == ["long"] }
        #expect(harness.ledger().first?.attempts == 1)
    }

    @Test func reportLinesRoundTripAndDurationsReadAsWritten() throws {
        let failure = JobFailure(kind: .stillArriving, type: "GGUFError", code: "truncated", message: "short",
                                 file: "/x/model.gguf", field: "tensor data", offset: 42, hint: "wait")
        for report in [JobProcessReport.progress(JobProgress(stage: "quantize", fraction: 0.5, detail: "tensor 1/2")),
                       .done(files: ["a.gguf", "manifest.json"]), .failed(failure)] {
            #expect(JobProcessReport(line: Array(report.line().dropLast().utf8)) == report)
        }
        #expect(JobProcessReport(line: Array("{\"progress\": 1}".utf8)) == nil)
        #expect(ChildProcessJobExecutor.duration(7200) == "2 h")
        #expect(ChildProcessJobExecutor.duration(5400) == "90 min")
        #expect(ChildProcessJobExecutor.duration(45) == "45 s")
        #expect(ChildProcessJobExecutor.gibibytes(3 << 30) == "3 GiB")
    }

    @Test func limitSettingsParseAndRoundTrip() throws {
        let value = try StrictJSON.parse(#"{"job_timeout_seconds": 7200, "job_memory_bytes": 8589934592, "isolate_jobs": false}"#)
        let settings = try DaemonSettings.parse(value)
        #expect(settings.jobTimeoutSeconds == 7200)
        #expect(settings.jobMemoryBytes == 8 << 30)
        #expect(settings.isolateJobs == false)
        #expect(try DaemonSettings.parse(settings.json()) == settings)
        let unlimited = try DaemonSettings.parse(try StrictJSON.parse(#"{"job_timeout_seconds": null, "job_memory_bytes": null}"#))
        #expect(unlimited.jobTimeoutSeconds == nil && unlimited.jobMemoryBytes == nil)
        #expect(DaemonSettings().jobMemoryBytes == DaemonSettings.physicalMemory)
        #expect(throws: DaemonSettingsError.self) { try DaemonSettings.parse(try StrictJSON.parse(#"{"job_memory_bytes": 1000}"#)) }
    }
}
