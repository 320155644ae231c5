import Foundation
import Synchronization
import Testing
@testable import Daemon
#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP client on a real TCP socket, for the `/metrics` endpoint.
enum HTTPTestClient {
    struct Response {
        var status: Int
        var head: String
        var body: String
    }

    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestError("socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            let error = TestError("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
            close(fd)
            throw error
        }
        return fd
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return }
            sent += count
        }
    }

    /// Everything until the server closes (or the 15 s receive timeout).
    static func readAll(_ fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count <= 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    static func parse(_ bytes: [UInt8]) throws -> Response {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw TestError("no complete response: \(text.debugDescription)") }
        let head = String(text[..<split.lowerBound])
        let words = head.split(separator: " ", maxSplits: 2)
        guard words.count >= 2, words[0] == "HTTP/1.1", let status = Int(words[1]) else { throw TestError("bad status line: \(head)") }
        return Response(status: status, head: head, body: String(text[split.upperBound...]))
    }

    static func exchange(port: Int, _ request: String) throws -> Response {
        try exchange(port: port, Array(request.utf8))
    }

    static func exchange(port: Int, _ request: [UInt8]) throws -> Response {
        let fd = try connect(port: port)
        defer { close(fd) }
        send(fd, request)
        return try parse(readAll(fd))
    }

    static func metrics(port: Int) throws -> String {
        let response = try exchange(port: port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n")
        guard response.status == 200 else { throw TestError("GET /metrics: \(response.status) \(response.body)") }
        return response.body
    }
}

/// The exposition read by prometheus_client's own parser (`text_string_to_metric_families`), when
/// QUANTD_PYTHON names a python that has it (scripts/install-deps.sh --python puts it in .ci-venv).
enum PrometheusParser {
    struct Sample: Equatable {
        var family: String
        var type: String
        var name: String
        var labels: [String: String]
        var value: Double
    }

    static let python: String? = {
        guard let python = ProcessInfo.processInfo.environment["QUANTD_PYTHON"] else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", "import prometheus_client"]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? python : nil
    }()

