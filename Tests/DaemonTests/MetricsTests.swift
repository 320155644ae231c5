import Foundation
import JSON
import Prometheus
import Testing
@testable import Daemon

/// The metrics' text (Prometheus text format 0.0.4, as the format's specification writes samples,
/// label escapes and histograms), the `metrics_listen` setting, and the endpoint's request routing.
@Suite struct MetricsTests {
    /// The exposition's lines, for exact matches.
    static func lines(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").map(String.init))
    }

    @Test func recordsThroughSwiftMetricsIntoTheRegistry() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = Metrics(registry: registry)
        metrics.jobEnded(.done, inputBytes: 2000, outputBytes: 1024, seconds: 2.5)
        metrics.jobEnded(.failed, inputBytes: 10, outputBytes: 0, seconds: 0.05)
        metrics.jobEnded(.deferred, inputBytes: 7, outputBytes: 0, seconds: nil)
        metrics.retried()
        metrics.retried()
        metrics.addStage("quantize \"Q4\"\n", 1.5)
        metrics.addStage("quantize \"Q4\"\n", 0.25)
        #expect(metrics.setGauges(.init(running: 1, queued: 2, retrying: 0, pending: 4)))
        #expect(!metrics.setGauges(.init(running: 1, queued: 2, retrying: 0, pending: 4)))

