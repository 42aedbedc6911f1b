import Foundation
import Logging
import TOTP
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 listener for `/metrics` (Prometheus text), `/healthz`
/// and `/livez`, on a thread of its own. One request per connection; only
/// GET; nothing else is served.
final class HealthServer: @unchecked Sendable {
    private let descriptor: Int32
    private let metrics: WorkerMetrics
    private let shared: SharedWorkerState
    private let clock: ClockMonitor
    let address: String

    /// Binds `host:port`; throws a ``StartupError`` saying why it cannot.
    init(host: String, port: Int, metrics: WorkerMetrics, shared: SharedWorkerState, clock: ClockMonitor) throws(StartupError) {
        self.metrics = metrics
        self.shared = shared
        self.clock = clock
        address = (host.contains(":") ? "[\(host)]" : host) + ":\(port)"

        let socket: StreamSocket
        switch StreamSocket.open(host: host, port: port, passive: true) {
        case .success(let opened): socket = opened
        case .failure(let error): throw StartupError("cannot listen for metrics on \(address): \(error)")
        }
        let fd = socket.descriptor
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard socket.bind(), listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno)).lowercased()
            close(fd)
            throw StartupError("cannot listen for metrics on \(address) (metrics.listen): \(reason)")
        }
        descriptor = fd
    }

    func start() {
        let thread = Thread { [self] in serve() }
        thread.name = "health"
        thread.start()
    }

    private func serve() {
        while true {
            var pollDescriptor = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&pollDescriptor, 1, 1000) > 0 else { continue }
            let client = accept(descriptor, nil, nil)
            guard client >= 0 else { continue }
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192 {
            let count = read(client, &chunk, chunk.count)
            if count <= 0 { break }
            request.append(contentsOf: chunk[0..<count])
            // The request line is all that is read; stop at the headers' end.
            if request.count >= 4 && request.suffix(4) == [13, 10, 13, 10] { break }
            if request.count >= 2 && request.suffix(2) == [10, 10] { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0] == "GET" else {
            respond(client, status: "405 Method Not Allowed", body: Array("only GET\n".utf8))
            return
        }
        let path = parts[1].split(separator: "?").first.map(String.init) ?? ""
        switch path {
        case "/metrics":
            respond(client, status: "200 OK", contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.scrape())
        case "/healthz":
            let (healthy, text) = health()
            respond(client, status: healthy ? "200 OK" : "503 Service Unavailable", body: Array((text + "\n").utf8))
        case "/livez":
            respond(client, status: "200 OK", body: Array("alive\n".utf8))
        default:
            respond(client, status: "404 Not Found", body: Array("not found: /metrics, /healthz, /livez\n".utf8))
        }
    }

    /// 200 only while consuming; `degraded` when the clock is not
    /// synchronised or the turns thread is disconnected.
    func health() -> (Bool, String) {
        if shared.isStopping { return (false, "stopping") }
        let consumers = shared.statistics.consumersActive.load(ordering: .relaxed)
        guard consumers > 0 else { return (false, "not consuming: connecting to the broker") }
        // Still serving, with something an operator should see.
        var degraded: [String] = []
        if clock.state == .unsynchronized {
            degraded.append("the clock is not synchronised; codes may be refused")
        }
        let statistics = shared.statistics
        if statistics.turnsExpected.load(ordering: .relaxed) && !statistics.turnsConnected.load(ordering: .relaxed) {
            degraded.append("the turns connection is down; once_per_window requests wait for it")
        }
        if !degraded.isEmpty {
            return (true, "degraded: " + degraded.joined(separator: "; "))
        }
        return (true, "ok: consuming with \(consumers) consumer\(consumers == 1 ? "" : "s")")
    }

    private func respond(_ client: Int32, status: String, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let bytes = Array(head.utf8) + body
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(client, raw.baseAddress! + offset, raw.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// Reads the kernel's clock discipline at start-up and every minute; logs
/// one warning per change and sets `mfa_clock_synchronized`.
final class ClockMonitor: @unchecked Sendable {
    private let lock = NSLock()
    private var current: ClockDiscipline.State = .unknown
    private var lastCheck: Int64 = 0
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let read: @Sendable () -> ClockDiscipline.State

    init(metrics: WorkerMetrics, logger: Logger, read: @escaping @Sendable () -> ClockDiscipline.State = ClockDiscipline.current) {
        self.metrics = metrics
        self.logger = logger
        self.read = read
    }

    var state: ClockDiscipline.State { lock.withLock { current } }

    /// Checks now when a minute has passed since the last check (or never).
    func checkIfDue() {
        let now = SystemTime.unixMilliseconds()
        let due = lock.withLock { lastCheck == 0 || now - lastCheck >= 60_000 }
        if due { check() }
    }

    func check() {
        let observed = ProcessInfo.processInfo.environment["MFA_WORKER_ASSUME_CLOCK"].flatMap { value -> ClockDiscipline.State? in
            // For tests: pretend a state (synchronized, unsynchronized).
            value == "unsynchronized" ? .unsynchronized : value == "synchronized" ? .synchronized : nil
        } ?? read()
        let (previous, first) = lock.withLock { () -> (ClockDiscipline.State, Bool) in
            defer {
                current = observed
                lastCheck = SystemTime.unixMilliseconds()
            }
            return (current, lastCheck == 0)
        }
        metrics.setClockSynchronized(observed != .unsynchronized)
        // One line per change (and at start-up when not synchronised).
        guard first || observed != previous else { return }
        switch observed {
        case .unsynchronized:
            logger.warning("the clock is not synchronised (adjtimex): codes may be refused; /healthz says degraded", metadata: ["reason": "STA_UNSYNC or TIME_ERROR"])
        case .synchronized:
            if !first { logger.notice("the clock is synchronised again") }
        case .unknown:
            logger.notice("cannot read the clock's synchronisation state (adjtimex)")
        }
    }
}
