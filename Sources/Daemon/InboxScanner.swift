import BinaryIO

/// Decides when an inbox entry may be claimed. Owned by the daemon's control loop (one thread).
///
/// Every entry the listing or inotify mentions becomes a candidate with a fingerprint (size and
/// mtime of each file in it). An entry renamed into the inbox is complete at once (rename is
/// atomic). Anything else must keep the same fingerprint for `settle` seconds. Then the files
/// themselves must agree (`Completeness`): otherwise the entry is deferred, looked at again
/// later, and never failed for being incomplete.
struct InboxScanner {
    struct Fingerprint: Equatable {
        var files: Int
        var bytes: Int
        var hash: UInt64
    }

    struct Candidate {
        var order: Int
        var fingerprint: Fingerprint?
        var stableSince: Double
        var movedIn: Bool
        var nextCheck: Double
        /// The last reason it was deferred, so the log says it once, not every check.
        var deferredReason: String?
        /// Not looked at before this time, whatever inotify says (see `hold`).
        var heldUntil: Double = 0
        /// Said to be stalled (incomplete and unchanged for `stalledAfter`) since it last changed.
        var stalled = false
    }

    /// An entry that stays incomplete and unchanged: shown, logged once, never failed for it.
    struct Stalled: Equatable {
        var name: String
        var reason: String
        var unchangedSeconds: Double
    }

    enum Decision: Equatable {
        case ready(String)
        case deferred(name: String, reason: String)
        case stalled(Stalled)
    }

    let inbox: String
    var settle: Double
    /// How long an incomplete entry may stay unchanged before it is reported as stalled.
    var stalledAfter: Double = 3600
    private(set) var candidates: [String: Candidate] = [:]
    private var counter = 0

    init(inbox: String, settle: Double) {
        self.inbox = inbox
        self.settle = settle
    }

    /// A full listing: every visible entry becomes (or stays) a candidate due now; entries gone
    /// from the inbox are forgotten.
    mutating func rescan(now: Double) throws {
        let names = try FileSystem.list(inbox).filter { !DropFolder.isIgnored($0) }
        let present = Set(names)
        candidates = candidates.filter { present.contains($0.key) }
        for name in names { touch(name, movedIn: false, now: now) }
    }

    /// inotify named `name`: look at it now.
    mutating func touch(_ name: String, movedIn: Bool, now: Double) {
        if var candidate = candidates[name] {
            candidate.nextCheck = max(now, candidate.heldUntil)
            candidate.movedIn = candidate.movedIn || (movedIn && now >= candidate.heldUntil)
            candidates[name] = candidate
        } else {
            counter += 1
            candidates[name] = Candidate(order: counter, fingerprint: nil, stableSince: now, movedIn: movedIn,
                                         nextCheck: now)
        }
    }

    /// An entry the daemon itself put back (the executor found it still arriving): the rename
    /// back is not a user's "complete" signal, so it must settle again, and not before `seconds`.
    mutating func hold(_ name: String, seconds: Double, now: Double) {
        counter += 1
        let until = now + seconds
        candidates[name] = Candidate(order: counter, fingerprint: nil, stableSince: now, movedIn: false,
                                     nextCheck: until, heldUntil: until)
    }

    /// Forgets an entry (claimed, or it vanished).
    mutating func forget(_ name: String) { candidates[name] = nil }

    /// The entries currently stalled, in arrival order.
    func stalled(now: Double) -> [Stalled] {
        candidates.filter(\.value.stalled).sorted { $0.value.order < $1.value.order }.map { name, candidate in
            Stalled(name: name, reason: candidate.deferredReason ?? "incomplete", unchangedSeconds: now - candidate.stableSince)
        }
    }

    /// The earliest time a candidate needs another look.
    var nextCheck: Double? { candidates.values.map(\.nextCheck).min() }

    /// Examines every candidate that is due and returns what was decided, in arrival order.
    mutating func examine(now: Double) -> [Decision] {
        var decisions: [Decision] = []
        let due = candidates.filter { $0.value.nextCheck <= now }.sorted { $0.value.order < $1.value.order }
        for (name, var candidate) in due {
            let path = inbox + "/" + name
            guard let print = Self.fingerprint(path) else {
                candidates[name] = nil
                continue
            }
            if print != candidate.fingerprint {
                // Changed (or first seen): the settle window starts again. A rename-in counts only
                // for the state it arrived in.
                if candidate.fingerprint != nil { candidate.movedIn = false }
                candidate.fingerprint = print
                candidate.stableSince = now
                candidate.stalled = false
            }
            guard candidate.movedIn || now - candidate.stableSince >= settle else {
                candidate.nextCheck = candidate.stableSince + settle
                candidates[name] = candidate
                continue
            }
            switch Completeness.check(path) {
            case .complete:
                candidates[name] = nil
                decisions.append(.ready(name))
            case let .arriving(reason):
                // Look again after another settle period (at least a second: a stalled copy
                // should not make the daemon spin).
                candidate.movedIn = false
                candidate.nextCheck = now + max(settle, 1)
                if candidate.deferredReason != reason {
                    decisions.append(.deferred(name: name, reason: reason))
                }
                candidate.deferredReason = reason
                if !candidate.stalled, now - candidate.stableSince >= stalledAfter {
                    candidate.stalled = true
                    decisions.append(.stalled(Stalled(name: name, reason: reason, unchangedSeconds: now - candidate.stableSince)))
                }
                candidates[name] = candidate
            }
        }
        return decisions
    }

    /// Size and mtime of a file, or of every file in a folder (names included, so a file renamed
    /// inside the folder also counts as a change).
    static func fingerprint(_ path: String) -> Fingerprint? {
        guard let info = FileSystem.info(path) else { return nil }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) {
            hash = (hash ^ value) &* 0x0000_0100_0000_01b3
        }
        guard info.isDirectory else {
            mix(UInt64(truncatingIfNeeded: info.size))
            mix(UInt64(truncatingIfNeeded: info.modified))
            return Fingerprint(files: 1, bytes: info.size, hash: hash)
        }
        var bytes = 0
        let files = FileSystem.walk(path)
        for file in files {
            for byte in file.relative.utf8 { mix(UInt64(byte)) }
            mix(UInt64(truncatingIfNeeded: file.info.size))
            mix(UInt64(truncatingIfNeeded: file.info.modified))
            bytes &+= file.info.size
        }
        mix(UInt64(truncatingIfNeeded: info.modified))
        return Fingerprint(files: files.count, bytes: bytes, hash: hash)
    }
}
