import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The worker's metrics listener as tests reach it: a free port to give it,
/// a GET, a figure read out of `/metrics`.
public enum WorkerHTTP {
    /// A free port for the metrics listener.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    public static func get(_ port: Int, _ path: String) throws -> (status: Int, body: String) {
        let result = try run("/usr/bin/curl", ["-s", "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// The value of an unlabelled metric in Prometheus text.
    public static func value(_ metrics: String, _ name: String) -> Double? {
        metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// Waits until `/healthz` answers something `accept` takes; returns the
    /// last answer.
    public static func waitForHealth(_ port: Int, timeout: TimeInterval = 20, until accept: (Int, String) -> Bool) throws -> (status: Int, body: String) {
        let deadline = Date().addingTimeInterval(timeout)
        var answer = try get(port, "/healthz")
        while !accept(answer.status, answer.body) && Date() < deadline {
            usleep(50_000)
            answer = try get(port, "/healthz")
        }
        return answer
    }
}
