import Dispatch
import ModelConversion

/// One self-overwriting progress line on stderr (only used when stderr is a terminal):
/// tensor i/N, bytes written, rate and time left. Redrawn at most ten times a second.
final class ProgressMeter {
    private let start = DispatchTime.now().uptimeNanoseconds
    private var lastDraw: UInt64 = 0
    private var stderr = StandardError()

    func update(_ p: ConversionProgress) {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDraw > 100_000_000 || p.bytesWritten == p.totalBytes else { return }
        lastDraw = now
        let seconds = max(Double(now - start) / 1e9, 1e-3)
        let rate = Double(p.bytesWritten) / seconds
        // The first fraction of a second says nothing about the rate; show no ETA until it does.
        let eta = seconds >= 0.5 && rate > 0
            ? "\(Int((Double(p.totalBytes - p.bytesWritten) / rate).rounded(.up)))s" : "--"
        let line = "tensor \(p.tensorIndex + 1)/\(p.tensorCount) \(Self.mib(p.bytesWritten))/\(Self.mib(p.totalBytes)) MiB "
            + "\(Self.mib(Int(rate))) MiB/s ETA \(eta)  \(p.tensorName)"
        print("\r\u{1B}[K" + line, terminator: "", to: &stderr)
    }

    func finish() {
        print("\r\u{1B}[K", terminator: "", to: &stderr)
    }

    private static func mib(_ bytes: Int) -> String {
        String((Double(bytes) / 1_048_576 * 10).rounded() / 10)
    }
}
