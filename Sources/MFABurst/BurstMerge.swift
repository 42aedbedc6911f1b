import Foundation
import Histogram

public enum BurstMergeError: Error, Equatable, CustomStringConvertible {
    case nothingToMerge
    case mixedModes
    case badHistogram(run: String, field: String, reason: String)

    public var description: String {
        switch self {
        case .nothingToMerge: "no report to merge"
        case .mixedModes: "cannot merge open-loop and closed-loop runs"
        case .badHistogram(let run, let field, let reason): "\(run): \(field) \(reason)"
        }
    }
}

extension BurstReport {
    /// One report of several runs — bursts driven at the same time from
    /// several hosts, each saved with `--json`. Counts add up; latencies
    /// are merged bucket by bucket from the runs' histograms, so the merged
    /// percentiles are those of one run holding every request (to the
    /// histograms' precision); the seconds line up by wall-clock start.
    public static func merge(_ runs: [(name: String, report: BurstReport)]) throws(BurstMergeError) -> BurstReport {
        guard let first = runs.first?.report else { throw .nothingToMerge }
        guard runs.allSatisfy({ $0.report.mode == first.mode }) else { throw .mixedModes }
        var merged = first
        let reports = runs.map(\.report)
        func total(_ value: (BurstReport) -> Int) -> Int { reports.map(value).reduce(0, +) }
        merged.connections = total(\.connections)
        merged.inflight = reports.map(\.inflight).max() ?? 0
        merged.requests = total(\.requests)
        merged.sent = total(\.sent)
        merged.ok = total(\.ok)
        merged.timeouts = total(\.timeouts)
        merged.connectFailures = total(\.connectFailures)
        merged.runs = total(\.runs)
        merged.errors = Self.sum(reports.map(\.errors))
        let verified = reports.compactMap(\.wrongCodes)
        merged.wrongCodes = verified.isEmpty ? nil : verified.reduce(0, +)
        // The runs opened their connections side by side: the slowest says how long.
        let connecting = reports.compactMap(\.connecting)
        merged.connecting =
            connecting.isEmpty ? nil : Connecting(seconds: connecting.map(\.seconds).max() ?? 0, failures: Self.sum(connecting.map(\.failures)))

        let start = reports.map(\.startedAtUnixMilliseconds).min() ?? 0
        let end = reports.map { $0.startedAtUnixMilliseconds + Int64(($0.seconds * 1000).rounded()) }.max() ?? start
        merged.startedAtUnixMilliseconds = start
        merged.seconds = Double(end - start) / 1000
        merged.requestsPerSecond = merged.seconds > 0 ? Double(merged.answered) / merged.seconds : 0

        var latency = BurstTally.latencyHistogram()
        for run in runs { try add(run.report.latencyHistogram, to: &latency, run: run.name, field: "latencyHistogram") }
        merged.latencyMilliseconds = Latency(latency)
        merged.latencyHistogram = HistogramCoding.encode(latency)

        if first.mode == .open {
            let loops = reports.compactMap(\.openLoop)
            var lag = BurstTally.latencyHistogram()
            for run in runs {
                if let loop = run.report.openLoop { try add(loop.lagHistogram, to: &lag, run: run.name, field: "openLoop.lagHistogram") }
            }
            func sum(_ value: (OpenLoop) -> Double) -> Double { loops.map(value).reduce(0, +) }
            merged.openLoop = OpenLoop(
                schedule: ArrivalSchedule(
                    startRate: sum(\.schedule.startRate), endRate: sum(\.schedule.endRate),
                    rampSeconds: loops.map(\.schedule.rampSeconds).max() ?? 0,
                    durationSeconds: loops.map(\.schedule.durationSeconds).max() ?? 0
                ),
                scheduled: loops.map(\.scheduled).reduce(0, +), sentOnSchedule: loops.map(\.sentOnSchedule).reduce(0, +),
                targetRate: sum(\.targetRate), achievedRate: sum(\.achievedRate), answeredRate: sum(\.answeredRate),
                lagMilliseconds: Latency(lag), lagHistogram: HistogramCoding.encode(lag),
                lateSends: loops.map(\.lateSends).reduce(0, +)
            )
        }
        merged.perSecond = try mergeSeconds(runs, start: start)
        merged.accounts = try mergeAccounts(runs)
        return merged
    }

