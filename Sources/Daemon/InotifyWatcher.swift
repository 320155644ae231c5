import BinaryIO
import CInotifyTools
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Watches the inbox (recursively) with libinotifytools and reports which top-level entries
/// changed. This is the only file that calls libinotifytools; each read passes the
/// `FileSystemFaults` seam (`.inotifyRead`, path = the inbox) first.
///
/// libinotifytools keeps one global inotify instance and global watch tables, so every call
/// happens on one dedicated thread, and a process-wide lock lets only one watcher session exist
/// at a time (tests start several daemons one after another in the same process).
///
/// Events are hints only: the daemon re-lists what they name, and lists everything at start-up,
/// after a queue overflow and periodically, so a missed or stale event costs latency, not jobs.
final class InotifyWatcher: Sendable {
    enum Event: Sendable, Equatable {
        /// The watches are in place; changes from now on are reported.
        case watching
        /// Something changed under the inbox entry `name`; `movedIn` when the entry itself was renamed in.
        case entry(name: String, movedIn: Bool)
        /// The kernel dropped events: the listing must be redone in full.
        case overflow
        /// inotify cannot be used (limits, permissions): the daemon falls back to periodic rescans.
        case unavailable(String)
    }

    private static let session = Mutex(())

    /// Files closed after writing, entries renamed in or out, and created entries (new subfolders
    /// need their own watches; IN_MODIFY is not asked for: settling covers writes in progress).
    private static let mask = Int32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE)

    let inbox: String
    private let handler: @Sendable (Event) -> Void
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    init(inbox: String, handler: @escaping @Sendable (Event) -> Void) {
        self.inbox = inbox
        self.handler = handler
    }

    func start() {
        DaemonThread.start { [self] in
            InotifyWatcher.session.withLock { _ in watch() }
            finished.signal()
        }
    }

    /// Stops the thread and waits for it (it notices within the 1 s event timeout).
    func stop() {
        stopRequested.store(true, ordering: .relaxed)
        _ = finished.wait(timeout: .now() + 5)
    }

    private func watch() {
        guard inotifytools_initialize() != 0 else {
            handler(.unavailable("cannot initialise inotify: \(String(cString: strerror(inotifytools_error())))"))
            return
        }
        defer { inotifytools_cleanup() }
        guard inotifytools_watch_recursively(inbox, Self.mask) != 0 else {
            let code = inotifytools_error()
            let hint = code == ENOSPC ? " (raise fs.inotify.max_user_watches)" : ""
            handler(.unavailable("cannot watch \(inbox): \(String(cString: strerror(code)))\(hint)"))
            return
        }
        handler(.watching)
        while !stopRequested.load(ordering: .relaxed) {
            // The read's seam: tests make the kernel's queue overflow or lose events here.
            switch FileSystemFaults.fault(.inotifyRead, inbox) {
            case .inotifyOverflow?:
                var overflow = inotify_event()
                overflow.wd = -1
                overflow.mask = UInt32(IN_Q_OVERFLOW)
                withUnsafeMutablePointer(to: &overflow) { handle($0) }
                continue
            case .inotifyLoss?:
                _ = inotifytools_next_event(1)
                continue
            case .error?:
                usleep(100_000)
                continue
            case .freeBytes?, nil:
                break
            }
            // The timeout is whole seconds; it bounds how long stop() waits.
            let asked = Clock.monotonic()
            guard let event = inotifytools_next_event(1) else {
                // NULL well before the timeout is an error (select failed), not silence: pause
                // instead of spinning; the daemon's rescans cover the gap.
                if Clock.monotonic() - asked < 0.5 { usleep(100_000) }
                continue
            }
            handle(event)
        }
    }

    private func handle(_ event: UnsafeMutablePointer<inotify_event>) {
        let mask = event.pointee.mask
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            handler(.overflow)
            return
        }
        guard mask & UInt32(IN_IGNORED) == 0, event.pointee.len > 0,
              let folderPointer = inotifytools_filename_from_wd(event.pointee.wd)
        else { return }
        // The name follows the fixed part of the event, NUL-padded to `len` bytes.
        let namePointer = UnsafeRawPointer(event).advanced(by: MemoryLayout<inotify_event>.size)
            .assumingMemoryBound(to: CChar.self)
        let name = String(cString: namePointer)
        var folder = String(cString: folderPointer)
        if !folder.hasSuffix("/") { folder += "/" }
        let path = folder + name
        guard path.hasPrefix(inbox + "/") else { return }
        let relative = path.dropFirst(inbox.count + 1)
        guard let top = relative.split(separator: "/").first.map(String.init) else { return }
        let isTopLevel = !relative.contains("/")
        let isFolder = mask & UInt32(IN_ISDIR) != 0

        if isFolder && mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 && !DropFolder.isIgnored(top) {
            // New subfolders are not covered by the existing watches.
            _ = inotifytools_watch_recursively(path, Self.mask)
        }
        if isFolder && mask & UInt32(IN_MOVED_FROM) != 0 {
            // Claimed or renamed away: its watch would report on a path that no longer exists.
            let wd = inotifytools_wd_from_filename(path + "/")
            if wd >= 0 { _ = inotifytools_remove_watch_by_wd(wd) }
        }
        guard !DropFolder.isIgnored(top) else { return }
        handler(.entry(name: top, movedIn: isTopLevel && mask & UInt32(IN_MOVED_TO) != 0))
    }
}
