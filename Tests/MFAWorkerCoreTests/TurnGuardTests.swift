import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP
import Testing

/// What the turn thread believes of a turn queue's messages, without a
/// broker: anyone with write on the default exchange can publish into a
/// turn queue, so only what a worker login wrote about the queue's account
/// is read, decoded strictly, every field in range.
@Suite("Turns: the turn queue's guard")
struct TurnGuardTests {
    static let now = TurnLedgerTests.now
    static let current = TurnLedgerTests.current
    static let gate = TurnQueueGuard(account: "acct", workerLogins: ["mfa-worker", "mfa-worker-b"])

    static func turn(requester: String = "bot", account: String = "acct", received: Int64 = now) -> TurnRequest {
        TurnRequest(
            replyTo: "amq.gen-r", correlationID: Array("c".utf8), requester: requester, account: account, minValidityMilliseconds: 0,
            maxWaitMilliseconds: 60_000, receivedMilliseconds: received)
    }

    func admit(_ message: TurnMessage, from user: String?, body: [UInt8]? = nil) -> Result<TurnMessage, TurnDrop> {
        var replyTo: String?, correlationID: [UInt8]?
        if case .request(let turn) = message {
            replyTo = turn.replyTo
            correlationID = turn.correlationID
        }
        return Self.gate.admit(
            userID: user, type: message.type, messageID: message.messageID, replyTo: replyTo, correlationID: correlationID, body: body ?? message.body())
    }

    @Test("A turn, record or fence from a worker login about this account is read")
    func fromWorkers() {
        let messages: [TurnMessage] = [
            .request(Self.turn()), .record(holder: "h-1", account: "acct", windows: [Self.current]), .fence(id: "h-fence-1"),
        ]
        for message in messages {
            #expect(admit(message, from: "mfa-worker") == .success(message))
            #expect(admit(message, from: "mfa-worker-b") == .success(message))
        }
    }

