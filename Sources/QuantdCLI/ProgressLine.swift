#if canImport(Glibc)
import Glibc
#endif
import Pipeline

/// A one-line progress display on stderr (tensor i/N, bytes, rate, ETA), redrawn at most ten
/// times a second; silent when disabled (not a terminal and no `-v`).
final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let start = ProgressLine.now()
    private var lastDraw = 0.0
    private let lock = NSLockLike()

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: PipelineProgress) {
        guard enabled else { return }
        lock.locked {
            let now = ProgressLine.now()
            guard now - lastDraw >= 0.1 || p.bytesRead == p.bytesTotal else { return }
            lastDraw = now
            let elapsed = max(now - start, 1e-3)
            let rate = Double(p.bytesRead) / elapsed
            let eta = rate > 0 ? Double(p.bytesTotal - p.bytesRead) / rate : 0
            let text = "\r\u{1B}[2Ktensor \(p.tensorIndex + 1)/\(p.tensorCount) \(p.tensorName.prefix(32))  "
                + "\(mib(p.bytesRead))/\(mib(p.bytesTotal)) MiB  \(mib(Int(rate))) MiB/s  ETA \(Int(eta.rounded())) s"
            var stderr = StandardError()
            stderr.write(text)
        }
    }

    func finish() {
        guard enabled else { return }
        var stderr = StandardError()
        stderr.write("\r\u{1B}[2K")
    }

    private func mib(_ n: Int) -> String { "\(n / 1_048_576)" }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A pthread mutex, so the progress callback can be called from any thread.
final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}
