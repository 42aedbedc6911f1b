import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP
import Testing

/// `once_per_window`, without a broker: the rule that gives a request its
/// window, the keeper's sync with its fence, and the turn queue's messages.
@Suite("Turns: one code per window")
struct TurnLedgerTests {
    /// 1_764_372_612_345 ms: 17.655 s left in a 30 s window (counter 58812420).
    static let now: Int64 = 1_764_372_612_345
    static let current: UInt64 = 58_812_420

    @Test("The first request gets the current window; each later one the next free window, opening at its start")
    func consecutiveWindows() {
        var ledger = TurnLedger()
        var starts: [Int64] = []
        for _ in 0..<4 {
            guard case .window(let window, let opensAt) = ledger.choose(now: Self.now, period: 30, minValidity: 0, maxWait: 120_000) else {
                Issue.record("expected a window")
                return
            }
            ledger.take(window)
            starts.append(window.start)
            #expect(opensAt == max(Self.now, window.start * 1000))
        }
        let first = Int64(Self.current) * 30
        #expect(starts == [first, first + 30, first + 60, first + 90])
    }

    @Test("A window too short for one request stays free for the next request that it suits")
    func shortWindowNotSkipped() {
        var ledger = TurnLedger()
        // 17.655 s left; this request needs 20 s: it gets the next window.
        guard case .window(let first, _) = ledger.choose(now: Self.now, period: 30, minValidity: 20_000, maxWait: 60_000) else {
            Issue.record("expected a window")
            return
        }
        ledger.take(first)
        #expect(first.counter == Self.current + 1)
        // The next request is content with 5 s: the current window is still free.
        guard case .window(let second, let opensAt) = ledger.choose(now: Self.now, period: 30, minValidity: 5_000, maxWait: 60_000) else {
            Issue.record("expected a window")
            return
        }
        #expect(second.counter == Self.current)
        #expect(opensAt == Self.now)
    }

    @Test("A window that opens after max_wait_ms is busy, with retry_after_ms until it opens, and is not taken")
    func busy() {
        var ledger = TurnLedger(issued: [Self.current, Self.current + 1])
        let choice = ledger.choose(now: Self.now, period: 30, minValidity: 0, maxWait: 30_000)
        // Window +2 opens 17.655 + 30 s from now.
        #expect(choice == .busy(retryAfterMilliseconds: 47_655))
        #expect(ledger.issued == [Self.current, Self.current + 1])
        // At that time, it is the current window and free.
        let later = Self.now + 47_655
        guard case .window(let window, let opensAt) = ledger.choose(now: later, period: 30, minValidity: 0, maxWait: 0) else {
            Issue.record("expected a window")
            return
        }
        #expect(window.counter == Self.current + 2)
        #expect(opensAt == later)
        ledger.take(window)
        ledger.forget(endedBy: later, period: 30)
        #expect(ledger.issued == [Self.current + 2])
    }

    @Test("max_wait_ms 0 takes the current window only")
    func zeroWait() {
        let ledger = TurnLedger(issued: [Self.current])
        #expect(ledger.choose(now: Self.now, period: 30, minValidity: 0, maxWait: 0) == .busy(retryAfterMilliseconds: 17_655))
        #expect(
            TurnLedger().choose(now: Self.now, period: 30, minValidity: 0, maxWait: 0)
                == .window(TOTPWindow(counter: Self.current, period: 30), opensAt: Self.now))
    }

    @Test("Merging keeps windows sorted and unique; lookups find them")
    func merge() {
        var ledger = TurnLedger(issued: [5, 3])
        ledger.merge([4, 5, 9])
        #expect(ledger.issued == [3, 4, 5, 9])
        #expect(ledger.contains(9) && ledger.contains(3) && !ledger.contains(6) && !ledger.contains(10))
    }

    @Test("A turn's wait counts from when a worker received it")
    func waitLeft() {
        let turn = TurnRequest(
            replyTo: "q", correlationID: nil, requester: "r", account: "a", minValidityMilliseconds: 0, maxWaitMilliseconds: 10_000, receivedMilliseconds: 1_000
        )
        #expect(turn.waitLeft(at: 1_000) == 10_000)
        #expect(turn.waitLeft(at: 4_000) == 7_000)
        #expect(turn.waitLeft(at: 20_000) == 0)
    }
}

