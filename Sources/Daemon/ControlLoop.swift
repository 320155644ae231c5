import BinaryIO
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's single decision-making thread: everything mutable here is touched only by the
/// thread running `run()`. Other threads post to `daemon.mailbox`.
final class ControlLoop {
    let daemon: Daemon
    let folder: DropFolder
    let moves: JobMoves
    var settings: DaemonSettings
    var scanner: InboxScanner
    let board = ProgressBoard()
    let metrics: Metrics
    var ledger: JobLedger?

    /// Jobs in work/ (claimed, running or waiting for a retry), by id.
    var records: [String: JobRecord] = [:]
    /// Jobs waiting for a free slot, in order, each not before a time (retry backoff).
    var queue: [(id: String, notBefore: Double)] = []
    var running: Set<String> = []
    /// Jobs whose outcome is decided but whose last moves failed (the input to done/ after
    /// publishing, or the input to failed/): tried again at every rescan, never run again.
    var endings: [String: Ending] = [:]

    var stopping = false
    var graceDeadline = Double.infinity
    var nextRescan = 0.0
    var nextWatchdog = 0.0
    var nextProgressWrite = 0.0
    var metricsDirty = true
    var lastStatus = ""
    /// So a metrics file that cannot be written is reported once, not at every job change.
    var metricsFailing = false

    init(daemon: Daemon) {
        self.daemon = daemon
        folder = DropFolder(root: daemon.options.root)
        moves = JobMoves(folder: folder, warn: { [log = daemon.log] message in log.warning("fsync", message) })
        settings = daemon.options.settings
        scanner = InboxScanner(inbox: folder.inbox, settle: settings.settleSeconds)
        scanner.stalledAfter = settings.stalledSeconds
        metrics = Metrics(registry: daemon.metrics)
    }

    var log: DaemonLog { daemon.log }
    var notifier: SystemdNotifier { daemon.options.notifier }

    func run() throws {
        try folder.create()
        let lock = try RootLock(folder: folder)
        defer { withExtendedLifetime(lock) {} }
        let previous = JobLedger.read(path: folder.ledgerPath)
        ledger = try JobLedger(path: folder.ledgerPath)
        log.info("start", "watching \(folder.inbox)", [
            ("pid", .number(JSONNumber(Int(getpid())))), ("settings", settings.json()),
        ])
        let endpoint = try startEndpoint()
        defer { stopEndpoint(endpoint) }
        moves.removeStrayTemporaries(metricsFile: settings.metricsFile)
        recover(previous: previous)

        let watcher = InotifyWatcher(inbox: folder.inbox) { [mailbox = daemon.mailbox] event in
            mailbox.post(.watcher(event))
        }
        watcher.start()
        defer { watcher.stop() }
        waitForWatcher()
        rescan(reason: "start-up")
        notifier.ready(status: "watching \(folder.inbox)")
        log.info("ready", "first scan done", [("pending", .number(JSONNumber(scanner.candidates.count))),
                                             ("queued", .number(JSONNumber(queue.count)))])
        loop()
        writeProgress(force: true)
        writeMetrics()
        notifier.stopping(status: "stopped")
        log.info("stop", running.isEmpty ? "stopped cleanly" : "stopped; \(running.count) job(s) left in work/ to be redone")
    }

    /// READY must not be sent before the watches exist, or a drop in between would wait for the
    /// periodic rescan. The watcher says so (or that inotify is unavailable) within a moment.
    private func waitForWatcher() {
        let deadline = Clock.monotonic() + 10
        while Clock.monotonic() < deadline {
            var settled = false
            for message in daemon.mailbox.drain() {
                if case .watcher(.watching) = message { settled = true }
                if case let .watcher(.unavailable(reason)) = message {
                    log.warning("inotify", "\(reason); falling back to a full rescan every \(settings.rescanSeconds) s")
                    settled = true
                }
                handle(message)
            }
            if settled { return }
            daemon.mailbox.wait(seconds: 0.2)
        }
        log.warning("inotify", "the watcher did not start within 10 s; relying on rescans")
    }

