#if canImport(Glibc)
import Glibc
#endif

/// posix_spawn attributes for a child quantd must be able to stop. The parent may block or ignore
/// signals (the daemon waits for SIGTERM/SIGHUP itself; SIGPIPE is ignored), and a child inherits
/// both: it starts instead with no signal blocked and the usual dispositions for the stop signals.
/// With `newProcessGroup` it leads a group of its own, so one kill reaches whatever it started.
public enum StoppableSpawn {
    public static func withAttributes<R>(newProcessGroup: Bool,
                                         _ body: (inout posix_spawnattr_t) throws -> R) rethrows -> R {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if newProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        return try body(&attributes)
    }
}