    static let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = []
        for family in text_string_to_metric_families(sys.stdin.read()):
            for sample in family.samples:
                out.append({"family": family.name, "type": family.type, "name": sample.name,
                            "labels": sample.labels, "value": sample.value})
        print(json.dumps(out))
        """

    static func parse(_ text: String) throws -> [Sample] {
        guard let python else { throw TestError("no QUANTD_PYTHON with prometheus_client") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestError("prometheus_client refused the text: \(problems)\n\(text)") }
        let list = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return list.map {
            Sample(family: $0["family"] as? String ?? "", type: $0["type"] as? String ?? "", name: $0["name"] as? String ?? "",
                   labels: $0["labels"] as? [String: String] ?? [:], value: ($0["value"] as? NSNumber)?.doubleValue ?? .nan)
        }
    }
}

/// A sample's value in the exposition text, found by its exact name and labels as written.
func sampleValue(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

extension DaemonIntegrationTests {
    /// The daemon's metrics after real jobs, in the textfile and over HTTP from a socket; the
    /// endpoint against garbage, oversized and slow clients; stopping with a client connected.
    @Suite struct MetricsOverHTTP {
        static func settings(metricsFile: String?) -> DaemonSettings {
            var settings = DaemonHarness.settings()
            settings.metricsFile = metricsFile
            settings.metricsListen = LoopbackAddress(host: "127.0.0.1", port: 0)
            return settings
        }

        static func port(_ harness: DaemonHarness) throws -> Int {
            let address = try #require(harness.daemon?.metricsEndpoint)
            #expect(address.port > 0)
            #expect(harness.log.contains { $0.contains("metrics: serving http://127.0.0.1:\(address.port)/metrics") })
            return address.port
        }

        static func fileSizes(_ folder: String) -> Int {
            let files = FileManager.default.enumerator(atPath: folder)?.compactMap { $0 as? String } ?? []
            return files.reduce(0) { total, name in
                let attributes = try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)
                return total + ((attributes?[.type] as? FileAttributeType) == .typeRegular ? (attributes?[.size] as? Int ?? 0) : 0)
            }
        }

        @Test func publishedAndFailedJobsInTheTextfileAndOverHTTP() throws {
            let harness = DaemonHarness()
            let file = harness.root + "/state/quantd.prom"
            let began = Date()
            try harness.start(InspectOnlyExecutor(version: "test"), settings: Self.settings(metricsFile: file))
            defer { try? harness.stop() }
            let port = try Self.port(harness)

            let garbage = "this is not gguf at all"
            try harness.dropSample(as: "good.gguf")
            try harness.dropByRename("garbage.gguf") { try Data(garbage.utf8).write(to: URL(fileURLWithPath: $0)) }
            // The inbox count drops when the scanner forgets the claimed names (at the latest the
            // next rescan): the textfile is rewritten when a gauge changes, not only when a job does.
            try harness.waitFor("both jobs to end and the inbox to be empty, in the textfile") {
                let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
                return sampleValue(text, #"quantd_jobs_finished_total{outcome="done"}"#) == 1
                    && sampleValue(text, #"quantd_jobs_finished_total{outcome="failed"}"#) == 1
                    && sampleValue(text, "quantd_inbox_pending") == 0
            }
            let elapsed = Date().timeIntervalSince(began)
            let textfile = try String(contentsOfFile: file, encoding: .utf8)
            let scraped = try HTTPTestClient.metrics(port: port)
            let sampleBytes = try #require(try FileManager.default.attributesOfItem(atPath: DaemonHarness.samplePath)[.size] as? Int)
            let published = Self.fileSizes(harness.folder.out + "/good")
            #expect(published > 0)

            for (source, text) in [("textfile", textfile), ("HTTP", scraped)] {
                let expected: [(String, Double)] = [
                    (#"quantd_jobs_finished_total{outcome="done"}"#, 1),
                    (#"quantd_jobs_finished_total{outcome="failed"}"#, 1),
                    (#"quantd_jobs_finished_total{outcome="deferred"}"#, 0),
                    ("quantd_job_retries_total", 0),
                    ("quantd_input_bytes_total", Double(sampleBytes + garbage.utf8.count)),
                    ("quantd_output_bytes_total", Double(published)),
                    (#"quantd_jobs{state="running"}"#, 0), (#"quantd_jobs{state="queued"}"#, 0),
                    (#"quantd_jobs{state="retrying"}"#, 0), ("quantd_inbox_pending", 0),
                    (#"quantd_job_duration_seconds_count{outcome="done"}"#, 1),
                    (#"quantd_job_duration_seconds_count{outcome="failed"}"#, 1),
                    (#"quantd_job_duration_seconds_bucket{outcome="done",le="+Inf"}"#, 1),
                ]
                for (series, value) in expected {
                    #expect(sampleValue(text, series) == value, "\(source): \(series)\n\(text)")
                }
                for outcome in ["done", "failed"] {
                    let seconds = try #require(sampleValue(text, #"quantd_job_duration_seconds_sum{outcome="\#(outcome)"}"#))
                    #expect(seconds >= 0 && seconds <= elapsed, "\(source): \(outcome) took \(seconds) s of \(elapsed)")
                }
                // InspectOnlyExecutor's stages, timed by the daemon.
                #expect(sampleValue(text, #"quantd_stage_seconds_total{stage="validate"}"#) != nil, "\(source)\n\(text)")
            }
        }

        @Test(.enabled(if: PrometheusParser.python != nil, "set QUANTD_PYTHON to a python with prometheus_client (scripts/test.sh does)"))
        func prometheusClientParsesTheTextfileAndTheEndpoint() throws {
            let harness = DaemonHarness()
            let file = harness.root + "/state/quantd.prom"
            try harness.start(InspectOnlyExecutor(version: "test"), settings: Self.settings(metricsFile: file))
            defer { try? harness.stop() }
            let port = try Self.port(harness)
            try harness.dropSample(as: "good.gguf")
            try harness.dropByRename("bad.gguf") { try Data("not a model".utf8).write(to: URL(fileURLWithPath: $0)) }
            try harness.waitFor("both jobs to end") {
                sampleValue((try? String(contentsOfFile: file, encoding: .utf8)) ?? "", #"quantd_jobs_finished_total{outcome="done"}"#) == 1
                    && harness.list(harness.folder.failed).count == 1
            }
            try harness.waitFor("the failure counted") {
                sampleValue((try? String(contentsOfFile: file, encoding: .utf8)) ?? "", #"quantd_jobs_finished_total{outcome="failed"}"#) == 1
            }
            for text in [try String(contentsOfFile: file, encoding: .utf8), try HTTPTestClient.metrics(port: port)] {
                let samples = try PrometheusParser.parse(text)
                func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
                    samples.first { $0.name == name && $0.labels == labels }?.value
                }
                #expect(value("quantd_jobs_finished_total", ["outcome": "done"]) == 1)
                #expect(value("quantd_jobs_finished_total", ["outcome": "failed"]) == 1)
                #expect(value("quantd_jobs", ["state": "running"]) == 0)
                #expect(value("quantd_job_duration_seconds_count", ["outcome": "done"]) == 1)
                #expect(value("quantd_job_duration_seconds_bucket", ["outcome": "failed", "le": "+Inf"]) == 1)
                let types = Dictionary(samples.map { ($0.family, $0.type) }, uniquingKeysWith: { first, _ in first })
                #expect(types["quantd_jobs_finished"] == "counter")
                #expect(types["quantd_jobs"] == "gauge")
                #expect(types["quantd_inbox_pending"] == "gauge")
                #expect(types["quantd_job_duration_seconds"] == "histogram")
                #expect(types["quantd_stage_seconds"] == "counter")
            }
        }

        @Test func gaugesFollowRunningAndQueuedJobs() throws {
            let harness = DaemonHarness()
            let executor = BlockingExecutor()
            try harness.start(executor, settings: Self.settings(metricsFile: nil))
            defer { try? harness.stop() }
            let port = try Self.port(harness)
            try harness.dropSample(as: "a.gguf")
            try harness.dropSample(as: "b.gguf")
            try harness.waitFor("one job running, one queued, over HTTP") {
                let text = try HTTPTestClient.metrics(port: port)
                return sampleValue(text, #"quantd_jobs{state="running"}"#) == 1 && sampleValue(text, #"quantd_jobs{state="queued"}"#) == 1
            }
            executor.release(2)
            try harness.waitFor("both done, gauges back to 0") {
                let text = try HTTPTestClient.metrics(port: port)
                return sampleValue(text, #"quantd_jobs_finished_total{outcome="done"}"#) == 1 + 1
                    && sampleValue(text, #"quantd_jobs{state="running"}"#) == 0 && sampleValue(text, #"quantd_jobs{state="queued"}"#) == 0
            }
        }

        @Test func refusesWhatIsNotAScrapeAndKeepsServing() throws {
            let harness = DaemonHarness()
            try harness.start(CopyExecutor(), settings: Self.settings(metricsFile: nil))
            defer { try? harness.stop() }
            let port = try Self.port(harness)

            let head = try HTTPTestClient.exchange(port: port, "HEAD /metrics HTTP/1.1\r\n\r\n")
            #expect(head.status == 200 && head.body.isEmpty)
            #expect(head.head.contains("Content-Type: text/plain; version=0.0.4"))
            #expect(try HTTPTestClient.exchange(port: port, "GET /other HTTP/1.1\r\n\r\n").status == 404)
            let post = try HTTPTestClient.exchange(port: port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            #expect(post.status == 405 && post.head.contains("Allow: GET, HEAD"))
            // Binary garbage (a TLS ClientHello's start) with a blank line after it.
            #expect(try HTTPTestClient.exchange(port: port, [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0xFF, 10, 10]).status == 400)
            // A head that never ends: cut off at the limit.
            let oversized = try HTTPTestClient.exchange(port: port, "GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 20_000))
            #expect(oversized.status == 431)
            // A client that sends and leaves without reading, and one that connects and leaves.
            for request in ["GET /metrics HTTP/1.1\r\n\r\n", ""] {
                let fd = try HTTPTestClient.connect(port: port)
                HTTPTestClient.send(fd, Array(request.utf8))
                close(fd)
            }
            #expect(try HTTPTestClient.metrics(port: port).contains("# TYPE quantd_jobs gauge"))

            // A slow client holds the endpoint at most `requestSeconds`: it gets 408, and a scrape
            // waiting behind it is served.
            let slow = try HTTPTestClient.connect(port: port)
            defer { close(slow) }
            HTTPTestClient.send(slow, Array("GET /metr".utf8))
            let started = Date()
            let waiting = try HTTPTestClient.metrics(port: port)
            let waited = Date().timeIntervalSince(started)
            #expect(waiting.contains("quantd_jobs_finished_total"))
            #expect(waited < MetricsEndpoint.requestSeconds + 3, "waited \(waited) s")
            let timedOut = try HTTPTestClient.parse(HTTPTestClient.readAll(slow))
            #expect(timedOut.status == 408)
            #expect(!harness.log.contains { $0.contains("ERROR") })
        }

        @Test func stopsPromptlyWithAClientConnected() throws {
            let harness = DaemonHarness()
            try harness.start(CopyExecutor(), settings: Self.settings(metricsFile: nil))
            let port = try Self.port(harness)
            let idle = try HTTPTestClient.connect(port: port)
            defer { close(idle) }
            HTTPTestClient.send(idle, Array("GET /metrics HTTP/1.1\r\n".utf8))
            Thread.sleep(forTimeInterval: 0.2)  // the endpoint is now inside this request
            let started = Date()
            try harness.stop(timeout: 10)
            #expect(Date().timeIntervalSince(started) < 2)
            // The idle connection was dropped, and nothing listens any more.
            #expect(HTTPTestClient.readAll(idle).isEmpty)
            #expect(throws: TestError.self) { try HTTPTestClient.connect(port: port) }
        }

        @Test func aPortInUseFailsTheStartWithTheSetting() throws {
            // Take a port, then ask the daemon for it.
            let taken = try MetricsEndpoint(listen: LoopbackAddress(host: "127.0.0.1", port: 0), log: .silent) { [] }
            try taken.start()
            defer { taken.stop() }
            var settings = Self.settings(metricsFile: nil)
            settings.metricsListen = taken.address
            let harness = DaemonHarness()
            let daemon = Daemon(options: Daemon.Options(root: harness.root, settings: settings, version: "test"),
                                executor: CopyExecutor(), log: .silent)
            let error = try #require(throws: MetricsEndpointError.self) { try daemon.run() }
            #expect(error.errno == EADDRINUSE)
            #expect(error.description.contains("metrics endpoint \(taken.address): bind failed"))
            #expect(error.description.contains("choose another port in $.daemon.metrics_listen"))
        }
    }
}

/// systemd/metrics-endpoint.conf, the drop-in that lets the sandboxed unit open its loopback
/// endpoint: the unit with it still verifies, opens Internet sockets and localhost only, and stays
/// within the same exposure bound as the unit without it.
struct MetricsSystemdDropInTests {
    @Test(.enabled(if: SystemdUnitTests.analyze != nil, "systemd-analyze is not installed (scripts/install-deps.sh --python installs it)"))
    func dropInOpensLoopbackOnly() throws {
        let repository = DaemonHarness.repositoryRoot.path
        let folder = NSTemporaryDirectory() + "quantd-dropin-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder + "/quantd.service.d", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let unit = try String(contentsOfFile: repository + "/systemd/quantd.service", encoding: .utf8)
            .replacingOccurrences(of: "ExecStart=/usr/local/bin/quantd", with: "ExecStart=" + WatchProcessTests.quantdBinary)
        try unit.write(toFile: folder + "/quantd.service", atomically: true, encoding: .utf8)
        let dropIn = try String(contentsOfFile: repository + "/systemd/metrics-endpoint.conf", encoding: .utf8)
        try dropIn.write(toFile: folder + "/quantd.service.d/metrics-endpoint.conf", atomically: true, encoding: .utf8)

        func analyze(_ arguments: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: SystemdUnitTests.analyze ?? "/usr/bin/systemd-analyze")
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let (status, output) = try analyze(["verify", folder + "/quantd.service"])
        #expect(status == 0, "systemd-analyze verify: \(output)")
        let (_, security) = try analyze(["security", "--offline=true", folder + "/quantd.service"])
        // The drop-in is read: Internet sockets allowed, the host's network, localhost only.
        #expect(security.contains("Service may allocate Internet sockets"), "\(security)")
        #expect(security.contains("Service has access to the host's network"), "\(security)")
        #expect(security.contains("Service defines IP address allow list with only localhost entries"), "\(security)")
        let line = try #require(security.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let exposure = line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        #expect(exposure != nil && exposure! <= 2.0, "\(line)")
    }
}

extension WatchProcessTests {
    /// The real `quantd watch`: `/metrics` on the port it logs, a taken port (exit 73) and a
    /// non-loopback address (exit 78) refused at start, SIGTERM with the endpoint open.
    @Test func watchServesMetricsOnTheLoggedPort() throws {
        let harness = DaemonHarness()
        let pipeline = try Self.pipeline(harness, #"{"settle_seconds": 0.3, "rescan_seconds": 2, "metrics_listen": "127.0.0.1:0"}"#)
        let watch = try Watch(harness: harness, pipeline: pipeline, tag: "a")
        defer { if watch.process.isRunning { watch.process.terminate() } }
        try watch.waitForReady(harness)
        let line = try #require(watch.log.split(separator: "\n").first { $0.contains(" metrics: serving http://127.0.0.1:") })
        let port = try #require(line.split(separator: " ").first { $0.hasPrefix("port=") }.flatMap { Int($0.dropFirst(5)) })

        try harness.dropSample(as: "sample.gguf")
        try harness.waitFor("the job counted at /metrics") {
            sampleValue(try HTTPTestClient.metrics(port: port), #"quantd_jobs_finished_total{outcome="done"}"#) == 1
        }

        let taken = try Self.pipeline(harness, #"{"metrics_listen": "127.0.0.1:\#(port)"}"#)
        let other = DaemonHarness()
        let second = try Watch(harness: other, pipeline: taken, tag: "b")
        #expect(try second.waitForExit(other) == 73)
        #expect(second.log.contains("metrics endpoint 127.0.0.1:\(port): bind failed: Address already in use"), "\(second.log)")

        let open = try Self.pipeline(harness, #"{"metrics_listen": "0.0.0.0:9464"}"#)
        let third = try Watch(harness: other, pipeline: open, tag: "c")
        #expect(try third.waitForExit(other) == 78)
        #expect(third.log.contains(#"$.daemon.metrics_listen is "0.0.0.0:9464", which is not a loopback address"#), "\(third.log)")

        kill(watch.process.processIdentifier, SIGTERM)
        #expect(try watch.waitForExit(harness) == 0)
        #expect(watch.log.contains("stop: stopped cleanly"))
        #expect(throws: TestError.self) { try HTTPTestClient.connect(port: port) }
    }
}

/// The endpoint alone, without a daemon.
@Suite struct MetricsEndpointAloneTests {
    @Test func servesOnIPv6Loopback() throws {
        let made = Result { () throws(MetricsEndpointError) -> MetricsEndpoint in
            try MetricsEndpoint(listen: LoopbackAddress(host: "::1", port: 0), log: .silent) { Array("up 1\n".utf8) }
        }
        if case let .failure(error) = made, error.errno == EADDRNOTAVAIL || error.errno == EAFNOSUPPORT {
            return  // no IPv6 loopback on this machine
        }
        let endpoint = try made.get()
        try endpoint.start()
        defer { endpoint.stop() }
        #expect(endpoint.address.description == "[::1]:\(endpoint.address.port)" && endpoint.address.port > 0)

        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = in_port_t(UInt16(endpoint.address.port).bigEndian)
        inet_pton(AF_INET6, "::1", &address.sin6_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        try #require(connected == 0)
        HTTPTestClient.send(fd, Array("GET /metrics HTTP/1.1\r\n\r\n".utf8))
        let response = try HTTPTestClient.parse(HTTPTestClient.readAll(fd))
        #expect(response.status == 200 && response.body == "up 1\n")
        #expect(response.head.contains("Content-Length: 5"))
    }

    /// An address not made by `LoopbackAddress.parse` is checked again: never every interface.
    @Test(arguments: [("0.0.0.0", 0), ("::", 0), ("127.0.0.1", 70_000), ("nonsense", 1)])
    func refusesAnAddressThatIsNotLoopback(host: String, port: Int) throws {
        let error = try #require(throws: MetricsEndpointError.self) {
            try MetricsEndpoint(listen: LoopbackAddress(host: host, port: port), log: .silent) { [] }
        }
        #expect(error.errno == EINVAL)
    }

    /// Whatever bytes arrive, routing answers (it never traps on them).
    @Test func routesRandomBytesWithoutTrapping() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<3000 {
            let count = Int.random(in: 0...64, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            // Every third one starts like a request, so the later checks are reached too.
            if round % 3 == 0 { bytes = Array("GET /".utf8) + bytes + [13, 10, 13, 10] }
            switch MetricsEndpoint.route(bytes) {
            case .metrics, .notFound, .methodNotAllowed, .badRequest: break
            }
            _ = MetricsEndpoint.hasHeadEnd(bytes)
        }
    }
}
