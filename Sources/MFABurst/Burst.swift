import AMQP
import Foundation
import Histogram
import Synchronization
import TOTP

/// A load test of concurrent login bursts: K connections, each keeping W
/// requests in flight, optionally all starting at one instant.
public final class Burst: Sendable {
    public let settings: BurstSettings
    let progress = BurstProgress()

    public init(_ settings: BurstSettings) {
        self.settings = settings
    }

    /// Runs the burst; `onProgress` is called about twice a second from the
    /// calling thread with (sent, answered).
    public func run(onProgress: (_ sent: Int, _ answered: Int, _ elapsed: Double) -> Void = { _, _, _ in }) -> BurstReport {
        let connections = max(1, settings.connections)
        let start = StartGate(parties: connections, atOnce: settings.atOnce)
        let results = Mutex<[ConnectionResult]>([])
        let group = DispatchGroup()
        for index in 0..<connections {
            let quota = settings.requests / connections + (index < settings.requests % connections ? 1 : 0)
            let driver = ConnectionDriverStarter(index: index, quota: quota, burst: self, gate: start)
            group.enter()
            let thread = Thread {
                let result = driver.run()
                results.withLock { $0.append(result) }
                group.leave()
            }
            thread.stackSize = 256 * 1024
            thread.start()
        }
        start.waitUntilStarted()
        let began = DispatchTime.now().uptimeNanoseconds
        while group.wait(timeout: .now() + .milliseconds(500)) == .timedOut {
            onProgress(progress.sent.load(ordering: .relaxed), progress.answered.load(ordering: .relaxed), Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9)
        }
        let all = results.withLock { $0 }
        return report(all)
    }

    private func report(_ results: [ConnectionResult]) -> BurstReport {
        var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
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
        let seconds = first == .max ? 0 : Double(last - first) / 1e9
        let answered = ok + errors.filter { $0.key != "timeout" && $0.key != "connection_failed" }.values.reduce(0, +)
        return BurstReport(
            connections: settings.connections, inflight: settings.inflight, requests: settings.requests,
            sent: sent, ok: ok, errors: errors, timeouts: timeouts,
            wrongCodes: settings.verifiers.isEmpty ? nil : wrong, connectFailures: connectFailures,
            seconds: seconds, requestsPerSecond: seconds > 0 ? Double(answered) / seconds : 0,
            latencyMilliseconds: BurstReport.Latency(histogram),
            accounts: zip(settings.accounts, tallies).map { name, tally in
                BurstReport.AccountReport(
                    account: name, ok: tally.ok, errors: tally.errors,
                    codesPerWindow: Dictionary(uniqueKeysWithValues: tally.windows.map { (String($0.key), $0.value) }),
                    waitMilliseconds: BurstReport.Latency(tally.waits)
                )
            }
        )
    }
}

/// What one account's requests got: codes per window, waits, errors.
struct AccountTally: Sendable {
    var ok = 0
    var errors: [String: Int] = [:]
    /// window_start -> codes of that window received.
    var windows: [Int64: Int] = [:]
    /// Send to reply, in µs, of the requests that got a code.
    var waits = Histogram<UInt64>(highestTrackableValue: 3_700_000_000, numberOfSignificantValueDigits: .three)

    mutating func add(_ other: AccountTally) {
        ok += other.ok
        for (kind, count) in other.errors { errors[kind, default: 0] += count }
        for (start, count) in other.windows { windows[start, default: 0] += count }
        waits.add(other.waits)
    }
}

extension BurstReport.Latency {
    init(_ histogram: Histogram<UInt64>) {
        func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }
        self.init(
            p50: ms(histogram.valueAtPercentile(50)), p90: ms(histogram.valueAtPercentile(90)),
            p99: ms(histogram.valueAtPercentile(99)), max: ms(histogram.max), mean: histogram.totalCount == 0 ? 0 : histogram.mean / 1000
        )
    }
}

/// Live counters for the progress line.
final class BurstProgress: Sendable {
    let sent = Atomic<Int>(0)
    let answered = Atomic<Int>(0)
}

