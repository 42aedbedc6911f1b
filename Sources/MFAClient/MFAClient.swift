import AMQP
import Foundation
import MFABroker
import MFAProtocol
import Synchronization

/// Asks mfa-worker for codes over one AMQP connection, for many callers at
/// once.
///
/// ```swift
/// let client = MFAClient(MFAClientConfiguration(urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@broker/%2F")], password: password))
/// let code = try await client.code(for: "sf-automation-eu", minValidity: .seconds(5), timeout: .seconds(10))
/// ```
///
/// One thread of its own owns the connection (librabbitmq is not
/// thread-safe): it keeps an exclusive, server-named reply queue, matches
/// replies to callers by `correlation_id`, and drops replies nobody waits
/// for any more. When the connection drops (a broker restart takes the
/// reply queue with it), it reconnects with backoff and asks again for
/// every caller still waiting, each request persistent and expiring when
/// its caller would give up.
public final class MFAClient: Sendable {
    public let configuration: MFAClientConfiguration
    let shared: ClientShared

    public init(_ configuration: MFAClientConfiguration) {
        self.configuration = configuration
        shared = ClientShared()
        let loop = ClientLoopStarter(configuration: configuration, shared: shared)
        let thread = Thread { loop.run() }
        thread.name = "mfa-client"
        thread.start()
    }

    deinit { close() }

    /// The current code of `account`, valid for at least `minValidity` (nil:
    /// the worker's default, `reply.default_min_validity_ms`).
    ///
    /// - Throws: ``MFAClientError``: the worker's refusals by kind,
    ///   `timeout` when no answer came within `timeout`, `connectionFailed`
    ///   when no connection could be made in that time (or the login was
    ///   refused). Until this client has seen a worker, it says at once
    ///   what stands in the way instead of waiting: `noRequestQueue`,
    ///   `noWorker` (the queue has no consumer), `connectionRefused` (by
    ///   every broker URL). Once it has seen one, it takes these for a
    ///   restart in progress and waits, reconnecting, up to `timeout`.
    /// - Parameter maxWait: how long the worker may hold the request for
    ///   its window (`max_wait_ms`); a window opening later is `busy` at
    ///   once. Default: what is left of `timeout` when the request is sent,
    ///   less a second for the reply's way back (a tenth of it for short
    ///   timeouts), so that the worker never spends a window on a caller that
    ///   has given up.
    public func code(
        for account: String, minValidity: Duration? = nil, maxWait: Duration? = nil, timeout: Duration = .seconds(10)
    ) async throws(MFAClientError) -> MFACode {
        let id = shared.nextCorrelationID()
        let deadline = ClientClock.now() + max(1, timeout.milliseconds)
        // nil: the worker's default (reply.default_min_validity_ms).
        let minValidityMilliseconds = minValidity?.milliseconds
        let result = await call(
            id: id, account: account, minValidityMilliseconds: minValidityMilliseconds, maxWaitMilliseconds: maxWait?.milliseconds, deadline: deadline)
        switch result {
        case .success(.code(let code)): return code
        case .success(.accepted): throw .invalidReply("an outcome's answer, not a code")
        case .failure(let error): throw error
        }
    }

    /// Tells the worker how a login with a code went (`mfa-login-outcome`,
    /// docs/protocol.md): `account` and `windowStart` as the code's
    /// ``MFACode/account`` and ``MFACode/windowStart``. Failures count
    /// towards the account's lockout guard, which pauses the account before
    /// the site locks its user out.
    ///
    /// - Throws: ``MFAClientError``: `forbidden` when this requester was not
    ///   handed that window's code (or may not report on the account), and
    ///   the errors of ``code(for:minValidity:maxWait:timeout:)``.
    public func reportOutcome(
        account: String, windowStart: Int64, succeeded: Bool, reason: String? = nil, timeout: Duration = .seconds(10)
    ) async throws(MFAClientError) {
        let id = shared.nextCorrelationID()
        let deadline = ClientClock.now() + max(1, timeout.milliseconds)
        let outcome = LoginOutcome(account: account, windowStart: windowStart, succeeded: succeeded, reason: reason)
        let result = await call(id: id, account: account, outcome: outcome, deadline: deadline)
        switch result {
        case .success(.accepted): return
        case .success(.code): throw .invalidReply("a code, not an outcome's answer")
        case .failure(let error): throw error
        }
    }