    @Test("From anyone else, or without user_id, nothing is read: a robot's forged turn, record or fence is dropped")
    func forged() {
        let messages: [TurnMessage] = [
            .request(Self.turn(requester: "rpa-bot-eu-2")), .record(holder: "x", account: "acct", windows: Array(Self.current..<Self.current + 2880)),
            .fence(id: "x"),
        ]
        for message in messages {
            #expect(admit(message, from: "rpa-bot-eu-1") == .failure(.untrustedSender))
            #expect(admit(message, from: nil) == .failure(.untrustedSender))
            #expect(admit(message, from: "") == .failure(.untrustedSender))
            // User names are compared as bytes: a look-alike is another user.
            #expect(admit(message, from: "mfa-worker\u{200B}") == .failure(.untrustedSender))
            #expect(admit(message, from: "MFA-worker") == .failure(.untrustedSender))
        }
        let decomposed = TurnQueueGuard(account: "acct", workerLogins: ["worker-\u{E9}"])
        let message = TurnMessage.fence(id: "f")
        #expect(
            decomposed.admit(userID: "worker-e\u{301}", type: message.type, messageID: "f", replyTo: nil, correlationID: nil, body: [])
                == .failure(.untrustedSender))
        #expect(decomposed.admit(userID: "worker-\u{E9}", type: message.type, messageID: "f", replyTo: nil, correlationID: nil, body: []) == .success(message))
    }

    @Test("A turn or record about another account is dropped, whoever wrote it")
    func otherAccount() {
        #expect(admit(.request(Self.turn(account: "other")), from: "mfa-worker") == .failure(.wrongAccount))
        #expect(admit(.record(holder: "h", account: "other", windows: [1]), from: "mfa-worker") == .failure(.wrongAccount))
    }

    @Test("Fields out of range make a message undecodable, never a trap")
    func outOfRange() {
        let turn = TurnMessage.request(Self.turn())
        func body(_ text: String) -> [UInt8] { Array(text.utf8) }
        let bodies = [
            #"{"requester":"bot","account":"acct","min_validity_ms":0,"max_wait_ms":60000,"received_ms":-9223372036854775808}"#,
            #"{"requester":"bot","account":"acct","min_validity_ms":0,"max_wait_ms":60000,"received_ms":9223372036854775807}"#,
            #"{"requester":"bot","account":"acct","min_validity_ms":0,"max_wait_ms":60000,"received_ms":1e3}"#,
            #"{"requester":"bot","account":"acct","min_validity_ms":-1,"max_wait_ms":60000,"received_ms":0}"#,
            #"{"requester":"bot","account":"acct","min_validity_ms":0,"max_wait_ms":3600001,"received_ms":0}"#,
            #"{"requester":"bot","account":"acct","min_validity_ms":0,"max_wait_ms":60000}"#,
            #"{"requester":"","account":"acct","min_validity_ms":0,"max_wait_ms":60000,"received_ms":0}"#,
            #"{"requester":"a\u0000b","account":"acct","min_validity_ms":0,"max_wait_ms":60000,"received_ms":0}"#,
            #"{"requester":"bot","account":"acct","account":"acct","min_validity_ms":0,"max_wait_ms":60000,"received_ms":0}"#,
            #"{"requester":"bot","account":"a/b","min_validity_ms":0,"max_wait_ms":60000,"received_ms":0}"#,
            #"[]"#, "", "null",
        ]
        for text in bodies {
            #expect(admit(turn, from: "mfa-worker", body: body(text)) == .failure(.undecodable), "\(text)")
        }
        let record = TurnMessage.record(holder: "h", account: "acct", windows: [])
        let records = [
            #"{"holder":"h","account":"acct","windows":[-1]}"#,
            #"{"holder":"h","account":"acct","windows":[1.5]}"#,
            #"{"holder":"h","account":"acct","windows":[18446744073709551615]}"#,
            #"{"holder":"h","account":"acct","windows":"1"}"#,
            #"{"holder":"h","account":"acct"}"#,
            #"{"holder":"h","account":"acct","windows":[\#((0...TurnBody.largestWindowCount).map(String.init).joined(separator: ","))]}"#,
        ]
        for text in records {
            #expect(admit(record, from: "mfa-worker", body: body(text)) == .failure(.undecodable), "\(text.prefix(80))")
        }
        // A fence carries no body and an id of printable ASCII.
        #expect(
            Self.gate.admit(userID: "mfa-worker", type: TurnMessage.fenceType, messageID: "a b", replyTo: nil, correlationID: nil, body: [])
                == .failure(.undecodable))
        #expect(
            Self.gate.admit(userID: "mfa-worker", type: TurnMessage.fenceType, messageID: "f", replyTo: nil, correlationID: nil, body: [1])
                == .failure(.undecodable))
        #expect(
            Self.gate.admit(userID: "mfa-worker", type: "mfa-code-request", messageID: nil, replyTo: "q", correlationID: nil, body: body("{}"))
                == .failure(.undecodable))
    }

    @Test("A turn's wait left cannot overflow, whatever the clocks")
    func waitLeftSaturates() {
        for received in [Int64.min, -1, 0, Self.now, Self.now + 10_000, Int64.max] {
            let turn = Self.turn(received: received)
            for now in [Int64.min, 0, Self.now, Int64.max] {
                let left = turn.waitLeft(at: now)
                #expect(left >= 0 && left <= 60_000)
            }
        }
        #expect(Self.turn(received: Int64.min).waitLeft(at: Self.now) == 0)
        #expect(Self.turn(received: Int64.max).waitLeft(at: Self.now) == 60_000)
    }

    @Test("Unknown fields are read and ignored; escapes in names decode")
    func lenientWhereHarmless() {
        let body = Array(#"{"later":{"x":[1,2]},"requester":"bot-\u00e9","account":"acct","min_validity_ms":5000,"max_wait_ms":0,"received_ms":1}"#.utf8)
        #expect(
            TurnBody.decodeRequest(body)
                == TurnBody.Request(requester: "bot-\u{E9}", account: "acct", minValidityMilliseconds: 5000, maxWaitMilliseconds: 0, receivedMilliseconds: 1))
    }
}

@Suite("Turns: what one requester may hold")
struct TurnCapTests {
    static let now = TurnLedgerTests.now
    static let current = TurnLedgerTests.current

    func serving(maxPerRequester: Int) -> TurnKeeper {
        var keeper = TurnKeeper(account: "acct", holder: "B", maxPerRequester: maxPerRequester)
        guard case .publishFence(let fence)? = keeper.received(.fence(id: "other"), deliveryTag: 1, now: Self.now, period: 30).first else {
            Issue.record("no fence")
            return keeper
        }
        _ = keeper.received(.fence(id: fence), deliveryTag: 2, now: Self.now, period: 30)
        return keeper
    }

    func turn(_ requester: String) -> TurnRequest {
        TurnRequest(
            replyTo: "amq.gen-r", correlationID: nil, requester: requester, account: "acct", minValidityMilliseconds: 0, maxWaitMilliseconds: 600_000,
            receivedMilliseconds: Self.now)
    }

