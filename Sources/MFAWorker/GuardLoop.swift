import AMQP
import Foundation
import Logging
import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP

/// Reads the guard log (`<queue>.guard`, a stream) into a ``GuardBook``:
/// one thread and connection per worker process. Every replica reads the
/// same records in the same order, so every replica holds the same pauses;
/// the replica that received a login outcome answers it once the log has
/// decided it, and says when it began a pause (log line, audit record).
///
/// On each connection it reads the log again from as far back as a pause
/// and its causes can reach, after writing a marker: once the marker comes
/// back, everything before it is read, and the consumer threads may serve.
final class GuardLoop: ConnectionSession {
    /// Unacknowledged stream deliveries (a stream consumer needs a prefetch),
    /// acknowledged a batch at a time.
    static let prefetch = 2000
    static let ackBatch = 500
    /// How long the consumer threads wait for the log to be read before
    /// they consume; and, when the guard reader cannot reach the log at
    /// all (no connection, no permission), when accounts with a guard are
    /// served without it rather than not at all.
    static let startupWaitMilliseconds: Int64 = 15_000
    static let threadName = "guard"

    let runtime: WorkerRuntime
    let shared: SharedWorkerState
    var logger: Logger

    private let output: ReplyOutput
    private var book: GuardBook
    private var state: ServiceState
    private var marker: UInt64 = 0
    private var caughtUp = false
    private var everCaughtUp = false
    /// The reader has consumed the log at least once (however far it got).
    private var everConnected = false
    private var servingWithout = false
    private let started = SystemTime.unixMilliseconds()
    private var published = PauseTable.unknown
    /// Pauses in force when this reader last looked, to say when each is over.
    private var watched: [String: GuardBook.Pause] = [:]
    private var unacknowledged: (count: Int, last: UInt64) = (0, 0)
    private var dropped = CountedNotices<String>(burst: 1)

    init(runtime: WorkerRuntime, shared: SharedWorkerState, logger: Logger) {
        let runtime = runtime.naming(connections: "mfa-worker guard")
        self.runtime = runtime
        self.shared = shared
        var logger = logger
        logger[metadataKey: "worker"] = "guard"
        self.logger = logger
        output = ReplyOutput(shared: shared, logger: logger, login: runtime.login)
        state = shared.currentState()
        book = GuardBook(accounts: state.accounts)
    }

    func run() {
        Reconnecting(runtime: runtime, shared: shared, logger: logger, firstEndpoint: 0).run(self)
    }

    var unansweredOnStop: String { "login outcomes not yet read back are not answered" }

    func start(_ connection: AMQPConnection) throws(AMQPError) {
        try runtime.declareGuardQueue(on: connection)
        try connection.setPrefetch(Self.prefetch)
        state = shared.currentState()
        // Read again from scratch: the log is the truth, not this process.
        // The pauses already shared stay in force until the new reading
        // has caught up.
        book = GuardBook(accounts: state.accounts)
        caughtUp = false
        unacknowledged = (0, 0)
        let back = GuardBook.replaySeconds(for: state.accounts)
        try connection.consume(queue: runtime.guardQueue, arguments: [("x-stream-offset", .string("\(back)s"))])
        everConnected = true
        if servingWithout {
            // The log is reachable after all: nothing is served unchecked
            // from here until it is read.
            servingWithout = false
            shared.setPauses(.unknown)
            logger.notice("reading the guard log", metadata: ["reason": "it is reachable again; accounts with a guard wait until it is read"])
        }
        marker = UInt64.random(in: 1...UInt64(Int64.max))
        _ = try connection.publish(GuardRecord.marker(origin: shared.guardOrigin, id: marker), to: runtime.guardQueue, as: runtime.login)
    }

