import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP
import Testing

/// One consumer thread's requests without a broker, with a fake clock.
@Suite("Consumer machine: requests, confirms and the stop with a fake clock")
struct ConsumerMachineTests {
    static let key = SecretKey(bytes: Array("12345678901234567890".utf8))
    static let now = TurnLedgerTests.now  // 17.655 s left in a 30 s window
    static func state(perAccount: RateLimit? = nil, maxHeld: Int = 100) -> ServiceState {
        ServiceState(
            accounts: [
                "acct": Account(name: "acct", generator: TOTPGenerator(key: key)),
                "once": Account(name: "once", generator: TOTPGenerator(key: key), issue: .oncePerWindow),
            ],
            allow: Allowlist(["bot-1": ["acct", "once"]]),
            reply: ReplySettings(maxTTLMilliseconds: 30_000, defaultMinValidityMilliseconds: 0, maxHeldPerRequester: maxHeld),
            rateLimits: RateLimiter(perAccount: perAccount)
        )
    }

    static func delivery(
        _ tag: UInt64, _ body: String = #"{"account":"acct"}"#, replyTo: String? = "amq.gen-r", redelivered: Bool = false
    ) -> ConsumerMachine.Delivery {
        ConsumerMachine.Delivery(
            deliveryTag: tag, redelivered: redelivered,
            message: RequestMessage(body: Array(body.utf8), replyTo: replyTo, correlationID: Array("c\(tag)".utf8), userID: "bot-1"))
    }

    static func replies(_ actions: [ConsumerMachine.Action]) -> [Reply] {
        actions.compactMap {
            if case .publishReply(let reply, _) = $0 { return reply }
            return nil
        }
    }

    static func acks(_ actions: [ConsumerMachine.Action]) -> [String] {
        actions.compactMap { action -> String? in
            switch action {
            case .ack(let tag, let multiple): return multiple ? "ack up to \(tag)" : "ack \(tag)"
            case .nack(let tag, let requeue): return "nack \(tag)\(requeue ? " requeue" : "")"
            case .reject(let tag, _): return "reject \(tag)"
            case .drop(let tag, _): return "drop \(tag)"
            default: return nil
            }
        }
    }

    func machine(confirms: Bool = true, state: ServiceState = Self.state(), shutdown: Int64 = 10_000) -> ConsumerMachine {
        ConsumerMachine(settings: .init(publisherConfirms: confirms, shutdownTimeoutMilliseconds: shutdown), state: state)
    }

    func deliver(
        _ machine: inout ConsumerMachine, _ delivery: ConsumerMachine.Delivery, at time: Int64 = Self.now, poison: Bool = false, requesterWait: Int64? = nil
    ) -> [ConsumerMachine.Action] {
        machine.handle(.delivery(delivery, poison: poison, requesterWait: requesterWait, now: time, uptime: 0))
    }

    @Test("A request is acknowledged only once its reply is confirmed; confirms of the oldest become one multiple ack when nothing waits")
    func confirmsThenAck() {
        var machine = machine()
        #expect(Self.replies(deliver(&machine, Self.delivery(1))).map(\.outcome) == [.ok])
        #expect(Self.acks(deliver(&machine, Self.delivery(2))).isEmpty)
        #expect(machine.inFlight.count == 2)
        #expect(Self.acks(machine.handle(.publisherAck(sequence: 2, multiple: true))).isEmpty)
        #expect(Self.acks(machine.handle(.idle)) == ["ack up to 2"])
        #expect(machine.inFlight.isEmpty)
        // Out of order: acknowledged one by one.
        _ = deliver(&machine, Self.delivery(3))
        _ = deliver(&machine, Self.delivery(4))
        #expect(Self.acks(machine.handle(.publisherAck(sequence: 4, multiple: false))) == ["ack 4"])
    }

