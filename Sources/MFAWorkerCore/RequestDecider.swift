import MFAConfig
import MFAProtocol
import TOTP

/// Decides requests: parse, authorise, choose the window, build the reply.
///
/// Pure: no I/O and no clock of its own; `now` comes in as Unix
/// milliseconds, so tests control time. One decider per consumer thread: it
/// keeps a cache of the code of each account's current window, so that a
/// code is computed once per account and window rather than per request.
public struct RequestDecider: Sendable {
    public private(set) var state: ServiceState
    private var codes: [String: (counter: UInt64, code: OneTimeCode)] = [:]
    private var buffer: [UInt8] = []
    /// When each member of a `shared` pool was last chosen (a count), for
    /// ties.
    private var lastChosen: [String: Int] = [:]
    private var chosen = 0
    /// The accounts the lockout guard has paused (``GuardBook``).
    public var pauses = PauseTable()

    public init(state: ServiceState) {
        self.state = state
        buffer.reserveCapacity(256)
    }

    /// Takes a new state (a reload). Cached codes go with the old keys.
    public mutating func replaceState(_ newState: ServiceState) {
        state = newState
        codes.removeAll(keepingCapacity: true)
    }

    /// The protocol's checks in the protocol's order: the message's shape
    /// (`bad_request`), the requester (`forbidden` without `user_id`), the
    /// requester's rate, the allowlist (`forbidden`), the account's rate,
    /// then what depends on the account. Nothing about an account reaches a
    /// requester who may not have it.
    /// - Parameters:
    ///   - requesterWait: the requester's rate, checked by the caller for
    ///     every request with a `user_id` (malformed and forbidden ones
    ///     included): nil to go on, else the ms until it may ask again. A
    ///     refusal of a requester over its rate is `quiet`.
    /// - Returns: the decision; with a per-account rate configured, for a
    ///   requester allowed the account, ``Decision/admitAccount(_:)``: the
    ///   caller takes a token from that account's bucket (shared by the
    ///   threads) and finishes with ``decide(_:accountWait:)``.
    public mutating func decide(
        _ request: RequestMessage,
        now: Int64,
        receivedAt: UInt64 = 0,
        requesterWait: Int64? = nil
    ) -> Decision {
        if let user = request.userID, state.workerLogins.contains(UserName(user)) {
            return .reject(requester: user, correlationID: request.correlationID, reason: .fromWorkerLogin, quiet: false)
        }
        if request.type == ProtocolConstants.outcomeType {
            return decideOutcome(request, now: now, requesterWait: requesterWait)
        }
        guard let replyTo = request.replyTo, !replyTo.isEmpty else {
            return .reject(requester: request.userID, correlationID: request.correlationID, reason: .noReplyTo, quiet: requesterWait != nil)
        }
        guard !state.isOwnQueue(replyTo), !ServiceState.isInternalQueue(replyTo) else {
            return .reject(requester: request.userID, correlationID: request.correlationID, reason: .ownQueue, quiet: requesterWait != nil)
        }
        guard request.replyToReachable, DirectReplyTo.classify(replyTo) != .malformed else {
            return .reject(requester: request.userID, correlationID: request.correlationID, reason: .unusableDirectReplyTo, quiet: requesterWait != nil)
        }
        var context = ReplyContext(replyTo: replyTo, correlationID: request.correlationID, requester: request.userID, now: now)
        context.quiet = requesterWait != nil

        // 1. Shape: properties, size, JSON, field types and syntax.
        if request.body.count > RequestBody.maxBytes {
            return .reply(error(.badRequest, RequestBodyError.tooLarge(bytes: request.body.count).message, context))
        }
        guard let correlationID = request.correlationID, !correlationID.isEmpty else {
            return .reply(error(.badRequest, Messages.correlationIDMissing, context))
        }
        guard correlationID.count <= ProtocolConstants.maxCorrelationIDBytes else {
            return .reply(error(.badRequest, Messages.correlationIDTooLong, context))
        }
        if let contentType = request.contentType, !Self.isAcceptedMediaType(contentType) {
            return .reply(error(.badRequest, Messages.contentType, context))
        }
        if let type = request.type, type != ProtocolConstants.requestType {
            return .reply(error(.badRequest, Messages.type, context))
        }
        let body: RequestBody
        switch RequestBodyDecoder.decode(request.body) {
        case .success(let decoded): body = decoded
        case .failure(let failure): return .reply(error(.badRequest, failure.message, context))
        }
        context.account = body.account

        // 2. The requester.
        guard let requester = request.userID, !requester.isEmpty else {
            return .reply(error(.forbidden, Messages.noUserID, context))
        }

        // 3. The rate: the requester's (whatever it asks for), then the
        // account's (only once the requester may have it).
        if let wait = requesterWait {
            return .reply(error(.rateLimited, Messages.rateLimited, context, retryAfter: wait))
        }
        guard let target = state.permittedTarget(body.account, for: requester) else {
            return .reply(error(.forbidden, Messages.forbidden, context))
        }
        let check = AccountCheck(
            target: target, body: body, context: context, replyTo: replyTo, correlationID: correlationID, requester: requester, receivedAt: receivedAt)
        if state.rateLimits.perAccount != nil {
            return .admitAccount(check)
        }
        return decide(check, accountWait: nil)
    }

