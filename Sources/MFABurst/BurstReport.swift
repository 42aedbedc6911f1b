/// What a burst measured.
public struct BurstReport: Sendable, Codable, Equatable {
    public var connections: Int
    public var inflight: Int
    public var requests: Int
    public var sent: Int
    public var ok: Int
    /// Error replies and failures by kind (`forbidden`, `timeout`, ...).
    public var errors: [String: Int]
    public var timeouts: Int
    /// Codes that differ from the independent check (nil: not verified).
    public var wrongCodes: Int?
    public var connectFailures: Int
    public var seconds: Double
    public var requestsPerSecond: Double
    public var latencyMilliseconds: Latency

    public struct Latency: Sendable, Codable, Equatable {
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var max: Double
        public var mean: Double
    }

    /// The report for people.
    public var text: String {
        var lines: [String] = []
        lines.append("burst: \(requests) requests over \(connections) connections, \(inflight) in flight each")
        lines.append("sent         \(sent)")
        lines.append("ok           \(ok)")
        let errorTotal = errors.values.reduce(0, +)
        let kinds = errors.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("errors       \(errorTotal)\(kinds.isEmpty ? "" : " (\(kinds))")")
        lines.append("timeouts     \(timeouts)")
        lines.append("wrong codes  \(wrongCodes.map(String.init) ?? "not verified (give --verify-secret-file)")")
        if connectFailures > 0 { lines.append("connections failed \(connectFailures)") }
        lines.append("duration     \(Self.format(seconds, 3)) s")
        lines.append("throughput   \(Self.format(requestsPerSecond, 0)) requests/s")
        lines.append("latency ms   p50 \(Self.format(latencyMilliseconds.p50, 3))  p90 \(Self.format(latencyMilliseconds.p90, 3))  p99 \(Self.format(latencyMilliseconds.p99, 3))  max \(Self.format(latencyMilliseconds.max, 3))")
        return lines.joined(separator: "\n")
    }

    static func format(_ value: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = "\(rounded)"
        if decimals == 0, text.hasSuffix(".0") { text.removeLast(2) }
        if let dot = text.firstIndex(of: "."), decimals > 0 {
            let fraction = text[text.index(after: dot)...].count
            if fraction < decimals { text += String(repeating: "0", count: decimals - fraction) }
        }
        return text
    }
}
