import Foundation
import Histogram
import MFABroker
import Testing

@testable import MFABurst

/// Reports built from made-up request records, without a broker.
@Suite("The burst report")
struct BurstReportTests {
    static let second: UInt64 = 1_000_000_000
    static let millisecond: UInt64 = 1_000_000
    /// An uptime instant to start from.
    static let origin: UInt64 = 5_000 * second

    static func settings(schedule: ArrivalSchedule?, accounts: [String] = ["sf-eu"]) throws -> BurstSettings {
        BurstSettings(
            url: try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:5672/%2F"), logins: [.init(user: "rpa-bot-eu-1", password: "x")],
            requestQueue: "q", accounts: accounts, connections: 2, requests: 30, inflight: 1, schedule: schedule
        )
    }

    /// One connection's result from (due, sent, done, outcome) offsets in ms from the origin.
    static func result(_ requests: [(due: UInt64, sent: UInt64?, done: UInt64, outcome: String)]) -> ConnectionResult {
        var result = ConnectionResult()
        result.startedAt = origin
        result.accounts = [AccountTally()]
        for request in requests {
            let intended = origin + request.due * millisecond
            let done = origin + request.done * millisecond
            let outcome = result.outcome(named: request.outcome)
            result.records.append(RequestRecord(intended: intended, sent: request.sent.map { origin + $0 * millisecond } ?? 0, done: done, outcome: outcome))
            if request.sent != nil { result.sent += 1 }
            if result.isReply(outcome) { result.latencyMicroseconds.record((done - intended) / 1000) }
            switch request.outcome {
            case "ok":
                result.ok += 1
                result.accounts[0].ok += 1
                result.accounts[0].windows[1_796_000_000, default: 0] += 1
                result.accounts[0].waits.record((done - intended) / 1000)
            case "timeout":
                result.timeouts += 1
                result.accounts[0].errors["timeout", default: 0] += 1
            default:
                result.errors[request.outcome, default: 0] += 1
                result.accounts[0].errors[request.outcome, default: 0] += 1
            }
            result.finishedAt = max(result.finishedAt, done)
        }
        return result
    }

    /// 10 requests a second for 3 s over two connections: answered in 2 ms,
    /// but those due in 1.0 ..< 1.5 s wait for a stall to end at 2.0 s; two
    /// are sent 150 ms late; one is answered busy, one times out.
    static func stalledRun() throws -> BurstReport {
        let schedule = ArrivalSchedule(rate: 10, durationSeconds: 3)
        var connections: [[(due: UInt64, sent: UInt64?, done: UInt64, outcome: String)]] = [[], []]
        for n in 0..<schedule.count {
            let due = UInt64(n) * 100
            let sent = due + (n == 20 || n == 21 ? 150 : 1)
            var done = sent + 2
            if (1000..<1500).contains(due) { done = 2000 }
            var outcome = "ok"
            if n == 25 { outcome = "busy" }
            if n == 27 {
                outcome = "timeout"
                done = due + 10_000
            }
            connections[n % 2].append((due, sent, done, outcome))
        }
        return BurstTally(settings: try settings(schedule: schedule), results: connections.map(result), origin: origin, wallClockStart: 1_796_000_000.25)
            .report()
    }

    @Test("Open loop: sends count by when they left, answers by when they came, latencies and errors by the second they were due")
    func secondBySecond() throws {
        let report = try Self.stalledRun()
        #expect(report.mode == .open)
        #expect(report.requests == 30 && report.sent == 30 && report.ok == 28 && report.timeouts == 1)
        #expect(report.errors == ["busy": 1, "timeout": 1])
        #expect(report.startedAtUnixMilliseconds == 1_796_000_000_250)
        let seconds = report.perSecond
        // The timeout, given up at 12.7 s, counts in the second it was due: the run is 3 s.
        #expect(seconds.map(\.second) == Array(0..<3))
        #expect(seconds.prefix(3).map(\.scheduled) == [10, 10, 10])
        // Requests 20 and 21 (due at 2.0 and 2.1 s) left at 2.15 and 2.25 s: still in second 2.
        #expect(seconds.prefix(3).map(\.sent) == [10, 10, 10])
        // Second 1's first five answers came at 2.0 s.
        #expect(seconds.prefix(3).map(\.answered) == [10, 5, 14])
        // Due in second 1: five waited for the stall (from 1.0 s: 1000 ms down to 600 ms).
        #expect(seconds[1].p99 == 1000.447)  // 1000 ms in its bucket, as HdrHistogram reports it
        #expect(seconds[0].p99 == 3.001)
        #expect(seconds[2].errors == ["busy": 1, "timeout": 1])
        let open = try #require(report.openLoop)
        #expect(open.scheduled == 30 && open.sentOnSchedule == 30)
        #expect(open.targetRate == 10 && open.achievedRate == 10)
        #expect(open.lateSends == 2 && open.behind)
        #expect(open.lagMilliseconds.max > 149 && open.lagMilliseconds.max < 151)
        // Five of 29 answers over 500 ms: p90 and above are the stall's.
        #expect(report.latencyMilliseconds.p90 >= 600 && report.latencyMilliseconds.p50 < 5)
    }

