import BinaryIO
import Foundation
import QuantdTestSupport
import Testing
@testable import Daemon

/// The real `quantd watch` binary as a subprocess: signals, exit statuses, kill -9 recovery.
@Suite(.serialized)
struct WatchProcessTests {
    static var quantdBinary: String { Repository.quantdBinary }

    /// A running `quantd watch` with its stderr in a file.
    final class Watch {
        let process = Process()
        let logPath: String

        init(harness: DaemonHarness, pipeline: String, tag: String, json: Bool = false, environment: [String: String] = [:]) throws {
            logPath = harness.root + "/watch-\(tag).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: WatchProcessTests.quantdBinary)
            process.arguments = ["watch", "--root", harness.root, "--pipeline", pipeline] + (json ? ["--log-format", "json"] : [])
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.standardOutput = FileHandle.nullDevice
            if !environment.isEmpty {
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            }
            try process.run()
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        /// Waits for the " ready: " line; a timeout says whether the process is still running
        /// and shows its own log (a rare 30 s wait was seen once after a build and never explained).
        func waitForReady(_ harness: DaemonHarness, timeout: Double = 30) throws {
            do {
                try harness.waitFor("ready", timeout: timeout) { log.contains(" ready: ") }
            } catch {
                throw TestError("\(error)\nquantd watch running: \(process.isRunning)\nits log:\n\(log)")
            }
        }

        func waitForExit(_ harness: DaemonHarness, timeout: Double = 30) throws -> Int32 {
            try harness.waitFor("quantd watch to exit", timeout: timeout) { !process.isRunning }
            return process.terminationStatus
        }

        /// Waits until the process is dead, judged by the kernel (/proc: gone or a zombie) rather
        /// than by Foundation's Process, whose reaping of children can lag far behind under load.
        func waitUntilDead(_ harness: DaemonHarness, timeout: Double = 30) throws {
            let pid = process.processIdentifier
            try harness.waitFor("quantd watch (pid \(pid)) to die", timeout: timeout) {
                guard process.isRunning else { return true }
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
                // The state follows the parenthesised command name: "pid (comm) S ...".
                guard let close = stat.lastIndex(of: ")") else { return false }
                return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
            }
        }
    }

    /// A pipeline for the sample drops: Q8_0, requantizing the sample's Q4_0 tensor (the sample
    /// is a format test file, already partly quantized), plus the daemon settings under test.
    static func document(_ daemon: String) -> String {
        #"{"version": 1, "allow_requantize": true, "schemes": [{"mix": "Q8_0"}], "daemon": "# + daemon + "}"
    }