    /// Finishes a decision once the account's rate was checked
    /// (`accountWait`: nil to go on, else the ms to wait).
    public mutating func decide(_ check: AccountCheck, accountWait: Int64?) -> Decision {
        var (body, context, replyTo, correlationID, requester, receivedAt) = (
            check.body, check.context, check.replyTo, check.correlationID, check.requester, check.receivedAt
        )
        let now = context.now
        if let wait = accountWait {
            return .reply(error(.rateLimited, Messages.rateLimited, context, retryAfter: wait))
        }

        // 4. What depends on the account (for a pool, on its members).
        // A paused account answers at once; a pool skips paused members.
        var members: [Account]
        switch check.target {
        case .account(let account): members = [account]
        case .pool(_, let poolMembers): members = poolMembers
        }
        if !pauses.isEmpty {
            // The guard log not read yet (a start, a long replay): accounts
            // with a guard wait for it rather than risk a paused one.
            if !pauses.isKnown, members.contains(where: { $0.lockoutGuard != nil }) {
                return .reply(error(.unavailable, Messages.guardNotRead, context, retryAfter: 1000))
            }
            let waits = members.compactMap { pauses.retryAfter($0.name, now: now) }
            if waits.count == members.count, let wait = waits.min() {
                return .reply(error(.paused, Messages.paused, context, retryAfter: wait))
            }
            if !waits.isEmpty { members = members.filter { pauses.retryAfter($0.name, now: now) == nil } }
        }
        let period = members.map(\.parameters.period).min() ?? 30
        let bound = Int64(period) * 1000 - 1000
        let minValidity: Int64
        if let asked = body.minValidityMilliseconds {
            guard Int64(asked) <= bound else {
                return .reply(error(.badRequest, Messages.minValidityAbove(bound), context))
            }
            minValidity = Int64(asked)
        } else {
            minValidity = min(Int64(state.reply.defaultMinValidityMilliseconds), bound)
        }

        let maxWait = Int64(body.maxWaitMilliseconds ?? state.reply.defaultMaxWaitMilliseconds)

        if members[0].issue == .oncePerWindow {
            // The turn names what was asked: an account, or the pool, whose
            // turn queue's holder chooses the member.
            return .takeTurn(
                TurnRequest(
                    replyTo: replyTo, correlationID: correlationID, requester: requester, account: check.target.name,
                    minValidityMilliseconds: minValidity, maxWaitMilliseconds: maxWait, receivedMilliseconds: now
                ))
        }
        var pool: String?
        if case .pool(let name, _) = check.target { pool = name }
        let account = pool == nil ? members[0] : choose(among: members, now: now, minValidity: minValidity)
        if let pool {
            context.account = account.name
            context.pool = pool
        }
        let window = account.generator.window(at: now)
        if window.millisecondsLeft(at: now) < minValidity {
            let due = window.end * 1000
            guard due - now <= maxWait else {
                return .reply(error(.busy, Messages.busy, context, retryAfter: due - now))
            }
            var pending = PendingRequest(
                replyTo: replyTo, correlationID: correlationID, requester: requester, account: account.name, minValidityMilliseconds: minValidity,
                receivedAt: receivedAt)
            pending.pool = pool
            return .schedule(pending, dueMilliseconds: due)
        }
        return .reply(success(account, window: window, context))
    }

