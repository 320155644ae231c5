import BinaryIO
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// A job's life on the control thread: claim, start an attempt, and act on how it ended.
extension ControlLoop {
    func claim(_ name: String) {
        let wall = Clock.wall()
        let id: String
        do {
            guard let claimed = try moves.claim(name, now: wall) else {
                scanner.forget(name)
                return
            }
            id = claimed
        } catch {
            // Moving a folder to another parent rewrites its "..", which needs write permission on
            // the folder itself: the usual cause when someone else's folder cannot be claimed.
            let hint = (error as? FileError)?.errno == EACCES
                ? " (the daemon's user needs write permission on a dropped folder and on the inbox: chmod -R g+w, setgid group)" : ""
            log.error("claim", "\(name): \(error)\(hint); will try again at the next rescan")
            return
        }
        var record = JobRecord(id: id, input: name, state: .claimed, claimedAt: wall)
        record.inputBytes = FileSystem.totalBytes(folder.job(id).input + "/" + name)
        records[id] = record
        queue.append((id, 0))
        save(record)
        log.info("claim", "\(name) → work/\(id)", [("job", .string(id)), ("bytes", .number(JSONNumber(record.inputBytes)))])
    }

    func startAttempt(_ id: String) {
        guard var record = records[id] else { return }
        let wall = Clock.wall()
        record.attempts += 1
        record.state = .running
        record.startedAt = record.startedAt ?? wall
        records[id] = record
        save(record)

        let job = folder.job(id)
        let board = self.board
        let daemon = self.daemon
        board.begin(id, input: record.input)
        let request = JobRequest(
            id: id, inputName: record.input, inputPath: job.input + "/" + record.input, outputFolder: job.out,
            scratchFolder: job.scratch, threads: settings.threads, attempt: record.attempts,
            progress: { progress in board.report(id, progress) },
            isCancelled: { daemon.cancelled.load(ordering: .relaxed) },
            limits: JobLimits(timeoutSeconds: settings.jobTimeoutSeconds, memoryBytes: settings.jobMemoryBytes))
        let attempt = JobAttempt(request: request, moves: moves, executor: daemon.executor, classifier: daemon.classifier)
        running.insert(id)
        log.info("start", "\(record.input): attempt \(record.attempts) of \(settings.maxAttempts)", [("job", .string(id))])
        DaemonThread.start {
            let result = attempt.run()
            daemon.mailbox.post(.finished(id: id, result: result))
        }
    }

    func finished(_ id: String, _ result: JobAttempt.Result) {
        guard running.remove(id) != nil, var record = records[id] else { return }
        for (stage, seconds) in board.finish(id) {
            record.add(stage: stage, seconds: seconds)
            metrics.addStage(stage, seconds)
        }
        switch result {
        case let .succeeded(files, outputBytes):
            let name: String
            do {
                name = try moves.publish(id, input: record.input)
            } catch {
                var failure = daemon.classifier.classify(error)
                // Our own publishing failed (disk full before the rename...): never the input's fault.
                if failure.kind != .transient { failure.kind = .transient }
                records[id] = record
                handleFailure(id, failure)
                return
            }
            // Published: from here on the job is never run again, whatever fails.
            record.destination = "out/" + name
            record.outputBytes = outputBytes
            records[id] = record
            endings[id] = .published(files: files.count)
            finishEnding(id)
        case let .failed(failure) where stopping && failure.type == JobFailure.cancelledType:
            // Stopped by the daemon's own shutdown: redone at the next start, its attempt given back.
            record.attempts = max(0, record.attempts - 1)
            record.state = .claimed
            records[id] = record
            save(record)
            log.warning("abandon", "\(record.input): stopped before it finished; left in work/\(id) to be redone at the next start",
                        [("job", .string(id))])
        case let .failed(failure):
            records[id] = record
            handleFailure(id, failure)
        }
    }