    static func pipeline(_ harness: DaemonHarness, _ daemon: String) throws -> String {
        let path = harness.root + "/pipeline-\(UUID().uuidString.prefix(6)).json"
        try Data(Self.document(daemon).utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func sigtermExitsCleanlyAndSighupReloads() throws {
        let harness = DaemonHarness()
        let metrics = harness.root + "/quantd.prom"
        let pipeline = try Self.pipeline(harness, #"{"settle_seconds": 0.3, "rescan_seconds": 2, "metrics_file": "\#(metrics)"}"#)
        let watch = try Watch(harness: harness, pipeline: pipeline, tag: "a", json: true)
        defer { if watch.process.isRunning { watch.process.terminate() } }
        try harness.waitFor("ready") { watch.log.contains(#""event":"ready""#) }

        // A second daemon on the same ROOT is refused, naming the owner.
        let second = try Watch(harness: harness, pipeline: pipeline, tag: "b")
        #expect(try second.waitForExit(harness) == 69)
        #expect(second.log.contains("owned by quantd pid \(watch.process.processIdentifier)"))

        try harness.dropSample(as: "sample.gguf")
        try harness.waitFor("out/sample/manifest.json") { FileManager.default.fileExists(atPath: harness.folder.out + "/sample/manifest.json") }
        try harness.waitFor("metrics") {
            ((try? String(contentsOfFile: metrics, encoding: .utf8)) ?? "").contains("quantd_jobs_finished_total{outcome=\"done\"} 1")
        }

        // SIGHUP with an invalid file keeps the old settings; with a valid one applies them.
        try Data(Self.document(#"{"concurency": 2}"#).utf8).write(to: URL(fileURLWithPath: pipeline))
        kill(watch.process.processIdentifier, SIGHUP)
        try harness.waitFor("the rejected reload") { watch.log.contains("$.daemon.concurency is not a known key") }
        // quantd status, human and JSON, from another process.
        let status = try Self.run(["status", "--root", harness.root, "--json"])
        #expect(status.status == 0)
        let document = try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any]
        #expect(document?["daemon_pid"] as? Int == Int(watch.process.processIdentifier))
        #expect((document?["finished"] as? [[String: Any]])?.first?["destination"] as? String == "out/sample")
        let human = try Self.run(["status", "--root", harness.root])
        #expect(human.output.contains("done  sample.gguf → out/sample"))
        try Data(Self.document(#"{"concurrency": 2}"#).utf8).write(to: URL(fileURLWithPath: pipeline))
        kill(watch.process.processIdentifier, SIGHUP)
        try harness.waitFor("the reload") { watch.log.contains("settings reloaded") && watch.log.contains("\"concurrency\":2") }

        kill(watch.process.processIdentifier, SIGTERM)
        #expect(try watch.waitForExit(harness) == 0)
        #expect(watch.log.contains("SIGTERM: no new claims"))
        #expect(watch.log.contains("stopped cleanly"))
        // --log-format json: every line is one JSON object with time, level, event, message.
        for line in watch.log.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["event"] is String && object?["time"] is String, "\(line)")
        }
        #expect(RootLock.owner(of: harness.folder) == nil)
    }

    /// The whole product: drop an F16 GGUF, get artifacts byte-identical to llama-quantize's
    /// (hashes made with the oracle, Tests/PipelineTests/Fixtures/tiny-llama-expected.json), with
    /// a zstd copy and a manifest that records them.
    @Test func droppedModelComesOutIdenticalToLlamaQuantize() throws {
        let harness = DaemonHarness()
        let fixtures = DaemonHarness.repositoryRoot.appendingPathComponent("Tests/PipelineTests/Fixtures").path
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixtures + "/tiny-llama-expected.json"))) as? [String: Any]
        let plain = expected?["plain"] as? [String: String] ?? [:]
        let path = harness.root + "/pipeline.json"
        try Data(#"{"version": 1, "schemes": [{"mix": "Q4_K_M"}, {"mix": "Q6_K"}], "outputs": [{"stage": "zstd", "level": 3}], "daemon": {"settle_seconds": 0.2}}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        let watch = try Watch(harness: harness, pipeline: path, tag: "e2e")
        defer { if watch.process.isRunning { watch.process.terminate() } }
        try watch.waitForReady(harness)
        try harness.dropByRename("tiny-llama-f16.gguf") { try FileManager.default.copyItem(atPath: fixtures + "/tiny-llama-f16.gguf", toPath: $0) }
        let out = harness.folder.out + "/tiny-llama-f16"
        try harness.waitFor("out/tiny-llama-f16", timeout: 30) { FileManager.default.fileExists(atPath: out + "/manifest.json") }
        #expect(harness.list(out) == ["manifest.json", "tiny-llama-Q4_K_M.gguf", "tiny-llama-Q4_K_M.gguf.zst",
                                      "tiny-llama-Q6_K.gguf", "tiny-llama-Q6_K.gguf.zst"])
        for mix in ["Q4_K_M", "Q6_K"] {
            #expect(Self.sha256(file: out + "/tiny-llama-\(mix).gguf") == plain[mix], "\(mix)")
        }
        try harness.waitFor("done/tiny-llama-f16.gguf") { harness.list(harness.folder.done) == ["tiny-llama-f16.gguf"] }
        kill(watch.process.processIdentifier, SIGTERM)
        #expect(try watch.waitForExit(harness) == 0)
    }

    /// A Hugging Face folder renamed in goes through the converter and the pipeline in one job.
    @Test func droppedHuggingFaceFolderIsConvertedAndQuantized() throws {
        let harness = DaemonHarness()
        let model = DaemonHarness.repositoryRoot.appendingPathComponent("Tests/ModelConversionTests/Fixtures/models/tiny-qwen2").path
        let path = harness.root + "/pipeline.json"
        try Data(#"{"version": 1, "schemes": [{"mix": "Q8_0"}], "daemon": {"settle_seconds": 0.2}}"#.utf8).write(to: URL(fileURLWithPath: path))
        let watch = try Watch(harness: harness, pipeline: path, tag: "hf")
        defer { if watch.process.isRunning { watch.process.terminate() } }
        try watch.waitForReady(harness)
        try harness.dropByRename("tiny-qwen2") { try FileManager.default.copyItem(atPath: model, toPath: $0) }
        let out = harness.folder.out + "/tiny-qwen2"
        try harness.waitFor("out/tiny-qwen2", timeout: 30) { FileManager.default.fileExists(atPath: out + "/manifest.json") }
        #expect(harness.list(out) == ["manifest.json", "quality.svg", "tiny-qwen2-Q8_0.gguf"])
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as? [String: Any]
        #expect((manifest?["artifacts"] as? [[String: Any]])?.first?["sha256"] as? String == Self.sha256(file: out + "/tiny-qwen2-Q8_0.gguf"))
        #expect(((manifest?["sources"] as? [[String: Any]])?.count ?? 0) >= 2, "weights, config and tokenizer files are recorded")
        kill(watch.process.processIdentifier, SIGTERM)
        #expect(try watch.waitForExit(harness) == 0)
    }

    /// `quantd watch` runs each job in its own process: a job whose process aborts fails alone,
    /// with the signal in error.json, while the daemon (same pid) finishes the next job.
    @Test func aCrashingJobProcessFailsOnlyThatJobAndTheDaemonCarriesOn() throws {
        let harness = DaemonHarness()
        let pipeline = try Self.pipeline(harness, #"{"settle_seconds": 0.2, "rescan_seconds": 1}"#)
        let watch = try Watch(harness: harness, pipeline: pipeline, tag: "crash",
                              environment: [JobProcessChild.abortVariable: "crash-me"])
        defer { if watch.process.isRunning { watch.process.terminate() } }
        try watch.waitForReady(harness)
        try harness.dropSample(as: "crash-me.gguf")
        try harness.waitFor("failed/crash-me") { harness.list(harness.folder.failed) == ["crash-me"] }
        try harness.dropSample(as: "after.gguf")
        try harness.waitFor("out/after", timeout: 30) { FileManager.default.fileExists(atPath: harness.folder.out + "/after/manifest.json") }
        #expect(watch.process.isRunning)
        let status = try Self.run(["status", "--root", harness.root, "--json"])
        let document = try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any]
        #expect(document?["daemon_pid"] as? Int == Int(watch.process.processIdentifier))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: harness.folder.failed + "/crash-me/error.json"))) as? [String: Any]
        let error = report?["error"] as? [String: Any]
        #expect(error?["type"] as? String == "JobCrashed")
        #expect((error?["process"] as? [String: Any])?["signal"] as? String == "SIGABRT", "\(String(describing: error))")
        kill(watch.process.processIdentifier, SIGTERM)
        #expect(try watch.waitForExit(harness) == 0)
    }

    static func sha256(file: String) -> String? {
        try? MappedFile(path: file).withUnsafeBytes { SHA256Digest.hex(of: $0) }
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try runProcess(quantdBinary, arguments)
        return (result.status, result.stdout)
    }

    @Test func killNineAtAnyMomentLosesNothing() throws {
        let harness = DaemonHarness()
        let pipeline = try Self.pipeline(harness, #"{"settle_seconds": 0.2, "rescan_seconds": 1, "concurrency": 2, "grace_seconds": 5}"#)
        try harness.folder.create()
        let staging = harness.root + "/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        var good: [String] = []
        var bad: [String] = []
        for index in 0..<24 {
            let name = "in\(index).gguf"
            if index % 6 == 5 {
                try Data("not a gguf \(index)".utf8).write(to: URL(fileURLWithPath: staging + "/" + name))
                bad.append("in\(index)")
            } else {
                try FileManager.default.copyItem(atPath: DaemonHarness.samplePath, toPath: staging + "/" + name)
                good.append("in\(index)")
            }
        }
        // Kill at three different points of the run, then let a last daemon finish.
        for (round, claims) in [1, 5, 12].enumerated() {
            let watch = try Watch(harness: harness, pipeline: pipeline, tag: "\(round)")
            try watch.waitForReady(harness)
            if round == 0 {
                for name in try FileManager.default.contentsOfDirectory(atPath: staging) {
                    try FileManager.default.moveItem(atPath: staging + "/" + name, toPath: harness.folder.inbox + "/" + name)
                }
            }
            try harness.waitFor("\(claims) claims", timeout: 40) {
                watch.log.components(separatedBy: " claim: ").count > claims || harness.list(harness.folder.inbox).isEmpty
            }
            kill(watch.process.processIdentifier, SIGKILL)
            try watch.waitUntilDead(harness)
            // Never a partial artifact in out/: each folder there is complete, and its artifact's
            // hash is the one its manifest records.
            for name in harness.list(harness.folder.out) {
                let folder = harness.folder.out + "/" + name
                #expect(harness.list(folder) == ["\(name)-Q8_0.gguf", "manifest.json"], "out/\(name)")
                let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json"))) as? [String: Any]
                let recorded = (manifest?["artifacts"] as? [[String: Any]])?.first?["sha256"] as? String
                #expect(recorded == Self.sha256(file: folder + "/\(name)-Q8_0.gguf"), "out/\(name)")
            }
        }
        let last = try Watch(harness: harness, pipeline: pipeline, tag: "last")
        defer { if last.process.isRunning { last.process.terminate() } }
        // SIGTERM only once its handler is installed: this test process ignores SIGTERM (the
        // in-process daemon tests install the daemon's handling here), children inherit the
        // ignore, and a signal sent before `quantd watch` sets up its own would be lost.
        try last.waitForReady(harness)
        try harness.waitFor("every input accounted for", timeout: 60) {
            harness.list(harness.folder.out).count + harness.list(harness.folder.failed).count == 24
                && harness.list(harness.folder.work).isEmpty
        }
        kill(last.process.processIdentifier, SIGTERM)
        try last.waitUntilDead(harness)
        try harness.waitFor("the clean stop in the log") { last.log.contains("stopped cleanly") }
        #expect(Set(harness.list(harness.folder.out)) == Set(good))
        #expect(Set(harness.list(harness.folder.failed)) == Set(bad))
        #expect(harness.list(harness.folder.inbox).isEmpty)
        for area in [harness.folder.out, harness.folder.failed, harness.folder.done, harness.folder.state] {
            #expect(harness.list(area).filter { $0.hasPrefix(".") }.isEmpty, "temporary files left in \(area)")
        }
        for name in bad {
            #expect(FileManager.default.fileExists(atPath: harness.folder.failed + "/\(name)/error.json"))
        }
    }
}
