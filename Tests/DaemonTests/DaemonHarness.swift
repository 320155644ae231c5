import BinaryIO
import Foundation
import QuantdTestSupport
import Synchronization
import Testing
@testable import Daemon

/// A daemon running in this process on a temporary ROOT, with helpers that wait for events by
/// polling the file system against a deadline (never a fixed sleep).
final class DaemonHarness: @unchecked Sendable {
    static let repositoryRoot = URL(fileURLWithPath: Repository.root)
    static let samplePath = Repository.sampleGGUF

    let root: String
    let folder: DropFolder
    private(set) var daemon: Daemon?
    private let lines = Mutex<[String]>([])
    private let stopped = DispatchSemaphore(value: 0)
    private let failure = Mutex<String?>(nil)

    /// `base`: the folder to make ROOT in (ending in "/").
    init(base: String = NSTemporaryDirectory()) {
        root = base + "quantd-daemon-test-" + UUID().uuidString
        folder = DropFolder(root: root)
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Fast settings for tests: short settle and rescan periods.
    static func settings(settle: Double = 0.3, concurrency: Int = 1, maxAttempts: Int = 3, grace: Double = 5) -> DaemonSettings {
        var settings = DaemonSettings()
        settings.settleSeconds = settle
        settings.rescanSeconds = 2
        settings.concurrency = concurrency
        settings.threads = 1
        settings.maxAttempts = maxAttempts
        settings.retryBackoffSeconds = 0.1
        settings.graceSeconds = grace
        return settings
    }

    /// Starts the daemon on its own thread and waits until its first scan is done.
    func start(_ executor: any JobExecutor, settings: DaemonSettings = DaemonHarness.settings()) throws {
        let log = DaemonLog(format: .human) { [self] line in lines.withLock { $0.append(line) } }
        let daemon = Daemon(options: Daemon.Options(root: root, settings: settings, version: "test"),
                            executor: executor, log: log)
        self.daemon = daemon
        let thread = Thread { [self] in
            do {
                try daemon.run()
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            stopped.signal()
        }
        thread.start()
        try waitFor("the daemon to be ready") { self.log.contains { $0.contains(" ready: ") } || self.failure.withLock { $0 != nil } }
        if let message = failure.withLock({ $0 }) { throw TestError("daemon did not start: \(message)") }
    }

    /// Stops the daemon and waits for `run()` to return.
    func stop(timeout: Double = 45) throws {
        guard let daemon else { return }
        daemon.stop(reason: "test")
        guard stopped.wait(timeout: .now() + timeout) == .success else { throw TestError("daemon did not stop within \(timeout) s") }
        self.daemon = nil
    }

    var log: [String] { lines.withLock { $0 } }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes.
    func waitFor(_ what: String, timeout: Double = 30, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw TestError("timed out after \(timeout) s waiting for \(what)\nlog:\n\(log.joined())")
    }

    func list(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    /// Builds an entry outside the inbox, then renames it in (how a well-behaved tool drops).
    func dropByRename(_ name: String, build: (String) throws -> Void) throws {
        let staging = root + "/staging-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try build(staging + "/" + name)
        try FileManager.default.moveItem(atPath: staging + "/" + name, toPath: folder.inbox + "/" + name)
        try FileManager.default.removeItem(atPath: staging)
    }

    func dropSample(as name: String) throws {
        try dropByRename(name) { try FileManager.default.copyItem(atPath: Self.samplePath, toPath: $0) }
    }

    func ledger() -> [JobRecord] { JobLedger.read(path: folder.ledgerPath) }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Fake executors

/// Copies the input (file or folder) into the output folder, as `copy-of-NAME`.
struct CopyExecutor: JobExecutor {
    func run(_ request: JobRequest) throws -> JobOutcome {
        request.progress(JobProgress(stage: "copy", fraction: 0))
        let name = "copy-of-" + request.inputName
        try FileManager.default.copyItem(atPath: request.inputPath, toPath: request.outputFolder + "/" + name)
        request.progress(JobProgress(stage: "copy", fraction: 1))
        return JobOutcome(files: [name])
    }
}

/// Blocks in `run` until released; counts the attempts that started.
final class BlockingExecutor: JobExecutor, @unchecked Sendable {
    let started = Atomic<Int>(0)
    private let gate = DispatchSemaphore(value: 0)

    func release(_ count: Int = 1) { for _ in 0..<count { gate.signal() } }

    func run(_ request: JobRequest) throws -> JobOutcome {
        started.add(1, ordering: .relaxed)
        request.progress(JobProgress(stage: "blocked", detail: "waiting for the test"))
        gate.wait()
        return try CopyExecutor().run(request)
    }
}

/// Fails with ENOSPC for the first `failures` attempts of each job, then copies.
final class FlakyExecutor: JobExecutor, @unchecked Sendable {
    let failures: Int
    init(failures: Int) { self.failures = failures }

    func run(_ request: JobRequest) throws -> JobOutcome {
        if request.attempt <= failures {
            throw FileError(path: request.outputFolder + "/x", operation: "write", errno: ENOSPC)
        }
        return try CopyExecutor().run(request)
    }
}


/// Says the first attempt's input is still arriving (as a reader finding it truncated would).
final class ArrivingOnceExecutor: JobExecutor, @unchecked Sendable {
    let calls = Atomic<Int>(0)

    func run(_ request: JobRequest) throws -> JobOutcome {
        if calls.add(1, ordering: .relaxed).newValue == 1 {
            throw JobFailure(kind: .stillArriving, type: "Test", message: "not all there yet")
        }
        return try CopyExecutor().run(request)
    }
}
