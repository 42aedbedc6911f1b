import Histogram

/// What a burst measured (or several, merged by `burst-merge`).
public struct BurstReport: Sendable, Codable, Equatable {
    public var connections: Int
    /// Closed loop: requests in flight per connection; open loop: 0 (no limit).
    public var inflight: Int
    /// Closed loop: requests asked for; open loop: requests the schedule sends.
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
    /// Open loop: from each request's scheduled send time; closed loop: from its send.
    public var latencyMilliseconds: Latency
    /// Per account asked for, in the order given.
    public var accounts: [AccountReport]

    public var mode: Mode
    /// How many runs this report holds (more than 1 after `burst-merge`).
    public var runs: Int
    /// The wall-clock start (the schedule's start in open loop), Unix ms.
    public var startedAtUnixMilliseconds: Int64
    /// The latencies (µs) in HdrHistogram's standard encoded form (V2,
    /// deflated, base64): any HdrHistogram implementation reads it.
    public var latencyHistogram: String
    public var openLoop: OpenLoop?
    /// The run second by second.
    public var perSecond: [Second]
    /// Opening the connections, apart from the requests (absent in reports
    /// of older versions).
    public var connecting: Connecting? = nil

    /// How opening the connections went.
    public struct Connecting: Sendable, Codable, Equatable {
        /// From the first connection's start until every connection was
        /// open (or had failed), s.
        public var seconds: Double
        /// Connections that could not be opened, by reason.
        public var failures: [String: Int]
    }

    public enum Mode: String, Sendable, Codable {
        case closed, open
    }

    public struct Latency: Sendable, Codable, Equatable {
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
        public var mean: Double
    }

    /// How the schedule went, in open loop.
    public struct OpenLoop: Sendable, Codable, Equatable {
        public var schedule: ArrivalSchedule
        public var scheduled: Int
        /// Requests sent within the schedule's duration.
        public var sentOnSchedule: Int
        /// Scheduled requests per second of the duration.
        public var targetRate: Double
        /// Requests sent within the duration per second of it.
        public var achievedRate: Double
        /// Answers per second, from the start to the duration's end or the last answer, whichever is later.
        public var answeredRate: Double
        /// How late the sends left behind their scheduled times.
        public var lagMilliseconds: Latency
        /// Those lags (µs) in HdrHistogram's standard encoded form.
        public var lagHistogram: String
        /// Requests sent more than 100 ms after their scheduled time.
        public var lateSends: Int

        /// The generator did not keep its schedule: some requests left more than 100 ms late.
        public var behind: Bool { lateSends > 0 }
    }

    /// One second of the run, from the start.
    public struct Second: Sendable, Codable, Equatable {
        public var second: Int
        /// Open loop: requests the schedule sends in this second.
        public var scheduled: Int?
        /// Requests sent in this second.
        public var sent: Int
        /// Answers (of any kind) received in this second.
        public var answered: Int
        /// Latency of the requests due (closed loop: sent) in this second that were answered.
        public var p50: Double?
        public var p99: Double?
        /// What went wrong with the requests due (closed loop: sent) in this second, by kind.
        public var errors: [String: Int]
        /// Those latencies (µs) in HdrHistogram's standard encoded form; absent when none was answered.
        public var latencyHistogram: String?
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
        /// From sending a request (open loop: its scheduled time) to its code, for the requests that got one.
        public var waitMilliseconds: Latency
        /// Those waits (µs) in HdrHistogram's standard encoded form.
        public var waitHistogram: String

        /// For a pool: per member, how many codes each of its windows
        /// served (window_start as text -> codes); absent for an account.
        public var members: [String: [String: Int]]? = nil

        /// The most codes any one window served (0 without a code).
        public var mostCodesInAWindow: Int { codesPerWindow.values.max() ?? 0 }
    }

    /// Answers of any kind: ok and error replies, not timeouts or lost connections.
    public var answered: Int {
        ok + errors.filter { !BurstTally.notReplies.contains($0.key) }.values.reduce(0, +)
    }

    /// Whether a run failed: a request not answered ok, or a wrong code.
    public var failed: Bool { ok < requests || (wrongCodes ?? 0) > 0 }

    /// What was run, in one line.
    public var headline: String {
        if let openLoop {
            let over = connections == 1 ? "1 connection" : "\(connections) connections"
            return "open loop, \(openLoop.schedule.summary), over \(over)\(runs > 1 ? " (\(runs) runs merged)" : "")"
        }
        if runs > 1 { return "\(requests) requests over \(connections) connections, \(runs) runs merged" }
        return "\(requests) requests over \(connections) connections, \(inflight) in flight each"
    }