@Suite("Turns: the keeper's sync")
struct TurnKeeperTests {
    static let now = TurnLedgerTests.now
    static let current = TurnLedgerTests.current

    static func turn(_ id: String) -> TurnRequest {
        TurnRequest(
            replyTo: "amq.gen-\(id)", correlationID: Array(id.utf8), requester: "bot", account: "acct", minValidityMilliseconds: 0,
            maxWaitMilliseconds: 600_000, receivedMilliseconds: now)
    }

    @Test("The first delivery sends a fence; requests wait for it; the old holder's records count before any decision")
    func syncBeforeDeciding() {
        var keeper = TurnKeeper(account: "acct", holder: "B")
        // The old holder's record comes back first (returned with its connection).
        var actions = keeper.received(
            .record(holder: "A", account: "acct", windows: [Self.current, Self.current + 1]), deliveryTag: 1, now: Self.now, period: 30)
        guard case .publishFence(let fence)? = actions.first else {
            Issue.record("expected a fence first, got \(actions)")
            return
        }
        #expect(actions.count == 1)
        actions = keeper.received(.request(Self.turn("t1")), deliveryTag: 2, now: Self.now, period: 30)
        #expect(actions.isEmpty)
        // A record written late by the old holder, still before the fence.
        actions = keeper.received(.record(holder: "A", account: "acct", windows: [Self.current + 2]), deliveryTag: 3, now: Self.now, period: 30)
        #expect(actions.isEmpty)
        // Someone else's fence is dropped.
        #expect(keeper.received(.fence(id: "A-fence-1"), deliveryTag: 4, now: Self.now, period: 30) == [.ack(4)])
        #expect(keeper.phase == .syncing(fence: fence))

        actions = keeper.received(.fence(id: fence), deliveryTag: 5, now: Self.now, period: 30)
        #expect(actions == [.ack(5), .publishRecord("acct"), .decide(deliveryTag: 2, Self.turn("t1"))])
        #expect(keeper.phase == .serving)
        #expect(keeper.heldRecords == [1, 3])
        // The request waiting gets the first window nobody holds.
        #expect(
            keeper.assign(Self.turn("t1"), now: Self.now, period: 30)
                == .window(TOTPWindow(counter: Self.current + 3, period: 30), opensAt: Int64(Self.current + 3) * 30_000))
        #expect(keeper.record == .record(holder: "B", account: "acct", windows: [Self.current, Self.current + 1, Self.current + 2, Self.current + 3]))