    func serve(_ connection: AMQPConnection) throws(AMQPError) {
        shared.report(thread: Self.threadName, runs: state.generation)
        while !shared.isStopping {
            if shared.stateGeneration != state.generation {
                state = shared.currentState()
                book.replaceAccounts(state.accounts)
                shared.report(thread: Self.threadName, runs: state.generation)
            }
            let event = try connection.nextEvent(timeoutMilliseconds: 200)
            let now = SystemTime.unixMilliseconds()
            switch event {
            case .delivery(let delivery):
                read(delivery, now: now, connection)
                unacknowledged = (unacknowledged.count + 1, delivery.deliveryTag)
                if unacknowledged.count >= Self.ackBatch { try acknowledge(connection) }
            case .returned(let message):
                output.returned(message)
            case .consumerCancelled:
                throw .library(operation: "guard log", reason: "the broker cancelled the guard log's consumer")
            case .channelClosed(let code, let text):
                throw .channelClosed(code: code, text: text)
            case .timeout:
                try acknowledge(connection)
                LogSink.flush()
                shared.audit.flush()
            case .publisherAck, .publisherNack, .blocked:
                break
            }
            if caughtUp { watchPauses(now: now) }
            publishPauses(now: now)
        }
    }

    private func acknowledge(_ connection: AMQPConnection) throws(AMQPError) {
        guard unacknowledged.count > 0 else { return }
        try connection.ack(deliveryTag: unacknowledged.last, multiple: true)
        unacknowledged = (0, 0)
    }

    /// Says once when each pause in force is over (never for pauses read
    /// back that had ended before: a reconnect repeats nothing).
    private func watchPauses(now: Int64) {
        for (account, pause) in book.pauses where pause.until > now && watched[account] != pause {
            watched[account] = pause
        }
        for (account, pause) in watched where pause.until <= now {
            watched[account] = nil
            logger.notice("pause over", metadata: ["account": .string(account), "reason": .string("paused since \(Self.time(pause.from))")])
            shared.audit.recordPause(account: account, outcome: "pause_ended")
        }
    }

    func shutDown(_ connection: AMQPConnection) throws(AMQPError) {}

    /// A reader that has never reached the log (no connection, no
    /// permission) cannot hold the service up for ever: past the start-up
    /// wait, accounts with a guard are served without it, and the log says
    /// so. A reader that has reached it, however slowly it reads or often
    /// it reconnects, keeps them waiting instead.
    func connectionLost() {
        guard !everConnected, !everCaughtUp, !servingWithout, SystemTime.unixMilliseconds() - started >= Self.startupWaitMilliseconds else {
            return
        }
        servingWithout = true
        shared.setPauses(PauseTable())
        logger.error(
            "serving without the guard log",
            metadata: [
                "reason": .string(
                    "the guard reader cannot read \(runtime.guardQueue) (see its connection lines; the worker's login needs configure, write and read on it): pauses are not known, outcomes are not answered"
                )
            ])
    }

    // MARK: - Records

    private func read(_ delivery: Delivery, now: Int64, _ connection: AMQPConnection) {
        let properties = delivery.properties
        guard let user = properties.userID, state.workerLogins.contains(UserName(user)) else {
            return drop("not written by a worker login", user: properties.userID, now: now)
        }
        guard let record = GuardRecord.decode(type: properties.type, body: delivery.body) else {
            // From a worker login, so not forged: a record of another
            // version of the worker (a rolling upgrade), or something a
            // worker published there by mistake. Skipped, said once a
            // minute, and not counted as foreign.
            if case .say = dropped.note("other", "skipped", now: now) {
                logger.notice(
                    "guard log record skipped",
                    metadata: ["reason": .string("a worker login's message this version does not read (type \(properties.type ?? "none"))")])
            }
            return
        }
        switch book.apply(record) {
        case .none:
            break
        case .outcome(let origin, let id, let account, let verdict):
            guard origin == shared.guardOrigin, let claim = shared.takeClaim(id) else { return }
            answer(claim, account: account, verdict: verdict, now: now, connection)
        case .resumed(_, _, let account, let ended):
            watched[account] = nil
            publishPauses(now: now)
            if let ended, caughtUp {
                logger.notice(
                    "pause ended by resume",
                    metadata: ["account": .string(account), "reason": .string("paused since \(Self.time(ended.from)); its failure count is cleared")])
                shared.audit.recordPause(account: account, outcome: "resumed")
            }
        case .marker(let origin, let id):
            guard origin == shared.guardOrigin, id == marker, !caughtUp else { return }
            caughtUp = true
            everCaughtUp = true
            servingWithout = false
            publishPauses(now: now)
            let paused = book.pauseTable(now: now).paused(at: now)
            logger.info(
                "guard log read",
                metadata: ["reason": .string(paused.isEmpty ? "no account is paused" : "paused: " + paused.joined(separator: ", "))])
            shared.guardHasCaughtUp()
        }
    }