    /// The member of a `shared` pool whose window suits a request first
    /// (the current one when it leaves `minValidity`, else the next), ties
    /// going to the member chosen least recently by this decider.
    private mutating func choose(among members: [Account], now: Int64, minValidity: Int64) -> Account {
        func opens(_ account: Account) -> Int64 {
            let window = account.generator.window(at: now)
            return window.millisecondsLeft(at: now) >= minValidity ? now : window.end * 1000
        }
        var best = members[0]
        var bestOpens = opens(best)
        for member in members.dropFirst() {
            let memberOpens = opens(member)
            if memberOpens < bestOpens || (memberOpens == bestOpens && lastChosen[member.name, default: -1] < lastChosen[best.name, default: -1]) {
                best = member
                bestOpens = memberOpens
            }
        }
        chosen += 1
        lastChosen[best.name] = chosen
        return best
    }

    /// The `busy` reply to a turn whose window would open too late.
    /// (`reason`: the message, when it is not that the window opens too late.)
    public mutating func busy(_ turn: TurnRequest, retryAfterMilliseconds: Int64, now: Int64, reason: String = Messages.busy) -> Reply {
        var context = ReplyContext(replyTo: turn.replyTo, correlationID: turn.correlationID, requester: turn.requester, now: now)
        context.account = turn.account
        return error(.busy, reason, context, retryAfter: retryAfterMilliseconds)
    }

    /// The `busy` reply to a request whose requester holds as many
    /// requests for their window as it may (`reply.max_held_per_requester`).
    public mutating func busy(_ pending: PendingRequest, retryAfterMilliseconds: Int64, now: Int64) -> Reply {
        var context = ReplyContext(replyTo: pending.replyTo, correlationID: pending.correlationID, requester: pending.requester, now: now)
        context.account = pending.account
        return error(.busy, Messages.heldAtLimit, context, retryAfter: retryAfterMilliseconds)
    }

    /// The `paused` reply to a turn whose account (or every member of whose
    /// pool) is paused.
    public mutating func paused(_ turn: TurnRequest, retryAfterMilliseconds: Int64, now: Int64) -> Reply {
        var context = ReplyContext(replyTo: turn.replyTo, correlationID: turn.correlationID, requester: turn.requester, now: now)
        context.account = turn.account
        return error(.paused, Messages.paused, context, retryAfter: retryAfterMilliseconds)
    }

    // MARK: - Login outcomes

    /// A login outcome (`type: mfa-login-outcome`): its shape, the
    /// requester, its rate, the allowlist and the window's range are
    /// checked here; whether the requester was handed that window is the
    /// guard log's to say (``Decision/claimOutcome(_:)``). Errors are
    /// answered only when `reply_to` and `correlation_id` are both set.
    mutating func decideOutcome(_ request: RequestMessage, now: Int64, requesterWait: Int64?) -> Decision {
        var answerable = false
        if let replyTo = request.replyTo, !replyTo.isEmpty, let correlationID = request.correlationID, !correlationID.isEmpty,
            correlationID.count <= ProtocolConstants.maxCorrelationIDBytes, !state.isOwnQueue(replyTo), !ServiceState.isInternalQueue(replyTo),
            request.replyToReachable,
            DirectReplyTo.classify(replyTo) != .malformed
        {
            answerable = true
        }
        var context = ReplyContext(replyTo: request.replyTo ?? "", correlationID: request.correlationID, requester: request.userID, now: now)
        context.quiet = requesterWait != nil
        func refuse(_ outcome: Outcome, _ message: String, retryAfter: Int64? = nil) -> Decision {
            guard answerable else { return .discard(requester: request.userID, reason: message) }
            return .reply(error(outcome, message, context, retryAfter: retryAfter))
        }
        if let contentType = request.contentType, !Self.isAcceptedMediaType(contentType) {
            return refuse(.badRequest, Messages.contentType)
        }
        let outcome: LoginOutcome
        switch LoginOutcome.decode(request.body) {
        case .success(let decoded): outcome = decoded
        case .failure(let failure): return refuse(.badRequest, failure.message)
        }
        context.account = outcome.account
        guard let requester = request.userID, !requester.isEmpty else { return refuse(.forbidden, Messages.noUserID) }
        if let wait = requesterWait { return refuse(.rateLimited, Messages.rateLimited, retryAfter: wait) }
        // The account by name, or as a member of a pool the requester may
        // have; the window one of the account's, begun, and not older than
        // the guard takes outcomes for.
        guard let account = state.accounts[outcome.account], state.mayReport(on: account.name, requester: requester) else {
            return refuse(.forbidden, Messages.outcomeForbidden)
        }
        let period = Int64(account.parameters.period)
        let within = Int64(account.lockoutGuard?.withinSeconds ?? Int(GuardBook.defaultWithinSeconds))
        guard outcome.windowStart % period == 0, outcome.windowStart * 1000 <= now, (outcome.windowStart + period + within) * 1000 >= now else {
            return refuse(.forbidden, Messages.outcomeForbidden)
        }
        return .claimOutcome(
            OutcomeClaim(
                requester: requester, outcome: outcome, replyTo: answerable ? request.replyTo : nil, correlationID: request.correlationID,
                receivedMilliseconds: now))
    }

