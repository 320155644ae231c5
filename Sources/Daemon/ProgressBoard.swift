import BinaryIO
import JSON
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Live progress of running jobs, written by executor threads, read by the control loop.
///
/// Executors may report progress as often as they like; each report only updates memory under a
/// lock. The control loop writes `state/progress.json` at most once a second for `quantd status`,
/// and takes each job's stage timings when it ends (a stage lasts from its first report to the
/// next stage's first report, or to the end of the job).
final class ProgressBoard: Sendable {
    struct Live {
        var input: String
        var progress: JobProgress
        var stageStarted: Double
        var stages: [(stage: String, seconds: Double)] = []
    }

    private struct Board {
        var jobs: [String: Live] = [:]
        var stalled: [InboxScanner.Stalled] = []
        var dirty = false
    }

    /// The inbox entries that are stalled now (from the control loop's scanner).
    func setStalled(_ entries: [InboxScanner.Stalled]) {
        board.withLock { board in
            let names = { (list: [InboxScanner.Stalled]) in list.map { "\($0.name)\u{0}\($0.reason)" } }
            if names(board.stalled) != names(entries) { board.dirty = true }
            board.stalled = entries
        }
    }

    private let board = Mutex(Board())

    func begin(_ id: String, input: String) {
        board.withLock {
            $0.jobs[id] = Live(input: input, progress: JobProgress(stage: "starting"), stageStarted: Clock.monotonic())
            $0.dirty = true
        }
    }

    func report(_ id: String, _ progress: JobProgress) {
        let now = Clock.monotonic()
        board.withLock { board in
            guard var live = board.jobs[id] else { return }
            if live.progress.stage != progress.stage {
                live.stages.append((live.progress.stage, now - live.stageStarted))
                live.stageStarted = now
            }
            live.progress = progress
            board.jobs[id] = live
            board.dirty = true
        }
    }

    /// Ends a job's tracking and returns its stage timings (the `starting` stage is the daemon's
    /// own preparation and is reported as `prepare`).
    func finish(_ id: String) -> [(stage: String, seconds: Double)] {
        let now = Clock.monotonic()
        return board.withLock { board in
            guard let live = board.jobs.removeValue(forKey: id) else { return [] }
            board.dirty = true
            let all = live.stages + [(live.progress.stage, now - live.stageStarted)]
            return all.map { ($0.stage == "starting" ? "prepare" : $0.stage, $0.seconds) }
        }
    }

    /// The progress.json document when something changed since the last call, else nil.
    func takeSnapshot(force: Bool = false) -> JSONValue? {
        let now = Clock.monotonic()
        let wall = Clock.wall()
        return board.withLock { board -> JSONValue? in
            guard board.dirty || force else { return nil }
            board.dirty = false
            let jobs: [JSONValue] = board.jobs.sorted { $0.key < $1.key }.map { id, live in
                jsonObject([
                    ("job", .string(id)),
                    ("input", .string(live.input)),
                    ("stage", .string(live.progress.stage)),
                    ("fraction", live.progress.fraction.map { .number(JSONNumber(JobRecord.rounded($0))) } ?? .null),
                    ("detail", live.progress.detail.map { .string($0) } ?? .null),
                    ("stage_seconds", .number(JSONNumber(JobRecord.rounded(now - live.stageStarted)))),
                ])
            }
            let stalled: [JSONValue] = board.stalled.map { entry in
                jsonObject([
                    ("name", .string(entry.name)),
                    ("reason", .string(entry.reason)),
                    ("unchanged_seconds", .number(JSONNumber(JobRecord.rounded(entry.unchangedSeconds)))),
                ])
            }
            return jsonObject([
                ("pid", .number(JSONNumber(Int(getpid())))),
                ("updated_at", .string(Clock.iso8601(wall))),
                ("jobs", .array(jobs)),
                ("stalled", .array(stalled)),
            ])
        }
    }
}
