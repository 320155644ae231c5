import BinaryIO
import Dispatch
import Synchronization

/// One attempt at one job, run on its own thread: prepare the job folder, check free space,
/// call the executor, check what it says it wrote. Moving things afterwards is the control
/// loop's business (`Daemon`), so an attempt abandoned at shutdown can never publish.
struct JobAttempt: Sendable {
    enum Result: Sendable {
        case succeeded(files: [String], outputBytes: Int)
        case failed(JobFailure)
    }

    /// Free space kept beyond the planned output: the ledger, logs and metrics still need room.
    static let reserveBytes = 64 << 20

    let request: JobRequest
    let moves: JobMoves
    let executor: any JobExecutor
    let classifier: any JobFailureClassifier

    func run() -> Result {
        do {
            if !executor.resumes(request) { try moves.prepareAttempt(request.id) }
            if let planned = try executor.plannedOutputBytes(for: request) {
                try checkFreeSpace(planned)
            }
            let outcome = try executor.run(request)
            for file in outcome.files where !FileSystem.exists(request.outputFolder + "/" + file) {
                throw JobFailure(kind: .badInput, type: "ExecutorError",
                                 message: "the executor reported '\(file)' but did not write it",
                                 hint: "this is a bug in the job executor; please report it with error.json")
            }
            return .succeeded(files: outcome.files, outputBytes: FileSystem.totalBytes(request.outputFolder))
        } catch {
            return .failed(classifier.classify(error))
        }
    }

    static func mebibytes(_ bytes: Int) -> String {
        "\((Double(bytes) / 1_048_576 * 10).rounded() / 10) MiB"
    }

    private func checkFreeSpace(_ planned: Int) throws {
        if let failure = Self.freeSpaceFailure(planned: planned, outputFolder: request.outputFolder,
                                                root: moves.folder.root, inputName: request.inputName) {
            throw failure
        }
    }

    /// The failure to report when `planned` bytes plus the reserve do not fit beside `outputFolder`.
    static func freeSpaceFailure(planned: Int, outputFolder: String, root: String, inputName: String) -> JobFailure? {
        guard let free = FileSystem.freeBytes(outputFolder) else { return nil }
        let (needed, overflow) = planned.addingReportingOverflow(Self.reserveBytes)
        guard overflow || needed > free else { return nil }
        return JobFailure(kind: .transient, type: "InsufficientSpace", code: "ENOSPC",
                          message: "the job needs \(Self.mebibytes(planned)) for its output plus a \(Self.mebibytes(Self.reserveBytes)) reserve, "
                             + "but only \(Self.mebibytes(free)) are free under \(root)",
                          file: inputName,
                          hint: "free space on that file system; the job is retried with backoff")
    }
}

/// Messages to the control loop from other threads (watcher, job threads, signals).
final class Mailbox: Sendable {
    enum Message: Sendable {
        case watcher(InotifyWatcher.Event)
        case finished(id: String, result: JobAttempt.Result)
        case stop(reason: String)
        case reload
    }

    private let messages = Mutex<[Message]>([])
    private let wakeup = DispatchSemaphore(value: 0)

    func post(_ message: Message) {
        messages.withLock { $0.append(message) }
        wakeup.signal()
    }

    /// Waits until a message arrives or `seconds` pass.
    func wait(seconds: Double) {
        guard seconds > 0 else { return }
        _ = wakeup.wait(timeout: .now() + .milliseconds(Int(min(seconds, 3600) * 1000) + 1))
    }

    func drain() -> [Message] {
        messages.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
    }
}