    private func call(
        id: [UInt8], account: String, minValidityMilliseconds: Int64? = nil, maxWaitMilliseconds: Int64? = nil, outcome: LoginOutcome? = nil,
        deadline: Int64
    ) async -> Result<ClientAnswer, MFAClientError> {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                var pending = PendingCall(
                    id: id, account: account, minValidityMilliseconds: minValidityMilliseconds,
                    maxWaitMilliseconds: maxWaitMilliseconds, deadline: deadline, continuation: continuation
                )
                pending.outcome = outcome
                if !shared.add(pending) {
                    continuation.resume(returning: .failure(.closed))
                }
            }
        } onCancel: {
            shared.finish(id, with: .failure(.cancelled))
        }
    }

    /// Fails every waiting call with `closed` and closes the connection.
    public func close() {
        shared.close()
    }
}

/// What a call gets back.
enum ClientAnswer: Sendable {
    case code(MFACode)
    /// A login outcome taken.
    case accepted
}

/// A call waiting for its reply.
struct PendingCall {
    let id: [UInt8]
    let account: String
    let minValidityMilliseconds: Int64?
    /// nil: derived from the deadline at each send.
    let maxWaitMilliseconds: Int64?
    let deadline: Int64
    let continuation: CheckedContinuation<Result<ClientAnswer, MFAClientError>, Never>
    /// Published on the current connection.
    var sent = false
    /// A login outcome to report, rather than a code to ask for.
    var outcome: LoginOutcome?

    /// The call's answer in `body`.
    func answer(_ body: [UInt8]) -> Result<ClientAnswer, MFAClientError> {
        if outcome != nil { return CodeReplyParser.parseOutcomeAnswer(body).map { .accepted } }
        return CodeReplyParser.parse(body).map { .code($0) }
    }

    /// `max_wait_ms` for a request sent at `now`.
    func maxWait(at now: Int64) -> Int64 {
        if let maxWaitMilliseconds { return maxWaitMilliseconds }
        let left = max(0, deadline - now)
        return max(0, left - min(1000, left / 10))
    }
}

/// What callers and the connection's thread share.
final class ClientShared: Sendable {
    struct State {
        var pending: [[UInt8]: PendingCall] = [:]
        var closed = false
        var counter: UInt64 = 0
    }

    let state = Mutex(State())
    /// Wakes the connection's thread when a call arrives or the client
    /// closes: the thread polls its read end with the socket.
    let wakePipe = WakePipe()
    var wakeDescriptor: Int32 { wakePipe.reader }
    private let prefix = Array(UUID().uuidString.prefix(8).utf8)

    deinit { wakePipe.close() }

    func nextCorrelationID() -> [UInt8] {
        let number = state.withLock { state -> UInt64 in
            state.counter += 1
            return state.counter
        }
        return prefix + Array("-\(number)".utf8)
    }

    /// Registers a call; false when the client is closed.
    func add(_ call: PendingCall) -> Bool {
        let added = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.pending[call.id] = call
            return true
        }
        if added { wake() }
        return added
    }

    /// Resumes the call `id` with `result`, if it still waits.
    func finish(_ id: [UInt8], with result: Result<ClientAnswer, MFAClientError>) {
        let call = state.withLock { $0.pending.removeValue(forKey: id) }
        call?.continuation.resume(returning: result)
    }

    /// Resumes the call `id` with its answer in `body`, if it still waits.
    func finish(_ id: [UInt8], body: [UInt8]) {
        let call = state.withLock { $0.pending.removeValue(forKey: id) }
        if let call { call.continuation.resume(returning: call.answer(body)) }
    }

    func close() {
        let calls = state.withLock { state -> [PendingCall] in
            state.closed = true
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for call in calls { call.continuation.resume(returning: .failure(.closed)) }
        wake()
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    func wake() { wakePipe.wake() }

    func drainWake() { wakePipe.drain() }
}

enum ClientClock {
    /// Monotonic milliseconds.
    static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }
}

/// Carries the Sendable parts into the connection's thread, where the loop
/// (and its connection) is made.
private final class ClientLoopStarter: Sendable {
    let configuration: MFAClientConfiguration
    let shared: ClientShared

    init(configuration: MFAClientConfiguration, shared: ClientShared) {
        self.configuration = configuration
        self.shared = shared
    }

    func run() {
        ClientLoop(configuration: configuration, shared: shared).run()
    }
}
