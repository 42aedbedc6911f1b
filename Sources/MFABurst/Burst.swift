import AMQP
import Foundation
import Histogram
import MFAProtocol
import Synchronization
import TOTP

/// A load test of concurrent login bursts.
///
/// Closed loop (the default): K connections, each keeping W requests in
/// flight, optionally all starting at one instant; a connection sends its
/// next request when an answer comes back.
///
/// Open loop (`settings.schedule`): the requests go out on a schedule of
/// their own (`ArrivalSchedule`), spread over the connections, whatever the
/// answers do, and each request's latency runs from the time the schedule
/// gave it. A stalled worker then shows as every request scheduled during
/// the stall waiting, not as one slow request per connection.
public final class Burst: Sendable {
    public let settings: BurstSettings
    let progress = BurstProgress()

    public init(_ settings: BurstSettings) {
        self.settings = settings
    }

    /// What the progress callback sees.
    public struct Progress: Sendable {
        public var sent: Int
        public var answered: Int
        /// Seconds since the start.
        public var elapsed: Double
        /// Open loop: requests the schedule has sent by now.
        public var scheduled: Int?
        /// Open loop: the latest send's lateness against its scheduled time, at most over the last interval.
        public var behindMilliseconds: Double?
    }

    /// Runs the burst; `onProgress` is called every `progressInterval`
    /// seconds from the calling thread.
    public func run(progressInterval: Double = 0.5, onProgress: (Progress) -> Void = { _ in }) -> BurstReport {
        let connections = max(1, settings.connections)
        let open = settings.schedule != nil
        let start = StartGate(parties: connections, atOnce: settings.atOnce || open)
        let results = Mutex<[ConnectionResult]>([])
        let group = DispatchGroup()
        let launchedAt = DispatchTime.now().uptimeNanoseconds
        for index in 0..<connections {
            let pacing: ConnectionDriver.Pacing
            if let schedule = settings.schedule {
                pacing = .open(schedule: schedule)
            } else {
                pacing = .closed(quota: settings.requests / connections + (index < settings.requests % connections ? 1 : 0))
            }
            let driver = ConnectionDriverStarter(index: index, pacing: pacing, burst: self, gate: start)
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
        let began = open ? start.openedAt : DispatchTime.now().uptimeNanoseconds
        let wallClockStart = Date().timeIntervalSince1970 - Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
        let interval = Int(max(0.05, progressInterval) * 1000)
        while group.wait(timeout: .now() + .milliseconds(interval)) == .timedOut {
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            let behind = progress.worstLag.exchange(0, ordering: .relaxed)
            onProgress(
                Progress(
                    sent: progress.sent.load(ordering: .relaxed), answered: progress.answered.load(ordering: .relaxed), elapsed: elapsed,
                    scheduled: settings.schedule.map { $0.due(before: elapsed) }, behindMilliseconds: open ? Double(behind) / 1e6 : nil
                ))
        }
        let all = results.withLock { $0 }
        return BurstTally(settings: settings, results: all, origin: open ? began : nil, wallClockStart: wallClockStart, launchedAt: launchedAt).report()
    }
}

/// Live counters for the progress line.
final class BurstProgress: Sendable {
    let sent = Atomic<Int>(0)
    let answered = Atomic<Int>(0)
    /// The largest send lateness (ns) since the progress line last read it.
    let worstLag = Atomic<Int>(0)

