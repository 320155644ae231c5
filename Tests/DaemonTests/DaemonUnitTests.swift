import BinaryIO
import Foundation
import GGUF
import JSON
import Pipeline
import ModelFolder
import QuantdTestSupport
import Safetensors
import Testing
@testable import Daemon

@Suite struct DaemonSettingsTests {
    @Test func defaultsWhenThePipelineHasNoDaemonObject() throws {
        let file = NSTemporaryDirectory() + "quantd-settings-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(#"{"version": 1, "schemes": [{"mix": "Q8_0"}]}"#.utf8).write(to: URL(fileURLWithPath: file))
        #expect(try DaemonSettings.load(pipelineFile: file) == DaemonSettings())
    }

    /// One reader for the whole file: a bad daemon key and a bad pipeline key fail alike, with
    /// the file and the JSON path.
    @Test(arguments: [
        (#"{"version": 1, "schemes": [{"mix": "Q8_0"}], "daemon": {"concurrency": 0}}"#,
         "$.daemon.concurrency is 0; it must be between 1 and 64"),
        (#"{"version": 1, "schemes": [{"mix": "Q9"}], "daemon": {"concurrency": 2}}"#, "$.schemes[0].mix 'Q9' is not a mix"),
        (#"{"daemon": {"concurrency": 2}}"#, "$.version is required"),
    ])
    func loadLocatesErrorsInTheFile(text: String, expected: String) throws {
        let file = NSTemporaryDirectory() + "quantd-settings-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let error = try #require(throws: DaemonSettingsError.self) { try DaemonSettings.load(pipelineFile: file) }
        #expect(error.file == file)
        #expect(error.description.hasPrefix("\(file): \(expected)"), "\(error)")
    }

    @Test func parsesEveryKey() throws {
        let value = try StrictJSON.parse("""
            {"settle_seconds": 2.5, "rescan_seconds": 30, "concurrency": 2, "threads": 8, "max_attempts": 5,
             "retry_backoff_seconds": 1, "metrics_file": "/var/lib/node/quantd.prom", "grace_seconds": 60, "keep_input": false}
            """)
        let settings = try DaemonSettings.parse(value)
        #expect(settings.settleSeconds == 2.5)
        #expect(settings.concurrency == 2)
        #expect(settings.threads == 8)
        #expect(settings.maxAttempts == 5)
        #expect(settings.metricsFile == "/var/lib/node/quantd.prom")
        #expect(settings.keepInput == false)
        #expect(try DaemonSettings.parse(settings.json()) == settings)
    }

    @Test(arguments: [
        (#"{"concurency": 2}"#, "$.daemon.concurency", "is not a known key (known here: settle_seconds, rescan_seconds, concurrency"),
        (#"{"concurrency": "2"}"#, "$.daemon.concurrency", "must be a whole number"),
        (#"{"concurrency": 0}"#, "$.daemon.concurrency", "is 0; it must be between 1 and 64"),
        (#"{"threads": 1.5}"#, "$.daemon.threads", "must be a whole number"),
        (#"{"settle_seconds": -1}"#, "$.daemon.settle_seconds", "is -1; it must be between 0 and 604800 seconds"),
        (#"{"rescan_seconds": "5"}"#, "$.daemon.rescan_seconds", "must be a number of seconds, not a string"),
        (#"{"keep_input": "yes"}"#, "$.daemon.keep_input", "must be true or false, not a string"),
        (#"{"metrics_file": "relative.prom"}"#, "$.daemon.metrics_file", "must be an absolute path or null, not a relative path"),
        (#"[1]"#, "$.daemon", "must be an object, not an array"),
    ])
    func rejectsWithTheJSONPath(text: String, path: String, message: String) throws {
        let value = try StrictJSON.parse(text)
        let error = try #require(throws: DaemonSettingsError.self) { try DaemonSettings.parse(value) }
        #expect(error.path == path)
        #expect(error.message.contains(message), "\(error)")
    }

    @Test func backoffDoublesAndIsCapped() {
        var settings = DaemonSettings()
        settings.retryBackoffSeconds = 10
        #expect([1, 2, 3].map { settings.backoff(afterAttempt: $0) } == [10, 20, 40])
        #expect(settings.backoff(afterAttempt: 30) == 600)
    }
}

@Suite struct DaemonPartsTests {
    @Test func namesAndSuffixes() {
        #expect(DropFolder.stem("llama.gguf") == "llama")
        #expect(DropFolder.stem("llama.gguf.zst") == "llama")
        #expect(DropFolder.stem("model") == "model")
        #expect(DropFolder.suffixed("model.gguf", 2) == "model-2.gguf")
        #expect(DropFolder.suffixed("folder", 3) == "folder-3")
        #expect(DropFolder.isIgnored(".hidden") && DropFolder.isIgnored("x.part") && DropFolder.isIgnored("x.crdownload"))
        #expect(DropFolder.isIgnored("x.tmp") && !DropFolder.isIgnored("x.gguf"))
    }

    @Test func classifierSortsTheKnownErrors() {
        let classifier = DefaultJobFailureClassifier()
        let truncated = GGUFError(.truncated, .unexpectedEnd, field: "magic", offset: 0, message: "ends", hint: "wait")
        let malformed = GGUFError(.malformed, .duplicateKey, field: "metadata", offset: 24, message: "dup", hint: "fix").at(path: "/x.gguf")
        #expect(classifier.classify(truncated).kind == .stillArriving)
        let failure = classifier.classify(malformed)
        #expect(failure.kind == .badInput)
        #expect(failure.type == "GGUFError" && failure.offset == 24 && failure.file == "/x.gguf" && failure.code == "duplicateKey")
        #expect(classifier.classify(FileError(path: "/o", operation: "write", errno: ENOSPC)).kind == .transient)
        #expect(classifier.classify(FileError(path: "/o", operation: "write", errno: EIO)).kind == .transient)
        #expect(classifier.classify(FileError(path: "/o", operation: "open", errno: ENOENT)).kind == .badInput)
        let detail = SafetensorsErrorDetail(path: "/m.safetensors", message: "short", hint: "wait")
        #expect(classifier.classify(SafetensorsError.truncated(detail, requiredSize: 10, actualSize: 5)).kind == .stillArriving)
        #expect(classifier.classify(SafetensorsError.malformed(detail)).kind == .badInput)
        #expect(classifier.classify(ModelFolderError.weights(.truncated(detail, requiredSize: 10, actualSize: 5))).kind == .stillArriving)
        #expect(classifier.classify(ModelFolderError.config(path: "/m", message: "no config.json")).kind == .badInput)
        struct Odd: Error {}
        #expect(classifier.classify(Odd()).kind == .badInput)
    }

    @Test func failureMessagesNameTheInputNotTheWorkFolder() {
        let failure = JobFailure(kind: .badInput, type: "T", message: "/r/work/J/input/m/a.safetensors: bad",
                                 file: "/r/work/J/input/m/a.safetensors")
        let relative = failure.relative(to: "/r/work/J/input")
        #expect(relative.file == "m/a.safetensors")
        #expect(relative.message == "m/a.safetensors: bad")
    }

    @Test func ledgerKeepsTheLastRecordPerJobSkipsTornLinesAndCompacts() throws {
        let path = NSTemporaryDirectory() + "quantd-ledger-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let ledger = try JobLedger(path: path)
            var record = JobRecord(id: "a", input: "a.gguf", state: .claimed, claimedAt: 1_700_000_000.25)
            try ledger.append(record)
            record.state = .done
            record.attempts = 1
            record.add(stage: "copy", seconds: 1.5)
            record.error = JobFailure(kind: .transient, type: "FileError", message: "m").json()
            try ledger.append(record)
            try ledger.append(JobRecord(id: "b", input: "b.gguf", state: .running, claimedAt: 1_700_000_001))
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"job":"c","inp"#.utf8))  // a torn last line
        try handle.close()
        let records = JobLedger.read(path: path)
        #expect(records.map(\.id) == ["a", "b"])
        #expect(records[0].state == .done && records[0].attempts == 1 && records[0].claimedAt == 1_700_000_000.25)
        #expect(records[0].stageSeconds.first?.seconds == 1.5)
        _ = try JobLedger(path: path)  // compaction
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 2)
        #expect(JobLedger.read(path: path) == records)
    }

    @Test func ledgerCompactsWhileRunning() throws {
        let path = NSTemporaryDirectory() + "quantd-ledger-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ledger = try JobLedger(path: path, keepFinished: 3, compactEvery: 10)
        for index in 0..<12 {
            var record = JobRecord(id: "j\(index)", input: "i\(index)", state: .claimed, claimedAt: Double(index))
            try ledger.append(record)
            record.state = index == 0 ? .running : .done
            try ledger.append(record)
        }
        // 24 appends: compacted at 10 and 20 (keeping j0, still running, and the newest done
        // jobs), then 4 more lines.
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 8)
        #expect(JobLedger.read(path: path).map(\.id) == ["j0", "j7", "j8", "j9", "j10", "j11"])
    }

    @Test func completenessOfSafetensorsAndShardedFolders() throws {
        let folder = NSTemporaryDirectory() + "quantd-complete-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let whole = Data(safetensorsBytes(floats: 16))
        try whole.prefix(whole.count - 4).write(to: URL(fileURLWithPath: folder + "/part.safetensors"))
        try whole.prefix(5).write(to: URL(fileURLWithPath: folder + "/head.safetensors"))
        try whole.write(to: URL(fileURLWithPath: folder + "/whole.safetensors"))
        #expect(Completeness.check(folder + "/whole.safetensors") == .complete)
        guard case .arriving = Completeness.check(folder + "/part.safetensors") else { Issue.record("part"); return }
        guard case .arriving = Completeness.check(folder + "/head.safetensors") else { Issue.record("head"); return }

        let model = folder + "/model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        let index = #"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#
        try Data(index.utf8).write(to: URL(fileURLWithPath: model + "/model.safetensors.index.json"))
        try Data(safetensorsBytes(floats: 4, name: "a")).write(to: URL(fileURLWithPath: model + "/model-00001-of-00002.safetensors"))
        guard case let .arriving(reason) = Completeness.check(model) else { Issue.record("missing shard"); return }
        #expect(reason.contains("model-00002-of-00002.safetensors"))
        try Data(safetensorsBytes(floats: 4, name: "b")).write(to: URL(fileURLWithPath: model + "/model-00002-of-00002.safetensors"))
        #expect(Completeness.check(model) == .complete)
        try Data().write(to: URL(fileURLWithPath: model + "/extra.bin.part"))
        guard case .arriving = Completeness.check(model) else { Issue.record("partial download"); return }
    }

    @Test func notifierSendsDatagramsToAnAbstractSocket() throws {
        let name = "quantd-test-\(UUID().uuidString.prefix(8))"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = [UInt8(0)] + Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        #expect(bound == 0)
        let notifier = SystemdNotifier(notifySocket: "@" + name, watchdogMicroseconds: "4000000", watchdogPid: "\(getpid())")
        #expect(notifier.watchdogInterval == 2)
        #expect(notifier.send("READY=1\nSTATUS=watching"))
        var buffer = [UInt8](repeating: 0, count: 256)
        let received = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        #expect(received > 0)
        #expect(String(decoding: buffer.prefix(max(0, received)), as: UTF8.self) == "READY=1\nSTATUS=watching")
        #expect(SystemdNotifier(notifySocket: nil).send("READY=1") == false)
        #expect(SystemdNotifier(notifySocket: "@x", watchdogMicroseconds: "1000", watchdogPid: "1").watchdogInterval == nil)
    }

    @Test func timestampsRoundTrip() {
        for seconds in [0.0, 1_700_000_000.123, 4_102_444_800.999] {
            #expect(JobRecord.parseTime(Clock.iso8601(seconds)) == (seconds * 1000).rounded() / 1000)
        }
    }
}

@Suite struct FileSystemTests {
    @Test func moveWithoutReplacingNeverOverwrites() throws {
        let root = NSTemporaryDirectory() + "quantd-move-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/to/m", withIntermediateDirectories: true)  // empty: rename(2) would replace it
        try Data("first".utf8).write(to: URL(fileURLWithPath: root + "/to/a.gguf"))
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/m", withIntermediateDirectories: true)
        try Data("second".utf8).write(to: URL(fileURLWithPath: root + "/a.gguf"))
        #expect(try FileSystem.moveWithoutReplacing(root + "/m", into: root + "/to", name: "m") == "m-2")
        #expect(try FileSystem.moveWithoutReplacing(root + "/a.gguf", into: root + "/to", name: "a.gguf") == "a-2.gguf")
        #expect(try String(contentsOfFile: root + "/to/a.gguf", encoding: .utf8) == "first")
        #expect(try String(contentsOfFile: root + "/to/a-2.gguf", encoding: .utf8) == "second")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).sorted() == ["to"])
    }
}

/// One daemon per ROOT, and a restart right after `kill -9` is not refused for a lock the dead
/// daemon's last threads still hold.
@Suite struct RootLockTests {
    /// Holds ROOT's lock through a separate open file (flock conflicts across open files even in
    /// one process) with `pid` written in it, as a daemon would.
    private func holdLock(_ harness: DaemonHarness, pid: Int32) throws -> Int32 {
        try harness.folder.create()
        let fd = open(harness.folder.lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        #expect(fd >= 0)
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        let text = Array("\(pid)\n".utf8)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return fd
    }

    @Test func aLiveHolderIsRefusedAtOnceAndNamed() throws {
        let harness = DaemonHarness()
        let fd = try holdLock(harness, pid: getpid())
        defer { close(fd) }
        let start = Date()
        #expect(throws: RootLock.Held.self) { _ = try RootLock(folder: harness.folder) }
        #expect(Date().timeIntervalSince(start) < 1, "a live holder must not be waited for")
        do { _ = try RootLock(folder: harness.folder) } catch let held as RootLock.Held {
            #expect(held.pid == getpid())
            #expect(held.description.contains("quantd pid \(getpid())"))
        }
    }

    @Test func aDeadHoldersLockIsWaitedForUntilTheKernelDropsIt() throws {
        let harness = DaemonHarness()
        // A pid that no process has: the holder is dead, its lock not yet released.
        let fd = try holdLock(harness, pid: Int32.max - 7)
        let release = DispatchWorkItem { close(fd) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.4, execute: release)
        let start = Date()
        let lock = try RootLock(folder: harness.folder)
        #expect(Date().timeIntervalSince(start) >= 0.3)
        #expect(RootLock.owner(of: harness.folder) == getpid())
        _ = lock
    }
}