    private func loop() {
        while true {
            let now = Clock.monotonic()
            for message in daemon.mailbox.drain() { handle(message) }
            if stopping {
                if running.isEmpty { return }
                if Clock.monotonic() >= graceDeadline {
                    abandonRunningJobs()
                    return
                }
            }
            if now >= nextRescan {
                rescan(reason: "periodic")
                for id in endings.keys.sorted() { finishEnding(id) }
                retryLedger()
            }
            if !stopping { claimSettledEntries(now: now) }
            startJobs(now: Clock.monotonic())
            housekeeping(now: Clock.monotonic())
            daemon.mailbox.wait(seconds: nextWake(now: Clock.monotonic()) - Clock.monotonic())
        }
    }

    func handle(_ message: Mailbox.Message) {
        let now = Clock.monotonic()
        switch message {
        case .watcher(.watching), .watcher(.unavailable):
            break
        case let .watcher(.entry(name, movedIn)):
            scanner.touch(name, movedIn: movedIn, now: now)
        case .watcher(.overflow):
            log.warning("overflow", "inotify queue overflowed; rescanning the inbox")
            nextRescan = now
        case let .finished(id, result):
            finished(id, result)
        case let .stop(reason):
            if stopping {
                log.warning("stop", "\(reason) again: not waiting for running jobs")
                graceDeadline = now
            } else {
                stopping = true
                daemon.cancelled.store(true, ordering: .relaxed)
                graceDeadline = now + settings.graceSeconds
                log.info("stop", "\(reason): no new claims; waiting up to \(settings.graceSeconds) s for \(running.count) running job(s)")
                notifier.stopping(status: "stopping: \(running.count) job(s) finishing")
            }
        case .reload:
            reload()
        }
    }

    private func reload() {
        notifier.reloading()
        let explicit = daemon.pendingSettings.withLock { pending in
            defer { pending = nil }
            return pending
        }
        var next = settings
        if let explicit {
            next = explicit
        } else if let file = daemon.options.pipelineFile {
            do {
                next = try DaemonSettings.load(pipelineFile: file)
                try daemon.executor.reload(pipelineFile: file)
            } catch {
                log.error("reload", "invalid pipeline \(file), keeping the current one: \(error)")
                notifier.ready(status: statusLine())
                return
            }
        }
        if next.isolateJobs != settings.isolateJobs {
            log.warning("reload", "isolate_jobs is read at start only; it changes when the daemon restarts")
        }
        if next.metricsListen != settings.metricsListen {
            log.warning("reload", "metrics_listen is read at start only; it changes when the daemon restarts")
        }
        settings = next
        scanner.settle = next.settleSeconds
        scanner.stalledAfter = next.stalledSeconds
        nextRescan = min(nextRescan, Clock.monotonic() + next.rescanSeconds)
        log.info("reload", "settings reloaded", [("settings", next.json())])
        notifier.ready(status: statusLine())
    }

    private func rescan(reason: String) {
        let now = Clock.monotonic()
        do {
            try scanner.rescan(now: now)
        } catch {
            log.error("rescan", "cannot list the inbox: \(error)")
        }
        nextRescan = now + settings.rescanSeconds
    }

    private func claimSettledEntries(now: Double) {
        for decision in scanner.examine(now: now) {
            switch decision {
            case let .deferred(name, reason):
                log.info("arriving", "\(name): still arriving (\(reason)); looking again later")
            case let .stalled(entry):
                log.warning("stalled", "\(entry.name): incomplete and unchanged for \(Int(entry.unchangedSeconds)) s (\(entry.reason));"
                                + " still waiting — an incomplete input is never failed; finish the copy or remove it",
                            [("input", .string(entry.name))])
            case let .ready(name):
                claim(name)
            }
        }
        board.setStalled(scanner.stalled(now: now))
    }

    private func startJobs(now: Double) {
        guard !stopping else { return }
        while running.count < settings.concurrency,
              let index = queue.firstIndex(where: { $0.notBefore <= now }) {
            let id = queue.remove(at: index).id
            startAttempt(id)
        }
    }

    private func housekeeping(now: Double) {
        if let interval = notifier.watchdogInterval, now >= nextWatchdog {
            notifier.watchdog()
            nextWatchdog = now + interval
        }
        if now >= nextProgressWrite {
            writeProgress(force: false)
            nextProgressWrite = now + 1
        }
        if metrics.setGauges(gaugeValues()) { metricsDirty = true }
        if metricsDirty { writeMetrics() }
        let status = statusLine()
        if status != lastStatus {
            notifier.status(status)
            lastStatus = status
        }
    }

