import ArgumentParser
import Foundation
import MFAConfig
import MFAWorker

#if canImport(Glibc)
import Glibc
#endif

struct HealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Ask a running worker's /healthz, where its configuration's metrics.listen says.",
        discussion: """
            For container health checks and scripts: reads the configuration (not \
            its secrets), asks GET /healthz on the metrics.listen address (0.0.0.0 \
            and :: as the loopback address), prints the answer, and exits 0 when it \
            is 200 (consuming, degraded included), 1 otherwise.
            """
    )

    @OptionGroup var config: ConfigOption

    @Option(help: ArgumentHelp("Seconds to wait for the answer.", valueName: "seconds"))
    var timeout: Int = 5

    func validate() throws {
        guard (1...300).contains(timeout) else { throw ValidationError("--timeout must be 1 to 300 seconds") }
    }

    func run() throws {
        let path = try config.requiredPath()
        let metrics = try WorkerConfiguration.load(path: path).metrics
        guard let listen = metrics.host else {
            throw CommandFailure("\(path): metrics.listen is off, so the worker serves no /healthz")
        }
        let host =
            switch listen {
            case "0.0.0.0": "127.0.0.1"
            case "::": "::1"
            default: listen
            }
        let (status, body) = try HealthProbe.get(host: host, port: metrics.port, path: "/healthz", timeoutSeconds: timeout)
        print(body.hasSuffix("\n") ? String(body.dropLast()) : body)
        if status != 200 { throw ExitCode(1) }
    }
}

/// One HTTP/1.0 GET over a plain socket: the worker's listener speaks just
/// enough HTTP, and Foundation's URLSession would link libcurl in.
enum HealthProbe {
    static func get(host: String, port: Int, path: String, timeoutSeconds: Int) throws -> (status: Int, body: String) {
        let address = (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        let socket: StreamSocket
        switch StreamSocket.open(host: host, port: port, passive: false) {
        case .success(let opened): socket = opened
        case .failure(let error): throw CommandFailure("cannot connect to \(address): \(error)")
        }
        let fd = socket.descriptor
        defer { close(fd) }
        var limit = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard socket.connect() else {
            throw CommandFailure("cannot connect to \(address): \(String(cString: strerror(errno)).lowercased()) (is the worker running?)")
        }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(address)\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else {
            throw CommandFailure("cannot send to \(address): \(String(cString: strerror(errno)).lowercased())")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while response.count < 65536 {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 { throw CommandFailure("no answer from \(address) within \(timeoutSeconds) s") }
            if count == 0 { break }
            response.append(contentsOf: chunk[0..<count])
        }
        let text = String(decoding: response, as: UTF8.self)
        let statusLine = text.prefix { $0 != "\r" && $0 != "\n" }.split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/"), let status = Int(statusLine[1]) else {
            throw CommandFailure("\(address) did not answer HTTP")
        }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }
}
