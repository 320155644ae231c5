import BinaryIO
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// Start-up: finish or redo whatever a previous run left in work/.
///
/// The folders say how far each job got (see `JobMoves`):
/// - `published` marker and no `out/`: the artifacts reached out/; only the input's retirement
///   and clean-up are left.
/// - `failed/` with error.json and the input: the move to failed/ was under way; complete it.
/// - the input in `input/`: interrupted; redo from the start (attempt counted unless the last
///   run gave it back at a graceful stop), or fail it once `max_attempts` interruptions pile up.
/// - no input at all: the claim never completed (or clean-up did not); remove the folder.
extension ControlLoop {
    func recover(previous: [JobRecord]) {
        let known = Dictionary(previous.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        let ids = ((try? FileSystem.list(folder.work)) ?? []).filter { !$0.hasPrefix(".") }
        for id in ids {
            recoverJob(id, record: known[id])
        }
        // Records whose folder is gone (removed by hand) would show as in progress forever.
        for record in previous where !record.state.isFinished && !ids.contains(record.id) {
            var lost = record
            lost.state = .failed
            lost.finishedAt = Clock.wall()
            lost.error = JobFailure(kind: .badInput, type: "LostJob",
                                    message: "work/\(record.id) was gone at start-up; the input's fate is unknown").json()
            save(lost)
        }
        queue.sort { (records[$0.id]?.claimedAt ?? 0) < (records[$1.id]?.claimedAt ?? 0) }
    }

    private func recoverJob(_ id: String, record known: JobRecord?) {
        let job = folder.job(id)
        let inputName = moves.inputName(id)
        var record = known ?? JobRecord(id: id, input: inputName ?? "?", state: .claimed, claimedAt: Clock.wall())

        if FileSystem.exists(job.publishedMarker) && !FileSystem.exists(job.out) {
            do {
                _ = try moves.retireInput(id, input: record.input, keep: settings.keepInput)
                record.state = .done
                record.finishedAt = Clock.wall()
                record.destination = record.destination ?? "out/" + DropFolder.stem(record.input)
                save(record)
                try moves.remove(id)
                log.info("recover", "\(record.input): was published before the restart; finished clean-up", [("job", .string(id))])
            } catch {
                log.error("recover", "work/\(id): cannot finish clean-up: \(error)")
            }
            return
        }

        if FileSystem.exists(job.publishedMarker) {
            // Publishing had started but out/ was not renamed yet. Only the placeholder fallback
            // (file systems without RENAME_NOREPLACE) can have left an empty folder in out/.
            let stem = DropFolder.stem(record.input)
            for name in (try? FileSystem.list(folder.out)) ?? [] where name == stem || name.hasPrefix(stem + "-") {
                if (try? FileSystem.list(folder.out + "/" + name))?.isEmpty == true { FileSystem.removeEmptyFolder(folder.out + "/" + name) }
            }
        }

        let failing = ((try? FileSystem.list(job.failing)) ?? []).filter { $0 != "error.json" && !$0.hasPrefix(".") }
        if let name = failing.first {
            if let bytes = FileSystem.read(job.failing + "/error.json"), let report = try? StrictJSON.parse(bytes) {
                record.input = name
                records[id] = record
                do {
                    let target = try moves.fail(id, input: name, report: report)
                    record.state = .failed
                    record.destination = "failed/" + target
                    record.finishedAt = Clock.wall()
                    save(record)
                    try moves.remove(id)
                    records[id] = nil
                    log.info("recover", "\(name): finished moving it to failed/\(target)", [("job", .string(id))])
                } catch {
                    log.error("recover", "work/\(id): cannot finish moving it to failed/: \(error)")
                }
                return
            }
            // The input had moved but error.json is unreadable: put it back and redo the job.
            try? FileSystem.rename(job.failing + "/" + name, job.input + "/" + name)
        }

        guard let input = moves.inputName(id) else {
            try? moves.remove(id)
            log.info("recover", "work/\(id): no input inside (claim interrupted); removed")
            return
        }
        record.input = input
        record.state = .claimed
        records[id] = record
        if record.attempts >= settings.maxAttempts {
            moveToFailed(id, JobFailure(
                kind: .badInput, type: "Interrupted",
                message: "the job was interrupted \(record.attempts) times (the daemon stopped or crashed during each attempt)",
                file: input,
                hint: "run it by hand (`quantd inspect`, later `quantd convert`) to see what happens, or raise max_attempts"))
            return
        }
        save(record)
        queue.append((id, 0))
        let what = record.attempts == 0 ? "was queued when the last run ended; running it now"
            : "was interrupted during attempt \(record.attempts); redoing it from the start"
        log.warning("recover", "\(input): job \(id) \(what)", [("job", .string(id))])
    }
}