    /// An `unavailable` reply for a turn that no worker can take: the
    /// account's turn queue is missing.
    public mutating func unavailable(_ turn: TurnRequest, now: Int64) -> Reply {
        var context = ReplyContext(replyTo: turn.replyTo, correlationID: turn.correlationID, requester: turn.requester, now: now)
        context.account = turn.account
        return error(.unavailable, Messages.noTurns, context)
    }

    /// The period of `account`'s windows, when it is configured.
    public func period(of account: String) -> Int? {
        state.accounts[account]?.parameters.period
    }

    /// The reply to a request that waited for its window, made at `now`.
    /// The allowlist is checked again: a reload may have changed it.
    public mutating func complete(_ pending: PendingRequest, now: Int64) -> Reply {
        var context = ReplyContext(replyTo: pending.replyTo, correlationID: pending.correlationID, requester: pending.requester, now: now)
        context.account = pending.account
        context.pool = pending.pool
        let permitted: Account?
        if let pool = pending.pool {
            // Asked by pool: the pool must still be allowed, the account
            // still its member.
            if case .pool(_, let members) = state.permittedTarget(pool, for: pending.requester) {
                permitted = members.first { $0.name == pending.account }
            } else {
                permitted = nil
            }
        } else {
            permitted = state.permittedAccount(pending.account, for: pending.requester)
        }
        guard let account = permitted else {
            context.account = pending.pool ?? pending.account
            context.pool = nil
            return error(.forbidden, Messages.forbidden, context)
        }
        guard let window = pending.window else {
            return success(account, window: account.generator.window(at: now), context)
        }
        // A turn's window: never sent once it has ended (a reply held up
        // past it, say by an outage), nor before it opens.
        guard window.period == account.parameters.period, now < window.end * 1000 else {
            return error(.unavailable, Messages.windowPassed, context, retryAfter: 0)
        }
        return success(account, window: window, context)
    }

    /// An `unavailable` reply for a waiting request that cannot be answered
    /// (the worker is shutting down before its window opens).
    public mutating func unavailable(_ pending: PendingRequest, now: Int64, retryAfterMilliseconds: Int64) -> Reply {
        var context = ReplyContext(replyTo: pending.replyTo, correlationID: pending.correlationID, requester: pending.requester, now: now)
        context.account = pending.account
        return error(.unavailable, Messages.shuttingDown, context, retryAfter: retryAfterMilliseconds)
    }

    // MARK: - Building replies

    private mutating func success(_ account: Account, window: TOTPWindow, _ context: ReplyContext) -> Reply {
        let code = code(of: account, in: window)
        let left = window.millisecondsLeft(at: context.now)
        ReplyBody.success(
            into: &buffer, account: account.name, pool: context.pool, username: account.username, code: code, period: account.parameters.period,
            window: window, expiresInMilliseconds: left)
        return Reply(
            routingKey: context.replyTo, correlationID: context.correlationID,
            expirationMilliseconds: max(1, min(Int64(state.reply.maxTTLMilliseconds), left)),
            timestamp: context.now / 1000, body: buffer,
            outcome: .ok, requester: context.requester, account: account.name, pool: context.pool, window: window, message: nil
        )
    }

