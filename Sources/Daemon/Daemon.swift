import Dispatch
import Prometheus
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `quantd watch`: the drop-folder daemon.
///
/// `run()` owns ROOT (lock), recovers what a previous run left in `work/`, watches the inbox and
/// runs jobs through `executor` until `stop()` (SIGTERM/SIGINT with `handleSignals()`), then
/// returns. All decisions are made on the thread that called `run()` (`ControlLoop`); the
/// inotify watcher and each job run on their own threads and talk to it through a `Mailbox`.
public final class Daemon: Sendable {
    public struct Options: Sendable {
        public var root: String
        public var settings: DaemonSettings
        /// Re-read on `reload()` (SIGHUP) for new settings; nil keeps `settings` for good.
        public var pipelineFile: String?
        /// quantd's version, recorded in every error.json.
        public var version: String
        public var notifier: SystemdNotifier

        public init(root: String, settings: DaemonSettings = DaemonSettings(), pipelineFile: String? = nil,
                    version: String, notifier: SystemdNotifier = SystemdNotifier(notifySocket: nil)) {
            self.root = root
            self.settings = settings
            self.pipelineFile = pipelineFile
            self.version = version
            self.notifier = notifier
        }
    }

    public let options: Options
    let executor: any JobExecutor
    let classifier: any JobFailureClassifier
    let log: DaemonLog
    let mailbox = Mailbox()
    /// Set when stopping: executors see it through `JobRequest.isCancelled`.
    let cancelled = Atomic<Bool>(false)
    /// Settings given to `reload(settings:)`, taking precedence over the pipeline file once.
    let pendingSettings = Mutex<DaemonSettings?>(nil)
    /// The daemon's metrics (docs/daemon.md, "Metrics"): what the textfile and `/metrics` emit.
    public let metrics: PrometheusCollectorRegistry
    /// The `/metrics` endpoint's address while it listens (its real port when the setting's was 0).
    let endpointAddress = Mutex<LoopbackAddress?>(nil)
    private let signalSources = SignalSources()

    /// `metrics`: the registry to record into; each daemon has its own unless one is given.
    public init(options: Options, executor: any JobExecutor,
                classifier: any JobFailureClassifier = DefaultJobFailureClassifier(), log: DaemonLog = DaemonLog(),
                metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.options = options
        self.executor = executor
        self.classifier = classifier
        self.log = log
        self.metrics = metrics
    }

    /// Where `GET /metrics` is served while the daemon runs with `metrics_listen` set, else nil.
    public var metricsEndpoint: LoopbackAddress? { endpointAddress.withLock { $0 } }

    /// Runs until stopped. Throws only when it cannot start (ROOT owned by another daemon,
    /// folders that cannot be created); once running, errors are logged and the daemon carries on.
    public func run() throws {
        try ControlLoop(daemon: self).run()
    }

    /// Stop claiming, let running jobs finish within `grace_seconds`, then return from `run()`.
    /// A second call stops at once, leaving running jobs in work/ to be redone.
    public func stop(reason: String = "stop requested") {
        mailbox.post(.stop(reason: reason))
    }

    /// Re-reads the settings from the pipeline file (SIGHUP). Invalid settings are logged and the
    /// old ones kept.
    public func reload() {
        mailbox.post(.reload)
    }

    /// Applies `settings` as a reload would (for embedding and tests).
    public func reload(settings: DaemonSettings) {
        pendingSettings.withLock { $0 = settings }
        mailbox.post(.reload)
    }

    /// SIGTERM and SIGINT stop, SIGHUP reloads. The signals are ignored by default disposition
    /// and delivered through Dispatch sources, so the handlers run as ordinary code.
    public func handleSignals() {
        for (number, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT"), (SIGHUP, "SIGHUP")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                if number == SIGHUP {
                    reload()
                } else {
                    stop(reason: name)
                }
            }
            source.resume()
            signalSources.keep(source)
        }
    }
}

/// Keeps the Dispatch signal sources alive for the daemon's lifetime.
private final class SignalSources: @unchecked Sendable {
    // Guarded by `lock`; Dispatch sources are thread-safe objects but not declared Sendable.
    private var sources: [any DispatchSourceSignal] = []
    private let lock = Mutex(())

    func keep(_ source: any DispatchSourceSignal) {
        lock.withLock { _ in sources.append(source) }
    }
}
