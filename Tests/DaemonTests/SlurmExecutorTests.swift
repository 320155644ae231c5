import BinaryIO
import Foundation
import JSON
import Testing
@testable import Daemon
@testable import Pipeline

/// The Slurm executor against a real cluster: `scripts/slurm/start-cluster.sh` starts slurmctld
/// and two slurmd (node1, node2) on this machine, and `scripts/test.sh` exports its SLURM_CONF.
/// Without a reachable controller these tests are skipped (the settings tests always run).
@Suite(.serialized)
struct SlurmExecutorTests {
    static let clusterAvailable: Bool = {
        guard ProcessInfo.processInfo.environment["SLURM_CONF"] != nil else { return false }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["scontrol", "ping"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    static func executor(_ harness: DaemonHarness, environment: [String] = [], schemes: String = #"[{"mix": "Q8_0"}]"#) throws -> SlurmJobExecutor {
        let path = harness.root + "/pipeline.json"
        let document = #"{"version": 1, "allow_requantize": true, "schemes": "# + schemes + "}"
        try Data(document.utf8).write(to: URL(fileURLWithPath: path))
        var settings = SlurmSettings()
        settings.cpusPerTask = 2
        settings.pollSeconds = 0.3
        settings.partition = "quantd"
        return try SlurmJobExecutor(settings: settings, pipelineFile: path, version: "test",
                                    executable: WatchProcessTests.quantdBinary, environment: environment)
    }

    static func slurm(_ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// The Slurm jobs this test submitted for job folder names containing `harness`'s ROOT: (id, state, node).
    static func slurmJobs(_ harness: DaemonHarness) -> [(id: String, state: String, node: String)] {
        slurm(["squeue", "-h", "--states=all", "-o", "%i|%T|%N|%Z"]).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4, fields[3].hasPrefix(harness.root) else { return nil }
            return (fields[0], fields[1], fields[2])
        }
    }

    // MARK: Settings (no cluster needed)

    @Test func slurmSettingsAreReadStrictly() throws {
        let value = try StrictJSON.parse(Array(#"""
            {"executor": {"kind": "slurm", "partition": "gpu", "account": "lab", "cpus_per_task": 8, "mem": "32G",
                          "time": "2:00:00", "quantd": "/opt/quantd/bin/quantd", "poll_seconds": 5, "sbatch_args": ["--qos=batch"]}}
            """#.utf8))
        let settings = try DaemonSettings.parse(value)
        guard case let .slurm(slurm) = settings.executor else { Issue.record("not slurm"); return }
        #expect(slurm.partition == "gpu" && slurm.account == "lab" && slurm.cpusPerTask == 8)
        #expect(slurm.memory == "32G" && slurm.time == "2:00:00" && slurm.quantd == "/opt/quantd/bin/quantd")
        #expect(slurm.pollSeconds == 5 && slurm.sbatchArguments == ["--qos=batch"])

        for (text, path) in [
            (#"{"executor": {"kind": "pbs"}}"#, "$.daemon.executor.kind"),
            (#"{"executor": {"partition": "x"}}"#, "$.daemon.executor.kind"),
            (#"{"executor": {"kind": "slurm", "partition": "-x"}}"#, "$.daemon.executor.partition"),
            (#"{"executor": {"kind": "slurm", "partition": "a b"}}"#, "$.daemon.executor.partition"),
            (#"{"executor": {"kind": "slurm", "mem": "lots"}}"#, "$.daemon.executor.mem"),
            (#"{"executor": {"kind": "slurm", "time": "1h"}}"#, "$.daemon.executor.time"),
            (#"{"executor": {"kind": "slurm", "quantd": "quantd"}}"#, "$.daemon.executor.quantd"),
            (#"{"executor": {"kind": "slurm", "sbatch_args": ["; rm -rf /"]}}"#, "$.daemon.executor.sbatch_args[0]"),
            (#"{"executor": {"kind": "slurm", "cpus": 4}}"#, "$.daemon.executor.cpus"),
            (#"{"executor": {"kind": "local", "partition": "x"}}"#, "$.daemon.executor.partition"),
            (#"{"executor": {"kind": "slurm"}, "isolate_jobs": false}"#, "$.daemon.isolate_jobs"),
        ] {
            let value = try StrictJSON.parse(Array(text.utf8))
            #expect(throws: DaemonSettingsError.self, "\(text)") { try DaemonSettings.parse(value) }
            do {
                _ = try DaemonSettings.parse(value)
            } catch {
                #expect(error.path == path, "\(text): \(error)")
            }
        }
    }

    @Test func scontrolLinesAreRead() throws {
        let line = "JobId=42 JobName=quantd-x UserId=root(0) JobState=NODE_FAIL Reason=NodeDown Dependency=(null) "
            + "Requeue=0 Restarts=0 BatchFlag=1 ExitCode=0:9 NodeList=node2 BatchHost=localhost"
        let status = try #require(SlurmStatus(scontrolLine: line))
        #expect(status == SlurmStatus(state: "NODE_FAIL", reason: "NodeDown", node: "node2", exitStatus: 0, signal: 9))
        #expect(status.isFinished)
        #expect(SlurmStatus(scontrolLine: "JobId=1 JobState=RUNNING NodeList=node1")?.isFinished == false)
        #expect(SlurmStatus(scontrolLine: "slurm_load_jobs error: Invalid job id specified") == nil)
        #expect(SlurmJobExecutor.shellQuoted("/a b/it's") == #"'/a b/it'\''s'"#)
        #expect(SlurmJobExecutor.slurmMinutes(86_400) == "1440" && SlurmJobExecutor.slurmMinutes(61) == "2")
    }

    // MARK: A real cluster

    @Test(.enabled(if: SlurmExecutorTests.clusterAvailable, "no Slurm controller (scripts/slurm/start-cluster.sh)"))
    func twoModelsWithThreeSchemesRunAsSlurmJobsOnBothNodes() throws {
        let harness = DaemonHarness()
        let executor = try Self.executor(harness, environment: ["\(JobProcessChild.pauseVariable)=model"],
                                         schemes: #"[{"mix": "Q8_0"}, {"mix": "Q4_0"}, {"mix": "Q4_K_S"}]"#)
        try harness.start(executor, settings: DaemonHarness.settings(concurrency: 2))
        defer { try? harness.stop() }
        try harness.dropSample(as: "model-a.gguf")
        try harness.dropSample(as: "model-b.gguf")
        try harness.waitFor("both jobs to be published", timeout: 120) { harness.list(harness.folder.out) == ["model-a", "model-b"] }
        for name in ["model-a", "model-b"] {
            #expect(harness.list(harness.folder.out + "/" + name) == [
                "manifest.json", "\(name)-Q4_0.gguf", "\(name)-Q4_K_S.gguf", "\(name)-Q8_0.gguf",
            ])
        }
        let jobs = Self.slurmJobs(harness)
        #expect(jobs.count == 2 && jobs.allSatisfy { $0.state == "COMPLETED" }, "\(jobs)")
        // Each job holds both CPUs of a node for 5 s, so the two ran at once, one per node.
        #expect(Set(jobs.map(\.node)) == ["node1", "node2"], "\(jobs)")
        try harness.waitFor("work/ to be empty") { harness.list(harness.folder.work).isEmpty }
        #expect(harness.list(harness.folder.done) == ["model-a.gguf", "model-b.gguf"])
    }

    @Test(.enabled(if: SlurmExecutorTests.clusterAvailable, "no Slurm controller (scripts/slurm/start-cluster.sh)"))
    func aSlurmJobThatCrashesFailsItsInputWithTheLogsLastLines() throws {
        let harness = DaemonHarness()
        let executor = try Self.executor(harness, environment: ["\(JobProcessChild.abortVariable)=crash-me"])
        try harness.start(executor)
        defer { try? harness.stop() }
        try harness.dropSample(as: "crash-me.gguf")
        try harness.waitFor("the failure", timeout: 90) { harness.list(harness.folder.failed) == ["crash-me"] }
        let error = try JobProcessTests.errorReport(harness, "crash-me")
        #expect(error["type"] as? String == "JobCrashed", "\(error)")
        #expect((error["message"] as? String)?.contains("FAILED") == true, "\(error)")
        let process = try #require(error["process"] as? [String: Any])
        #expect((process["stderr_tail"] as? [String])?.contains { $0.contains("aborting on purpose") } == true, "\(process)")
        #expect(harness.list(harness.folder.out).isEmpty)
        #expect(harness.list(harness.folder.failed + "/crash-me").contains("crash-me.gguf"))
    }

    @Test(.enabled(if: SlurmExecutorTests.clusterAvailable, "no Slurm controller (scripts/slurm/start-cluster.sh)"))
    func aNodeTakenDownMidJobEndsInACleanFailureAfterItsAttempts() throws {
        let harness = DaemonHarness()
        let executor = try Self.executor(harness, environment: ["\(JobProcessChild.hangVariable)=doomed"])
        try harness.start(executor, settings: DaemonHarness.settings(maxAttempts: 1))
        defer { try? harness.stop() }
        try harness.dropSample(as: "doomed.gguf")
        var node = ""
        try harness.waitFor("the Slurm job to run", timeout: 60) {
            guard let job = Self.slurmJobs(harness).first(where: { $0.state == "RUNNING" }) else { return false }
            node = job.node
            return true
        }
        _ = Self.slurm(["scontrol", "update", "nodename=\(node)", "state=down", "reason=quantd-test"])
        defer { _ = Self.slurm(["scontrol", "update", "nodename=\(node)", "state=resume"]) }
        try harness.waitFor("the failure", timeout: 90) { harness.list(harness.folder.failed) == ["doomed"] }
        let error = try JobProcessTests.errorReport(harness, "doomed")
        #expect(error["type"] as? String == "SlurmJobLost", "\(error)")
        #expect((error["message"] as? String)?.contains("NODE_FAIL") == true, "\(error)")
        #expect(harness.list(harness.folder.out).isEmpty, "nothing partial is published")
        #expect(harness.list(harness.folder.failed + "/doomed").contains("doomed.gguf"))
    }

    @Test(.enabled(if: SlurmExecutorTests.clusterAvailable, "no Slurm controller (scripts/slurm/start-cluster.sh)"))
    func aRestartedDaemonAdoptsTheSlurmJobInsteadOfSubmittingItAgain() throws {
        let harness = DaemonHarness()
        try harness.start(try Self.executor(harness, environment: ["\(JobProcessChild.pauseVariable)=adopt"]))
        try harness.dropSample(as: "adopt-me.gguf")
        try harness.waitFor("the Slurm job to run", timeout: 60) { Self.slurmJobs(harness).contains { $0.state == "RUNNING" } }
        try harness.stop()
        #expect(Self.slurmJobs(harness).count == 1)
        #expect(harness.list(harness.folder.out).isEmpty)

        try harness.start(try Self.executor(harness))
        defer { try? harness.stop() }
        try harness.waitFor("the adopted job to be published", timeout: 90) { harness.list(harness.folder.out) == ["adopt-me"] }
        let jobs = Self.slurmJobs(harness)
        #expect(jobs.count == 1 && jobs.first?.state == "COMPLETED", "submitted once: \(jobs)")
        #expect(harness.list(harness.folder.out + "/adopt-me") == ["adopt-me-Q8_0.gguf", "manifest.json"])
    }
}