    private mutating func error(_ outcome: Outcome, _ message: String, _ context: ReplyContext, retryAfter: Int64? = nil) -> Reply {
        ReplyBody.error(into: &buffer, outcome, message: message, retryAfterMilliseconds: retryAfter)
        return Reply(
            routingKey: context.replyTo, correlationID: context.correlationID,
            expirationMilliseconds: Int64(state.reply.maxTTLMilliseconds),
            timestamp: context.now / 1000, body: buffer,
            outcome: outcome, requester: context.requester, account: context.account, window: nil, message: message,
            quiet: context.quiet
        )
    }

    private mutating func code(of account: Account, in window: TOTPWindow) -> OneTimeCode {
        if let cached = codes[account.name], cached.counter == window.counter {
            return cached.code
        }
        let code = account.generator.code(for: window)
        codes[account.name] = (window.counter, code)
        return code
    }

    /// `application/json`, or a generic byte type that popular clients put
    /// on every message unless told otherwise (Bunny's and amqp-client's
    /// `application/octet-stream`, kombu's `application/data`): these say
    /// nothing about the body, which is read strictly as JSON all the same.
    /// Any case, with or without parameters. Types that say the body is
    /// something else (`text/plain`, `application/xml`) are refused.
    static func isAcceptedMediaType(_ value: String) -> Bool {
        var bytes = value.utf8.prefix { $0 != UInt8(ascii: ";") }[...]
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        return acceptedMediaTypes.contains { expected in
            // ASCII case-insensitive comparison.
            bytes.count == expected.utf8.count
                && zip(bytes, expected.utf8).allSatisfy { byte, wanted in
                    (0x41...0x5A).contains(byte) ? byte + 0x20 == wanted : byte == wanted
                }
        }
    }

    static let acceptedMediaTypes = [ProtocolConstants.contentType, "application/octet-stream", "application/data"]

    /// A request allowed its account, waiting for the account's rate.
    public struct AccountCheck: Sendable {
        public let target: ServiceState.Target
        let body: RequestBody
        let context: ReplyContext
        let replyTo: String
        let correlationID: [UInt8]
        let requester: String
        let receivedAt: UInt64
    }

    struct ReplyContext: Sendable {
        var replyTo: String
        var correlationID: [UInt8]?
        var requester: String?
        var now: Int64
        var account: String?
        var pool: String?
        var quiet = false
    }
}

/// The messages of error replies: constants, one line each, never a secret.
public enum Messages {
    public static let forbidden = "requester is not allowed this account, or there is no such account"
    public static let noUserID = "request has no user_id; set it to the user you log in as"
    public static let correlationIDMissing = "correlation_id is missing"
    public static let correlationIDTooLong = "correlation_id is longer than 128 bytes"
    public static let contentType = "content_type must be application/json (or unset)"
    public static let type = "type must be mfa-code-request"
    public static let rateLimited = "requester is over its rate limit"
    public static let shuttingDown = "the worker is shutting down; ask again"
    public static let noTurns = "the worker cannot give this account's windows out now; ask again later"
    public static let busy = "no window for this request opens within its max_wait_ms; ask again after retry_after_ms"
    public static let heldAtLimit = "this requester has as many requests waiting for their window as it may at once; ask again after retry_after_ms"
    public static let turnsHeld = "this requester holds as many turns of this account as it may at once; ask again after retry_after_ms"
    public static let paused =
        "this account's lockout guard paused it after failed logins; ask again after retry_after_ms, or ask an operator to resume it"
    public static let guardNotRead = "the worker is still reading its guard log (which accounts are paused); ask again after retry_after_ms"
    public static let outcomeForbidden = "this requester was not handed this account's code for this window, or may not report on it"
    public static let windowPassed = "the window given to this request ended before its reply could be sent; ask again"
    public static func minValidityAbove(_ bound: Int64) -> String {
        "min_validity_ms must be at most \(bound) for this account"
    }
}