/// Holds every connection until all are connected, then releases them at
/// one instant (`--at-once`); without it, each starts when ready.
final class StartGate: Sendable {
    private let state: Mutex<(ready: Int, open: Bool)>
    private let condition = NSCondition()
    let parties: Int
    let atOnce: Bool

    init(parties: Int, atOnce: Bool) {
        self.parties = parties
        self.atOnce = atOnce
        state = Mutex((0, !atOnce))
    }

    /// A connection is ready (or failed); waits for the gate when at once.
    func arrive() {
        condition.lock()
        let open = state.withLock { state -> Bool in
            state.ready += 1
            if state.ready >= parties { state.open = true }
            return state.open
        }
        if open {
            condition.broadcast()
        } else {
            while !state.withLock({ $0.open }) { condition.wait() }
        }
        condition.unlock()
    }

    /// The caller waits until the gate opened (or, without at-once, returns).
    func waitUntilStarted() {
        guard atOnce else { return }
        condition.lock()
        while !state.withLock({ $0.open }) { condition.wait() }
        condition.unlock()
    }
}

struct ConnectionResult: Sendable {
    var sent = 0
    var ok = 0
    var errors: [String: Int] = [:]
    var timeouts = 0
    var wrongCodes = 0
    var connectFailed = false
    var startedAt: UInt64 = 0
    var finishedAt: UInt64 = 0
    /// By the account's index in the settings.
    var accounts: [AccountTally] = []
    var latencyMicroseconds = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
}

private final class ConnectionDriverStarter: Sendable {
    let index: Int
    let quota: Int
    let burst: Burst
    let gate: StartGate

    init(index: Int, quota: Int, burst: Burst, gate: StartGate) {
        self.index = index
        self.quota = quota
        self.burst = burst
        self.gate = gate
    }

    func run() -> ConnectionResult {
        ConnectionDriver(index: index, quota: quota, settings: burst.settings, progress: burst.progress, gate: gate).run()
    }
}

/// One connection of the burst, on its own thread.
final class ConnectionDriver {
    let index: Int
    let quota: Int
    let settings: BurstSettings
    let progress: BurstProgress
    let gate: StartGate
    private var result = ConnectionResult()
    /// Request number -> send time (ns) and the account's index.
    private var inflight: [UInt64: (sentAt: UInt64, account: Int)] = [:]
    private var nextNumber: UInt64 = 0
    /// One request body per account.
    private var bodies: [[UInt8]] = []
    /// Per account, the expected code of the last window seen: computed once
    /// per window, so that checking costs the load generator next to nothing.
    private var expected: [(windowStart: Int64, code: String)?] = []

    init(index: Int, quota: Int, settings: BurstSettings, progress: BurstProgress, gate: StartGate) {
        self.index = index
        self.quota = quota
        self.settings = settings
        self.progress = progress
        self.gate = gate
    }

