import CClock
import MFAProtocol
import MFAWorkerCore
import Prometheus
import Synchronization
import TOTP

/// The worker's metrics, in a Prometheus registry of its own, named by
/// Prometheus' conventions: every family has a `# HELP` line, what counts is
/// a counter ending in `_total`, units are base units at the end of the name
/// (`_seconds`), and every label has a fixed, small set of values (outcome,
/// sink, version): never a requester, an account, a code or a secret.
///
/// Counters and the duration histogram are updated on the hot path (atomic
/// increments, one histogram lock). Figures that ``WorkerStatistics`` and the
/// output sinks keep as atomics are brought into the registry when scraped:
/// gauges are set, counters advance by what their figure grew since the last
/// scrape (so they stay monotonic and are exported as counters).
public final class WorkerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let outcomes: [Outcome: Counter]
    private let duration: DurationHistogram
    private let inFlight: Gauge
    private let pending: Gauge
    private let consumersActive: Gauge
    private let lastDelivery: Gauge
    private let clockSynchronized: Gauge
    private let turnAccountsHeld: Gauge
    private let brokerBlocked: Gauge
    private let blocks: PublishingBlocks
    private let followed: [FollowedCounter]
    private let turnMessagesDropped: [TurnDrop: Counter]
    private let loginOutcomes: [String: Counter]
    private let accountsPaused: Gauge
    private let guardRecordsDropped: Counter
    let statistics: WorkerStatistics

    /// - Parameters:
    ///   - oncePerWindowAccounts: the accounts with `issue: once_per_window`
    ///     (fixed while the worker runs: changing them needs a restart).
    ///   - auditWriteFailures: the failed writes of the audit trail's sink.
    public init(
        statistics: WorkerStatistics, blocks: PublishingBlocks = PublishingBlocks(), oncePerWindowAccounts: Int = 0,
        auditWriteFailures: @escaping @Sendable () -> Int = { 0 }
    ) {
        self.statistics = statistics
        self.blocks = blocks
        let registry = registry
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
        }
        func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
        }

        var counters: [Outcome: Counter] = [:]
        for outcome in Outcome.allCases {
            counters[outcome] = counter("mfa_requests_total", "Requests answered or rejected, by outcome.", [("outcome", outcome.rawValue)])
        }
        outcomes = counters
        duration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                metricName: "mfa_request_duration_seconds", unitName: "",
                helpText: "Time from a request's delivery to its answer (or rejection), in seconds; held replies count until they are sent."),
            buckets: [
                .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                .milliseconds(500), .seconds(1), .seconds(5), .seconds(30),
            ]
        )
        inFlight = gauge("mfa_requests_in_flight", "Deliveries being handled now.")
        pending = gauge("mfa_replies_pending", "Replies held until their window opens (min_validity_ms, once_per_window turns).")
        consumersActive = gauge("mfa_consumers_active", "Consumer threads consuming the request queue now; 0 while all of them are reconnecting.")
        lastDelivery = gauge("mfa_last_delivery_timestamp_seconds", "Unix time of the last request delivered to this worker; 0 before the first.")
        clockSynchronized = gauge("mfa_clock_synchronized", "1 when the kernel says the clock is synchronised (adjtimex), else 0.")
        turnAccountsHeld = gauge(
            "mfa_turn_accounts_held", "once_per_window accounts whose windows this worker gives out now (across replicas each account is held by one).")
        brokerBlocked = gauge(
            "mfa_broker_blocked", "1 while the broker blocks this worker's publishing (connection.blocked: a memory or disk alarm), else 0.")
        gauge("mfa_turn_accounts_configured", "once_per_window accounts in this worker's configuration.").set(to: Double(oncePerWindowAccounts))
        gauge("mfa_build_info", "Always 1; the version of the running worker is the label.", [("version", WorkerVersion.current)]).set(to: 1)
        gauge("process_start_time_seconds", "Unix time when the worker started.").set(to: Double(SystemTime.unixMilliseconds()) / 1000)

        let writeFailuresHelp =
            "write() calls that failed on an output sink (the lines in them are lost): log is stdout; with audit.path stdout, audit is the same sink."
        var dropped: [TurnDrop: Counter] = [:]
        for reason in TurnDrop.allCases {
            dropped[reason] = counter(
                "mfa_turn_messages_dropped_total",
                "Messages in a turn queue dropped unread: not written by a worker login (untrusted_sender), not decodable, or about another account. Any increase means someone writes into the worker's queues.",
                [("reason", reason.rawValue)])
        }
        turnMessagesDropped = dropped
        var outcomeCounters: [String: Counter] = [:]
        for outcome in ["success", "failure"] {
            for verdict in ["counted", "repeated", "refused"] {
                outcomeCounters[outcome + "/" + verdict] = counter(
                    "mfa_login_outcomes_total",
                    "Login outcomes robots reported, by outcome and by what the guard log made of them: counted, repeated (counted before) or refused (not from a requester handed that window).",
                    [("outcome", outcome), ("verdict", verdict)])
            }
        }
        loginOutcomes = outcomeCounters
        accountsPaused = gauge(
            "mfa_accounts_paused", "Accounts their lockout guard pauses now (failed logins reached max_failures); the log and the audit trail name them.")
        accountsPaused.set(Int64(0))
        guardRecordsDropped = counter(
            "mfa_guard_records_dropped_total",
            "Messages in the guard log dropped unread: not written by a worker login, or not a record. Any increase means someone writes into the worker's queues."
        )
        followed = [
            FollowedCounter(counter("mfa_reconnects_total", "Connections to the broker opened again after one was lost.")) {
                statistics.reconnects.load(ordering: .relaxed)
            },
            FollowedCounter(counter("mfa_replies_unroutable_total", "Replies the broker returned because the requester's queue was gone.")) {
                statistics.unroutableReplies.load(ordering: .relaxed)
            },
            FollowedCounter(counter("mfa_write_failures_total", writeFailuresHelp, [("sink", "log")])) {
                LineSink.standardOutput.failedWrites.load(ordering: .relaxed)
            },
            FollowedCounter(counter("mfa_write_failures_total", writeFailuresHelp, [("sink", "audit")]), auditWriteFailures),
        ]
        // Zero until the first check, then as the clock monitor says.
        clockSynchronized.set(to: 0)
    }

    /// A delivery is being handled.
    @inline(__always)
    func started() { inFlight.increment() }

    /// The delivery's handling is over (answered, held or rejected).
    @inline(__always)
    func settled() { inFlight.decrement() }

    /// A request was answered (or rejected) with `outcome`, `nanoseconds`
    /// after it arrived.
    @inline(__always)
    func counted(_ outcome: Outcome, nanoseconds: UInt64) {
        outcomes[outcome]?.increment()
        duration.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    /// A message in a turn queue was dropped unread (``TurnQueueGuard``).
    func dropped(_ reason: TurnDrop) {
        turnMessagesDropped[reason]?.increment()
    }

    /// A login outcome this worker answered, with the guard log's verdict.
    func loginOutcome(_ outcome: String, verdict: String) {
        loginOutcomes[outcome + "/" + verdict]?.increment()
    }

    func setAccountsPaused(_ count: Int) {
        accountsPaused.set(Int64(count))
    }

    func guardRecordDropped() {
        guardRecordsDropped.increment()
    }

    func setClockSynchronized(_ synchronized: Bool) {
        clockSynchronized.set(to: synchronized ? 1 : 0)
    }

    /// The Prometheus text, with the state gauges and followed counters
    /// brought up to date.
    public func scrape() -> [UInt8] {
        pending.set(Int64(statistics.repliesPending.load(ordering: .relaxed)))
        consumersActive.set(Int64(statistics.consumersActive.load(ordering: .relaxed)))
        turnAccountsHeld.set(Int64(statistics.turnAccountsHeld.load(ordering: .relaxed)))
        brokerBlocked.set(Int64(blocks.isBlocked ? 1 : 0))
        lastDelivery.set(to: Double(statistics.lastDeliveryMilliseconds.load(ordering: .relaxed)) / 1000)
        for counter in followed { counter.catchUp() }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

/// A Prometheus counter that follows a count kept elsewhere (an atomic that
/// only grows): each scrape adds what the count grew by since the last one.
private final class FollowedCounter: Sendable {
    private let counter: Counter
    private let read: @Sendable () -> Int
    private let exported = Atomic<Int>(0)

    init(_ counter: Counter, _ read: @escaping @Sendable () -> Int) {
        self.counter = counter
        self.read = read
    }

    func catchUp() {
        let now = read()
        let before = exported.exchange(now, ordering: .relaxed)
        if now > before { counter.increment(by: Int64(now - before)) }
    }
}

/// The kernel's verdict on the clock (adjtimex, read only).
public enum ClockDiscipline {
    public enum State: Sendable, Equatable {
        case synchronized, unsynchronized, unknown
    }

    public static func current() -> State {
        switch mfa_clock_synchronized() {
        case 1: .synchronized
        case 0: .unsynchronized
        default: .unknown
        }
    }
}
