import Foundation
import Histogram

/// Adds up what the connections measured into the report: totals, the
/// latency histogram, the schedule kept (open loop), and the run second by
/// second from each request's record.
struct BurstTally {
    let settings: BurstSettings
    let results: [ConnectionResult]
    /// Open loop: the schedule's start (uptime ns); closed loop: nil, the
    /// first connection's start.
    let origin: UInt64?
    let wallClockStart: Double
    /// When the first connection was started (uptime ns); nil: not measured.
    var launchedAt: UInt64? = nil

    /// Microseconds, 1 µs to an hour, 3 significant digits.
    static func latencyHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 3_700_000_000, numberOfSignificantValueDigits: .three)
    }

    /// A send later than this behind its scheduled time means the generator
    /// did not keep its schedule.
    static let lateSendMicroseconds: UInt64 = 100_000

    func report() -> BurstReport {
        var histogram = Self.latencyHistogram()
        var errors: [String: Int] = [:]
        var sent = 0, ok = 0, timeouts = 0, wrong = 0, connectFailures = 0
        var first = UInt64.max, last: UInt64 = 0
        var tallies = settings.accounts.map { _ in AccountTally() }
        for result in results {
            for (index, tally) in result.accounts.enumerated() { tallies[index].add(tally) }
            histogram.add(result.latencyMicroseconds)
            sent += result.sent
            ok += result.ok
            timeouts += result.timeouts
            wrong += result.wrongCodes
            if result.connectFailed { connectFailures += 1 }
            for (kind, count) in result.errors { errors[kind, default: 0] += count }
            if result.startedAt > 0 { first = min(first, result.startedAt) }
            last = max(last, result.finishedAt)
        }
        if timeouts > 0 { errors["timeout"] = timeouts }
        let start = origin ?? first
        let seconds = first == .max || last < start ? 0 : Double(last - start) / 1e9
        let answered = ok + errors.filter { !Self.notReplies.contains($0.key) }.values.reduce(0, +)
        let open = settings.schedule.map { openLoop($0, answered: answered, origin: start) }
        return BurstReport(
            connections: settings.connections, inflight: settings.schedule == nil ? settings.inflight : 0,
            requests: settings.schedule?.count ?? settings.requests,
            sent: sent, ok: ok, errors: errors, timeouts: timeouts,
            wrongCodes: settings.verifiers.isEmpty ? nil : wrong, connectFailures: connectFailures,
            seconds: seconds, requestsPerSecond: seconds > 0 ? Double(answered) / seconds : 0,
            latencyMilliseconds: BurstReport.Latency(histogram),
            accounts: zip(settings.accounts, tallies).map { name, tally in
                BurstReport.AccountReport(
                    account: name, ok: tally.ok, errors: tally.errors,
                    codesPerWindow: Dictionary(uniqueKeysWithValues: tally.windows.map { (String($0.key), $0.value) }),
                    waitMilliseconds: BurstReport.Latency(tally.waits),
                    waitHistogram: HistogramCoding.encode(tally.waits),
                    members: tally.members.isEmpty
                        ? nil : tally.members.mapValues { Dictionary(uniqueKeysWithValues: $0.map { (String($0.key), $0.value) }) }
                )
            },
            mode: settings.schedule == nil ? .closed : .open,
            runs: 1,
            startedAtUnixMilliseconds: Int64((wallClockStart * 1000).rounded()),
            latencyHistogram: HistogramCoding.encode(histogram),
            openLoop: open,
            perSecond: perSecond(origin: start == .max ? 0 : start),
            connecting: connecting()
        )
    }

    /// How long opening the connections took, and why any failed.
    private func connecting() -> BurstReport.Connecting? {
        guard let launchedAt else { return nil }
        let last = results.map(\.connectedAt).max() ?? launchedAt
        var failures: [String: Int] = [:]
        for result in results where result.connectFailed { failures[result.connectFailure ?? "other", default: 0] += 1 }
        return BurstReport.Connecting(seconds: Double(max(last, launchedAt) - launchedAt) / 1e9, failures: failures)
    }

    /// Error kinds that are no answer from the worker.
    static let notReplies: Set<String> = ["timeout", "connection_failed", "connection_lost", ConnectionDriver.noRequestQueue]

    private func openLoop(_ schedule: ArrivalSchedule, answered: Int, origin: UInt64) -> BurstReport.OpenLoop {
        let end = origin + UInt64(schedule.durationSeconds * 1e9)
        var lag = Self.latencyHistogram()
        var onSchedule = 0, late = 0
        var lastAnswer = origin
        for result in results {
            for record in result.records {
                if result.isReply(record.outcome) { lastAnswer = max(lastAnswer, record.done) }
                guard record.sent > 0 else { continue }
                if record.sent < end { onSchedule += 1 }
                let micros = record.sent > record.intended ? (record.sent - record.intended) / 1000 : 0
                lag.record(micros)
                if micros > Self.lateSendMicroseconds { late += 1 }
            }
        }
        let answering = max(schedule.durationSeconds, Double(lastAnswer - origin) / 1e9)
        return BurstReport.OpenLoop(
            schedule: schedule, scheduled: schedule.count, sentOnSchedule: onSchedule,
            targetRate: Double(schedule.count) / schedule.durationSeconds,
            achievedRate: Double(onSchedule) / schedule.durationSeconds,
            answeredRate: answering > 0 ? Double(answered) / answering : 0,
            lagMilliseconds: BurstReport.Latency(lag), lagHistogram: HistogramCoding.encode(lag),
            lateSends: late
        )
    }

    /// Second by second from the start: sends and answers by when they
    /// happened; latencies and errors by the second each request was due
    /// (in closed loop, sent).
    private func perSecond(origin: UInt64) -> [BurstReport.Second] {
        func second(_ time: UInt64) -> Int { time > origin ? Int((time - origin) / 1_000_000_000) : 0 }
        var count = settings.schedule.map { Int($0.durationSeconds.rounded(.up)) } ?? 0
        for result in results {
            for record in result.records {
                // A timeout given up later is counted at its due second: it does not stretch the run.
                let end = result.isReply(record.outcome) ? record.done : record.intended
                count = max(count, second(max(record.intended, record.sent, end)) + 1)
            }
        }
        var sent = [Int](repeating: 0, count: count)
        var answered = sent
        var errors = [[String: Int]](repeating: [:], count: count)
        var latencies = [[UInt64]](repeating: [], count: count)
        for result in results {
            for record in result.records {
                if record.sent > 0 { sent[second(record.sent)] += 1 }
                let due = second(record.intended)
                if result.isReply(record.outcome) {
                    answered[second(record.done)] += 1
                    latencies[due].append(max(1, (record.done - record.intended) / 1000))
                }
                if record.outcome != ConnectionResult.okOutcome {
                    errors[due][result.kinds[Int(record.outcome)], default: 0] += 1
                }
            }
        }
        let scheduled = settings.schedule?.perSecond
        var histogram = Self.latencyHistogram()
        return (0..<count).map { index in
            histogram.reset()
            for micros in latencies[index] { histogram.record(micros) }
            let empty = latencies[index].isEmpty
            return BurstReport.Second(
                second: index, scheduled: scheduled.map { index < $0.count ? $0[index] : 0 },
                sent: sent[index], answered: answered[index],
                p50: empty ? nil : BurstReport.milliseconds(histogram.reportedValue(atPercentile: 50)),
                p99: empty ? nil : BurstReport.milliseconds(histogram.reportedValue(atPercentile: 99)),
                errors: errors[index], latencyHistogram: empty ? nil : HistogramCoding.encode(histogram)
            )
        }
    }
}
