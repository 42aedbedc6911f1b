import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP
import Testing

/// Login outcomes and the lockout guard without a broker: the guard log's
/// verdicts, the decider's checks, the handouts written before codes.
@Suite("Lockout guard: the guard log's verdicts, outcomes and pauses")
struct LockoutGuardUnitTests {
    static let key = SecretKey(bytes: Array("12345678901234567890".utf8))
    static let now = TurnLedgerTests.now  // 17.655 s left in a 30 s window
    static let window = TOTPWindow(containing: now, period: 30)

    static func accounts(_ lockout: LockoutGuard? = LockoutGuard()) -> [String: Account] {
        [
            "sf-1": Account(name: "sf-1", generator: TOTPGenerator(key: key), lockoutGuard: lockout),
            "sf-2": Account(name: "sf-2", generator: TOTPGenerator(key: key), lockoutGuard: lockout),
        ]
    }

    static func handout(_ requester: String, _ account: String = "sf-1", _ start: Int64 = window.start, at: Int64 = now - 1000) -> GuardRecord {
        .handout(requester: requester, account: account, windowStart: start, windowEnd: start + 30, atMilliseconds: at)
    }

    static func outcome(
        _ requester: String, _ account: String = "sf-1", _ start: Int64 = window.start, failed: Bool = true, at: Int64 = now, id: UInt64 = 1
    ) -> GuardRecord {
        .outcome(origin: "o", id: id, requester: requester, account: account, windowStart: start, succeeded: !failed, atMilliseconds: at)
    }

    static func verdict(_ effect: GuardBook.Effect) -> GuardBook.Verdict? {
        if case .outcome(_, _, _, let verdict) = effect { return verdict }
        return nil
    }

    @Test("An outcome counts only after a handout of that window to that requester, once; the third failure pauses for pause_s")
    func countsAndPauses() {
        var book = GuardBook(accounts: Self.accounts())
        #expect(Self.verdict(book.apply(Self.outcome("bot-1"))) == .refused, "no handout yet")
        for bot in ["bot-1", "bot-2", "bot-3"] { _ = book.apply(Self.handout(bot)) }
        #expect(Self.verdict(book.apply(Self.outcome("bot-1"))) == .counted(failures: 1, paused: nil))
        #expect(Self.verdict(book.apply(Self.outcome("bot-1"))) == .repeated, "once per requester, account and window")
        #expect(Self.verdict(book.apply(Self.outcome("bot-2", "sf-2"))) == .refused, "handed another account")
        #expect(Self.verdict(book.apply(Self.outcome("bot-2", failed: false))) == .counted(failures: 0, paused: nil))
        #expect(Self.verdict(book.apply(Self.outcome("bot-3"))) == .counted(failures: 2, paused: nil), "a success erases nothing")
        _ = book.apply(Self.handout("bot-4"))
        let pause = GuardBook.Pause(from: Self.now + 20, until: Self.now + 20 + 3_600_000)
        #expect(Self.verdict(book.apply(Self.outcome("bot-4", at: Self.now + 20))) == .counted(failures: 3, paused: pause))
        #expect(book.pauseTable(now: Self.now + 20).retryAfter("sf-1", now: Self.now + 20) == 3_600_000)
        #expect(book.pauseTable(now: Self.now).retryAfter("sf-2", now: Self.now) == nil)
        #expect(book.pauseTable(now: pause.until - 1).until.keys.sorted() == ["sf-1"])
        #expect(book.pauseTable(now: pause.until).isEmpty, "over at its end")
    }

    @Test("Failures older than within_s do not count; outcomes after within_s past their window are refused")
    func withinWindow() {
        var book = GuardBook(accounts: Self.accounts(LockoutGuard(maxFailures: 2, withinSeconds: 60, pauseSeconds: 600)))
        for bot in ["a", "b", "c"] { _ = book.apply(Self.handout(bot)) }
        #expect(Self.verdict(book.apply(Self.outcome("a"))) == .counted(failures: 1, paused: nil))
        // 61 s later the first failure is out of within_s: still one.
        let later = Self.now + 61_000
        #expect(Self.verdict(book.apply(Self.outcome("b", at: later))) == .counted(failures: 1, paused: nil))
        // The window ended at start + 30 s; within_s after that, too late.
        let late = (Self.window.end + 61) * 1000
        #expect(Self.verdict(book.apply(Self.outcome("c", at: late))) == .refused)
    }

