#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3) without libsystemd: one datagram per message to `$NOTIFY_SOCKET`.
///
/// The protocol is a newline-separated list of `KEY=value` assignments sent over an AF_UNIX
/// datagram socket; a socket name starting with `@` is in the abstract namespace (leading NUL,
/// no terminating NUL). Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.
public struct SystemdNotifier: Sendable {
    public let socketPath: String?
    /// Half the watchdog timeout systemd set (`WATCHDOG_USEC`), the interval to send WATCHDOG=1 at;
    /// nil when the unit has no WatchdogSec or the variable is meant for another process.
    public let watchdogInterval: Double?

    public init() {
        self.init(notifySocket: Self.environment("NOTIFY_SOCKET"), watchdogMicroseconds: Self.environment("WATCHDOG_USEC"),
                  watchdogPid: Self.environment("WATCHDOG_PID"))
    }

    public init(notifySocket: String?, watchdogMicroseconds: String? = nil, watchdogPid: String? = nil) {
        socketPath = notifySocket.flatMap { $0.isEmpty ? nil : $0 }
        if let text = watchdogMicroseconds, let micros = Double(text), micros > 0,
           watchdogPid.map({ Int32($0) == getpid() }) ?? true {
            watchdogInterval = micros / 1e6 / 2
        } else {
            watchdogInterval = nil
        }
    }

    public var isActive: Bool { socketPath != nil }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func status(_ text: String) { send("STATUS=\(text)") }
    public func watchdog() { send("WATCHDOG=1") }
    public func stopping(status: String) { send("STOPPING=1\nSTATUS=\(status)") }
    public func reloading() { send("RELOADING=1") }

    /// Sends one datagram; failures are ignored (a missing manager must not stop the daemon).
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var name = Array(socketPath.utf8)
        let abstract = name.first == UInt8(ascii: "@")
        if abstract { name[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        // A path socket needs room for its terminating NUL; an abstract name does not have one.
        guard name.count + (abstract ? 0 : 1) <= capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: name)
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        let length = socklen_t(pathOffset + name.count + (abstract ? 0 : 1))
        let payload = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                payload.withUnsafeBytes { bytes in
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), socketAddress, length)
                }
            }
        }
        return sent == payload.count
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
