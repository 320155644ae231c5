import BinaryIO
import CoreMetrics
import Prometheus

/// The daemon's metrics, recorded through swift-metrics' types on a Prometheus registry.
///
/// The registry is the one exposition: the textfile (node_exporter's textfile collector, rewritten
/// atomically whenever a job changes state) and the `/metrics` endpoint both emit it. Each daemon
/// has its own registry rather than the process-wide `MetricsSystem`, so two daemons in one process
/// (the tests) never count into each other. Counters count since the daemon started, which is what
/// Prometheus expects of a `_total` (it handles the reset on restart).
///
/// Touched by the control thread only; the registry itself is thread-safe, so the endpoint's thread
/// may emit it at any time.
final class Metrics {
    let registry: PrometheusCollectorRegistry
    private let factory: HelpedPrometheusFactory

    /// Jobs in work/ by state, and inbox entries waiting to settle.
    private let running, queued, retrying, pending: CoreMetrics.Gauge
    private let finished: [String: CoreMetrics.Counter]
    private let retries, bytesIn, bytesOut: CoreMetrics.Counter
    private var stageSeconds: [String: FloatingPointCounter] = [:]
    private let durations: [String: CoreMetrics.Timer]
    /// The gauges' values last set, so an unchanged state does not rewrite the textfile.
    private(set) var gauges = GaugeValues(running: 0, queued: 0, retrying: 0, pending: 0)

    struct GaugeValues: Equatable {
        var running, queued, retrying, pending: Int
    }

    /// How a job ended, as the `outcome` label says it.
    enum Outcome: String, CaseIterable {
        case done, failed, deferred
    }

    /// Job durations span seconds (a small GGUF) to a day (a large checkpoint with evaluation).
    static let durationBuckets: [Duration] = [
        .milliseconds(100), .seconds(1), .seconds(10), .seconds(60), .seconds(300), .seconds(900),
        .seconds(1800), .seconds(3600), .seconds(7200), .seconds(14_400), .seconds(43_200), .seconds(86_400),
    ]

    /// Every metric's help text, by name: the families the daemon records, and nothing else.
    static let help: [String: String] = [
        "quantd_jobs": "Jobs in work/ by state.",
        "quantd_inbox_pending": "Inbox entries not yet claimed (settling or still arriving).",
        "quantd_jobs_finished_total": "Jobs finished since start, by outcome.",
        "quantd_job_retries_total": "Attempts retried after a transient error.",
        "quantd_input_bytes_total": "Bytes of inputs of finished jobs.",
        "quantd_output_bytes_total": "Bytes of artifacts published to out/.",
        "quantd_stage_seconds_total": "Seconds spent per job stage.",
        "quantd_job_duration_seconds": "Time from a job's first start to its end, by outcome.",
    ]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        let factory = HelpedPrometheusFactory(registry: registry, help: Self.help, durationBuckets: Self.durationBuckets)
        self.factory = factory
        func gauge(_ name: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Gauge {
            let gauge = CoreMetrics.Gauge(label: name, dimensions: dimensions, factory: factory)
            gauge.record(0)
            return gauge
        }
        func counter(_ name: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: name, dimensions: dimensions, factory: factory)
        }
        running = gauge("quantd_jobs", [("state", "running")])
        queued = gauge("quantd_jobs", [("state", "queued")])
        retrying = gauge("quantd_jobs", [("state", "retrying")])
        pending = gauge("quantd_inbox_pending")
        finished = Dictionary(uniqueKeysWithValues: Outcome.allCases.map {
            ($0.rawValue, counter("quantd_jobs_finished_total", [("outcome", $0.rawValue)]))
        })
        retries = counter("quantd_job_retries_total")
        bytesIn = counter("quantd_input_bytes_total")
        bytesOut = counter("quantd_output_bytes_total")
        // A deferred job goes back to the inbox unfinished: its time is not a job's duration.
        durations = Dictionary(uniqueKeysWithValues: [Outcome.done, .failed].map {
            ($0.rawValue, CoreMetrics.Timer(label: "quantd_job_duration_seconds", dimensions: [("outcome", $0.rawValue)],
                                            factory: factory))
        })
    }

    /// A job ended: `seconds` is from its first start to now (nil when it never started).
    func jobEnded(_ outcome: Outcome, inputBytes: Int, outputBytes: Int, seconds: Double?) {
        finished[outcome.rawValue]?.increment()
        if outcome != .deferred {
            bytesIn.increment(by: max(inputBytes, 0))
            bytesOut.increment(by: max(outputBytes, 0))
        }
        if let seconds, seconds.isFinite, seconds >= 0, let timer = durations[outcome.rawValue] {
            timer.recordNanoseconds(Int64(min(seconds, 1e9) * 1e9))
        }
    }

    func retried() {
        retries.increment()
    }

    /// Adds a stage's time (the stage name becomes a label value, escaped by the exporter).
    func addStage(_ stage: String, _ seconds: Double) {
        guard seconds.isFinite, seconds > 0 else { return }
        let counter = stageSeconds[stage] ?? {
            let made = FloatingPointCounter(label: "quantd_stage_seconds_total", dimensions: [("stage", stage)], factory: factory)
            stageSeconds[stage] = made
            return made
        }()
        // Millisecond steps, as the ledger records them, so sums print without binary noise.
        counter.increment(by: JobRecord.rounded(seconds))
    }

    /// Sets the gauges; true when a value changed.
    @discardableResult
    func setGauges(_ values: GaugeValues) -> Bool {
        guard values != gauges else { return false }
        gauges = values
        running.record(values.running)
        queued.record(values.queued)
        retrying.record(values.retrying)
        pending.record(values.pending)
        return true
    }

    /// The exposition text (Prometheus text format 0.0.4).
    func render() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// swift-prometheus' `PrometheusMetricsFactory`, with `# HELP` lines: it registers every metric with
/// an empty help text, and the registry refuses a second registration of a name with another help
/// text, so the help has to be given at the first one.
struct HelpedPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let help: [String: String]
    let durationBuckets: [Duration]

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: help[label] ?? "")
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: help[label] ?? "")
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(name: label, labels: dimensions, help: help[label] ?? "")
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        // A non-aggregating recorder is swift-metrics' `Gauge`; the daemon records no value distributions.
        registry.makeGauge(name: label, labels: dimensions, help: help[label] ?? "")
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(name: label, labels: dimensions, buckets: durationBuckets, help: help[label] ?? "")
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
