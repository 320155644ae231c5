import BinaryIO
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// A loopback address and port for the `/metrics` endpoint (`"metrics_listen"`).
///
/// Only loopback addresses are accepted: the endpoint has no authentication and no TLS, and the
/// daemon's job is quantizing, not serving a network. A scraper on another machine goes through
/// node_exporter's textfile collector (`metrics_file`) or a proxy on this one.
public struct LoopbackAddress: Sendable, Equatable, CustomStringConvertible {
    /// An IPv4 address in 127.0.0.0/8 or the IPv6 `::1`, as written.
    public let host: String
    public let port: Int
    public var isIPv6: Bool { host.contains(":") }

    /// `127.0.0.1:9464`, `[::1]:9464`.
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `HOST:PORT` (`localhost` meaning 127.0.0.1); the error says what is wrong, for
    /// `$.daemon.metrics_listen`.
    public static func parse(_ text: String) -> Result<LoopbackAddress, ParseError> {
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return .failure(ParseError("is \"\(text)\"; an IPv6 address is written [::1]:PORT"))
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                return .failure(ParseError("is \"\(text)\"; it must be HOST:PORT, e.g. \"127.0.0.1:9464\""))
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                return .failure(ParseError("is \"\(text)\"; an IPv6 address is written [::1]:PORT"))
            }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(portText), port <= 65535 else {
            return .failure(ParseError("is \"\(text)\"; the port must be a number from 0 to 65535 (0: any free port)"))
        }
        let literal = host == "localhost" ? "127.0.0.1" : String(host)
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            // s_addr is in network order: its first byte in memory is the address's first number.
            let first = withUnsafeBytes(of: &v4.s_addr) { $0[0] }
            if first == 127 { return .success(LoopbackAddress(host: literal, port: port)) }
        } else if inet_pton(AF_INET6, literal, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes == [UInt8](repeating: 0, count: 15) + [1] { return .success(LoopbackAddress(host: "::1", port: port)) }
        } else {
            return .failure(ParseError("is \"\(text)\"; the host must be an IP address (127.0.0.1 or [::1]) or localhost"))
        }
        return .failure(ParseError("is \"\(text)\", which is not a loopback address: the endpoint has no authentication, "
                                   + "so it listens on 127.0.0.0/8 or [::1] only (expose it through a proxy, or use metrics_file)"))
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

/// The endpoint could not listen (address in use, no such local address).
public struct MetricsEndpointError: Error, CustomStringConvertible {
    public let address: LoopbackAddress
    public let operation: String
    public let errno: Int32

    public var description: String {
        let reason = String(cString: strerror(errno))
        let hint = errno == EADDRINUSE
            ? "another process listens there; choose another port in $.daemon.metrics_listen"
            : "check $.daemon.metrics_listen (a loopback address this machine has) and that sockets are allowed (the systemd unit's network settings, docs/daemon.md)"
        return "metrics endpoint \(address): \(operation) failed: \(reason) — \(hint)"
    }
}

/// `GET /metrics` over HTTP/1.1 on a loopback address, on its own thread.
///
/// Deliberately small and blocking: one connection at a time, one response, then close. A scrape
/// is a few kilobytes a few times a minute, and a server framework (swift-nio) would cost every
/// build minutes for nothing the scraper needs. What a client sends is bounded: the request head is
/// read up to `requestLimit` bytes within `requestSeconds` (a slow or silent client gets 408 and is
/// dropped), each receive also times out (SO_RCVTIMEO) and each send (SO_SNDTIMEO), so no client
/// holds the thread longer than that; a garbled request gets 400, another path 404, another method
/// 405. `stop()` wakes the thread at once through a pipe, even in the middle of a request.
final class MetricsEndpoint: Sendable {
    /// The address listened on, with the port the system chose when the setting's was 0.
    let address: LoopbackAddress
    private let listener: Int32
    private let wakeRead: Int32, wakeWrite: Int32
    private let stopped = DispatchSemaphore(value: 0)
    private let body: @Sendable () -> [UInt8]
    private let log: DaemonLog