    private static func sum(_ counts: [[String: Int]]) -> [String: Int] {
        var total: [String: Int] = [:]
        for dictionary in counts {
            for (key, count) in dictionary { total[key, default: 0] += count }
        }
        return total
    }

    /// Adds an encoded histogram's counts, value by value (so that it need
    /// not share this one's layout).
    private static func add(_ encoded: String, to histogram: inout Histogram<UInt64>, run: String, field: String) throws(BurstMergeError) {
        let decoded: Histogram<UInt64>
        do {
            decoded = try HistogramCoding.decode(encoded)
        } catch {
            throw .badHistogram(run: run, field: field, reason: error.description)
        }
        histogram.autoResize = true
        for entry in decoded.recordedValues() where entry.count > 0 {
            histogram.record(entry.value, count: entry.count)
        }
    }

    private static func mergeSeconds(_ runs: [(name: String, report: BurstReport)], start: Int64) throws(BurstMergeError) -> [Second] {
        var seconds: [Int: (second: Second, histogram: Histogram<UInt64>)] = [:]
        for (name, report) in runs {
            let shift = Int((Double(report.startedAtUnixMilliseconds - start) / 1000).rounded())
            for second in report.perSecond {
                let index = second.second + shift
                var entry =
                    seconds[index] ?? (
                        Second(second: index, scheduled: nil, sent: 0, answered: 0, p50: nil, p99: nil, errors: [:], latencyHistogram: nil),
                        BurstTally.latencyHistogram()
                    )
                if let scheduled = second.scheduled { entry.second.scheduled = (entry.second.scheduled ?? 0) + scheduled }
                entry.second.sent += second.sent
                entry.second.answered += second.answered
                entry.second.errors = sum([entry.second.errors, second.errors])
                if let encoded = second.latencyHistogram {
                    try add(encoded, to: &entry.histogram, run: name, field: "perSecond[\(second.second)].latencyHistogram")
                }
                seconds[index] = entry
            }
        }
        let last = seconds.keys.max() ?? -1
        return (0..<(last + 1)).map { index in
            guard var entry = seconds[index] else {
                return Second(second: index, scheduled: nil, sent: 0, answered: 0, p50: nil, p99: nil, errors: [:], latencyHistogram: nil)
            }
            if entry.histogram.totalCount > 0 {
                entry.second.p50 = milliseconds(entry.histogram.reportedValue(atPercentile: 50))
                entry.second.p99 = milliseconds(entry.histogram.reportedValue(atPercentile: 99))
                entry.second.latencyHistogram = HistogramCoding.encode(entry.histogram)
            }
            return entry.second
        }
    }

    private static func mergeAccounts(_ runs: [(name: String, report: BurstReport)]) throws(BurstMergeError) -> [AccountReport] {
        var order: [String] = []
        var accounts: [String: (report: AccountReport, waits: Histogram<UInt64>)] = [:]
        for (name, report) in runs {
            for account in report.accounts {
                var entry =
                    accounts[account.account] ?? (
                        AccountReport(
                            account: account.account, ok: 0, errors: [:], codesPerWindow: [:],
                            waitMilliseconds: Latency(BurstTally.latencyHistogram()), waitHistogram: ""
                        ), BurstTally.latencyHistogram()
                    )
                if accounts[account.account] == nil { order.append(account.account) }
                entry.report.ok += account.ok
                entry.report.errors = sum([entry.report.errors, account.errors])
                entry.report.codesPerWindow = sum([entry.report.codesPerWindow, account.codesPerWindow])
                for (member, windows) in account.members ?? [:] {
                    var members = entry.report.members ?? [:]
                    members[member] = sum([members[member] ?? [:], windows])
                    entry.report.members = members
                }
                try add(account.waitHistogram, to: &entry.waits, run: name, field: "accounts[\(account.account)].waitHistogram")
                accounts[account.account] = entry
            }
        }
        return order.compactMap { name in
            guard var entry = accounts[name] else { return nil }
            entry.report.waitMilliseconds = Latency(entry.waits)
            entry.report.waitHistogram = HistogramCoding.encode(entry.waits)
            return entry.report
        }
    }
}