    @Test("resume ends the pause and clears the failures; with the guard off outcomes count but never pause")
    func resumeAndOff() {
        var book = GuardBook(accounts: Self.accounts(LockoutGuard(maxFailures: 1)))
        _ = book.apply(Self.handout("a"))
        guard case .counted(1, let pause?) = Self.verdict(book.apply(Self.outcome("a"))) else {
            Issue.record("one failure pauses with max_failures 1")
            return
        }
        #expect(book.failureCount(of: "sf-1", now: Self.now) == 1)
        let resumed = book.apply(.resume(origin: "r", id: 9, account: "sf-1", atMilliseconds: Self.now + 5))
        #expect(resumed == .resumed(origin: "r", id: 9, account: "sf-1", ended: pause))
        #expect(book.pauseTable(now: Self.now).isEmpty)
        #expect(book.failureCount(of: "sf-1", now: Self.now) == 0)

        var off = GuardBook(accounts: Self.accounts(nil))
        _ = off.apply(Self.handout("a"))
        #expect(Self.verdict(off.apply(Self.outcome("a"))) == .counted(failures: 0, paused: nil))
        #expect(off.pauseTable(now: Self.now).isEmpty)
    }

    @Test("Guard records read back; anything else, extra fields included, is not a record")
    func records() {
        let records: [GuardRecord] = [
            Self.handout("bot-\u{E9}"), Self.outcome("bot-1", failed: false),
            .resume(origin: "resume-1", id: 7, account: "sf-1", atMilliseconds: Self.now), .marker(origin: "p-1", id: 42),
        ]
        for record in records {
            #expect(GuardRecord.decode(type: record.type, body: record.encoded()) == record)
        }
        #expect(GuardRecord.decode(type: GuardRecord.markerType, body: Self.handout("x").encoded()) == nil, "a record of another type")
        #expect(GuardRecord.decode(type: "mfa-guard-other", body: GuardRecord.marker(origin: "p", id: 1).encoded()) == nil)
        let extra = Array(#"{"origin":"p","id":1,"more":true}"#.utf8)
        #expect(GuardRecord.decode(type: GuardRecord.markerType, body: extra) == nil)
        let backwards = Array(#"{"requester":"a","account":"sf-1","window_start":60,"window_end":30}"#.utf8)
        #expect(GuardRecord.decode(type: GuardRecord.handoutType, body: backwards) == nil)
        let huge = Array(#"{"requester":"a","account":"sf-1","window_start":99999999999999999999,"window_end":30}"#.utf8)
        #expect(GuardRecord.decode(type: GuardRecord.handoutType, body: huge) == nil)
    }

    @Test("A login outcome's body is read strictly, with a message per mistake")
    func outcomeBody() throws {
        func decode(_ text: String) -> Result<LoginOutcome, LoginOutcomeError> { LoginOutcome.decode(Array(text.utf8)) }
        #expect(
            try decode(#"{"account":"sf-1","window_start":1764372600,"outcome":"failure","reason":"INVALID_CODE"}"#).get()
                == LoginOutcome(account: "sf-1", windowStart: 1_764_372_600, succeeded: false, reason: "INVALID_CODE"))
        #expect(try decode(#"{"outcome":"success","window_start":0,"account":"a","later":[1]}"#).get().succeeded)
        #expect(throws: LoginOutcomeError.outcome) { try decode(#"{"account":"a","window_start":0,"outcome":"maybe"}"#).get() }
        #expect(throws: LoginOutcomeError.windowStart) { try decode(#"{"account":"a","window_start":-30,"outcome":"success"}"#).get() }
        #expect(throws: LoginOutcomeError.windowStart) { try decode(#"{"account":"a","window_start":"0","outcome":"success"}"#).get() }
        #expect(throws: LoginOutcomeError.reason) {
            try decode(#"{"account":"a","window_start":0,"outcome":"success","reason":"\#(String(repeating: "x", count: 201))"}"#).get()
        }
        #expect(throws: LoginOutcomeError.body(.accountMissing)) { try decode(#"{"window_start":0,"outcome":"success"}"#).get() }
        #expect(throws: LoginOutcomeError.body(.accountSyntax)) { try decode(#"{"account":"a b","window_start":0,"outcome":"success"}"#).get() }
        #expect(throws: LoginOutcomeError.body(.notAnObject)) { try decode("[]").get() }
        let outcome = LoginOutcome(account: "sf-1", windowStart: 30, succeeded: false, reason: "said \"no\"")
        #expect(try LoginOutcome.decode(outcome.encoded()).get() == outcome)
    }

    static let state = ServiceState(
        accounts: accounts().merging(["sf-3": Account(name: "sf-3", generator: TOTPGenerator(key: key))]) { a, _ in a },
        allow: Allowlist(["bot-1": ["sf-1", "pool"], "bot-2": ["sf-1"]]),
        reply: ReplySettings(maxTTLMilliseconds: 20_000, defaultMinValidityMilliseconds: 0),
        pools: ["pool": PoolSettings(name: "pool", members: ["sf-2", "sf-3"])]
    )

    static func outcomeMessage(_ body: String, user: String = "bot-1", replyTo: String? = "amq.gen-r") -> RequestMessage {
        RequestMessage(
            body: Array(body.utf8), replyTo: replyTo, correlationID: Array("c-1".utf8), userID: user, contentType: "application/json",
            type: ProtocolConstants.outcomeType)
    }

    @Test("The decider checks an outcome's shape, requester, allowlist (a pool's members too) and window; only then does it go to the log")
    func deciderChecks() {
        var decider = RequestDecider(state: Self.state)
        let start = Self.window.start
        func decide(_ body: String, user: String = "bot-1", replyTo: String? = "amq.gen-r") -> Decision {
            decider.decide(Self.outcomeMessage(body, user: user, replyTo: replyTo), now: Self.now)
        }
        func errorKind(_ decision: Decision) -> String? {
            guard case .reply(let reply) = decision else { return nil }
            return reply.outcome.rawValue
        }
        guard case .claimOutcome(let claim) = decide(#"{"account":"sf-1","window_start":\#(start),"outcome":"failure"}"#) else {
            Issue.record("a well-formed outcome of an allowed account goes to the guard log")
            return
        }
        #expect(claim.requester == "bot-1" && claim.replyTo == "amq.gen-r" && claim.receivedMilliseconds == Self.now)
        // A pool's member: allowed through the pool.
        if case .claimOutcome = decide(#"{"account":"sf-3","window_start":\#(start),"outcome":"success"}"#) {
        } else {
            Issue.record("a pool's member is reported on by a requester allowed the pool")
        }
        #expect(errorKind(decide(#"{"account":"sf-3","window_start":\#(start),"outcome":"success"}"#, user: "bot-2")) == "forbidden")
        #expect(errorKind(decide(#"{"account":"nope","window_start":\#(start),"outcome":"success"}"#)) == "forbidden")
        #expect(errorKind(decide(#"{"account":"sf-1","window_start":\#(start + 30),"outcome":"success"}"#)) == "forbidden", "a future window")
        #expect(errorKind(decide(#"{"account":"sf-1","window_start":\#(start + 1),"outcome":"success"}"#)) == "forbidden", "not a window")
        #expect(errorKind(decide(#"{"account":"sf-1","window_start":\#(start - 3660),"outcome":"success"}"#)) == "forbidden", "too old")
        #expect(errorKind(decide(#"{"account":"sf-1","outcome":"success"}"#)) == "bad_request")
        // No reply_to: nothing is sent, whatever is wrong.
        if case .discard = decide(#"{"account":"sf-1"}"#, replyTo: nil) {} else { Issue.record("an outcome without reply_to gets no answer") }
        if case .claimOutcome(let quiet) = decide(#"{"account":"sf-1","window_start":\#(start),"outcome":"success"}"#, replyTo: nil) {
            #expect(quiet.answer(.refused, maxTTLMilliseconds: 1000, now: Self.now) == nil)
        } else {
            Issue.record("a good outcome without reply_to still counts")
        }
        #expect(String(decoding: claim.answer(.repeated, maxTTLMilliseconds: 1000, now: Self.now)?.body ?? [], as: UTF8.self) == #"{"status":"ok"}"#)
        #expect(claim.answer(.refused, maxTTLMilliseconds: 1000, now: Self.now)?.outcome == .forbidden)
    }

    @Test("A paused account answers paused at once; a pool skips paused members, and answers paused when all are")
    func pausedRequests() {
        var decider = RequestDecider(state: Self.state)
        decider.pauses = PauseTable(until: ["sf-1": Self.now + 60_000, "sf-2": Self.now + 30_000])
        func request(_ account: String) -> Reply? {
            let message = RequestMessage(
                body: Array(#"{"account":"\#(account)","max_wait_ms":3600000}"#.utf8), replyTo: "amq.gen-r", correlationID: Array("c".utf8),
                userID: "bot-1")
            guard case .reply(let reply) = decider.decide(message, now: Self.now) else { return nil }
            return reply
        }
        let byName = request("sf-1")
        #expect(byName?.outcome == .paused)
        let byNameText = String(decoding: byName?.body ?? [], as: UTF8.self)
        #expect(byNameText.contains(#""retry_after_ms":60000"#))
        for _ in 0..<3 { #expect(request("pool")?.account == "sf-3", "the pool skips the paused member") }
        decider.pauses = PauseTable(until: ["sf-2": Self.now + 30_000, "sf-3": Self.now + 45_000])
        let all = request("pool")
        #expect(all?.outcome == .paused)
        let allText = String(decoding: all?.body ?? [], as: UTF8.self)
        #expect(allText.contains(#""retry_after_ms":30000"#), "until the earliest pause ends")
    }

    @Test("With handouts on, a requester's first code of a window is written to the guard log before its reply, and confirms still settle requests")
    func handoutsBeforeCodes() {
        var machine = ConsumerMachine(settings: .init(recordsHandouts: true), state: ConsumerMachineTests.state())
        let first = machine.handle(
            .delivery(ConsumerMachineTests.delivery(1), poison: false, requesterWait: nil, now: Self.now, uptime: 0))
        guard first.count == 2, case .publishGuardRecord(.handout("bot-1", "acct", Self.window.start, Self.window.end, Self.now)) = first[0],
            case .publishReply = first[1]
        else {
            Issue.record("expected the handout, then the reply: \(first)")
            return
        }
        let second = machine.handle(
            .delivery(ConsumerMachineTests.delivery(2), poison: false, requesterWait: nil, now: Self.now, uptime: 0))
        #expect(second.count == 1, "the same window again: no second handout")
        // Sequence 1 is the handout, 2 and 3 the replies.
        #expect(ConsumerMachineTests.acks(machine.handle(.publisherAck(sequence: 2, multiple: true))) == [])
        #expect(ConsumerMachineTests.acks(machine.handle(.idle)) == ["ack up to 1"])
        #expect(ConsumerMachineTests.acks(machine.handle(.publisherAck(sequence: 3, multiple: false))) == [])
        #expect(ConsumerMachineTests.acks(machine.handle(.idle)) == ["ack up to 2"])
    }

    @Test("The book is a function of the log: read again after a pause ended, it reaches the same verdicts as it did live")
    func replayAgrees() {
        // A pause, a failure during it (from a window handed before it), then
        // the pause ends; read live and read again later, the same verdicts.
        let lockout = LockoutGuard(maxFailures: 2, withinSeconds: 3600, pauseSeconds: 60)
        let records: [GuardRecord] = [
            Self.handout("a"), Self.handout("b"), Self.handout("c"),
            Self.outcome("a", at: Self.now, id: 1), Self.outcome("b", at: Self.now + 1000, id: 2),  // pauses until now + 61 s
            Self.outcome("c", at: Self.now + 30_000, id: 3),  // during the pause: counted, no new pause
            Self.handout("d", at: Self.now + 70_000), Self.outcome("d", at: Self.now + 70_500, id: 4),  // after it: three within the hour
        ]
        func verdicts() -> [GuardBook.Verdict?] {
            var book = GuardBook(accounts: Self.accounts(lockout))
            return records.map { Self.verdict(book.apply($0)) }.filter { $0 != nil }
        }
        let live = verdicts()
        #expect(live[1] == .counted(failures: 2, paused: GuardBook.Pause(from: Self.now + 1000, until: Self.now + 61_000)))
        #expect(live[2] == .counted(failures: 3, paused: nil))
        #expect(live[3] == .counted(failures: 4, paused: GuardBook.Pause(from: Self.now + 70_500, until: Self.now + 130_500)))
        #expect(verdicts() == live, "no wall clock in the book: the same log, the same verdicts")
    }

    @Test("resume starts afresh: windows handed before it count no more, windows handed after it do")
    func resumeForgetsStockpiles() {
        var book = GuardBook(accounts: Self.accounts(LockoutGuard(maxFailures: 1)))
        _ = book.apply(Self.handout("a", at: Self.now - 5000))
        _ = book.apply(Self.handout("b", at: Self.now - 4000))
        _ = book.apply(.resume(origin: "r", id: 1, account: "sf-1", atMilliseconds: Self.now - 3000))
        #expect(Self.verdict(book.apply(Self.outcome("a"))) == .refused, "a window stockpiled before the resume")
        _ = book.apply(Self.handout("c", at: Self.now - 2000))
        #expect(Self.verdict(book.apply(Self.outcome("c", id: 2))) != .refused, "handed after the resume")
    }

    @Test("Before the guard log is read, accounts with a guard answer unavailable; accounts without one are served")
    func unknownPauses() {
        let state = ServiceState(
            accounts: [
                "guarded": Account(name: "guarded", generator: TOTPGenerator(key: Self.key)),
                "open": Account(name: "open", generator: TOTPGenerator(key: Self.key), lockoutGuard: nil),
            ],
            allow: Allowlist(["bot-1": ["guarded", "open"]]), reply: ReplySettings(maxTTLMilliseconds: 20_000, defaultMinValidityMilliseconds: 0))
        var decider = RequestDecider(state: state)
        decider.pauses = .unknown
        func ask(_ account: String) -> Reply? {
            let message = RequestMessage(body: Array(#"{"account":"\#(account)"}"#.utf8), replyTo: "amq.gen-r", correlationID: Array("c".utf8), userID: "bot-1")
            guard case .reply(let reply) = decider.decide(message, now: Self.now) else { return nil }
            return reply
        }
        #expect(ask("guarded")?.outcome == .unavailable)
        #expect(ask("open")?.outcome == .ok)
        decider.pauses = PauseTable()
        #expect(ask("guarded")?.outcome == .ok)
    }

    @Test("No answer goes to any deployment's guard log or turn queue")
    func internalReplyTo() {
        var decider = RequestDecider(state: Self.state)
        for name in ["other-deployment.guard", "mfa-code-request-b.turns.0123", Self.state.requestQueue + ".guard", "a.b..turns.c", "x.turns."] {
            let message = RequestMessage(body: Array(#"{"account":"sf-1"}"#.utf8), replyTo: name, correlationID: Array("c".utf8), userID: "bot-1")
            guard case .reject(_, _, let reason, _) = decider.decide(message, now: Self.now) else {
                Issue.record("\(name) is answered")
                continue
            }
            #expect(reason == .ownQueue)
        }
        // Names that only look alike are answered.
        for name in ["robot.guardian", "guard", "robot-turns.1", "a.turns", "amq.gen-turns.guar", "robot.turn.s.1"] {
            let message = RequestMessage(body: Array(#"{"account":"sf-1"}"#.utf8), replyTo: name, correlationID: Array("c".utf8), userID: "bot-1")
            if case .reject = decider.decide(message, now: Self.now) { Issue.record("\(name) is refused") }
        }
    }
}