        let text = metrics.render()
        #expect(text == registry.emitToString())
        let lines = Self.lines(text)
        for expected in [
            #"quantd_jobs{state="running"} 1.0"#, #"quantd_jobs{state="queued"} 2.0"#, #"quantd_jobs{state="retrying"} 0.0"#,
            "quantd_inbox_pending 4.0",
            #"quantd_jobs_finished_total{outcome="done"} 1"#, #"quantd_jobs_finished_total{outcome="failed"} 1"#,
            #"quantd_jobs_finished_total{outcome="deferred"} 1"#,
            "quantd_job_retries_total 2",
            // A deferred job's input goes back to the inbox: it is not counted as processed.
            "quantd_input_bytes_total 2010", "quantd_output_bytes_total 1024",
            // Backslash, quote and newline escaped in the label value.
            #"quantd_stage_seconds_total{stage="quantize \"Q4\"\n"} 1.75"#,
            #"quantd_job_duration_seconds_bucket{outcome="done",le="1.0"} 0"#,
            #"quantd_job_duration_seconds_bucket{outcome="done",le="10.0"} 1"#,
            #"quantd_job_duration_seconds_bucket{outcome="done",le="+Inf"} 1"#,
            #"quantd_job_duration_seconds_sum{outcome="done"} 2.5"#, #"quantd_job_duration_seconds_count{outcome="done"} 1"#,
            #"quantd_job_duration_seconds_bucket{outcome="failed",le="0.1"} 1"#,
            #"quantd_job_duration_seconds_count{outcome="failed"} 1"#,
            "# TYPE quantd_jobs gauge", "# TYPE quantd_jobs_finished_total counter", "# TYPE quantd_job_duration_seconds histogram",
            "# HELP quantd_inbox_pending Inbox entries not yet claimed (settling or still arriving).",
        ] {
            #expect(lines.contains(expected), "missing \(expected) in\n\(text)")
        }
        // One HELP and one TYPE line per family, for every family the daemon documents.
        for name in Metrics.help.keys {
            #expect(text.components(separatedBy: "# HELP \(name) ").count == 2, "\(name)")
            #expect(text.components(separatedBy: "# TYPE \(name) ").count == 2, "\(name)")
        }
        // No duration for a deferred job.
        #expect(!text.contains(#"outcome="deferred",le="#))
    }

    @Test func eachDaemonCountsInItsOwnRegistry() {
        let first = Metrics(registry: PrometheusCollectorRegistry())
        let second = Metrics(registry: PrometheusCollectorRegistry())
        first.retried()
        #expect(Self.lines(first.render()).contains("quantd_job_retries_total 1"))
        #expect(Self.lines(second.render()).contains("quantd_job_retries_total 0"))
    }

    @Test(arguments: [
        ("127.0.0.1:9464", "127.0.0.1:9464"), ("127.0.0.1:0", "127.0.0.1:0"), ("127.45.6.7:80", "127.45.6.7:80"),
        ("localhost:9464", "127.0.0.1:9464"), ("[::1]:9464", "[::1]:9464"), ("[0:0:0:0:0:0:0:1]:1", "[::1]:1"),
    ])
    func acceptsLoopbackAddresses(text: String, described: String) throws {
        let settings = try DaemonSettings.parse(StrictJSON.parse(#"{"metrics_listen": "\#(text)"}"#))
        #expect(settings.metricsListen?.description == described)
        #expect(try DaemonSettings.parse(settings.json()) == settings)
    }

    @Test(arguments: [
        (#""0.0.0.0:9464""#, "which is not a loopback address"),
        (#""192.168.1.10:9464""#, "which is not a loopback address"),
        (#""10.0.0.1:9464""#, "which is not a loopback address"),
        (#""[::]:9464""#, "which is not a loopback address"),
        (#""[::ffff:10.0.0.1]:9464""#, "which is not a loopback address"),
        (#""example.com:9464""#, "the host must be an IP address"),
        (#""127.0.0.1""#, "it must be HOST:PORT"),
        (#""9464""#, "it must be HOST:PORT"),
        (#""127.0.0.1:65536""#, "the port must be a number from 0 to 65535"),
        (#""127.0.0.1:-1""#, "the port must be a number"),
        (#""127.0.0.1:""#, "the port must be a number"),
        (#""::1:9464""#, "an IPv6 address is written [::1]:PORT"),
        (#""[::1:9464""#, "an IPv6 address is written [::1]:PORT"),
        ("9464", "must be \"HOST:PORT\""),
    ])
    func refusesOtherAddresses(value: String, message: String) throws {
        let error = try #require(throws: DaemonSettingsError.self) {
            try DaemonSettings.parse(StrictJSON.parse(#"{"metrics_listen": \#(value)}"#))
        }
        #expect(error.path == "$.daemon.metrics_listen")
        #expect(error.message.contains(message), "\(error)")
    }

    @Test func noEndpointByDefault() throws {
        #expect(DaemonSettings().metricsListen == nil)
        #expect(try DaemonSettings.parse(StrictJSON.parse(#"{"metrics_listen": null}"#)).metricsListen == nil)
    }

    @Test(arguments: [
        ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", MetricsEndpoint.Route.metrics(includeBody: true)),
        ("GET /metrics?name[]=quantd_jobs HTTP/1.0\r\n\r\n", .metrics(includeBody: true)),
        ("HEAD /metrics HTTP/1.1\r\n\r\n", .metrics(includeBody: false)),
        ("GET / HTTP/1.1\r\n\r\n", .notFound),
        ("GET /metrics/ HTTP/1.1\r\n\r\n", .notFound),
        ("POST /metrics HTTP/1.1\r\n\r\n", .methodNotAllowed),
        ("DELETE /metrics HTTP/1.1\r\n\r\n", .methodNotAllowed),
        ("GET /metrics HTTP/2.0\r\n\r\n", .badRequest("not an HTTP/1.x request line (METHOD /path HTTP/1.1)")),
        ("GET /metrics\r\n\r\n", .badRequest("not an HTTP/1.x request line (METHOD /path HTTP/1.1)")),
        ("GET  /metrics HTTP/1.1\r\n\r\n", .badRequest("not an HTTP/1.x request line (METHOD /path HTTP/1.1)")),
        ("get /metrics HTTP/1.1\r\n\r\n", .badRequest("not an HTTP/1.x request line (METHOD /path HTTP/1.1)")),
        ("GET metrics HTTP/1.1\r\n\r\n", .badRequest("not an HTTP/1.x request line (METHOD /path HTTP/1.1)")),
        ("GET /m\u{7F}etrics HTTP/1.1\r\n\r\n", .badRequest("the request line is not printable ASCII")),
        ("\u{16}\u{03}\u{01}\u{02}\u{00}\n\n", .badRequest("the request line is not printable ASCII")),
    ])
    func routesRequestLines(head: String, route: MetricsEndpoint.Route) {
        #expect(MetricsEndpoint.route(Array(head.utf8)) == route)
    }

    @Test func findsTheEndOfTheRequestHead() {
        #expect(MetricsEndpoint.hasHeadEnd(Array("GET / HTTP/1.1\r\nA: b\r\n\r\n".utf8)))
        #expect(MetricsEndpoint.hasHeadEnd(Array("GET / HTTP/1.1\n\n".utf8)))
        #expect(!MetricsEndpoint.hasHeadEnd(Array("GET / HTTP/1.1\r\nA: b\r\n".utf8)))
        #expect(!MetricsEndpoint.hasHeadEnd(Array("\r\n".utf8)))
        #expect(!MetricsEndpoint.hasHeadEnd([]))
    }
}