    @Test("Past max_per_requester, busy at once until its first window's reply; others are not held up")
    func cap() {
        var keeper = serving(maxPerRequester: 3)
        var windows: [UInt64] = []
        for _ in 0..<3 {
            guard case .window(let window, _) = keeper.assign(turn("greedy"), now: Self.now, period: 30) else {
                Issue.record("expected a window")
                return
            }
            windows.append(window.counter)
        }
        #expect(windows == [Self.current, Self.current + 1, Self.current + 2])
        // The fourth: busy until its first window (the current) is answered.
        #expect(keeper.assign(turn("greedy"), now: Self.now, period: 30) == .capped(retryAfterMilliseconds: 0))
        #expect(keeper.held(by: "greedy") == 3)
        // Another requester gets the next free window.
        guard case .window(let other, _) = keeper.assign(turn("polite"), now: Self.now, period: 30) else {
            Issue.record("expected a window")
            return
        }
        #expect(other.counter == Self.current + 3)
        // Its first reply sent, the greedy one may take one more.
        keeper.release(requester: "greedy", window: Self.current)
        #expect(keeper.held(by: "greedy") == 2)
        guard case .window(let fourth, _) = keeper.assign(turn("greedy"), now: Self.now, period: 30) else {
            Issue.record("expected a window")
            return
        }
        #expect(fourth.counter == Self.current + 4)
        // Later windows: retry_after_ms points at the first one's start.
        let capped = keeper.assign(turn("greedy"), now: Self.now, period: 30)
        let opens = Int64(Self.current + 1) * 30_000 - Self.now
        #expect(capped == .capped(retryAfterMilliseconds: opens))
    }

    @Test("Requesters are told apart by their bytes")
    func bytes() {
        var keeper = serving(maxPerRequester: 1)
        #expect(keeper.assign(turn("bot-\u{E9}"), now: Self.now, period: 30) != .capped(retryAfterMilliseconds: 0))
        guard case .window = keeper.assign(turn("bot-e\u{301}"), now: Self.now, period: 30) else {
            Issue.record("a canonically equivalent name was counted as the same requester")
            return
        }
    }

    @Test("A record listing windows beyond the longest wait is read up to it only")
    func horizon() {
        var keeper = TurnKeeper(account: "acct", holder: "B")
        _ = keeper.received(
            .record(holder: "A", account: "acct", windows: Array(Self.current..<Self.current + 2880)), deliveryTag: 1, now: Self.now, period: 30)
        #expect(keeper.ledger.issued.last == TurnLedger.horizon(at: Self.now, period: 30))
        #expect(keeper.ledger.issued.count == 3600 / 30 + 2)
    }
}

@Suite("Lines about things that happen often")
struct CountedNoticesTests {
    @Test("The first at once, then the rest of the interval in one line with the counts")
    func throttle() {
        var notices = CountedNotices<String>(intervalMilliseconds: 60_000)
        #expect(notices.note("q", "untrusted_sender", now: 0) == .say)
        for second in 1...59 { #expect(notices.note("q", "untrusted_sender", now: Int64(second) * 1000) == .hold) }
        #expect(notices.note("q", "undecodable", now: 59_500) == .hold)
        #expect(notices.note("other", "undecodable", now: 59_500) == .say)
        #expect(notices.due(now: 59_999).isEmpty)
        let due = notices.due(now: 60_000)
        #expect(due.count == 1 && due[0].key == "q" && due[0].counts == ["untrusted_sender": 59, "undecodable": 1])
        #expect(CountedNotices<String>.describe(due[0].counts) == "59 untrusted_sender, 1 undecodable")
        // Quiet for an interval: forgotten, the next one is said at once.
        #expect(notices.due(now: 200_000).isEmpty)
        #expect(notices.note("q", "undecodable", now: 200_001) == .say)
        // Held ones and a late arrival: summarised as it comes.
        #expect(notices.note("q", "undecodable", now: 200_002) == .hold)
        #expect(notices.note("q", "undecodable", now: 260_001) == .summarize(["undecodable": 2]))
    }

    @Test("A burst of lines of their own per interval, then counts")
    func burst() {
        var notices = CountedNotices<String>(intervalMilliseconds: 1000, burst: 3)
        #expect((0..<5).map { _ in notices.note("r", "x", now: 0) } == [.say, .say, .say, .hold, .hold])
        #expect(notices.due(now: 1000).map(\.counts) == [["x": 2]])
        #expect(notices.note("r", "x", now: 1001) == .say)
    }
}