    @Test("A message from a worker login is acknowledged and dropped, never dead-lettered: it may carry a code")
    func workerLoginDropped() {
        let base = Self.state()
        var machine = machine(state: ServiceState(accounts: base.accounts, allow: base.allow, reply: base.reply, workerLogins: ["mfa-worker"]))
        let reflected = ConsumerMachine.Delivery(
            deliveryTag: 1, redelivered: false,
            message: RequestMessage(body: Array(#"{"status":"ok"}"#.utf8), replyTo: nil, correlationID: nil, userID: "mfa-worker"))
        let actions = deliver(&machine, reflected)
        #expect(Self.acks(actions) == ["drop 1"])
        #expect(Self.replies(actions).isEmpty)
        #expect(machine.inFlight.isEmpty)
    }

    @Test("Without publisher confirms, a request is acknowledged right after its reply")
    func withoutConfirms() {
        var machine = machine(confirms: false)
        let actions = deliver(&machine, Self.delivery(1))
        guard actions.count == 2, case .publishReply = actions[0], case .ack(1, false) = actions[1] else {
            Issue.record("\(actions)")
            return
        }
    }

    @Test("A held request is acknowledged at once and answered as its window opens; past max_held_per_requester, busy")
    func held() {
        var machine = machine(state: Self.state(maxHeld: 2))
        let body = #"{"account":"acct","min_validity_ms":20000}"#
        for tag in 1...2 { #expect(Self.acks(deliver(&machine, Self.delivery(UInt64(tag), body))) == ["ack \(tag)"]) }
        #expect(Self.replies(deliver(&machine, Self.delivery(3, body))).map(\.outcome) == [.busy])
        let opens = (Self.now / 30_000 + 1) * 30_000
        #expect(machine.waitMilliseconds(now: opens - 5) == 5)
        #expect(Self.replies(machine.handle(.tick(now: opens - 1))).isEmpty)
        let sent = Self.replies(machine.handle(.tick(now: opens)))
        #expect(sent.count == 2 && sent.allSatisfy { $0.outcome == .ok && $0.window?.start == opens / 1000 })
        // The places are free again.
        #expect(Self.acks(deliver(&machine, Self.delivery(4, body), at: opens + 15_000)) == ["ack 4"])
    }

    @Test(
        "A stop: the consumer is cancelled, late held requests hear unavailable, near ones are answered, then close once confirmed; what arrives meanwhile goes back"
    )
    func gracefulStop() {
        var machine = machine(shutdown: 20_000)
        _ = deliver(&machine, Self.delivery(1, #"{"account":"acct","min_validity_ms":20000}"#))  // next window: 17.655 s
        _ = deliver(&machine, Self.delivery(2, #"{"account":"acct","min_validity_ms":20000}"#, replyTo: "amq.gen-s"))
        let stop = machine.handle(.beginShutdown(now: Self.now))
        #expect(
            {
                if case .cancelConsumer = stop.first { return true }
                return false
            }())
        #expect(
            !stop.contains {
                if case .close = $0 { return true }
                return false
            })
        #expect(Self.acks(deliver(&machine, Self.delivery(3))) == ["nack 3 requeue"])
        let opens = (Self.now / 30_000 + 1) * 30_000
        #expect(Self.replies(machine.handle(.tick(now: opens))).count == 2)
        _ = machine.handle(.publisherAck(sequence: 2, multiple: true))
        let end = machine.handle(.tick(now: opens))
        #expect(
            end.contains {
                if case .close = $0 { return true }
                return false
            })

        // A shorter timeout: the held ones cannot be answered in time.
        var short = self.machine(shutdown: 1_000)
        _ = deliver(&short, Self.delivery(1, #"{"account":"acct","min_validity_ms":20000}"#))
        let unavailable = Self.replies(short.handle(.beginShutdown(now: Self.now)))
        #expect(unavailable.map(\.outcome) == [.unavailable])
        #expect(String(decoding: unavailable[0].body, as: UTF8.self).contains(#""retry_after_ms":17655"#))
    }

    @Test("A redelivered poison is rejected; rejections are logged a few per requester, then counted")
    func poisonAndRejections() {
        var machine = machine()
        #expect(Self.acks(deliver(&machine, Self.delivery(1, redelivered: true), poison: true)) == ["reject 1"])
        // Not redelivered: handled as usual, whatever the guard says.
        #expect(Self.replies(deliver(&machine, Self.delivery(2), poison: true)).count == 1)
        var lines = 0
        for tag in UInt64(10)..<30 {
            let actions = deliver(&machine, Self.delivery(tag, replyTo: nil))
            #expect(Self.acks(actions) == ["reject \(tag)"])
            lines +=
                actions.filter {
                    if case .log(.rejected) = $0 { return true }
                    return false
                }.count
        }
        #expect(lines == 4, "the poison's line and four of the twenty rejections")
        let summary = machine.handle(.tick(now: Self.now + 60_000))
        #expect(
            summary.contains {
                if case .log(.rejections(requester: "bot-1", counts: ["no usable reply_to": 16])) = $0 { return true }
                return false
            })
    }

    @Test("A refused reply settles its request and counts; a lost turn goes back to be passed on again")
    func nacks() {
        var machine = machine()
        _ = deliver(&machine, Self.delivery(1))
        let refused = machine.handle(.publisherNack(sequence: 1, multiple: false))
        #expect(Self.acks(refused) == ["ack 1"])
        #expect(
            refused.contains {
                if case .unroutable(1) = $0 { return true }
                return false
            })
        let forwarded = deliver(&machine, Self.delivery(2, #"{"account":"once"}"#))
        #expect(
            forwarded.contains {
                if case .forwardTurn = $0 { return true }
                return false
            })
        #expect(Self.acks(machine.handle(.publisherNack(sequence: 2, multiple: false))) == ["nack 2 requeue"])
    }

    @Test("Refused replies: the first a minute has a line, the rest one summary with their count, on the events' clock")
    func refusedRepliesSummarized() {
        var machine = machine()
        func refusedLines(_ actions: [ConsumerMachine.Action]) -> [[String: Int]] {
            actions.compactMap {
                if case .log(.repliesRefused(let counts)) = $0 { return counts }
                return nil
            }
        }
        var lines: [[String: Int]] = []
        for tag in UInt64(1)...20 {
            _ = deliver(&machine, Self.delivery(tag), at: Self.now + Int64(tag) * 100)
            _ = machine.handle(.tick(now: Self.now + Int64(tag) * 100))
            lines += refusedLines(machine.handle(.publisherNack(sequence: tag, multiple: false)))
        }
        #expect(lines == [["replies": 1]])
        let summary = refusedLines(machine.handle(.tick(now: Self.now + 100 + 60_000)))
        #expect(summary == [["replies": 19]])
    }

    @Test("A closed channel: what was in flight takes a strike, and the channel is opened again")
    func channelClosed() {
        var machine = machine()
        _ = deliver(&machine, Self.delivery(1))
        let actions = machine.handle(.channelClosed("406 PRECONDITION_FAILED"))
        #expect(
            actions.contains {
                if case .strike(let lost) = $0 { return lost.count == 1 }
                return false
            })
        #expect(
            actions.contains {
                if case .reopenChannel = $0 { return true }
                return false
            })
        #expect(machine.connectionLost().isEmpty)
    }

    @Test("The account's rate is asked for mid-decision and answered at once")
    func accountRate() {
        var machine = machine(state: Self.state(perAccount: RateLimit(ratePerSecond: 1, burst: 1)))
        let ask = deliver(&machine, Self.delivery(1))
        guard case .checkAccountRate("acct")? = ask.first else {
            Issue.record("\(ask)")
            return
        }
        #expect(Self.replies(machine.handle(.accountRate(wait: 250))).map(\.outcome) == [.rateLimited])
        _ = deliver(&machine, Self.delivery(2))
        #expect(Self.replies(machine.handle(.accountRate(wait: nil))).map(\.outcome) == [.ok])
    }
}