        // Its own record supersedes the old ones: they are acknowledged, it is held.
        actions = keeper.received(keeper.record, deliveryTag: 6, now: Self.now, period: 30)
        #expect(actions == [.ack(1), .ack(3)])
        #expect(keeper.heldRecords == [6])
        // Serving: requests are decided as they come.
        #expect(keeper.received(.request(Self.turn("t2")), deliveryTag: 7, now: Self.now, period: 30) == [.decide(deliveryTag: 7, Self.turn("t2"))])
    }

    @Test("While syncing, requests past the backlog go round again behind the fence, so the fence can arrive")
    func backlogGoesRound() {
        var keeper = TurnKeeper(account: "acct", holder: "B", syncBacklog: 2)
        guard case .publishFence(let fence)? = keeper.received(.request(Self.turn("t1")), deliveryTag: 1, now: Self.now, period: 30).first else {
            Issue.record("expected a fence")
            return
        }
        #expect(keeper.received(.request(Self.turn("t2")), deliveryTag: 2, now: Self.now, period: 30).isEmpty)
        #expect(keeper.received(.request(Self.turn("t3")), deliveryTag: 3, now: Self.now, period: 30) == [.requeue(deliveryTag: 3, Self.turn("t3"))])
        #expect(
            keeper.received(.fence(id: fence), deliveryTag: 4, now: Self.now, period: 30) == [
                .ack(4), .decide(deliveryTag: 1, Self.turn("t1")), .decide(deliveryTag: 2, Self.turn("t2")),
            ])
        // Its copy comes after the fence and is decided like any other.
        #expect(keeper.received(.request(Self.turn("t3")), deliveryTag: 5, now: Self.now, period: 30) == [.decide(deliveryTag: 5, Self.turn("t3"))])
    }

    @Test("Renewing: the held record is written again while windows are open, acknowledged once they have all ended")
    func renew() {
        var keeper = TurnKeeper(account: "acct", holder: "B")
        #expect(keeper.renew(now: Self.now, period: 30).isEmpty, "nothing held, nothing to renew")
        guard
            case .publishFence(let fence)? = keeper.received(
                .record(holder: "A", account: "acct", windows: [Self.current + 1]), deliveryTag: 1, now: Self.now, period: 30
            ).first
        else {
            Issue.record("expected a fence")
            return
        }
        #expect(keeper.renew(now: Self.now, period: 30).isEmpty, "not while syncing")
        _ = keeper.received(.fence(id: fence), deliveryTag: 2, now: Self.now, period: 30)
        #expect(keeper.renew(now: Self.now, period: 30) == [.publishRecord("acct")])
        // Two windows later, everything recorded has ended.
        #expect(keeper.renew(now: Self.now + 60_000, period: 30) == [.ack(1)])
        #expect(keeper.heldRecords.isEmpty)
        #expect(keeper.renew(now: Self.now + 60_000, period: 30).isEmpty)
    }

    @Test("A record from another holder while serving is merged, held, and answered with a record of ours")
    func lateForeignRecord() {
        var keeper = TurnKeeper(account: "acct", holder: "B")
        guard case .publishFence(let fence)? = keeper.received(.request(Self.turn("t1")), deliveryTag: 1, now: Self.now, period: 30).first else {
            Issue.record("expected a fence")
            return
        }
        #expect(keeper.received(.fence(id: fence), deliveryTag: 2, now: Self.now, period: 30) == [.ack(2), .decide(deliveryTag: 1, Self.turn("t1"))])
        #expect(
            keeper.received(.record(holder: "A", account: "acct", windows: [Self.current]), deliveryTag: 3, now: Self.now, period: 30)
                == [.publishRecord("acct")])
        #expect(keeper.ledger.issued == [Self.current])
        #expect(keeper.heldRecords == [3])
        #expect(
            keeper.assign(Self.turn("t1"), now: Self.now, period: 30)
                == .window(TOTPWindow(counter: Self.current + 1, period: 30), opensAt: Int64(Self.current + 1) * 30_000))
    }

    @Test("Records of windows that have all ended are acknowledged at sync, not kept")
    func endedRecordsDropped() {
        var keeper = TurnKeeper(account: "acct", holder: "B")
        guard
            case .publishFence(let fence)? = keeper.received(
                .record(holder: "A", account: "acct", windows: [Self.current - 2]), deliveryTag: 1, now: Self.now, period: 30
            ).first
        else {
            Issue.record("expected a fence")
            return
        }
        #expect(keeper.received(.fence(id: fence), deliveryTag: 2, now: Self.now, period: 30) == [.ack(2), .ack(1)])
        #expect(keeper.heldRecords.isEmpty)
        #expect(keeper.ledger.isEmpty)
    }

    @Test("A message the keeper does not know is acknowledged and dropped")
    func unknownMessage() {
        var keeper = TurnKeeper(account: "acct", holder: "B")
        let actions = keeper.received(nil, deliveryTag: 9, now: Self.now, period: 30)
        #expect(actions.count == 2)
        #expect(actions.last == .ack(9))
    }

    @Test("Turn-queue messages read back as written; foreign ones read as nil")
    func codec() {
        let turn = TurnRequest(
            replyTo: "amq.gen-x", correlationID: [0, 255, 34], requester: "bot \"quoted\" é", account: "acct", minValidityMilliseconds: 5_000,
            maxWaitMilliseconds: 60_000, receivedMilliseconds: Self.now)
        let request = TurnMessage.request(turn)
        #expect(
            TurnMessage.decode(type: request.type, messageID: nil, replyTo: turn.replyTo, correlationID: turn.correlationID, body: request.body()) == request)
        let record = TurnMessage.record(holder: "h", account: "acct", windows: [1, 2, 3])
        #expect(TurnMessage.decode(type: record.type, messageID: nil, replyTo: nil, correlationID: nil, body: record.body()) == record)
        let fence = TurnMessage.fence(id: "h-fence-1")
        #expect(TurnMessage.decode(type: fence.type, messageID: fence.messageID, replyTo: nil, correlationID: nil, body: []) == fence)
        #expect(TurnMessage.decode(type: "other", messageID: nil, replyTo: nil, correlationID: nil, body: []) == nil)
        #expect(TurnMessage.decode(type: TurnMessage.recordType, messageID: nil, replyTo: nil, correlationID: nil, body: Array("{".utf8)) == nil)
        #expect(TurnMessage.decode(type: TurnMessage.requestType, messageID: nil, replyTo: nil, correlationID: nil, body: request.body()) == nil)
    }
}