    @Test("The text report of an open loop: the schedule, the rate, whether it was kept, p99.9, and the run second by second")
    func openText() throws {
        let text = try Self.stalledRun().text
        #expect(
            text.hasPrefix(
                "burst: open loop, 10 requests/s for 3 s, over 2 connections\nscheduled    30\nsent         30\nok           28\nerrors       2 (busy 1, timeout 1)\n"
            ))
        #expect(text.contains("\nrate         target 10.0/s, sent 10.0/s on schedule, answered "))
        #expect(text.contains("\nschedule     BEHIND: sends up to 150."))
        #expect(text.contains(", 2 over 100 ms late; more --connections or CPU for the generator\n"))
        #expect(text.contains("  p99.9 "))
        #expect(text.contains("(from the scheduled send times)"))
        #expect(text.contains("\nper second\n  second  scheduled  sent  answered  p50 ms  p99 ms    errors\n  0       10         10    10        "))
        #expect(text.contains("\naccount sf-eu\n  ok         28; busy 1, timeout 1\n  windows    1: 1 served 28 codes\n"))
    }

    @Test("The closed loop's text report keeps its lines")
    func closedText() throws {
        var settings = try Self.settings(schedule: nil)
        settings.requests = 3
        let result = Self.result([(0, 0, 2, "ok"), (2, 2, 5, "ok"), (5, 5, 6, "forbidden")])
        let report = BurstTally(settings: settings, results: [result], origin: nil, wallClockStart: 0).report()
        #expect(report.mode == .closed && report.openLoop == nil && report.inflight == 1)
        #expect(
            report.text == """
                burst: 3 requests over 2 connections, 1 in flight each
                sent         3
                ok           2
                errors       1 (forbidden 1)
                timeouts     0
                wrong codes  not verified (give --verify-secret-file)
                duration     0.006 s
                throughput   500 requests/s
                latency ms   p50 2.000  p90 3.001  p99 3.001  max 3.001
                account sf-eu
                  ok         2; forbidden 1
                  windows    1: 1 served 2 codes
                  codes      1796000000: 2
                  wait ms    p50 2.000  p90 3.001  p99 3.001  max 3.001
                """)
    }

    @Test("A pool's account report says, per member, how many codes each window served; runs merge them")
    func poolMembers() throws {
        var settings = try Self.settings(schedule: nil)
        settings.requests = 3
        var result = Self.result([(0, 0, 2, "ok"), (2, 2, 5, "ok"), (5, 5, 6, "ok")])
        result.accounts[0].members = ["sf-eu-1": [1_796_000_000: 1, 1_796_000_030: 1], "sf-eu-2": [1_796_000_000: 1]]
        let report = BurstTally(settings: settings, results: [result], origin: nil, wallClockStart: 0).report()
        #expect(report.accounts[0].members == ["sf-eu-1": ["1796000000": 1, "1796000030": 1], "sf-eu-2": ["1796000000": 1]])
        #expect(
            report.text.contains("\n  member     sf-eu-1  windows 2: 2 served 1 code\n  member     sf-eu-2  windows 1: 1 served 1 code\n"), "\(report.text)")
        let merged = try BurstReport.merge([("a", report), ("b", report)])
        #expect(merged.accounts[0].members?["sf-eu-1"] == ["1796000000": 2, "1796000030": 2])
        // A plain account's report has no members, in text or JSON.
        let plain = BurstTally(settings: settings, results: [Self.result([(0, 0, 2, "ok")])], origin: nil, wallClockStart: 0).report()
        #expect(plain.accounts[0].members == nil)
        #expect(!plain.text.contains("member"))
        #expect(!String(decoding: try JSONEncoder().encode(plain), as: UTF8.self).contains("members"))
    }

    @Test("Opening the connections is reported apart from the requests: how long until the last was open, and why any failed")
    func connecting() throws {
        var settings = try Self.settings(schedule: nil)
        settings.connections = 3
        settings.requests = 2
        var fast = Self.result([(0, 0, 2, "ok")])
        fast.connectedAt = Self.origin - 500 * Self.millisecond
        var slow = Self.result([(0, 0, 3, "ok")])
        slow.connectedAt = Self.origin
        var failed = ConnectionResult()
        failed.connectFailed = true
        failed.connectFailure = "connection refused"
        failed.connectedAt = Self.origin - 900 * Self.millisecond
        let launchedAt = Self.origin - 1_250 * Self.millisecond
        let report = BurstTally(settings: settings, results: [fast, slow, failed], origin: nil, wallClockStart: 0, launchedAt: launchedAt).report()
        #expect(report.connecting == BurstReport.Connecting(seconds: 1.25, failures: ["connection refused": 1]))
        #expect(report.text.contains("\nconnecting   1.250 s for 2 of 3 connections; failed: connection refused 1\n"), "\(report.text)")
        let merged = try BurstReport.merge([("a", report), ("b", report)])
        #expect(merged.connecting == BurstReport.Connecting(seconds: 1.25, failures: ["connection refused": 2]))
    }

    @Test("The HTML page carries the run's data for its charts, fetches nothing, and escapes names")
    func html() throws {
        var report = try Self.stalledRun()
        report.accounts[0].account = "<b>&\"x\"</b>"
        let html = BurstHTML.render(report)
        #expect(html.hasPrefix("<!doctype html>"))
        #expect(!html.contains("<b>"))
        #expect(html.contains("&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"))
        // No network: no external reference of any kind (the SVG namespace is a name, not a fetch).
        for reference in ["src=", "href=", "<link", "url(", "@import", "fetch(", "XMLHttpRequest"] {
            #expect(!html.contains(reference), "\(reference)")
        }
        #expect(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").range(of: "http") == nil)
        // The data block, as the script reads it.
        let start = try #require(html.range(of: #"<script type="application/json" id="burst-data">"#))
        let end = try #require(html.range(of: "</script>", range: start.upperBound..<html.endIndex))
        let json = String(html[start.upperBound..<end.lowerBound])
        #expect(!json.contains("<"))
        let data = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(data["sent"] as? [Int] == report.perSecond.map(\.sent))
        #expect(data["answered"] as? [Int] == report.perSecond.map(\.answered))
        #expect(data["scheduled"] as? [Int] == report.perSecond.map { $0.scheduled ?? 0 })
        #expect((data["errors"] as? [String: [Int]])?["busy"]?[2] == 1)
        let percentiles = try #require(data["percentiles"] as? [[Double]])
        #expect(percentiles.last == [100, report.latencyMilliseconds.max])
        let accounts = try #require(data["accounts"] as? [[String: Any]])
        #expect(accounts.first?["account"] as? String == "<b>&\"x\"</b>")
        #expect(accounts.first?["windows"] as? [[Int]] == [[1_796_000_000, 28]])
        for id in ["chart-rate", "chart-latency", "chart-errors", "chart-percentiles"] { #expect(html.contains(#"id="\#(id)""#)) }
    }

    @Test("The JSON report carries the histograms in the standard encoding, and reads back")
    func json() throws {
        let report = try Self.stalledRun()
        let data = try JSONEncoder().encode(report)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let encoded = try #require(object["latencyHistogram"] as? String)
        #expect(encoded.hasPrefix("HISTFAAA"))
        #expect(try HistogramCoding.decode(encoded).totalCount == 29)
        #expect(try JSONDecoder().decode(BurstReport.self, from: data) == report)
    }
}
