#if canImport(Glibc)
import Glibc
#endif

/// Time and threads without Foundation (the daemon links only what it uses).
enum Clock {
    /// Seconds on the monotonic clock: settle windows, backoff and deadlines must not jump when
    /// the wall clock is set.
    static func monotonic() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Seconds since the epoch, for the ledger and logs.
    static func wall() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// `2026-11-24T15:20:00.123Z`.
    static func iso8601(_ seconds: Double) -> String {
        // Whole milliseconds first, so 0.123 never prints as .122 through float error.
        let total = Int64((seconds * 1000).rounded())
        var whole = time_t(total >= 0 ? total / 1000 : (total - 999) / 1000)
        let millis = Int(total - Int64(whole) * 1000)
        var parts = tm()
        gmtime_r(&whole, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }

    /// A compact UTC stamp for job ids: `20261124-152000`.
    static func compactStamp(_ seconds: Double) -> String {
        let iso = iso8601(seconds)
        let digits = iso.prefix(19).filter { $0.isNumber }
        return String(digits.prefix(8)) + "-" + String(digits.dropFirst(8))
    }
}

/// A dedicated POSIX thread. The daemon uses real threads rather than a pool because executors
/// block for minutes on CPU and I/O, and libinotifytools must always be called from the same one.
enum DaemonThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    static func start(_ run: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(run)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            Unmanaged<Body>.fromOpaque(argument).takeRetainedValue().run()
            return nil
        }, context)
        if status != 0 {
            // No thread: run inline rather than lose the work (only under resource exhaustion).
            Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
            return
        }
        pthread_detach(thread)
    }
}