    func run() -> ConnectionResult {
        let login = settings.logins[index % settings.logins.count]
        var url = settings.url
        url.user = login.user
        let connection: AMQPConnection
        let replyQueue: String
        do {
            connection = try AMQPConnection(url.connectionSettings(password: login.password, heartbeatSeconds: 30, tls: settings.tls, timeoutMilliseconds: 30_000, connectionName: "mfa-worker burst \(index + 1)"))
            replyQueue = try connection.declareQueue("", exclusive: true, autoDelete: true).queue
            try connection.consume(queue: replyQueue, noAck: true)
        } catch {
            result.connectFailed = true
            result.errors["connection_failed"] = quota
            gate.arrive()
            return result
        }
        defer { connection.close() }

        bodies = settings.accounts.map { account in
            var text = #"{"account":"\#(account)""#
            if let minValidity = settings.minValidityMilliseconds { text += #","min_validity_ms":\#(minValidity)"# }
            if let maxWait = settings.maxWaitMilliseconds { text += #","max_wait_ms":\#(maxWait)"# }
            return Array((text + "}").utf8)
        }
        expected = settings.accounts.map { _ in nil }
        result.accounts = settings.accounts.map { _ in AccountTally() }

        gate.arrive()
        result.startedAt = DispatchTime.now().uptimeNanoseconds
        do {
            while result.sent < quota && inflight.count < settings.inflight {
                try send(connection, replyQueue: replyQueue)
            }
            while !inflight.isEmpty {
                let event = try connection.nextEvent(timeoutMilliseconds: 20)
                if case .delivery(let delivery) = event {
                    receive(delivery)
                    while result.sent < quota && inflight.count < settings.inflight {
                        try send(connection, replyQueue: replyQueue)
                    }
                }
                expire()
                while result.sent < quota && inflight.count < settings.inflight {
                    try send(connection, replyQueue: replyQueue)
                }
            }
        } catch {
            result.errors["connection_lost", default: 0] += inflight.count + (quota - result.sent)
        }
        result.finishedAt = DispatchTime.now().uptimeNanoseconds
        return result
    }

    private func send(_ connection: AMQPConnection, replyQueue: String) throws(AMQPError) {
        nextNumber += 1
        let properties = MessageProperties(
            contentType: "application/json",
            correlationID: correlationID(nextNumber),
            replyTo: replyQueue,
            expiration: String(settings.timeoutMilliseconds),
            type: "mfa-code-request",
            userID: settings.logins[index % settings.logins.count].user
        )
        // Accounts in turn across the whole burst, not per connection.
        let account = (result.sent * max(1, settings.connections) + index) % bodies.count
        inflight[nextNumber] = (DispatchTime.now().uptimeNanoseconds, account)
        try connection.publish(routingKey: settings.requestQueue, properties: properties, body: bodies[account])
        result.sent += 1
        progress.sent.add(1, ordering: .relaxed)
    }

    /// `c<connection>-<number>`, cheap to make and to read back.
    private func correlationID(_ number: UInt64) -> [UInt8] {
        Array("c\(index)-\(number)".utf8)
    }

    private func number(of correlationID: [UInt8]?) -> UInt64? {
        guard let correlationID, let dash = correlationID.firstIndex(of: UInt8(ascii: "-")) else { return nil }
        var value: UInt64 = 0
        for byte in correlationID[(dash + 1)...] {
            guard (0x30...0x39).contains(byte) else { return nil }
            value = value * 10 + UInt64(byte - 0x30)
        }
        return value
    }

    private func receive(_ delivery: Delivery) {
        guard let number = number(of: delivery.properties.correlationID), let (sentAt, account) = inflight.removeValue(forKey: number) else {
            return // late (already timed out) or not ours
        }
        let micros = max(1, (DispatchTime.now().uptimeNanoseconds - sentAt) / 1000)
        _ = result.latencyMicroseconds.record(micros)
        progress.answered.add(1, ordering: .relaxed)
        guard let reply = ReplyScanner.scan(delivery.body) else {
            result.errors["invalid_reply", default: 0] += 1
            result.accounts[account].errors["invalid_reply", default: 0] += 1
            return
        }
        if reply.status == "ok" {
            result.ok += 1
            result.accounts[account].ok += 1
            _ = result.accounts[account].waits.record(micros)
            if let start = reply.windowStart { result.accounts[account].windows[start, default: 0] += 1 }
            if let verifier = settings.verifiers[settings.accounts[account]] {
                if !check(reply, account: account, with: verifier) { result.wrongCodes += 1 }
            }
        } else {
            let kind = reply.error ?? "invalid_reply"
            result.errors[kind, default: 0] += 1
            result.accounts[account].errors[kind, default: 0] += 1
        }
    }

    private func check(_ reply: ReplyScanner.Result, account: Int, with verifier: TOTPGenerator) -> Bool {
        guard let start = reply.windowStart, let code = reply.code else { return false }
        if expected[account]?.windowStart != start {
            let period = Int64(verifier.parameters.period)
            guard start >= 0, start % period == 0 else { return false }
            expected[account] = (start, verifier.code(for: TOTPWindow(counter: UInt64(start / period), period: Int(period))).digits)
        }
        return expected[account]?.code == code
    }

    private func expire() {
        let now = DispatchTime.now().uptimeNanoseconds
        let limit = UInt64(settings.timeoutMilliseconds) * 1_000_000
        for (number, request) in inflight where now - request.sentAt > limit {
            inflight.removeValue(forKey: number)
            result.timeouts += 1
            result.accounts[request.account].errors["timeout", default: 0] += 1
        }
    }
}
