import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP
import Testing

/// The pure decision: every protocol row that does not need a broker,
/// with time under the test's control.
@Suite("Deciding requests")
struct RequestDeciderTests {
    static let key = SecretKey(bytes: Array("12345678901234567890".utf8))
    static let state = ServiceState(
        accounts: [
            "sf-eu": Account(name: "sf-eu", generator: TOTPGenerator(key: key)),
            "short": Account(name: "short", generator: TOTPGenerator(key: key, parameters: try! TOTPParameters(digits: 8, period: 5))),
            "secret-other": Account(name: "secret-other", generator: TOTPGenerator(key: key)),
        ],
        allow: Allowlist(["bot-1": ["sf-eu", "short"], "bot-2": ["secret-other"]]),
        reply: ReplySettings(maxTTLMilliseconds: 20_000, defaultMinValidityMilliseconds: 0)
    )
    /// 1764372612.345: 17.655 s left in a 30 s window.
    static let now: Int64 = 1_764_372_612_345

    func request(
        _ body: String, user: String? = "bot-1", correlation: [UInt8]? = Array("c-1".utf8), replyTo: String? = "amq.gen-reply",
        contentType: String? = "application/json", type: String? = nil
    ) -> RequestMessage {
        RequestMessage(body: Array(body.utf8), replyTo: replyTo, correlationID: correlation, userID: user, contentType: contentType, type: type)
    }

    func reply(_ decision: Decision) -> Reply? {
        if case .reply(let reply) = decision { return reply }
        Issue.record("expected a reply, got \(decision)")
        return nil
    }

    func text(_ reply: Reply?) -> String { reply.map { String(decoding: $0.body, as: UTF8.self) } ?? "" }

