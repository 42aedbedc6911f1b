import Foundation
import Logging
import Synchronization
import TOTP

#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 listener for `/metrics` (Prometheus text), `/healthz`
/// and `/livez`, on a thread of its own that serves every connection at
/// once (no client can hold another's probe). One request per connection;
/// only GET; nothing else is served.
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

    /// Asks ``serve()`` to return (within a second).
    func stop() { stopped.store(true, ordering: .relaxed) }
    private let stopped = Atomic<Bool>(false)

    /// Connections served at once; past it, the oldest is closed to make
    /// room (a prober's connection is the newest).
    static let maxClients = 32
    /// Each connection's whole request must arrive within this (ms), or it
    /// is closed: no client can hold the listener.
    static let deadlineMilliseconds: Int64 = 2000

    private struct Client {
        let descriptor: Int32
        let deadline: Int64
        var request: [UInt8] = []
        var response: [UInt8]?
        var written = 0
    }

    /// One thread serves every connection at once: `poll` on the listener
    /// and each client, reading and writing without blocking, each client
    /// under its own deadline. A client that sends a byte every second
    /// delays nobody else's probe.
    /// Serves until ``stop()``, on the calling thread (the service's
    /// "health" thread); closes the listener and every client when done.
    func serve() {
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        var clients: [Client] = []
        defer {
            clients.forEach { close($0.descriptor) }
            close(descriptor)
        }
        while !stopped.load(ordering: .relaxed) {
            let now = Self.uptimeMilliseconds()
            var descriptors = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)]
            for client in clients {
                descriptors.append(pollfd(fd: client.descriptor, events: Int16(client.response == nil ? POLLIN : POLLOUT), revents: 0))
            }
            let wait = clients.map { max(0, $0.deadline - now) }.min().map { min($0, 1000) } ?? 1000
            guard poll(&descriptors, nfds_t(descriptors.count), Int32(wait)) >= 0 || errno == EINTR else { continue }

            var done: Set<Int> = []
            for index in clients.indices where descriptors[index + 1].revents != 0 {
                if !advance(&clients[index]) { done.insert(index) }
            }
            let later = Self.uptimeMilliseconds()
            for index in clients.indices where clients[index].deadline <= later { done.insert(index) }
            for index in done.sorted(by: >) {
                close(clients[index].descriptor)
                clients.remove(at: index)
            }
            if descriptors[0].revents & Int16(POLLIN) != 0 {
                while true {
                    let client = accept(descriptor, nil, nil)
                    guard client >= 0 else { break }
                    _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                    if clients.count >= Self.maxClients {
                        close(clients[0].descriptor)
                        clients.removeFirst()
                    }
                    clients.append(Client(descriptor: client, deadline: later + Self.deadlineMilliseconds))
                }
            }
        }
    }

    /// Reads or writes what the client is ready for; false when it is done
    /// (answered, gone or broken).
    private func advance(_ client: inout Client) -> Bool {
        if client.response == nil {
            var chunk = [UInt8](repeating: 0, count: 2048)
            let count = read(client.descriptor, &chunk, chunk.count)
            if count < 0 { return errno == EAGAIN || errno == EINTR }
            if count == 0 { return false }
            client.request.append(contentsOf: chunk[0..<count])
            // The request line is all that is read; answer at the headers' end.
            let request = client.request
            let complete = (request.count >= 4 && request.suffix(4) == [13, 10, 13, 10]) || (request.count >= 2 && request.suffix(2) == [10, 10])
            guard complete || request.count >= 8192 else { return true }
            client.response = respond(to: request)
        }
        guard let response = client.response else { return true }
        let written = response.withUnsafeBytes { raw in
            write(client.descriptor, raw.baseAddress! + client.written, raw.count - client.written)
        }
        if written < 0 { return errno == EAGAIN || errno == EINTR }
        client.written += written
        return client.written < response.count
    }

    private func respond(to request: [UInt8]) -> [UInt8] {
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0] == "GET" else {
            return Self.response(status: "405 Method Not Allowed", body: Array("only GET\n".utf8))
        }
        let path = parts[1].split(separator: "?").first.map(String.init) ?? ""
        switch path {
        case "/metrics":
            return Self.response(status: "200 OK", contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.scrape())
        case "/healthz":
            let (healthy, text) = health()
            return Self.response(status: healthy ? "200 OK" : "503 Service Unavailable", body: Array((text + "\n").utf8))
        case "/livez":
            return Self.response(status: "200 OK", body: Array("alive\n".utf8))
        default:
            return Self.response(status: "404 Not Found", body: Array("not found: /metrics, /healthz, /livez\n".utf8))
        }
    }

    private static func uptimeMilliseconds() -> Int64 {
        Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
    }

    /// 200 only while consuming; `degraded` when the clock is not
    /// synchronised, the turns thread is disconnected, or the broker blocks
    /// publishing.
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
        if shared.blocks.isBlocked {
            degraded.append("the broker blocks publishing (a memory or disk alarm); replies wait until it clears")
        }
        if !degraded.isEmpty {
            return (true, "degraded: " + degraded.joined(separator: "; "))
        }
        return (true, "ok: consuming with \(consumers) consumer\(consumers == 1 ? "" : "s")")
    }

    private static func response(status: String, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) -> [UInt8] {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + body
    }
}
