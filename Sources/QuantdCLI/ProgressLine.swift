#if canImport(Glibc)
import BinaryIO
import Glibc
#endif
import ModelConversion
import Pipeline
import Synchronization

/// The one progress display of `quantd convert` (pipeline jobs and folder conversions alike): a
/// line on stderr with tensor i/N, bytes, rate and ETA, redrawn at most ten times a second;
/// silent when disabled (not a terminal and no `-v`).
final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let start = ProgressLine.now()
    private var lastDraw = 0.0
    private let lock = Mutex(())

    init(enabled: Bool) { self.enabled = enabled }

    /// Pipeline jobs (bytes read of the source).
    func update(_ p: PipelineProgress) {
        update(tensor: p.tensorIndex, of: p.tensorCount, name: p.tensorName, bytes: p.bytesRead, total: p.bytesTotal)
    }

    /// Folder conversions (bytes written of the output).
    func update(_ p: ConversionProgress) {
        update(tensor: p.tensorIndex, of: p.tensorCount, name: p.tensorName, bytes: p.bytesWritten, total: p.totalBytes)
    }

    private func update(tensor index: Int, of count: Int, name: String, bytes: Int, total: Int) {
        guard enabled else { return }
        lock.withLock { _ in
            let now = ProgressLine.now()
            guard now - lastDraw >= 0.1 || bytes == total else { return }
            lastDraw = now
            let elapsed = max(now - start, 1e-3)
            let rate = Double(bytes) / elapsed
            // The first half second says nothing about the rate; show no ETA until it does.
            let eta = elapsed >= 0.5 && rate > 0 ? "\(Int((Double(total - bytes) / rate).rounded(.up))) s" : "--"
            let text = "\r\u{1B}[2Ktensor \(index + 1)/\(count) \(name.prefix(32))  "
                + "\(mib(bytes))/\(mib(total)) MiB  \(mib(Int(rate))) MiB/s  ETA \(eta)"
            var stderr = StandardError()
            stderr.write(text)
        }
    }

    /// The `evaluate` stage: forward passes done of all (the source's and each artifact's, per chunk).
    func update(_ p: EvaluationProgress) {
        guard enabled else { return }
        lock.withLock { _ in
            var stderr = StandardError()
            stderr.write("\r\u{1B}[2Kevaluate: \(p.detail)")
        }
    }

    /// A computed `imatrix` stage: chunks of the calibration text done of all.
    func updateImatrix(chunksDone: Int, of total: Int) {
        guard enabled else { return }
        lock.withLock { _ in
            var stderr = StandardError()
            stderr.write("\r\u{1B}[2Kimatrix: chunk \(chunksDone)/\(total)")
        }
    }

    func finish() {
        guard enabled else { return }
        var stderr = StandardError()
        stderr.write("\r\u{1B}[2K")
    }

    private func mib(_ n: Int) -> String { "\(n / 1_048_576)" }

    static func now() -> Double { Clock.monotonic() }
}

