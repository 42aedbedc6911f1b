import CClock
import CoreMetrics
import Metrics
import MFAProtocol
import MFAWorkerCore
import Prometheus

/// The worker's metrics, through swift-metrics into a Prometheus registry.
///
/// Counters and the duration histogram are updated on the hot path (atomic
/// increments, one histogram lock); gauges that describe state are set from
/// ``WorkerStatistics`` when scraped. No label ever holds a code or a secret:
/// the only label is the outcome.
public final class WorkerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let outcomes: [Outcome: CoreMetrics.Counter]
    private let duration: CoreMetrics.Timer
    private let inFlight: CoreMetrics.Meter
    private let pending: CoreMetrics.Gauge
    private let reconnects: CoreMetrics.Gauge
    private let unroutable: CoreMetrics.Gauge
    private let sinceLastDelivery: CoreMetrics.Gauge
    private let clockSynchronized: CoreMetrics.Gauge
    private let turnAccountsHeld: CoreMetrics.Gauge
    private let turnMessagesDropped: [TurnDrop: CoreMetrics.Counter]
    let statistics: WorkerStatistics

    public init(statistics: WorkerStatistics) {
        self.statistics = statistics
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(5), .seconds(30),
        ]
        // One factory per worker instead of the process-wide bootstrap, so
        // that these metrics go to this registry whatever else is set up.
        var counters: [Outcome: CoreMetrics.Counter] = [:]
        for outcome in Outcome.allCases {
            counters[outcome] = CoreMetrics.Counter(label: "mfa_requests_total", dimensions: [("outcome", outcome.rawValue)], factory: factory)
        }
        outcomes = counters
        duration = CoreMetrics.Timer(label: "mfa_request_duration_seconds", factory: factory)
        inFlight = CoreMetrics.Meter(label: "mfa_requests_in_flight", factory: factory)
        pending = CoreMetrics.Gauge(label: "mfa_replies_pending", factory: factory)
        reconnects = CoreMetrics.Gauge(label: "mfa_reconnects_total", factory: factory)
        unroutable = CoreMetrics.Gauge(label: "mfa_replies_unroutable_total", factory: factory)
        sinceLastDelivery = CoreMetrics.Gauge(label: "mfa_seconds_since_last_delivery", factory: factory)
        clockSynchronized = CoreMetrics.Gauge(label: "mfa_clock_synchronized", factory: factory)
        turnAccountsHeld = CoreMetrics.Gauge(label: "mfa_turn_accounts_held", factory: factory)
        var dropped: [TurnDrop: CoreMetrics.Counter] = [:]
        for reason in TurnDrop.allCases {
            dropped[reason] = CoreMetrics.Counter(label: "mfa_turn_messages_dropped_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        turnMessagesDropped = dropped
        // Zero until the first check, then as the clock monitor says.
        clockSynchronized.record(0)
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

    func setClockSynchronized(_ synchronized: Bool) {
        clockSynchronized.record(synchronized ? 1 : 0)
    }

    /// The Prometheus text, with the state gauges brought up to date.
    public func scrape(nowMilliseconds: Int64) -> [UInt8] {
        pending.record(statistics.repliesPending.load(ordering: .relaxed))
        reconnects.record(statistics.reconnects.load(ordering: .relaxed))
        unroutable.record(statistics.unroutableReplies.load(ordering: .relaxed))
        turnAccountsHeld.record(statistics.turnAccountsHeld.load(ordering: .relaxed))
        let last = statistics.lastDeliveryMilliseconds.load(ordering: .relaxed)
        sinceLastDelivery.record(last == 0 ? -1 : Double(nowMilliseconds - last) / 1000)
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
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
