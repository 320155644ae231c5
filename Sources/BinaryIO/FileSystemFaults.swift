import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The calls of `FileSystem` a fault can be injected into.
public enum FileSystemCall: String, Sendable, CaseIterable {
    case write, fsync, rename, statvfs
    /// The daemon's inotify watcher asking for the next event (the path is the watched inbox).
    case inotifyRead = "inotify-read"
}

/// What an injector makes of one call.
public enum FileSystemFault: Sendable, Equatable {
    /// The call fails with this errno without reaching the kernel (EINTR is retried as a real one is).
    case error(Int32)
    /// statvfs: this many bytes are free.
    case freeBytes(Int)
    /// inotify read: the kernel's queue overflowed (IN_Q_OVERFLOW) instead of the next event.
    case inotifyOverflow
    /// inotify read: the next event is read and lost, as when the kernel's queue overflows.
    case inotifyLoss
}

/// Process-wide fault injection for `FileSystem`, for tests.
///
/// An injector sees only the calls on paths under the folder it was installed for, so tests with
/// their own temporary folders can run side by side with it. With nothing installed, a call costs
/// one relaxed atomic load on top of the system call.
public enum FileSystemFaults {
    public typealias Injector = @Sendable (FileSystemCall, String) -> FileSystemFault?

    /// Removes its injector when `remove()` is called (or when it is released).
    public final class Installation: Sendable {
        let id: Int
        init(id: Int) { self.id = id }
        deinit { remove() }

        public func remove() {
            FileSystemFaults.injectors.withLock { list in
                let before = list.count
                list.removeAll { $0.id == id }
                if list.count != before { FileSystemFaults.installed.subtract(1, ordering: .relaxed) }
            }
        }
    }

    private struct Entry {
        var id: Int
        var scope: String
        var injector: Injector
    }

    private static let installed = Atomic<Int>(0)
    private static let injectors = Mutex<[Entry]>([])
    private static let nextID = Atomic<Int>(1)

    /// Shows `injector` every call on `scope` or a path under it until the result is removed or
    /// released (keep it for as long as the faults should apply).
    public static func install(under scope: String, _ injector: @escaping Injector) -> Installation {
        var folder = scope
        while folder.count > 1 && folder.hasSuffix("/") { folder.removeLast() }
        let id = nextID.add(1, ordering: .relaxed).oldValue
        injectors.withLock { list in
            list.append(Entry(id: id, scope: folder, injector: injector))
            installed.add(1, ordering: .relaxed)
        }
        return Installation(id: id)
    }

    /// The fault to apply to `call` on `path`, if any.
    public static func fault(_ call: FileSystemCall, _ path: String) -> FileSystemFault? {
        guard installed.load(ordering: .relaxed) > 0 else { return nil }
        let matching = injectors.withLock { list in
            list.filter { path == $0.scope || path.hasPrefix($0.scope + "/") }.map(\.injector)
        }
        // Outside the lock: an injector may take its own locks, or install another.
        for injector in matching {
            if let fault = injector(call, path) { return fault }
        }
        return nil
    }
}