    func noteLag(_ nanoseconds: Int) {
        var current = worstLag.load(ordering: .relaxed)
        while nanoseconds > current {
            let (exchanged, original) = worstLag.compareExchange(expected: current, desired: nanoseconds, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

/// Holds every connection until all are connected, then releases them at
/// one instant (`--at-once`, and always in open loop); without it, each
/// starts when ready.
final class StartGate: Sendable {
    private let state: Mutex<(ready: Int, open: Bool, openedAt: UInt64)>
    private let condition = NSCondition()
    let parties: Int
    let atOnce: Bool
    /// Connections being opened at one time: a broker that gets thousands
    /// of handshakes at once refuses the ones it cannot finish within its
    /// `handshake_timeout` (10 s), so they queue here instead.
    let opening = DispatchSemaphore(value: StartGate.openingAtOnce)
    static let openingAtOnce = 100

    init(parties: Int, atOnce: Bool) {
        self.parties = parties
        self.atOnce = atOnce
        state = Mutex((0, !atOnce, 0))
    }

    /// When the gate opened (uptime ns; 0 without at-once).
    var openedAt: UInt64 { state.withLock { $0.openedAt } }

    /// A connection is ready (or failed); waits for the gate when at once.
    func arrive() {
        condition.lock()
        let open = state.withLock { state -> Bool in
            state.ready += 1
            if state.ready >= parties, !state.open {
                state.open = true
                state.openedAt = DispatchTime.now().uptimeNanoseconds
            }
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

/// One request as it went: when it was due, sent and finished (uptime ns),
/// and how (an index into `ConnectionResult.kinds`).
struct RequestRecord: Sendable {
    var intended: UInt64
    /// 0: never sent (its connection failed or was lost first).
    var sent: UInt64
    var done: UInt64
    var outcome: UInt16
}

struct ConnectionResult: Sendable {
    var sent = 0
    var ok = 0
    var errors: [String: Int] = [:]
    var timeouts = 0
    var wrongCodes = 0
    var connectFailed = false
    /// Why the connection failed, when it did (``ConnectionDriver/reason(_:)``).
    var connectFailure: String?
    /// When the connection was open, or had failed (uptime ns).
    var connectedAt: UInt64 = 0
    var startedAt: UInt64 = 0
    var finishedAt: UInt64 = 0
    /// By the account's index in the settings.
    var accounts: [AccountTally] = []
    var latencyMicroseconds = BurstTally.latencyHistogram()
    var records: [RequestRecord] = []
    /// Outcome names by `RequestRecord.outcome`; the first three are fixed.
    var kinds = ["ok", "timeout", "connection_lost"]

    static let okOutcome: UInt16 = 0
    static let timeoutOutcome: UInt16 = 1
    static let lostOutcome: UInt16 = 2

    /// Whether an outcome is a reply from the worker (not a timeout or a lost connection).
    func isReply(_ outcome: UInt16) -> Bool {
        outcome == Self.okOutcome || (outcome > Self.lostOutcome && !BurstTally.notReplies.contains(kinds[Int(outcome)]))
    }

    mutating func outcome(named kind: String) -> UInt16 {
        if let index = kinds.firstIndex(of: kind) { return UInt16(index) }
        kinds.append(kind)
        return UInt16(kinds.count - 1)
    }
}

/// What one account's requests got: codes per window, waits, errors.
struct AccountTally: Sendable {
    var ok = 0
    var errors: [String: Int] = [:]
    /// window_start -> codes of that window received.
    var windows: [Int64: Int] = [:]
    /// For a pool: member -> window_start -> codes of that member's window.
    var members: [String: [Int64: Int]] = [:]
    /// Send (or, in open loop, scheduled send) to reply, in µs, of the requests that got a code.
    var waits = BurstTally.latencyHistogram()

    mutating func add(_ other: AccountTally) {
        ok += other.ok
        for (kind, count) in other.errors { errors[kind, default: 0] += count }
        for (start, count) in other.windows { windows[start, default: 0] += count }
        for (member, counts) in other.members {
            for (start, count) in counts { members[member, default: [:]][start, default: 0] += count }
        }
        waits.add(other.waits)
    }
}

private final class ConnectionDriverStarter: Sendable {
    let index: Int
    let pacing: ConnectionDriver.Pacing
    let burst: Burst
    let gate: StartGate

    init(index: Int, pacing: ConnectionDriver.Pacing, burst: Burst, gate: StartGate) {
        self.index = index
        self.pacing = pacing
        self.burst = burst
        self.gate = gate
    }

    func run() -> ConnectionResult {
        ConnectionDriver(index: index, pacing: pacing, settings: burst.settings, progress: burst.progress, gate: gate).run()
    }
}

/// One connection of the burst, on its own thread.
final class ConnectionDriver {
    /// How the connection decides when to send.
    enum Pacing: Sendable {
        /// `quota` requests, `settings.inflight` at a time.
        case closed(quota: Int)
        /// Requests index, index + K, index + 2K, ... of the schedule (K
        /// connections), each at its time.
        case open(schedule: ArrivalSchedule)
    }

    struct InFlight {
        var intended: UInt64
        var sent: UInt64
        var account: Int
    }

    let index: Int
    let pacing: Pacing
    let settings: BurstSettings
    let progress: BurstProgress
    let gate: StartGate
    private var result = ConnectionResult()
    /// Request number -> its times and the account's index.
    private var inflight: [UInt64: InFlight] = [:]
    /// (request number, deadline) in the order sent: deadlines only grow,
    /// so expiring looks at the front alone.
    private var deadlines: [(number: UInt64, deadline: UInt64)] = []
    private var deadlinesHead = 0
    private var nextNumber: UInt64 = 0
    /// One request body per account.
    private var bodies: [[UInt8]] = []
    /// Per account, the expected code of the last window seen: computed once
    /// per window, so that checking costs the load generator next to nothing.
    private var expected: [String: (windowStart: Int64, code: String)] = [:]

    init(index: Int, pacing: Pacing, settings: BurstSettings, progress: BurstProgress, gate: StartGate) {
        self.index = index
        self.pacing = pacing
        self.settings = settings
        self.progress = progress
        self.gate = gate
    }

    private var connections: Int { max(1, settings.connections) }

    func run() -> ConnectionResult {
        let login = settings.logins[index % settings.logins.count]
        var url = settings.url
        url.user = login.user
        let connection: AMQPConnection
        let replyQueue: String
        gate.opening.wait()
        do {
            defer { gate.opening.signal() }
            connection = try AMQPConnection(
                url.connectionSettings(
                    password: login.password, heartbeatSeconds: 30, tls: settings.tls, timeoutMilliseconds: 30_000,
                    connectionName: "mfa-worker burst \(index + 1)"))
            replyQueue = try connection.declareQueue("", exclusive: true, autoDelete: true).queue
            try connection.consume(queue: replyQueue, noAck: true)
        } catch {
            result.connectFailed = true
            result.connectFailure = Self.reason(error)
            result.connectedAt = DispatchTime.now().uptimeNanoseconds
            gate.arrive()
            switch pacing {
            case .closed(let quota):
                result.errors["connection_failed"] = quota
            case .open(let schedule):
                abandon(schedule: schedule, from: index, origin: gate.openedAt, kind: "connection_failed")
            }
            return result
        }
        defer { connection.close() }

        bodies = settings.accounts.map { account in
            RequestBody(account: account, minValidityMilliseconds: settings.minValidityMilliseconds, maxWaitMilliseconds: settings.maxWaitMilliseconds)
                .encoded()
        }
        result.accounts = settings.accounts.map { _ in AccountTally() }

        result.connectedAt = DispatchTime.now().uptimeNanoseconds
        gate.arrive()
        result.startedAt = DispatchTime.now().uptimeNanoseconds
        switch pacing {
        case .closed(let quota):
            runClosed(connection, replyQueue: replyQueue, quota: quota)
        case .open(let schedule):
            runOpen(connection, replyQueue: replyQueue, schedule: schedule, origin: gate.openedAt)
        }
        result.finishedAt = DispatchTime.now().uptimeNanoseconds
        return result
    }

    /// Why a connection failed, as a few words that many failures share
    /// (no address, user or port: they would make each reason unique).
    static func reason(_ error: any Error) -> String {
        guard let error = error as? AMQPError else { return "other" }
        switch error {
        case .connectFailed(_, let reason): return reason.isEmpty ? "connect failed" : reason
        case .loginRefused: return "login refused"
        case .channelClosed(let code, _): return "channel closed \(code)"
        case .connectionClosed(let code, _): return "connection closed \(code)"
        case .connectionLost: return "connection lost"
        case .tlsSetup: return "TLS set-up"
        case .library(let operation, _): return "\(operation) failed"
        }
    }

    private func runClosed(_ connection: AMQPConnection, replyQueue: String, quota: Int) {
        func fill() throws(AMQPError) {
            while result.sent < quota && inflight.count < settings.inflight {
                nextNumber += 1
                // Accounts in turn across the whole burst, not per connection.
                let account = (result.sent * connections + index) % bodies.count
                try send(connection, replyQueue: replyQueue, number: nextNumber, account: account, intended: nil)
            }
        }
        do {
            try fill()
            while !inflight.isEmpty {
                // Asleep until the first deadline (a second at most): thousands
                // of connections that woke every few ms would take the CPU
                // from the broker they measure.
                switch try connection.nextEvent(timeoutMilliseconds: untilFirstDeadline()) {
                case .delivery(let delivery):
                    receive(delivery)
                    try fill()
                case .returned(let message):
                    returned(message)
                    try fill()
                default:
                    break
                }
                expire()
                try fill()
            }
        } catch {
            let lost = inflight.count + (quota - result.sent)
            loseInFlight()
            result.errors["connection_lost", default: 0] += lost
        }
    }

    private func runOpen(_ connection: AMQPConnection, replyQueue: String, schedule: ArrivalSchedule, origin: UInt64) {
        let total = schedule.count
        var next = index
        func due(_ n: Int) -> UInt64 { origin + UInt64(schedule.seconds(of: n) * 1e9) }
        do {
            while true {
                let now = DispatchTime.now().uptimeNanoseconds
                while next < total, due(next) <= now {
                    try send(connection, replyQueue: replyQueue, number: UInt64(next), account: next % bodies.count, intended: due(next))
                    next += connections
                }
                expire()
                if next >= total && inflight.isEmpty { break }
                var wait = 20
                if next < total {
                    let until = due(next) - min(due(next), DispatchTime.now().uptimeNanoseconds)
                    wait = min(20, Int((until + 999_999) / 1_000_000))
                }
                switch try connection.nextEvent(timeoutMilliseconds: wait) {
                case .delivery(let delivery): receive(delivery)
                case .returned(let message): returned(message)
                default: break
                }
            }
        } catch {
            result.errors["connection_lost", default: 0] += inflight.count
            loseInFlight()
            abandon(schedule: schedule, from: next, origin: origin, kind: "connection_lost")
        }
    }

    /// This connection's requests from `first` on that were never sent.
    private func abandon(schedule: ArrivalSchedule, from first: Int, origin: UInt64, kind: String) {
        let total = schedule.count
        guard first < total else { return }
        let outcome = result.outcome(named: kind)
        let now = DispatchTime.now().uptimeNanoseconds
        var count = 0
        for n in stride(from: first, to: total, by: connections) {
            let intended = origin + UInt64(schedule.seconds(of: n) * 1e9)
            result.records.append(RequestRecord(intended: intended, sent: 0, done: max(now, intended), outcome: outcome))
            let account = n % max(1, settings.accounts.count)
            if account < result.accounts.count { result.accounts[account].errors[kind, default: 0] += 1 }
            count += 1
        }
        result.errors[kind, default: 0] += count
    }

    private func loseInFlight() {
        let now = DispatchTime.now().uptimeNanoseconds
        for request in inflight.values {
            result.records.append(RequestRecord(intended: request.intended, sent: request.sent, done: now, outcome: ConnectionResult.lostOutcome))
        }
        inflight.removeAll()
    }

    /// Sends one request; `intended` is its scheduled time in open loop (nil: now).
    private func send(_ connection: AMQPConnection, replyQueue: String, number: UInt64, account: Int, intended: UInt64?) throws(AMQPError) {
        let properties = MessageProperties(
            contentType: ProtocolConstants.contentType,
            correlationID: correlationID(number),
            replyTo: replyQueue,
            expiration: String(settings.timeoutMilliseconds),
            type: ProtocolConstants.requestType,
            userID: settings.logins[index % settings.logins.count].user
        )
        let now = DispatchTime.now().uptimeNanoseconds
        let from = intended ?? now
        if now > from { progress.noteLag(Int(now - from)) }
        inflight[number] = InFlight(intended: from, sent: now, account: account)
        deadlines.append((number, from + UInt64(settings.timeoutMilliseconds) * 1_000_000))
        // mandatory: a request queue that does not exist (a worker not
        // started yet, a typo) gives the request back at once, rather than
        // after the timeout.
        try connection.publish(routingKey: settings.requestQueue, mandatory: true, properties: properties, body: bodies[account])
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
        guard let number = number(of: delivery.properties.correlationID), let request = inflight.removeValue(forKey: number) else {
            return  // late (already timed out) or not ours
        }
        let now = DispatchTime.now().uptimeNanoseconds
        let account = request.account
        let micros = max(1, (now - request.intended) / 1000)
        _ = result.latencyMicroseconds.record(micros)
        progress.answered.add(1, ordering: .relaxed)
        var record = RequestRecord(intended: request.intended, sent: request.sent, done: now, outcome: ConnectionResult.okOutcome)
        defer { result.records.append(record) }
        // The protocol's own reader: the same strict JSON as the worker's.
        switch ReplyMessage.decode(delivery.body) {
        case .code(let member, let code, _, _, let start, _, _, _, let pool):
            result.ok += 1
            result.accounts[account].ok += 1
            _ = result.accounts[account].waits.record(micros)
            result.accounts[account].windows[start, default: 0] += 1
            if pool != nil { result.accounts[account].members[member, default: [:]][start, default: 0] += 1 }
            // A pool's reply names the member whose code it is: checked
            // with that member's key, when it is one of the accounts asked.
            let asked = settings.accounts[account]
            let name = pool == nil ? asked : member
            if let verifier = settings.verifiers[name] {
                if !check(code, windowStart: start, account: name, with: verifier) { result.wrongCodes += 1 }
            }
        case .error(let kind, _, _):
            record.outcome = countError(kind, account: account)
        case .accepted, nil:
            record.outcome = countError("invalid_reply", account: account)
        }
    }

    /// A request the broker gave back: no queue of that name.
    private func returned(_ message: ReturnedMessage) {
        guard let number = number(of: message.properties.correlationID), let request = inflight.removeValue(forKey: number) else { return }
        let outcome = countError(Self.noRequestQueue, account: request.account)
        result.records.append(RequestRecord(intended: request.intended, sent: request.sent, done: DispatchTime.now().uptimeNanoseconds, outcome: outcome))
    }

    /// Counts one error of `kind` for the run and the account; returns its outcome.
    private func countError(_ kind: String, account: Int) -> UInt16 {
        result.errors[kind, default: 0] += 1
        result.accounts[account].errors[kind, default: 0] += 1
        return result.outcome(named: kind)
    }

    /// The error a returned request counts as.
    static let noRequestQueue = "no_request_queue"

    private func check(_ code: String, windowStart start: Int64, account: String, with verifier: TOTPGenerator) -> Bool {
        if expected[account]?.windowStart != start {
            let period = Int64(verifier.parameters.period)
            guard start >= 0, start % period == 0 else { return false }
            expected[account] = (start, verifier.code(for: TOTPWindow(counter: UInt64(start / period), period: Int(period))).digits)
        }
        return expected[account]?.code == code
    }

    /// Milliseconds until the earliest unanswered request times out, 1 to 1000.
    private func untilFirstDeadline() -> Int {
        guard deadlinesHead < deadlines.count else { return 1000 }
        let now = DispatchTime.now().uptimeNanoseconds
        let due = deadlines[deadlinesHead].deadline
        return due <= now ? 1 : Int(min(1000, max(1, (due - now) / 1_000_000 + 1)))
    }

    /// Requests unanswered past their deadline are timeouts.
    private func expire() {
        let now = DispatchTime.now().uptimeNanoseconds
        while deadlinesHead < deadlines.count, deadlines[deadlinesHead].deadline < now {
            let number = deadlines[deadlinesHead].number
            deadlinesHead += 1
            guard let request = inflight.removeValue(forKey: number) else { continue }
            result.timeouts += 1
            result.accounts[request.account].errors["timeout", default: 0] += 1
            result.records.append(RequestRecord(intended: request.intended, sent: request.sent, done: now, outcome: ConnectionResult.timeoutOutcome))
        }
        if deadlinesHead > 4096 && deadlinesHead * 2 > deadlines.count {
            deadlines.removeFirst(deadlinesHead)
            deadlinesHead = 0
        }
    }
}