    private func nextWake(now: Double) -> Double {
        var wake = now + 5
        if let check = scanner.nextCheck, !stopping { wake = min(wake, check) }
        wake = min(wake, nextRescan)
        if running.count < settings.concurrency, let retry = queue.map(\.notBefore).min() { wake = min(wake, retry) }
        if let interval = notifier.watchdogInterval { wake = min(wake, nextWatchdog, now + interval) }
        if !running.isEmpty { wake = min(wake, nextProgressWrite) }
        if stopping { wake = min(wake, graceDeadline) }
        return max(wake, now + 0.005)
    }

    /// Grace period over: the jobs still running stay in work/ and are redone at the next start.
    /// Their attempt is given back, since the job did nothing wrong.
    private func abandonRunningJobs() {
        daemon.executor.abandonRunningJobs()
        for id in running.sorted() {
            guard var record = records[id] else { continue }
            record.attempts = max(0, record.attempts - 1)
            record.state = .claimed
            save(record)
            log.warning("abandon", "\(record.input): still running after \(settings.graceSeconds) s; left in work/\(id) to be redone at the next start")
        }
    }

    /// Listens on `metrics_listen` when set; a port that cannot be bound fails the start.
    private func startEndpoint() throws -> MetricsEndpoint? {
        guard let listen = settings.metricsListen else { return nil }
        let registry = daemon.metrics
        let endpoint = try MetricsEndpoint(listen: listen, log: log) {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return buffer
        }
        do {
            try endpoint.start()
        } catch {
            endpoint.stop()
            throw error
        }
        daemon.endpointAddress.withLock { $0 = endpoint.address }
        log.info("metrics", "serving http://\(endpoint.address)/metrics", [
            ("address", .string(endpoint.address.description)), ("port", .number(JSONNumber(endpoint.address.port))),
        ])
        return endpoint
    }

    private func stopEndpoint(_ endpoint: MetricsEndpoint?) {
        guard let endpoint else { return }
        daemon.endpointAddress.withLock { $0 = nil }
        endpoint.stop()
    }

    func statusLine() -> String {
        if stopping { return "stopping: \(running.count) job(s) finishing" }
        let names = running.sorted().compactMap { records[$0]?.input }
        let pending = scanner.candidates.count
        if names.isEmpty { return "idle; \(pending) inbox \(pending == 1 ? "entry" : "entries") not claimed yet" }
        return "running \(names.joined(separator: ", ")); \(queue.count) queued"
    }

    func save(_ record: JobRecord) {
        do {
            try ledger?.append(record)
        } catch {
            log.error("ledger", "cannot append to \(folder.ledgerPath): \(error)")
        }
        metricsDirty = true
    }

    /// Records an earlier append could not write go out now if the disk allows (already logged).
    private func retryLedger() {
        guard let written = try? ledger?.retry(), written > 0 else { return }
        log.info("ledger", "wrote \(written) record(s) that could not be written before")
    }

    func writeProgress(force: Bool) {
        guard let snapshot = board.takeSnapshot(force: force) else { return }
        do {
            try FileSystem.writeAtomically(folder.progressPath, snapshot.serialized() + "\n")
        } catch {
            log.warning("progress", "cannot write \(folder.progressPath): \(error)")
        }
    }

    /// Jobs in work/ by state and the inbox entries not claimed yet, for the gauges.
    func gaugeValues() -> Metrics.GaugeValues {
        var values = Metrics.GaugeValues(running: running.count, queued: 0, retrying: 0, pending: scanner.candidates.count)
        for record in records.values {
            if record.state == .claimed { values.queued += 1 }
            if record.state == .retrying { values.retrying += 1 }
        }
        return values
    }

    func writeMetrics() {
        metricsDirty = false
        metrics.setGauges(gaugeValues())
        guard let path = settings.metricsFile else { return }
        let text = metrics.render()
        do {
            try FileSystem.writeAtomically(path, text)
            metricsFailing = false
        } catch {
            if !metricsFailing { log.warning("metrics", "cannot write \(path): \(error) (reported once until it works again)") }
            metricsFailing = true
        }
    }
}