    /// The report for people.
    public var text: String {
        var lines = ["burst: \(headline)"]
        if let openLoop { lines.append("scheduled    \(openLoop.scheduled)") }
        lines.append("sent         \(sent)")
        lines.append("ok           \(ok)")
        lines.append("errors       \(errors.values.reduce(0, +))\(Self.kinds(errors, open: " (", close: ")"))")
        lines.append("timeouts     \(timeouts)")
        lines.append("wrong codes  \(wrongCodes.map(String.init) ?? "not verified (give --verify-secret-file)")")
        if let connecting {
            let opened = connections - connectFailures
            lines.append(
                "connecting   \(Self.format(connecting.seconds, 3)) s for \(opened) of \(connections) connections\(Self.kinds(connecting.failures, open: "; failed: ", close: ""))"
            )
        } else if connectFailures > 0 {
            lines.append("connections failed \(connectFailures)")
        }
        lines.append("duration     \(Self.format(seconds, 3)) s")
        if let openLoop {
            lines.append(
                "rate         target \(Self.format(openLoop.targetRate, 1))/s, sent \(Self.format(openLoop.achievedRate, 1))/s on schedule, answered \(Self.format(openLoop.answeredRate, 1))/s"
            )
            let lag = openLoop.lagMilliseconds
            if openLoop.behind {
                lines.append(
                    "schedule     BEHIND: sends up to \(Self.format(lag.max, 3)) ms late (p99 \(Self.format(lag.p99, 3)) ms), \(openLoop.lateSends) over 100 ms late; more --connections or CPU for the generator"
                )
            } else {
                lines.append("schedule     kept: sends at most \(Self.format(lag.max, 3)) ms late (p99 \(Self.format(lag.p99, 3)) ms)")
            }
            lines.append("latency ms   \(Self.formatWithTail(latencyMilliseconds))  (from the scheduled send times)")
        } else {
            lines.append("throughput   \(Self.format(requestsPerSecond, 0)) requests/s")
            lines.append("latency ms   \(Self.format(latencyMilliseconds))")
        }
        if openLoop != nil || runs > 1 {
            lines.append(contentsOf: secondsTable)
        }
        for account in accounts {
            lines.append("account \(account.account)")
            lines.append("  ok         \(account.ok)\(Self.kinds(account.errors, open: "; ", close: ""))")
            lines.append("  windows    \(Self.spread(account.codesPerWindow))")
            let windows = account.codesPerWindow.sorted { $0.key.count != $1.key.count ? $0.key.count < $1.key.count : $0.key < $1.key }
            let shown = windows.prefix(12).map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            if !shown.isEmpty {
                lines.append("  codes      \(shown)\(windows.count > 12 ? ", ... (--json lists all)" : "")")
            }
            let members = (account.members ?? [:]).sorted { $0.key < $1.key }
            let width = members.map(\.key.count).max() ?? 0
            for (member, windows) in members {
                lines.append("  member     \(member.padding(toLength: width, withPad: " ", startingAt: 0))  windows \(Self.spread(windows))")
            }
            lines.append("  wait ms    \(openLoop == nil ? Self.format(account.waitMilliseconds) : Self.formatWithTail(account.waitMilliseconds))")
        }
        return lines.joined(separator: "\n")
    }

    /// How many windows, and how many of them served 1 code, 2 codes, ...
    static func spread(_ codesPerWindow: [String: Int]) -> String {
        var spread: [Int: Int] = [:]
        for count in codesPerWindow.values { spread[count, default: 0] += 1 }
        let summary = spread.sorted { $0.key < $1.key }.map { "\($0.value) served \($0.key) code\($0.key == 1 ? "" : "s")" }.joined(separator: ", ")
        return "\(codesPerWindow.count)\(summary.isEmpty ? "" : ": \(summary)")"
    }

    /// The per-second table of the text report.
    private var secondsTable: [String] {
        let open = openLoop != nil
        var rows = [["second", "scheduled", "sent", "answered", "p50 ms", "p99 ms", "errors"]]
        for second in perSecond {
            rows.append([
                String(second.second), second.scheduled.map(String.init) ?? "", String(second.sent), String(second.answered),
                second.p50.map { Self.format($0, 3) } ?? "-", second.p99.map { Self.format($0, 3) } ?? "-",
                Self.kinds(second.errors, open: "", close: ""),
            ])
        }
        if !open { rows = rows.map { row in row.enumerated().filter { $0.offset != 1 }.map(\.element) } }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = ["per second"]
        for row in rows {
            let cells = row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }
            var line = "  " + cells.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            lines.append(line)
        }
        return lines
    }

    /// "busy 3, timeout 1" between `open` and `close`, or nothing.
    static func kinds(_ counts: [String: Int], open: String, close: String) -> String {
        let kinds = counts.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return kinds.isEmpty ? "" : open + kinds + close
    }

    static func format(_ latency: Latency) -> String {
        "p50 \(format(latency.p50, 3))  p90 \(format(latency.p90, 3))  p99 \(format(latency.p99, 3))  max \(format(latency.max, 3))"
    }

    static func formatWithTail(_ latency: Latency) -> String {
        "p50 \(format(latency.p50, 3))  p90 \(format(latency.p90, 3))  p99 \(format(latency.p99, 3))  p99.9 \(format(latency.p999, 3))  max \(format(latency.max, 3))"
    }

    /// `value` rounded to `decimals` places, with that many shown.
    public static func format(_ value: Double, _ decimals: Int) -> String {
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

    static func milliseconds(_ micros: UInt64) -> Double { Double(micros) / 1000 }
}

extension BurstReport.Latency {
    /// From a histogram of microseconds, as HdrHistogram reports percentiles.
    init(_ histogram: Histogram<UInt64>) {
        func ms(_ percentile: Double) -> Double { BurstReport.milliseconds(histogram.reportedValue(atPercentile: percentile)) }
        self.init(
            p50: ms(50), p90: ms(90), p99: ms(99), p999: ms(99.9), max: BurstReport.milliseconds(histogram.max),
            mean: histogram.totalCount == 0 ? 0 : histogram.mean / 1000
        )
    }
}
