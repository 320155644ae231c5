import BinaryIO
import Foundation
import QuantdTestSupport
import Testing
@testable import Daemon

/// The daemon with real inotify on temporary folders. Serialized: libinotifytools has one
/// global session per process, so only one watcher runs at a time.
@Suite(.serialized)
struct DaemonIntegrationTests {
    @Test func folderRenamedInIsClaimedAtOnceAndASecondDropGetsItsOwnOutFolder() throws {
        let harness = DaemonHarness()
        // A long settle time: a renamed-in folder must not wait for it.
        try harness.start(CopyExecutor(), settings: DaemonHarness.settings(settle: 30))
        defer { try? harness.stop() }
        for round in 1...2 {
            try harness.dropByRename("model") { path in
                try FileManager.default.createDirectory(atPath: path + "/sub", withIntermediateDirectories: true)
                try Data("{}".utf8).write(to: URL(fileURLWithPath: path + "/config.json"))
                try Data("x".utf8).write(to: URL(fileURLWithPath: path + "/sub/file"))
            }
            try harness.waitFor("round \(round) published and retired") {
                harness.list(harness.folder.out).count == round && harness.list(harness.folder.done).count == round
            }
        }
        #expect(harness.list(harness.folder.out) == ["model", "model-2"])
        #expect(harness.list(harness.folder.out + "/model-2/copy-of-model") == ["config.json", "sub"])
        #expect(harness.list(harness.folder.done) == ["model", "model-2"])
        try harness.waitFor("work/ emptied") { harness.list(harness.folder.work).isEmpty }
        let records = harness.ledger()
        #expect(records.map(\.state) == [.done, .done])
        #expect(records.map(\.destination) == ["out/model", "out/model-2"])
    }

    @Test func fileWrittenSlowlyInPlaceIsNotClaimedEarly() throws {
        let harness = DaemonHarness()
        try harness.start(CopyExecutor(), settings: DaemonHarness.settings(settle: 1))
        defer { try? harness.stop() }
        let sample = try Data(contentsOf: URL(fileURLWithPath: DaemonHarness.samplePath))
        // Full size from the start (so the GGUF header check alone cannot tell), then filled in
        // ten pieces over about two seconds: only settling keeps the daemon away.
        let path = harness.folder.inbox + "/slow.gguf"
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        #expect(fd >= 0)
        #expect(ftruncate(fd, off_t(sample.count)) == 0)
        let piece = (sample.count + 9) / 10
        for index in 0..<10 {
            let range = (index * piece)..<min(sample.count, (index + 1) * piece)
            sample[range].withUnsafeBytes { _ = pwrite(fd, $0.baseAddress, $0.count, off_t(range.lowerBound)) }
            Thread.sleep(forTimeInterval: 0.2)  // the slow writer, not the test waiting
            #expect(FileManager.default.fileExists(atPath: path), "claimed while still being written (piece \(index))")
            #expect(harness.list(harness.folder.work).isEmpty)
        }
        close(fd)
        try harness.waitFor("slow.gguf published") { harness.list(harness.folder.out) == ["slow"] }
        let copy = try Data(contentsOf: URL(fileURLWithPath: harness.folder.out + "/slow/copy-of-slow.gguf"))
        #expect(copy == sample)
    }

