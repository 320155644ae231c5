#if canImport(Glibc)
import Glibc
#endif

/// The one clock of quantd: monotonic seconds for durations, wall seconds for records, and their
/// UTC text, without Foundation.
public enum Clock {
    /// Seconds on the monotonic clock: settle windows, backoff and deadlines must not jump when
    /// the wall clock is set.
    public static func monotonic() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Seconds since the epoch, for the ledger and logs.
    public static func wall() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// `2026-11-24T15:20:00.123Z`, or `2026-11-24T15:20:00Z` without `milliseconds`.
    public static func iso8601(_ seconds: Double, milliseconds: Bool = true) -> String {
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
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
            + (milliseconds ? ".\(pad(Int32(millis), 3))Z" : "Z")
    }

    /// A compact UTC stamp for job ids: `20261124-152000`.
    public static func compactStamp(_ seconds: Double) -> String {
        let iso = iso8601(seconds)
        let digits = iso.prefix(19).filter { $0.isNumber }
        return String(digits.prefix(8)) + "-" + String(digits.dropFirst(8))
    }
}