    func handleFailure(_ id: String, _ raw: JobFailure) {
        guard var record = records[id] else { return }
        let failure = raw.relative(to: folder.job(id).input)
        record.error = failure.json()
        records[id] = record
        switch failure.kind {
        case .badInput:
            moveToFailed(id, failure)
        case .transient where record.attempts >= settings.maxAttempts:
            var final = failure
            final.message = "after \(record.attempts) attempts: " + failure.message
            final.hint = "gave up after \(record.attempts) attempts; fix the cause (free space, the disk) and drop the input again"
            moveToFailed(id, final)
        case .transient:
            scheduleRetry(id, because: failure.description)
        case .stillArriving:
            do {
                let name = try moves.returnToInbox(id, input: record.input)
                record.state = .deferred
                record.finishedAt = Clock.wall()
                save(record)
                forget(id)
                metrics.jobEnded(.deferred, inputBytes: 0, outputBytes: 0, seconds: nil)
                scanner.hold(name, seconds: max(settings.settleSeconds, 1), now: Clock.monotonic())
                log.info("defer", "\(record.input): still arriving (\(failure.message)); back in the inbox as \(name)",
                         [("job", .string(id))])
            } catch {
                log.error("defer", "\(record.input): cannot put it back into the inbox: \(error)")
                scheduleRetry(id, because: "\(error)")
            }
        }
    }

    func scheduleRetry(_ id: String, because reason: String) {
        guard var record = records[id] else { return }
        let delay = settings.backoff(afterAttempt: record.attempts)
        record.state = .retrying
        records[id] = record
        save(record)
        queue.append((id, Clock.monotonic() + delay))
        metrics.retried()
        log.warning("retry", "\(record.input): \(reason); attempt \(record.attempts + 1) in \(JobRecord.rounded(delay)) s",
                    [("job", .string(id))])
    }

    /// Moves the input and its error.json to failed/ and forgets the job (see `finishEnding`).
    func moveToFailed(_ id: String, _ failure: JobFailure) {
        endings[id] = .failing(failure)
        finishEnding(id)
    }

    /// Makes the last moves of a job whose outcome is decided. What fails is logged and tried
    /// again at the next rescan; the job itself is never run again (its input may already sit
    /// beside error.json, or its artifacts in out/).
    func finishEnding(_ id: String) {
        guard let ending = endings[id], var record = records[id] else {
            endings[id] = nil
            return
        }
        let wall = Clock.wall()
        switch ending {
        case let .published(files):
            let kept: String?
            do {
                kept = try moves.retireInput(id, input: record.input, keep: settings.keepInput)
            } catch {
                log.error("done", "\(record.input): published to \(record.destination ?? "out/"), but cannot move the input to done/: \(error); "
                              + "trying again at the next rescan", [("job", .string(id))])
                return
            }
            endings[id] = nil
            record.state = .done
            record.finishedAt = wall
            record.error = nil
            save(record)
            forget(id)
            metrics.jobEnded(.done, inputBytes: record.inputBytes, outputBytes: record.outputBytes ?? 0, seconds: record.elapsed)
            log.info("done", "\(record.input) → \(record.destination ?? "out/") (\(files) file(s), \(record.outputBytes ?? 0) bytes)", [
                ("job", .string(id)), ("seconds", .number(JSONNumber(JobRecord.rounded(record.elapsed ?? 0)))),
                ("input_now", .string(kept.map { "done/" + $0 } ?? "removed")),
            ])
        case let .failing(failure):
            record.error = failure.json()
            records[id] = record
            let name: String
            do {
                let report = moves.errorReport(failure, record: record, version: daemon.options.version, now: wall)
                name = try moves.fail(id, input: record.input, report: report)
            } catch {
                log.error("fail", "\(record.input): cannot move it to failed/: \(error); trying again at the next rescan",
                          [("job", .string(id))])
                return
            }
            endings[id] = nil
            record.state = .failed
            record.destination = "failed/" + name
            record.finishedAt = wall
            save(record)
            forget(id)
            metrics.jobEnded(.failed, inputBytes: record.inputBytes, outputBytes: 0, seconds: record.elapsed)
            var fields: [(String, JSONValue)] = [("job", .string(id)), ("type", .string(failure.type))]
            if let file = failure.file { fields.append(("file", .string(file))) }
            if let offset = failure.offset { fields.append(("offset", .number(JSONNumber(offset)))) }
            log.error("fail", "\(record.input) → failed/\(name): \(failure.description)", fields)
        }
    }

    /// Drops a job that has ended. A work/ID that cannot be removed holds no input any more; the
    /// next start-up removes it.
    private func forget(_ id: String) {
        records[id] = nil
        do {
            try moves.remove(id)
        } catch {
            log.warning("cleanup", "cannot remove work/\(id): \(error); it is removed at the next start")
        }
    }
}

/// How a job whose outcome is decided ends.
enum Ending {
    /// Its artifacts are in out/; the input goes to done/ (or away).
    case published(files: Int)
    /// The input goes to failed/ with error.json.
    case failing(JobFailure)
}
