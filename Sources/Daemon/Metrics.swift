/// Prometheus text-format metrics for node_exporter's textfile collector.
///
/// The file is rewritten atomically (temporary file + rename) whenever a job changes state, so
/// the collector never reads half a file. Counters count since the daemon started, which is what
/// Prometheus expects of a `_total` (it handles the reset on restart).
struct Metrics {
    /// Jobs that ended, by outcome (`done`, `failed`, `deferred`), and retries scheduled.
    var finished: [String: Int] = [:]
    var retries = 0
    var bytesIn = 0
    var bytesOut = 0
    /// Seconds spent per stage, summed over jobs, in first-seen order.
    var stageSeconds: [(stage: String, seconds: Double)] = []

    mutating func addStage(_ stage: String, _ seconds: Double) {
        if let index = stageSeconds.firstIndex(where: { $0.stage == stage }) {
            stageSeconds[index].seconds += seconds
        } else {
            stageSeconds.append((stage, seconds))
        }
    }

    /// The file's text. `gauges` are the current job counts by state (claimed, running, retrying)
    /// and the inbox entries waiting to settle.
    func render(running: Int, queued: Int, retrying: Int, pending: Int) -> String {
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            for sample in samples { lines.append("\(name)\(sample.labels) \(sample.value)") }
        }
        metric("quantd_jobs", "gauge", "Jobs in work/ by state.", [
            ("{state=\"running\"}", "\(running)"), ("{state=\"queued\"}", "\(queued)"),
            ("{state=\"retrying\"}", "\(retrying)"),
        ])
        metric("quantd_inbox_pending", "gauge", "Inbox entries not yet claimed (settling or still arriving).",
               [("", "\(pending)")])
        metric("quantd_jobs_finished_total", "counter", "Jobs finished since start, by outcome.",
               ["done", "failed", "deferred"].map { ("{outcome=\"\($0)\"}", "\(finished[$0, default: 0])") })
        metric("quantd_job_retries_total", "counter", "Attempts retried after a transient error.", [("", "\(retries)")])
        metric("quantd_input_bytes_total", "counter", "Bytes of inputs of finished jobs.", [("", "\(bytesIn)")])
        metric("quantd_output_bytes_total", "counter", "Bytes of artifacts published to out/.", [("", "\(bytesOut)")])
        metric("quantd_stage_seconds_total", "counter", "Seconds spent per job stage.",
               stageSeconds.map { ("{stage=\"\(Self.escape($0.stage))\"}", "\(JobRecord.rounded($0.seconds))") })
        return lines.joined(separator: "\n") + "\n"
    }

    /// Label values escape backslash, quote and newline (Prometheus text format).
    static func escape(_ text: String) -> String {
        text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"").replacingAll("\n", with: "\\n")
    }
}
