import Foundation
import Histogram
import Testing

@testable import MFABurst

@Suite("burst-merge")
struct BurstMergeTests {
    typealias Request = (due: UInt64, sent: UInt64?, done: UInt64, outcome: String)

    /// 20 requests a second for 2 s on one connection, answered after
    /// `latency(n)` ms.
    static func requests(_ latency: (Int) -> UInt64, busy: Set<Int> = []) -> [Request] {
        (0..<40).map { n in
            let due = UInt64(n) * 50
            return (due, due, due + latency(n), busy.contains(n) ? "busy" : "ok")
        }
    }

    static func report(_ connections: [[Request]], startedAt: Double) throws -> BurstReport {
        let schedule = ArrivalSchedule(rate: 20 * Double(connections.count), durationSeconds: 2)
        var settings = try BurstReportTests.settings(schedule: schedule)
        settings.connections = connections.count
        return BurstTally(settings: settings, results: connections.map(BurstReportTests.result), origin: BurstReportTests.origin, wallClockStart: startedAt)
            .report()
    }

    @Test("Two runs merge to the percentiles of one run holding both, with counts added")
    func samePercentilesAsOneRun() throws {
        let fast = Self.requests({ UInt64(1 + $0 % 7) }, busy: [3])
        let slow = Self.requests({ UInt64(20 + 37 * $0) })
        let a = try Self.report([fast], startedAt: 1_796_000_000)
        let b = try Self.report([slow], startedAt: 1_796_000_000)
        let both = try Self.report([fast, slow], startedAt: 1_796_000_000)
        let merged = try BurstReport.merge([("a.json", a), ("b.json", b)])
        #expect(merged.latencyMilliseconds == both.latencyMilliseconds)
        #expect(merged.latencyMilliseconds.p99 == both.latencyMilliseconds.p99 && merged.latencyMilliseconds.p50 != a.latencyMilliseconds.p50)
        #expect(try HistogramCoding.decode(merged.latencyHistogram) == HistogramCoding.decode(both.latencyHistogram))
        #expect(merged.runs == 2 && merged.sent == 80 && merged.ok == 79 && merged.requests == 80 && merged.errors == ["busy": 1])
        #expect(merged.perSecond.map(\.sent) == both.perSecond.map(\.sent))
        #expect(merged.perSecond.map(\.p99) == both.perSecond.map(\.p99))
        #expect(merged.accounts.count == 1 && merged.accounts[0].ok == 79 && merged.accounts[0].waitMilliseconds == both.accounts[0].waitMilliseconds)
        #expect(merged.accounts[0].codesPerWindow == ["1796000000": 79])
        let open = try #require(merged.openLoop)
        #expect(open.scheduled == 80 && open.targetRate == 40 && open.schedule.endRate == 40)
        #expect(merged.text.hasPrefix("burst: open loop, 40 requests/s for 2 s, over 2 connections (2 runs merged)\n"))
    }

    @Test("Runs that started a second apart line up by wall clock")
    func alignsSeconds() throws {
        let a = try Self.report([Self.requests { _ in 1 }], startedAt: 1_796_000_000)
        let b = try Self.report([Self.requests { _ in 1 }], startedAt: 1_796_000_001)
        let merged = try BurstReport.merge([("a", a), ("b", b)])
        #expect(merged.perSecond.map(\.sent) == [20, 40, 20])
        #expect(merged.perSecond.map(\.scheduled) == [20, 40, 20])
        #expect(merged.startedAtUnixMilliseconds == 1_796_000_000_000)
        #expect(merged.seconds > 2.9 && merged.seconds < 3.1)
    }

    @Test("A merged report merges again, and one run merges to itself")
    func idempotent() throws {
        let a = try Self.report([Self.requests { UInt64($0) + 1 }], startedAt: 1_796_000_000)
        let again = try BurstReport.merge([("a", a)])
        #expect(again.latencyMilliseconds == a.latencyMilliseconds && again.perSecond == a.perSecond && again.accounts == a.accounts)
        let b = try Self.report([Self.requests { UInt64($0) * 3 + 1 }], startedAt: 1_796_000_000)
        let twice = try BurstReport.merge([("ab", BurstReport.merge([("a", a), ("b", b)])), ("a", a)])
        #expect(twice.runs == 3 && twice.sent == 120)
    }

    @Test("Open and closed loop runs do not merge; a broken histogram names its run and field")
    func refuses() throws {
        let open = try Self.report([Self.requests { _ in 1 }], startedAt: 0)
        var closed = open
        closed.mode = .closed
        #expect(throws: BurstMergeError.mixedModes) { try BurstReport.merge([("a", open), ("b", closed)]) }
        var broken = open
        broken.latencyHistogram = "HISTFAAAACB4"
        #expect(throws: BurstMergeError.badHistogram(run: "b.json", field: "latencyHistogram", reason: "is cut short")) {
            try BurstReport.merge([("a.json", open), ("b.json", broken)])
        }
        #expect(throws: BurstMergeError.nothingToMerge) { try BurstReport.merge([]) }
    }
}