    @Test("An allowed requester gets the RFC 6238 code of the current window")
    func success() throws {
        var decider = RequestDecider(state: Self.state)
        let reply = reply(decider.decide(request(#"{"account":"sf-eu"}"#), now: Self.now))
        let window = TOTPWindow(containing: Self.now, period: 30)
        let code = HOTP.code(key: Self.key, counter: window.counter).digits
        #expect(
            text(reply)
                == #"{"status":"ok","account":"sf-eu","code":"\#(code)","digits":6,"period":30,"window_start":1764372600,"window_end":1764372630,"expires_in_ms":17655}"#
        )
        #expect(reply?.outcome == .ok)
        #expect(reply?.routingKey == "amq.gen-reply")
        #expect(reply?.correlationID == Array("c-1".utf8))
        #expect(reply?.expirationMilliseconds == 17_655)
        #expect(reply?.timestamp == 1_764_372_612)
    }

    @Test("An account's username comes in the reply after its name, escaped as JSON, and reads back")
    func username() throws {
        let state = ServiceState(
            accounts: ["sf-eu": Account(name: "sf-eu", generator: TOTPGenerator(key: Self.key), username: #"robot"1\@example.com"#)],
            allow: Self.state.allow, reply: Self.state.reply)
        var decider = RequestDecider(state: state)
        let reply = reply(decider.decide(request(#"{"account":"sf-eu"}"#), now: Self.now))
        #expect(text(reply).hasPrefix(#"{"status":"ok","account":"sf-eu","username":"robot\"1\\@example.com","code":""#), "\(text(reply))")
        guard case .code(_, _, _, _, _, _, _, let username, let pool) = ReplyMessage.decode(reply?.body ?? []) else {
            Issue.record("not a code reply")
            return
        }
        #expect(username == #"robot"1\@example.com"#)
        #expect(pool == nil)
    }

    @Test("The TTL is capped by max_ttl_ms; expires_in_ms is not")
    func ttlCap() {
        var decider = RequestDecider(state: Self.state)
        let early = Self.now - 12_345 + 1  // 29.999 s left
        let reply = reply(decider.decide(request(#"{"account":"sf-eu"}"#), now: early))
        #expect(reply?.expirationMilliseconds == 20_000)
        #expect(text(reply).hasSuffix(#""expires_in_ms":29999}"#))
    }

    @Test("Unknown and not-allowed accounts give byte-identical forbidden bodies")
    func forbiddenAlike() {
        var decider = RequestDecider(state: Self.state)
        let unknown = reply(decider.decide(request(#"{"account":"no-such-account"}"#), now: Self.now))
        let notAllowed = reply(decider.decide(request(#"{"account":"secret-other"}"#), now: Self.now))
        #expect(unknown?.outcome == .forbidden)
        #expect(unknown?.body == notAllowed?.body)
        #expect(unknown?.expirationMilliseconds == notAllowed?.expirationMilliseconds)
        #expect(text(unknown) == #"{"status":"error","error":"forbidden","message":"requester is not allowed this account, or there is no such account"}"#)
        // An unknown requester reads the same.
        let stranger = reply(decider.decide(request(#"{"account":"sf-eu"}"#, user: "bot-9"), now: Self.now))
        #expect(stranger?.body == unknown?.body)
    }

    @Test("A missing user_id is forbidden")
    func missingUserID() {
        var decider = RequestDecider(state: Self.state)
        let reply = reply(decider.decide(request(#"{"account":"sf-eu"}"#, user: nil), now: Self.now))
        #expect(reply?.outcome == .forbidden)
        #expect(text(reply) == #"{"status":"error","error":"forbidden","message":"request has no user_id; set it to the user you log in as"}"#)
    }

    @Test("A direct reply-to name not of the broker's shape, or on a node the loop found not running, is rejected; the broker's own is answered")
    func directReplyTo() {
        var decider = RequestDecider(state: Self.state)
        let forged = "amq.rabbitmq.reply-to.g2dkABNyYWJiaXRAbG9jYWxob3N0AAAD5QAAAAAA.abc"
        guard case .reject("bot-1", _, .unusableDirectReplyTo, false) = decider.decide(request(#"{"account":"sf-eu"}"#, replyTo: forged), now: Self.now)
        else {
            Issue.record("a forged direct reply-to name was not rejected")
            return
        }
        let real = "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzvbQ==.Wlx7W1Yu6/10Xu0Kpger0g=="
        #expect(reply(decider.decide(request(#"{"account":"sf-eu"}"#, replyTo: real), now: Self.now))?.outcome == .ok)
        var unreachable = request(#"{"account":"sf-eu"}"#, replyTo: real)
        unreachable.replyToReachable = false
        guard case .reject(_, _, .unusableDirectReplyTo, _) = decider.decide(unreachable, now: Self.now) else {
            Issue.record("a name on a node that does not run was not rejected")
            return
        }
    }

    @Test("A message from a worker login (a reply sent back by a dead-letter exchange) is rejected as such, before its missing reply_to")
    func fromWorkerLogin() {
        let state = ServiceState(accounts: Self.state.accounts, allow: Self.state.allow, reply: Self.state.reply, workerLogins: ["mfa-worker"])
        var decider = RequestDecider(state: state)
        let reflected = request(#"{"status":"ok","account":"sf-eu","code":"123456"}"#, user: "mfa-worker", replyTo: nil, type: "mfa-code-reply")
        guard case .reject("mfa-worker", _, .fromWorkerLogin, false) = decider.decide(reflected, now: Self.now) else {
            Issue.record("not rejected as a worker's message")
            return
        }
        #expect(reply(decider.decide(request(#"{"account":"sf-eu"}"#), now: Self.now))?.outcome == .ok)
    }

    @Test("No reply_to: rejected, not answered")
    func noReplyTo() {
        var decider = RequestDecider(state: Self.state)
        guard case .reject(let requester, _, let reason, let quiet) = decider.decide(request(#"{"account":"sf-eu"}"#, replyTo: nil), now: Self.now) else {
            Issue.record("not rejected")
            return
        }
        #expect(requester == "bot-1" && reason == .noReplyTo && !quiet)
        guard case .reject = decider.decide(request(#"{"account":"sf-eu"}"#, replyTo: ""), now: Self.now) else {
            Issue.record("empty reply_to not rejected")
            return
        }
        // The worker's own queues: an answer there would come back to it.
        for own in ["mfa-code-request", "mfa-code-request.turns.0123abcd"] {
            guard case .reject(_, _, .ownQueue, _) = decider.decide(request(#"{"account":"sf-eu"}"#, replyTo: own), now: Self.now) else {
                Issue.record("reply_to \(own) not rejected")
                return
            }
        }
        for other in ["mfa-code-request-x", "mfa-code-request.turnsx", "amq.gen-1"] {
            if case .reject = decider.decide(request(#"{"account":"sf-eu"}"#, replyTo: other), now: Self.now) { Issue.record("reply_to \(other) rejected") }
        }
        guard case .reject(_, _, _, true) = decider.decide(request(#"{"account":"sf-eu"}"#, replyTo: nil), now: Self.now, requesterWait: 10) else {
            Issue.record("over its rate, a rejection is not quiet")
            return
        }
    }

    @Test("A message in flight on enough lost connections is poison when redelivered; memory fades")
    func redeliveryGuard() {
        var guardian = RedeliveryGuard(strikesToDrop: 3, memoryMilliseconds: 60_000)
        let poison = RedeliveryGuard.fingerprint(userID: "bot", replyTo: "amq.x", correlationID: [1], body: [2])
        let innocent = RedeliveryGuard.fingerprint(userID: "bot", replyTo: "amq.x", correlationID: [1], body: [3])
        for second in 0..<2 { guardian.connectionLost(inFlight: [poison], now: Int64(second) * 1000) }
        #expect(!guardian.isPoison(poison))
        guardian.connectionLost(inFlight: [poison, innocent], now: 2000)
        #expect(guardian.isPoison(poison) && !guardian.isPoison(innocent))
        guardian.connectionLost(inFlight: [], now: 100_000)
        #expect(!guardian.isPoison(poison) && guardian.remembered == 0)
    }

    @Test(
        "Shape errors are bad_request, with error replies living max_ttl_ms",
        arguments: [
            (#"{"account":"sf-eu"}"#, "c", "text/plain", nil as String?, "content_type must be application/json (or unset)"),
            (#"{"account":"sf-eu"}"#, "c", "application/xml; charset=utf-8", nil, "content_type must be application/json (or unset)"),
            (#"{"account":"sf-eu"}"#, "c", nil, "other-type", "type must be mfa-code-request"),
            (#"{"account":"sf-eu""#, "c", nil, nil, "body is not valid JSON (at byte 18)"),
            (#"{"account":"sf eu"}"#, "c", nil, nil, "account must be 1 to 128 characters of A-Z a-z 0-9 . _ @ -"),
            (#"{"account":"sf-eu","min_validity_ms":5000.0}"#, "c", nil, nil, "min_validity_ms must be a JSON integer"),
            (#"{"account":"sf-eu"}"#, "", nil, nil, "correlation_id is missing"),
        ])
    func badRequests(body: String, correlation: String, contentType: String?, type: String?, message: String) {
        var decider = RequestDecider(state: Self.state)
        let reply = reply(decider.decide(request(body, correlation: Array(correlation.utf8), contentType: contentType, type: type), now: Self.now))
        #expect(reply?.outcome == .badRequest)
        #expect(text(reply) == #"{"status":"error","error":"bad_request","message":"\#(message)"}"#)
        #expect(reply?.expirationMilliseconds == 20_000)
    }

    @Test("content_type with parameters and in other cases is fine; type mfa-code-request is fine")
    func acceptedProperties() {
        var decider = RequestDecider(state: Self.state)
        // The generic byte types clients send by default say nothing about
        // the body: read as JSON all the same.
        for contentType in [
            "application/json; charset=utf-8", "Application/JSON", " application/json ", "application/octet-stream", "application/data",
            "Application/Octet-Stream; x=1", nil,
        ] {
            #expect(reply(decider.decide(request(#"{"account":"sf-eu"}"#, contentType: contentType, type: "mfa-code-request"), now: Self.now))?.outcome == .ok)
        }
    }

    @Test("correlation_id: absent is bad_request without one; over 128 bytes is bad_request and still echoed")
    func correlationID() {
        var decider = RequestDecider(state: Self.state)
        let missing = reply(decider.decide(request(#"{"account":"sf-eu"}"#, correlation: nil), now: Self.now))
        #expect(missing?.outcome == .badRequest)
        #expect(missing?.correlationID == nil)
        let long = [UInt8](repeating: 0x41, count: 129)
        let tooLong = reply(decider.decide(request(#"{"account":"sf-eu"}"#, correlation: long), now: Self.now))
        #expect(text(tooLong).contains("correlation_id is longer than 128 bytes"))
        #expect(tooLong?.correlationID == long)
        let binary: [UInt8] = [0, 0xFF, 0x80] + [UInt8](repeating: 7, count: 125)
        #expect(reply(decider.decide(request(#"{"account":"sf-eu"}"#, correlation: binary), now: Self.now))?.correlationID == binary)
    }

    @Test("A body over 4096 bytes is bad_request without being parsed")
    func oversized() {
        var decider = RequestDecider(state: Self.state)
        // Not JSON at all: a parse would say so; the size check speaks first.
        let reply = reply(decider.decide(request(String(repeating: "x", count: 4097)), now: Self.now))
        #expect(text(reply) == #"{"status":"error","error":"bad_request","message":"body is 4097 bytes; at most 4096 are read"}"#)
    }

    @Test("Order of checks: shape before requester, requester before the account's bound")
    func order() {
        var decider = RequestDecider(state: Self.state)
        // Bad shape and not allowed: bad_request.
        #expect(reply(decider.decide(request(#"{"account":"secret-other","min_validity_ms":"x"}"#, user: "bot-1"), now: Self.now))?.outcome == .badRequest)
        // Not allowed, and min_validity_ms above that account's bound: forbidden
        // (the bound depends on the account, so it must not show).
        let hidden = reply(decider.decide(request(#"{"account":"secret-other","min_validity_ms":29500}"#, user: "bot-1"), now: Self.now))
        #expect(hidden?.outcome == .forbidden)
        // Allowed, above the bound: bad_request naming the bound.
        let bound = reply(decider.decide(request(#"{"account":"short","min_validity_ms":4500}"#), now: Self.now))
        #expect(text(bound) == #"{"status":"error","error":"bad_request","message":"min_validity_ms must be at most 4000 for this account"}"#)
        // The most any account allows passes the shape check, then the account's bound applies.
        #expect(reply(decider.decide(request(#"{"account":"sf-eu","min_validity_ms":29001}"#), now: Self.now))?.outcome == .badRequest)
    }

    @Test("min_validity_ms: served now when the window has enough left, else scheduled for the next window")
    func minValidity() {
        var decider = RequestDecider(state: Self.state)
        // 17.655 s left.
        #expect(reply(decider.decide(request(#"{"account":"sf-eu","min_validity_ms":17655}"#), now: Self.now))?.outcome == .ok)
        guard case .schedule(let pending, let due) = decider.decide(request(#"{"account":"sf-eu","min_validity_ms":17656}"#), now: Self.now) else {
            Issue.record("not scheduled")
            return
        }
        #expect(due == 1_764_372_630_000)
        #expect(pending.account == "sf-eu")
        #expect(pending.minValidityMilliseconds == 17_656)

        // At the due time: the next window's code, with the whole window left.
        let reply = decider.complete(pending, now: due)
        let next = TOTPWindow(containing: due, period: 30)
        #expect(next.start == 1_764_372_630)
        #expect(text(reply).contains(#""code":"\#(HOTP.code(key: Self.key, counter: next.counter).digits)""#))
        #expect(text(reply).hasSuffix(#""window_start":1764372630,"window_end":1764372660,"expires_in_ms":30000}"#))
        #expect(reply.correlationID == Array("c-1".utf8))
    }

    @Test("default_min_validity_ms applies when a request gives none, bounded by the account's period")
    func defaultMinValidity() {
        let state = ServiceState(
            accounts: Self.state.accounts, allow: Self.state.allow, reply: ReplySettings(maxTTLMilliseconds: 30_000, defaultMinValidityMilliseconds: 20_000))
        var decider = RequestDecider(state: state)
        guard case .schedule = decider.decide(request(#"{"account":"sf-eu"}"#), now: Self.now) else {
            Issue.record("default not applied")
            return
        }
        // null reads as absent.
        guard case .schedule = decider.decide(request(#"{"account":"sf-eu","min_validity_ms":null}"#), now: Self.now) else {
            Issue.record("null not read as absent")
            return
        }
        #expect(reply(decider.decide(request(#"{"account":"sf-eu","min_validity_ms":0}"#), now: Self.now))?.outcome == Outcome.ok)
        // A 5 s account: the default is capped at 4000 ms.
        let fiveSecondWindowStart: Int64 = 1_764_372_610_000
        #expect(reply(decider.decide(request(#"{"account":"short"}"#), now: fiveSecondWindowStart + 500))?.outcome == .ok)
    }

    @Test("A waiting request is checked again against the allowlist when its reply is made")
    func recheckOnComplete() {
        var decider = RequestDecider(state: Self.state)
        guard case .schedule(let pending, let due) = decider.decide(request(#"{"account":"sf-eu","min_validity_ms":20000}"#), now: Self.now) else {
            Issue.record("not scheduled")
            return
        }
        decider.replaceState(ServiceState(accounts: Self.state.accounts, allow: Allowlist(["bot-1": []]), reply: Self.state.reply, generation: 1))
        let reply = decider.complete(pending, now: due)
        #expect(reply.outcome == Outcome.forbidden)
    }

    @Test("The code is the window's at every instant of it, and never one whose window has ended")
    func windowEdges() {
        var decider = RequestDecider(state: Self.state)
        for offset: Int64 in [0, 1, 4_999] {
            let now: Int64 = 1_764_372_610_000 + offset
            let reply = reply(decider.decide(request(#"{"account":"short"}"#), now: now))
            let window = TOTPWindow(containing: now, period: 5)
            #expect(text(reply).contains(#""code":"\#(HOTP.code(key: Self.key, counter: window.counter, digits: 8).digits)""#))
            #expect(reply!.expirationMilliseconds == max(1, window.end * 1000 - now))
            #expect(window.end * 1000 > now)
        }
    }
}

@Suite("The schedule of waiting replies")
struct ReplyScheduleTests {
    func pending(_ id: String) -> PendingRequest {
        PendingRequest(replyTo: "q", correlationID: Array(id.utf8), requester: "r", account: "a", minValidityMilliseconds: 0, receivedAt: 0)
    }

    @Test func order() {
        var schedule = ReplySchedule()
        schedule.add(pending("c"), dueMilliseconds: 300)
        schedule.add(pending("a"), dueMilliseconds: 100)
        schedule.add(pending("b1"), dueMilliseconds: 200)
        schedule.add(pending("b2"), dueMilliseconds: 200)
        #expect(schedule.nextDue == 100)
        #expect(schedule.popDue(now: 99).isEmpty)
        #expect(schedule.popDue(now: 200).map { String(decoding: $0.correlationID!, as: UTF8.self) } == ["a", "b1", "b2"])
        #expect(schedule.count == 1)
        #expect(schedule.drain().map(\.due) == [300])
        #expect(schedule.isEmpty)
    }

    @Test("Thousands of entries come out in due order")
    func many() {
        var schedule = ReplySchedule()
        var rng = SystemRandomNumberGenerator()
        for index in 0..<5000 {
            schedule.add(pending(String(index)), dueMilliseconds: Int64.random(in: 0...1000, using: &rng))
        }
        let all = schedule.drain().map(\.due)
        #expect(all == all.sorted())
        #expect(all.count == 5000)
    }
}

@Suite("Rate limits")
struct RateLimitTests {
    @Test("A token bucket: a burst, then one token per 1/rate s")
    func bucket() {
        var bucket = TokenBucket(ratePerSecond: 2, burst: 3, now: 0)
        #expect(bucket.take(now: 0) == nil)
        #expect(bucket.take(now: 0) == nil)
        #expect(bucket.take(now: 0) == nil)
        #expect(bucket.take(now: 0) == 500)
        #expect(bucket.take(now: 400) == 100)
        #expect(bucket.take(now: 500) == nil)
        #expect(bucket.take(now: 10_000) == nil)
    }

    @Test("Per requester, with overrides; per account across requesters")
    func limiter() {
        var limiter = RateLimiter(perRequester: RateLimit(ratePerSecond: 1, burst: 1), requesterOverrides: ["fast": RateLimit(ratePerSecond: 100, burst: 5)])
        #expect(limiter.admit(requester: "a", now: 0) == nil)
        #expect(limiter.admit(requester: "a", now: 0) == 1000)
        #expect(limiter.admit(requester: "b", now: 0) == nil)
        for _ in 0..<5 { #expect(limiter.admit(requester: "fast", now: 0) == nil) }
        #expect(limiter.admit(requester: "fast", now: 0) == 10)

        var shared = RateLimiter(perRequester: RateLimit(ratePerSecond: 10, burst: 10), perAccount: RateLimit(ratePerSecond: 1, burst: 2))
        #expect(shared.admit(account: "x", now: 0) == nil)
        #expect(shared.admit(account: "x", now: 0) == nil)
        #expect(shared.admit(account: "x", now: 0) == 1000)
        #expect(shared.admit(account: "y", now: 0) == nil)
        var accountsOnly = RateLimiter(perAccount: RateLimit(ratePerSecond: 1, burst: 1))
        #expect(accountsOnly.admit(requester: "a", now: 0) == nil && accountsOnly.admit(requester: "a", now: 0) == nil)
        #expect(RateLimiter().isUnlimited)
    }

    @Test("A reload carries the buckets over: no fresh burst, and at most the new burst")
    func continuing() {
        var running = RateLimiter(perRequester: RateLimit(ratePerSecond: 0.001, burst: 2), perAccount: RateLimit(ratePerSecond: 0.001, burst: 5))
        #expect(running.admit(requester: "a", now: 0) == nil && running.admit(requester: "a", now: 0) == nil)
        #expect(running.admit(requester: "a", now: 0) != nil)
        for _ in 0..<4 { #expect(running.admit(account: "x", now: 0) == nil) }
        var next = RateLimiter(perRequester: RateLimit(ratePerSecond: 0.001, burst: 10), perAccount: RateLimit(ratePerSecond: 0.001, burst: 1)).continuing(
            from: running)
        #expect(next.admit(requester: "a", now: 0) != nil, "a reload gave a fresh burst")
        #expect(next.admit(requester: "b", now: 0) == nil)
        #expect(next.admit(account: "x", now: 0) == nil, "the account had one token left")
        #expect(next.admit(account: "x", now: 0) != nil)
        var unlimited = RateLimiter().continuing(from: running)
        #expect(unlimited.admit(requester: "a", now: 0) == nil)
    }

    @Test("The requester's rate comes after the shape and before the allowlist; the account's after it; both with retry_after_ms")
    func order() {
        let base = RequestDeciderTests.state
        // A per-account rate: an allowed request asks for the account's
        // token before the decision ends.
        var decider = RequestDecider(
            state: ServiceState(
                accounts: base.accounts, allow: base.allow, reply: base.reply, rateLimits: RateLimiter(perAccount: RateLimit(ratePerSecond: 1, burst: 1))))
        func ask(_ body: String, user: String = "bot-1", requesterWait: Int64? = nil, accountWait: Int64? = nil) -> Reply? {
            let request = RequestMessage(body: Array(body.utf8), replyTo: "q", correlationID: [1], userID: user)
            switch decider.decide(request, now: RequestDeciderTests.now, requesterWait: requesterWait) {
            case .reply(let reply): return reply
            case .admitAccount(let check):
                if case .reply(let reply) = decider.decide(check, accountWait: accountWait) { return reply }
                return nil
            default: return nil
            }
        }
        // Over the requester's rate: a malformed body is still bad_request
        // (the shape comes first), anything else rate_limited, whether or
        // not the account exists or is allowed; all of them quiet.
        #expect(ask(#"{"account":"sf-eu","min_validity_ms":"x"}"#, requesterWait: 750).map { [$0.outcome == .badRequest, $0.quiet] } == [true, true])
        let limited = ask(#"{"account":"secret-other"}"#, requesterWait: 750)
        #expect(limited?.outcome == .rateLimited && limited?.quiet == true)
        #expect(
            limited.map { String(decoding: $0.body, as: UTF8.self) }
                == #"{"status":"error","error":"rate_limited","message":"requester is over its rate limit","retry_after_ms":750}"#)
        #expect(
            ask(#"{"account":"no-such-account"}"#, requesterWait: 750).map { String(decoding: $0.body, as: UTF8.self) }
                == limited.map { String(decoding: $0.body, as: UTF8.self) })
        // Within its rate: the allowlist, then the account's rate.
        #expect(ask(#"{"account":"secret-other"}"#, accountWait: 500)?.outcome == .forbidden)
        let accountLimited = ask(#"{"account":"short","min_validity_ms":4500}"#, accountWait: 500)
        #expect(accountLimited?.outcome == .rateLimited && accountLimited?.quiet == false)
    }
}
