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
    /// Per account asked for, in the order given.
    public var accounts: [AccountReport]

    public struct Latency: Sendable, Codable, Equatable {
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var max: Double
        public var mean: Double
    }

    /// What one account's requests got.
    public struct AccountReport: Sendable, Codable, Equatable {
        public var account: String
        public var ok: Int
        /// Error replies and timeouts by kind (`busy`, `timeout`, ...).
        public var errors: [String: Int]
        /// How many codes each window served: window_start (Unix seconds,
        /// as text) -> codes received. With `issue: once_per_window`, 1 each.
        public var codesPerWindow: [String: Int]
        /// From sending a request to its code, for the requests that got one.
        public var waitMilliseconds: Latency

        /// The most codes any one window served (0 without a code).
        public var mostCodesInAWindow: Int { codesPerWindow.values.max() ?? 0 }
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
        lines.append("latency ms   \(Self.format(latencyMilliseconds))")
        for account in accounts {
            lines.append("account \(account.account)")
            let kinds = account.errors.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            lines.append("  ok         \(account.ok)\(kinds.isEmpty ? "" : "; \(kinds)")")
            // How many windows served 1 code, 2 codes, ...
            var spread: [Int: Int] = [:]
            for count in account.codesPerWindow.values { spread[count, default: 0] += 1 }
            let summary = spread.sorted { $0.key < $1.key }.map { "\($0.value) served \($0.key) code\($0.key == 1 ? "" : "s")" }.joined(separator: ", ")
            lines.append("  windows    \(account.codesPerWindow.count)\(summary.isEmpty ? "" : ": \(summary)")")
            let windows = account.codesPerWindow.sorted { $0.key.count != $1.key.count ? $0.key.count < $1.key.count : $0.key < $1.key }
            let shown = windows.prefix(12).map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            if !shown.isEmpty {
                lines.append("  codes      \(shown)\(windows.count > 12 ? ", ... (--json lists all)" : "")")
            }
            lines.append("  wait ms    \(Self.format(account.waitMilliseconds))")
        }
        return lines.joined(separator: "\n")
    }

    static func format(_ latency: Latency) -> String {
        "p50 \(format(latency.p50, 3))  p90 \(format(latency.p90, 3))  p99 \(format(latency.p99, 3))  max \(format(latency.max, 3))"
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