    static let requestLimit = 8192
    static let requestSeconds = 5.0
    /// Per receive and per send: well under `requestSeconds`, so the deadline is what decides.
    static let socketTimeoutSeconds = 1
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Binds and listens (so a port in use fails the daemon's start, not a later scrape); `body`
    /// gives the exposition text at each request.
    init(listen requested: LoopbackAddress, log: DaemonLog, body: @escaping @Sendable () -> [UInt8]) throws(MetricsEndpointError) {
        self.log = log
        self.body = body
        // Only `LoopbackAddress.parse` makes addresses for users; this guards the others, so a
        // wrong one can never bind every interface.
        guard let port = UInt16(exactly: requested.port), (try? LoopbackAddress.parse(requested.description).get()) != nil else {
            throw MetricsEndpointError(address: requested, operation: "bind", errno: EINVAL)
        }
        let family = requested.isIPv6 ? AF_INET6 : AF_INET
        // Close-on-exec: job processes must not inherit the listening socket.
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw MetricsEndpointError(address: requested, operation: "socket", errno: errno) }
        func fail(_ operation: String) -> MetricsEndpointError {
            let error = MetricsEndpointError(address: requested, operation: operation, errno: errno)
            close(fd)
            return error
        }
        var on: Int32 = 1
        // A restarted daemon can bind at once while the previous one's connections sit in TIME_WAIT.
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        // Binds `address` and reads back the port the kernel gave (port 0 asks for a free one).
        func bindAndReadPort<Address>(_ address: inout Address, port: (Address) -> in_port_t) -> Int? {
            let size = socklen_t(MemoryLayout<Address>.size)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) }
            }
            guard bound == 0 else { return nil }
            var length = size
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            return Int(UInt16(bigEndian: port(address)))
        }
        let boundPort: Int?
        if requested.isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(port.bigEndian)
            inet_pton(AF_INET6, requested.host, &address.sin6_addr)
            boundPort = bindAndReadPort(&address) { $0.sin6_port }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(port.bigEndian)
            inet_pton(AF_INET, requested.host, &address.sin_addr)
            boundPort = bindAndReadPort(&address) { $0.sin_port }
        }
        guard let boundPort else { throw fail("bind") }
        guard listen(fd, 16) == 0 else { throw fail("listen") }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw fail("pipe") }
        for pipeFD in pipeFDs {
            _ = fcntl(pipeFD, F_SETFD, FD_CLOEXEC)
            _ = fcntl(pipeFD, F_SETFL, O_NONBLOCK)
        }
        listener = fd
        wakeRead = pipeFDs[0]
        wakeWrite = pipeFDs[1]
        address = LoopbackAddress(host: requested.host, port: boundPort)
    }

    /// Starts the serving thread. Not `DaemonThread`, which runs its work inline when no thread
    /// can be made: this loop never returns by itself, so it must fail the start instead.
    func start() throws(MetricsEndpointError) {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let endpoint = Unmanaged<MetricsEndpoint>.fromOpaque(argument).takeRetainedValue()
            endpoint.serve()
            endpoint.stopped.signal()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<MetricsEndpoint>.fromOpaque(context).release()
            // stop() waits for the thread: there is none to wait for.
            stopped.signal()
            throw MetricsEndpointError(address: address, operation: "pthread_create", errno: status)
        }
        pthread_detach(thread)
    }

    /// Wakes the thread, waits for it to finish the request it is on (it drops it), and closes
    /// the sockets. Call once, after `start()` (also when it threw).
    func stop() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        stopped.wait()
        close(listener)
        close(wakeRead)
        close(wakeWrite)
    }

    // MARK: The serving thread

    private func serve() {
        var acceptFailing = false
        while true {
            switch waitReadable(listener, milliseconds: -1) {
            case .stop: return
            case .timeout: continue
            case .error:
                if case .stop = waitReadable(-1, milliseconds: 200) { return }
                continue
            case .readable: break
            }
            // Glibc's accept4 is not visible to Swift; a job process started in between could
            // inherit the connection, which is harmless: `finish` half-closes it before the close.
            let client = accept(listener, nil, nil)
            if client < 0 {
                let code = errno
                if code == EAGAIN || code == EINTR || code == ECONNABORTED { continue }
                // Out of descriptors or memory: say so once, and do not spin while it lasts.
                if !acceptFailing {
                    log.warning("metrics", "accept on \(address) failed: \(String(cString: strerror(code))); retrying")
                    acceptFailing = true
                }
                if case .stop = waitReadable(-1, milliseconds: 200) { return }
                continue
            }
            acceptFailing = false
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            // The listener is non-blocking (so a connection gone before accept does not block);
            // the client socket blocks, with SO_RCVTIMEO/SO_SNDTIMEO bounding each call.
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) & ~O_NONBLOCK)
            respond(to: client)
            close(client)
        }
    }

    private enum Wait { case readable, timeout, stop, error }

    /// Waits until `fd` is readable (or only for the wake pipe when `fd` is -1), the time passes,
    /// or `stop()` is called.
    private func waitReadable(_ fd: Int32, milliseconds: Int32) -> Wait {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, fd >= 0 ? 2 : 1, milliseconds)
        if ready < 0 { return errno == EINTR ? .timeout : .error }
        if fds[0].revents != 0 { return .stop }
        if ready == 0 { return .timeout }
        return .readable
    }

    private func respond(to client: Int32) {
        var timeout = timeval(tv_sec: Self.socketTimeoutSeconds, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        switch readHead(client) {
        case .stop, .closed:
            return
        case .tooLarge:
            send(client, status: "431 Request Header Fields Too Large", text: "request head over \(Self.requestLimit) bytes\n")
        case .timedOut:
            send(client, status: "408 Request Timeout", text: "no complete request within \(Int(Self.requestSeconds)) s\n")
        case let .head(bytes):
            answer(client, head: bytes)
        }
        finish(client)
    }

    private enum Head { case head([UInt8]), tooLarge, timedOut, closed, stop }

    /// Reads up to the blank line that ends the request head. The whole head is read, not only
    /// its first line: closing a socket with unread bytes sends a reset that can discard the
    /// response before the client reads it.
    private func readHead(_ client: Int32) -> Head {
        var bytes: [UInt8] = []
        let deadline = Clock.monotonic() + Self.requestSeconds
        var chunk = [UInt8](repeating: 0, count: 2048)
        while !Self.hasHeadEnd(bytes) {
            if bytes.count > Self.requestLimit { return .tooLarge }
            let remaining = deadline - Clock.monotonic()
            if remaining <= 0 { return .timedOut }
            switch waitReadable(client, milliseconds: Int32(min(remaining, 1) * 1000) + 1) {
            case .stop: return .stop
            case .timeout: continue
            case .error: return .closed
            case .readable: break
            }
            let count = recv(client, &chunk, chunk.count, 0)
            if count == 0 { return .closed }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .closed
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return .head(bytes)
    }

    static func hasHeadEnd(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 2 else { return false }
        // A blank line: "\r\n\r\n", or "\n\n" from a lenient client.
        for index in 1..<bytes.count where bytes[index] == 10 {
            if bytes[index - 1] == 10 { return true }
            if index >= 3, bytes[index - 1] == 13, bytes[index - 2] == 10 { return true }
        }
        return false
    }

    private func answer(_ client: Int32, head: [UInt8]) {
        switch Self.route(head) {
        case .badRequest(let why):
            send(client, status: "400 Bad Request", text: why + "\n")
        case .methodNotAllowed:
            send(client, status: "405 Method Not Allowed", text: "only GET and HEAD\n", extra: "Allow: GET, HEAD\r\n")
        case .notFound:
            send(client, status: "404 Not Found", text: "only /metrics is served here\n")
        case let .metrics(includeBody):
            send(client, status: "200 OK", body: body(), contentType: Self.contentType, includeBody: includeBody)
        }
    }

    enum Route: Equatable {
        case metrics(includeBody: Bool), notFound, methodNotAllowed, badRequest(String)
    }

    /// What to answer a request head: its first line must be `METHOD /path HTTP/1.x`.
    static func route(_ head: [UInt8]) -> Route {
        let end = head.firstIndex(of: 10) ?? head.endIndex
        var line = head[..<end]
        if line.last == 13 { line = line.dropLast() }
        guard line.allSatisfy({ $0 >= 0x21 && $0 < 0x7F || $0 == 0x20 }) else {
            return .badRequest("the request line is not printable ASCII")
        }
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == 3, parts[1].hasPrefix("/"), parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0",
              !parts[0].isEmpty, parts[0].utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            return .badRequest("not an HTTP/1.x request line (METHOD /path HTTP/1.1)")
        }
        guard parts[0] == "GET" || parts[0] == "HEAD" else { return .methodNotAllowed }
        let path = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard path == "/metrics" else { return .notFound }
        return .metrics(includeBody: parts[0] == "GET")
    }

    private func send(_ client: Int32, status: String, text: String, extra: String = "") {
        send(client, status: status, body: Array(text.utf8), contentType: "text/plain; charset=utf-8", includeBody: true, extra: extra)
    }

    private func send(_ client: Int32, status: String, body: [UInt8], contentType: String, includeBody: Bool, extra: String = "") {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
            + extra + "Connection: close\r\n\r\n"
        var bytes = Array(head.utf8)
        if includeBody { bytes += body }
        var sent = 0
        while sent < bytes.count {
            // MSG_NOSIGNAL: a client that hung up must not SIGPIPE the daemon.
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            // A send that timed out (SO_SNDTIMEO: the client reads nothing) or failed ends the response.
            guard count > 0 else { return }
            sent += count
        }
    }

    /// Half-closes and reads what the client still sends for a moment, so the close carries no
    /// reset that could discard the response; a client that keeps sending is cut off.
    private func finish(_ client: Int32) {
        shutdown(client, Int32(SHUT_WR))
        var chunk = [UInt8](repeating: 0, count: 2048)
        let deadline = Clock.monotonic() + 0.2
        var drained = 0
        while drained < 65536 {
            let remaining = deadline - Clock.monotonic()
            guard remaining > 0, case .readable = waitReadable(client, milliseconds: Int32(remaining * 1000) + 1) else { return }
            let count = recv(client, &chunk, chunk.count, 0)
            if count <= 0 { return }
            drained += count
        }
    }
}