    @Test func partialSafetensorsIsDeferredNotFailed() throws {
        let harness = DaemonHarness()
        var settings = DaemonHarness.settings(settle: 0.2)
        settings.keepInput = false
        try harness.start(InspectOnlyExecutor(version: "test"), settings: settings)
        defer { try? harness.stop() }
        let whole = Data(safetensorsBytes(floats: 64))
        let path = harness.folder.inbox + "/w.safetensors"
        try whole.prefix(whole.count - 100).write(to: URL(fileURLWithPath: path))
        try harness.waitFor("the deferral to be logged") { harness.log.contains { $0.contains("w.safetensors: still arriving") } }
        #expect(harness.list(harness.folder.failed).isEmpty)
        #expect(harness.list(harness.folder.inbox) == ["w.safetensors"])
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: whole.suffix(100))
        try handle.close()
        try harness.waitFor("w published") { harness.ledger().last?.state == .done }
        #expect(harness.list(harness.folder.out) == ["w"])
        #expect(harness.list(harness.folder.failed).isEmpty)
        #expect(harness.list(harness.folder.done).isEmpty, "keep_input false removes the input")
        #expect(harness.list(harness.folder.inbox).isEmpty)
    }

    @Test func inputTheExecutorFindsStillArrivingGoesBackToTheInboxThenFinishes() throws {
        let harness = DaemonHarness()
        let executor = ArrivingOnceExecutor()
        try harness.start(executor)
        defer { try? harness.stop() }
        try harness.dropSample(as: "late.gguf")
        try harness.waitFor("late.gguf published on the second claim") { harness.ledger().last?.state == .done }
        #expect(harness.list(harness.folder.out) == ["late"])
        #expect(executor.calls.load(ordering: .relaxed) == 2)
        #expect(harness.ledger().map(\.state) == [.deferred, .done])
        #expect(harness.list(harness.folder.failed).isEmpty)
    }

    @Test func twentyDropsAtOnceAllFinish() throws {
        let harness = DaemonHarness()
        try harness.start(CopyExecutor(), settings: DaemonHarness.settings(concurrency: 2))
        defer { try? harness.stop() }
        let staging = harness.root + "/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let names = (1...20).map { "m\($0).gguf" }
        for name in names { try FileManager.default.copyItem(atPath: DaemonHarness.samplePath, toPath: staging + "/" + name) }
        for name in names { try FileManager.default.moveItem(atPath: staging + "/" + name, toPath: harness.folder.inbox + "/" + name) }
        try harness.waitFor("20 outputs and inputs in done/", timeout: 60) {
            harness.list(harness.folder.out).count == 20 && harness.list(harness.folder.done).count == 20
        }
        #expect(Set(harness.list(harness.folder.out)) == Set(names.map { DropFolder.stem($0) }))
        #expect(Set(harness.list(harness.folder.done)) == Set(names))
        try harness.waitFor("work/ emptied") { harness.list(harness.folder.work).isEmpty }
        #expect(harness.ledger().filter { $0.state == .done }.count == 20)
    }

    @Test func malformedInputsFailWithErrorJSONWhileGoodOnesFinish() throws {
        let harness = DaemonHarness()
        try harness.start(InspectOnlyExecutor(version: "test"))
        defer { try? harness.stop() }
        try harness.dropSample(as: "good1.gguf")
        try harness.dropByRename("garbage.gguf") { try Data("this is not gguf at all".utf8).write(to: URL(fileURLWithPath: $0)) }
        try harness.dropByRename("notes.txt") { try Data("hello".utf8).write(to: URL(fileURLWithPath: $0)) }
        try harness.dropSample(as: "good2.gguf")
        try harness.waitFor("all four handled") {
            harness.list(harness.folder.out).count == 2 && harness.list(harness.folder.failed).count == 2
        }
        #expect(harness.list(harness.folder.out) == ["good1", "good2"])
        #expect(harness.list(harness.folder.failed) == ["garbage", "notes.txt"])
        #expect(harness.list(harness.folder.failed + "/garbage") == ["error.json", "garbage.gguf"])
        let original = Data("this is not gguf at all".utf8)
        #expect(try Data(contentsOf: URL(fileURLWithPath: harness.folder.failed + "/garbage/garbage.gguf")) == original)
        let report = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: harness.folder.failed + "/garbage/error.json"))) as? [String: Any]
        let error = report?["error"] as? [String: Any]
        #expect(error?["type"] as? String == "GGUFError")
        #expect(error?["kind"] as? String == "bad_input")
        #expect(error?["file"] as? String == "garbage.gguf")
        #expect(error?["offset"] as? Int == 0)
        #expect((error?["hint"] as? String)?.isEmpty == false)
        #expect(report?["quantd_version"] as? String == "test")
        let manifest = try String(contentsOfFile: harness.folder.out + "/good1/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"architecture\": \"llama\""))
        #expect(harness.log.contains { $0.contains("ERROR fail: garbage.gguf → failed/garbage") })
    }

    @Test func transientErrorsAreRetriedThenFailed() throws {
        let harness = DaemonHarness()
        try harness.start(FlakyExecutor(failures: 1), settings: DaemonHarness.settings(maxAttempts: 2))
        try harness.dropSample(as: "flaky.gguf")
        try harness.waitFor("flaky published after a retry") { harness.list(harness.folder.out) == ["flaky"] }
        #expect(harness.ledger().first?.attempts == 2)
        try harness.stop()

        let second = DaemonHarness()
        try second.start(FlakyExecutor(failures: 5), settings: DaemonHarness.settings(maxAttempts: 3))
        defer { try? second.stop() }
        try second.dropSample(as: "full.gguf")
        try second.waitFor("full.gguf failed after 3 attempts") { second.ledger().first?.state == .failed }
        #expect(second.list(second.folder.failed) == ["full"])
        let record = try #require(second.ledger().first)
        #expect(record.attempts == 3)
        #expect(record.error?["type"]?.stringValue == "FileError")
        #expect(record.error?["message"]?.stringValue?.hasPrefix("after 3 attempts") == true, "\(String(describing: record.error))")
    }

    @Test func interruptedJobsAreRedoneOrFinishedAfterARestart() throws {
        let harness = DaemonHarness()
        try harness.folder.create()
        let moves = JobMoves(folder: harness.folder)
        // 1. Crashed mid-run: input claimed, half an output written, ledger says running.
        try FileManager.default.copyItem(atPath: DaemonHarness.samplePath, toPath: harness.folder.inbox + "/redo.gguf")
        let redo = try #require(try moves.claim("redo.gguf", now: 0))
        try moves.prepareAttempt(redo)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: harness.folder.job(redo).out + "/partial.gguf"))
        var record = JobRecord(id: redo, input: "redo.gguf", state: .running, claimedAt: 1)
        record.attempts = 1
        let ledger = try JobLedger(path: harness.folder.ledgerPath)
        try ledger.append(record)
        // 2. Crashed right after publishing: out/ has it, the input is still in work/.
        try FileManager.default.copyItem(atPath: DaemonHarness.samplePath, toPath: harness.folder.inbox + "/pub.gguf")
        let published = try #require(try moves.claim("pub.gguf", now: 0))
        try moves.prepareAttempt(published)
        _ = try moves.publish(published, input: "pub.gguf")
        // 3. Crashed while moving to failed/: error.json written, input moved beside it.
        try Data("junk".utf8).write(to: URL(fileURLWithPath: harness.folder.inbox + "/junk.gguf"))
        let failing = try #require(try moves.claim("junk.gguf", now: 0))
        try FileManager.default.createDirectory(atPath: harness.folder.job(failing).failing, withIntermediateDirectories: true)
        try Data(#"{"error": {"type": "GGUFError"}}"#.utf8).write(to: URL(fileURLWithPath: harness.folder.job(failing).failing + "/error.json"))
        try FileManager.default.moveItem(atPath: harness.folder.job(failing).input + "/junk.gguf",
                                         toPath: harness.folder.job(failing).failing + "/junk.gguf")
        // 4. Crashed between the published marker and the rename: redone, and out/ gets no "-2".
        try FileManager.default.copyItem(atPath: DaemonHarness.samplePath, toPath: harness.folder.inbox + "/half.gguf")
        let half = try #require(try moves.claim("half.gguf", now: 0))
        try moves.prepareAttempt(half)
        try Data("half\n".utf8).write(to: URL(fileURLWithPath: harness.folder.job(half).publishedMarker))
        // 5. A claim cut short: an empty job folder.
        try FileManager.default.createDirectory(atPath: harness.folder.work + "/empty-job/input", withIntermediateDirectories: true)

        let executor = BlockingExecutor()
        executor.release(10)
        try harness.start(executor)
        defer { try? harness.stop() }
        try harness.waitFor("redo.gguf and half.gguf redone") {
            harness.list(harness.folder.out).contains("redo") && harness.list(harness.folder.out).contains("half")
        }
        try harness.waitFor("work/ emptied") { harness.list(harness.folder.work).isEmpty }
        #expect(harness.list(harness.folder.out) == ["half", "pub", "redo"])
        #expect(harness.list(harness.folder.out + "/redo") == ["copy-of-redo.gguf"])
        #expect(harness.list(harness.folder.done) == ["half.gguf", "pub.gguf", "redo.gguf"])
        #expect(harness.list(harness.folder.failed) == ["junk"])
        #expect(harness.list(harness.folder.failed + "/junk") == ["error.json", "junk.gguf"])
        #expect(executor.started.load(ordering: .relaxed) == 2)
        let records = Dictionary(uniqueKeysWithValues: harness.ledger().map { ($0.id, $0) })
        #expect(records[redo]?.state == .done)
        #expect(records[redo]?.attempts == 2)
        #expect(records[published]?.state == .done)
    }

    @Test func stopWaitsForTheRunningJobOrLeavesItInWork() throws {
        let harness = DaemonHarness()
        let executor = BlockingExecutor()
        try harness.start(executor, settings: DaemonHarness.settings(grace: 0.3))
        try harness.dropSample(as: "long.gguf")
        try harness.waitFor("the job to start") { executor.started.load(ordering: .relaxed) == 1 }
        // quantd status sees the running job and the stage its executor reported.
        try harness.waitFor("progress in state/progress.json") {
            DaemonStatus.load(root: harness.root).inProgress.first?.stage == "blocked"
        }
        let status = DaemonStatus.load(root: harness.root)
        #expect(status.ownerPid == getpid())
        #expect(status.inProgress.first?.record.state == .running)
        #expect(status.inProgress.first?.detail == "waiting for the test")
        try harness.stop()
        // Grace expired: nothing published, the job is still in work/ with its attempt given back.
        #expect(harness.list(harness.folder.out).isEmpty)
        #expect(harness.list(harness.folder.work).count == 1)
        #expect(harness.ledger().first?.state == .claimed)
        #expect(harness.ledger().first?.attempts == 0)
        // The abandoned attempt (still blocked in this process) ends now; it must not publish.
        let jobOut = harness.folder.work + "/" + (harness.list(harness.folder.work).first ?? "?") + "/out"
        executor.release()
        try harness.waitFor("the abandoned attempt to finish writing") { harness.list(jobOut) == ["copy-of-long.gguf"] }
        #expect(harness.list(harness.folder.out).isEmpty)

        let second = BlockingExecutor()
        second.release()
        try harness.start(second)
        defer { try? harness.stop() }
        try harness.waitFor("long.gguf redone") { harness.list(harness.folder.out) == ["long"] }
        #expect(harness.ledger().first?.attempts == 1)
    }
}