    /// Answers a login outcome this process received, once the log decided
    /// it: a pause it began is in force (shared with the other threads)
    /// before the answer leaves.
    private func answer(_ claim: OutcomeClaim, account: String, verdict: GuardBook.Verdict, now: Int64, _ connection: AMQPConnection) {
        let name = claim.outcome.outcomeName
        var failures: Int?
        let verdictName: String
        switch verdict {
        case .counted(let count, let pause):
            verdictName = "counted"
            if !claim.outcome.succeeded { failures = count }
            if let pause {
                publishPauses(now: now)
                logger.warning(
                    "account paused by its lockout guard",
                    metadata: [
                        "account": .string(account),
                        "reason": .string(
                            "\(count) failed logins within its within_s; paused until \(Self.time(pause.until)) (mfa-worker resume \(account) ends it early)"),
                    ])
                shared.audit.recordPause(account: account, outcome: "paused", untilMilliseconds: pause.until, failures: count)
            }
        case .repeated: verdictName = "repeated"
        case .refused: verdictName = "refused"
        }
        shared.metrics.loginOutcome(name, verdict: verdictName)
        shared.audit.recordOutcome(claim, verdict: verdictName, failures: failures)
        var metadata: Logger.Metadata = [
            "requester": .string(claim.requester), "account": .string(account), "window_start": .string(String(claim.outcome.windowStart)),
            "outcome": .string("login_" + name), "verdict": .string(verdictName),
        ]
        if let failures { metadata["failures"] = .string(String(failures)) }
        if let reason = claim.outcome.reason { metadata["reason"] = .string(reason) }
        logger.info("login outcome", metadata: metadata)
        guard let reply = claim.answer(verdict, maxTTLMilliseconds: Int64(state.reply.maxTTLMilliseconds), now: now) else { return }
        do {
            _ = try output.publish(reply, connection, audited: false)
        } catch {
            logger.warning("could not answer a login outcome", metadata: ["requester": .string(claim.requester), "reason": .string("\(error)")])
        }
    }

    /// Shares the pauses with the other threads, once this reading has
    /// caught up (a partial reading would lift pauses it has not reached).
    private func publishPauses(now: Int64) {
        guard caughtUp else { return }
        let table = book.pauseTable(now: now)
        guard table != published else { return }
        published = table
        shared.setPauses(table)
        shared.metrics.setAccountsPaused(table.until.count)
    }

    private func drop(_ reason: String, user: String?, now: Int64) {
        shared.metrics.guardRecordDropped()
        switch dropped.note("guard", reason, now: now) {
        case .say:
            logger.warning(
                "guard log message dropped",
                metadata: ["reason": .string("\(reason) (user_id \(user ?? "none"))")])
        case .summarize(let counts):
            logger.warning("guard log messages dropped", metadata: ["reason": .string(CountedNotices<String>.describe(counts) + " since the last such line")])
        case .hold:
            break
        }
    }

    static func time(_ milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000).ISO8601Format()
    }
}