@Suite("Deciding requests: max_wait_ms and once_per_window")
struct WaitDecisionTests {
    static let key = SecretKey(bytes: Array("12345678901234567890".utf8))
    static let state = ServiceState(
        accounts: [
            "shared": Account(name: "shared", generator: TOTPGenerator(key: key)),
            "once": Account(name: "once", generator: TOTPGenerator(key: key), issue: .oncePerWindow),
        ],
        allow: Allowlist(["bot-1": ["shared", "once"]]),
        reply: ReplySettings(maxTTLMilliseconds: 20_000, defaultMinValidityMilliseconds: 0, defaultMaxWaitMilliseconds: 15_000)
    )
    static let now = TurnLedgerTests.now  // 17.655 s left

    func request(_ body: String) -> RequestMessage {
        RequestMessage(body: Array(body.utf8), replyTo: "amq.gen-r", correlationID: Array("c".utf8), userID: "bot-1", contentType: nil, type: nil)
    }

    @Test("A shared account's wait for min_validity_ms beyond max_wait_ms is busy, with retry_after_ms until the next window")
    func sharedBusy() {
        var decider = RequestDecider(state: Self.state)
        guard case .reply(let reply) = decider.decide(request(#"{"account":"shared","min_validity_ms":20000,"max_wait_ms":17654}"#), now: Self.now) else {
            Issue.record("expected a reply")
            return
        }
        #expect(reply.outcome == .busy)
        #expect(String(decoding: reply.body, as: UTF8.self) == #"{"status":"error","error":"busy","message":"\#(Messages.busy)","retry_after_ms":17655}"#)
        // Exactly enough: it waits.
        guard case .schedule(_, let due) = decider.decide(request(#"{"account":"shared","min_validity_ms":20000,"max_wait_ms":17655}"#), now: Self.now) else {
            Issue.record("expected a schedule")
            return
        }
        #expect(due == Self.now + 17_655)
    }

    @Test("reply.default_max_wait_ms applies when the request does not say")
    func defaultMaxWait() {
        var decider = RequestDecider(state: Self.state)
        guard case .reply(let reply) = decider.decide(request(#"{"account":"shared","min_validity_ms":20000}"#), now: Self.now) else {
            Issue.record("expected busy (17.655 s > 15 s)")
            return
        }
        #expect(reply.outcome == .busy)
    }

    @Test("A once_per_window account's request becomes a turn, with what its window needs")
    func takesTurn() {
        var decider = RequestDecider(state: Self.state)
        guard case .takeTurn(let turn) = decider.decide(request(#"{"account":"once","min_validity_ms":3000,"max_wait_ms":90000}"#), now: Self.now) else {
            Issue.record("expected a turn")
            return
        }
        #expect(
            turn
                == TurnRequest(
                    replyTo: "amq.gen-r", correlationID: Array("c".utf8), requester: "bot-1", account: "once", minValidityMilliseconds: 3_000,
                    maxWaitMilliseconds: 90_000, receivedMilliseconds: Self.now))
    }

    @Test("A turn's reply carries its own window, and never once that window has ended")
    func turnReply() {
        var decider = RequestDecider(state: Self.state)
        let next = TOTPWindow(counter: TurnLedgerTests.current + 1, period: 30)
        let pending = PendingRequest(
            replyTo: "amq.gen-r", correlationID: nil, requester: "bot-1", account: "once", minValidityMilliseconds: 0, receivedAt: 0, window: next,
            deliveryTag: 7)
        let reply = decider.complete(pending, now: next.start * 1000 + 5)
        #expect(reply.outcome == .ok)
        #expect(reply.window == next)
        #expect(reply.expirationMilliseconds == 20_000)
        let late = decider.complete(pending, now: next.end * 1000)
        #expect(late.outcome == .unavailable)
        #expect(!String(decoding: late.body, as: UTF8.self).contains("code"))
    }
}
