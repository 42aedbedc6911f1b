import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP
import Testing

/// The turns of `once_per_window` accounts without a broker: every failure
/// case of docs/design.md, with a fake clock. The machine numbers its
/// publishes 1, 2, 3... as the broker's confirms will.
@Suite("Turns machine: failure cases with a fake clock")
struct TurnsMachineTests {
    static let key = SecretKey(bytes: Array("12345678901234567890".utf8))
    static let state = ServiceState(
        accounts: ["acct": Account(name: "acct", generator: TOTPGenerator(key: key), issue: .oncePerWindow)],
        allow: Allowlist(["bot-1": ["acct"]]),
        reply: ReplySettings(maxTTLMilliseconds: 30_000, defaultMinValidityMilliseconds: 0)
    )
    /// 17.655 s left in a 30 s window.
    static let now = TurnLedgerTests.now
    static let current = TurnLedgerTests.current
    static let queue = "mfa-code-request.turns.0123"

    /// A machine connected to one turn queue, with what it published so far.
    struct Harness {
        var machine: TurnsMachine
        var published: [TurnsMachine.Action] = []
        var sequence: UInt64 = 0
        var nextTag: UInt64 = 100

        init(consumerTimeout: Int64 = 1_800_000, shutdownTimeout: Int64 = 10_000, holder: String = "B") {
            machine = TurnsMachine(
                settings: .init(
                    login: "mfa-worker", workerLogins: ["mfa-worker"], consumerTimeoutMilliseconds: consumerTimeout,
                    shutdownTimeoutMilliseconds: shutdownTimeout), state: TurnsMachineTests.state)
            _ = machine.handle(.connected([.init(tag: "c", account: "acct", queue: TurnsMachineTests.queue)], holder: holder, now: TurnsMachineTests.now))
        }

        /// Feeds an event; returns its actions, numbering the publishes.
        mutating func send(_ event: TurnsMachine.Event) -> [TurnsMachine.Action] {
            let actions = machine.handle(event)
            for action in actions {
                switch action {
                case .publishTurnMessage, .publishReply:
                    sequence += 1
                    published.append(action)
                default: break
                }
            }
            return actions
        }

        /// Delivers a turn-queue message as `user` wrote it.
        mutating func deliver(
            _ message: TurnMessage, from user: String? = "mfa-worker", tag: UInt64? = nil, redelivered: Bool = false, poison: Bool = false,
            at time: Int64 = TurnsMachineTests.now
        ) -> [TurnsMachine.Action] {
            var replyTo: String?, correlation: [UInt8]?
            if case .request(let turn) = message {
                replyTo = turn.replyTo
                correlation = turn.correlationID
            }
            let deliveryTag =
                tag
                ?? {
                    nextTag += 1
                    return nextTag
                }()
            return send(
                .delivery(
                    .init(
                        consumerTag: "c", deliveryTag: deliveryTag, redelivered: redelivered, userID: user, type: message.type, messageID: message.messageID,
                        replyTo: replyTo, correlationID: correlation, body: message.body()), poison: poison, now: time, uptime: 0))
        }

        /// The first delivery makes the machine send a fence; delivering it
        /// back finishes the sync.
        mutating func sync(after first: TurnMessage = .fence(id: "someone-else")) -> [TurnsMachine.Action] {
            var actions = deliver(first)
            guard
                let fence = actions.compactMap({ action -> String? in
                    if case .publishTurnMessage(.fence(let id), _) = action { return id }
                    return nil
                }).first
            else { return actions }
            actions += deliver(.fence(id: fence))
            return actions
        }
    }

    static func turn(_ id: String, requester: String = "bot-1", minValidity: Int64 = 0, maxWait: Int64 = 600_000) -> TurnRequest {
        TurnRequest(
            replyTo: "amq.gen-\(id)", correlationID: Array(id.utf8), requester: requester, account: "acct", minValidityMilliseconds: minValidity,
            maxWaitMilliseconds: maxWait, receivedMilliseconds: now)
    }

    static func replies(_ actions: [TurnsMachine.Action]) -> [Reply] {
        actions.compactMap {
            if case .publishReply(let reply, _) = $0 { return reply }
            return nil
        }
    }

    static func records(_ actions: [TurnsMachine.Action]) -> [[UInt64]] {
        actions.compactMap {
            if case .publishTurnMessage(.record(_, _, let windows), _) = $0 { return windows }
            return nil
        }
    }

    @Test("No code leaves before the record of its window is confirmed, nor before its window opens")
    func recordBeforeCode() {
        var harness = Harness()
        _ = harness.sync()
        // The current window: a record goes out, no reply.
        var actions = harness.deliver(.request(Self.turn("a")), tag: 7)
        #expect(Self.records(actions) == [[Self.current]])
        #expect(Self.replies(actions).isEmpty)
        let recordSequence = harness.sequence
        #expect(Self.replies(harness.send(.tick(now: Self.now + 10, uptime: 0))).isEmpty, "a code left before its record was confirmed")
        // Confirmed: on the next tick, the code, and the turn is settled with its reply's confirm.
        _ = harness.send(.publisherAck(sequence: recordSequence, multiple: false, now: Self.now + 20))
        actions = harness.send(.tick(now: Self.now + 20, uptime: 0))
        #expect(Self.replies(actions).map(\.outcome) == [.ok])
        #expect(Self.replies(actions).first?.window?.counter == Self.current)
        let ack = harness.send(.publisherAck(sequence: harness.sequence, multiple: false, now: Self.now + 30))
        #expect(
            ack.contains {
                if case .ack(7) = $0 { return true }
                return false
            })

        // The next turn gets the next window: confirmed at once, it waits for the window to open.
        _ = harness.deliver(.request(Self.turn("b")), tag: 8)
        _ = harness.send(.publisherAck(sequence: harness.sequence, multiple: false, now: Self.now + 40))
        let opens = Int64(Self.current + 1) * 30_000
        #expect(Self.replies(harness.send(.tick(now: opens - 1, uptime: 0))).isEmpty, "a code left before its window opened")
        #expect(harness.machine.waitMilliseconds(now: opens - 1) == 1)
        #expect(Self.replies(harness.send(.tick(now: opens, uptime: 0))).first?.window?.counter == Self.current + 1)
    }

    @Test("A replica dies holding turns: what it had in flight is returned; the next holder skips every window it recorded")
    func replicaDies() {
        var old = Harness(holder: "A")
        _ = old.sync()
        _ = old.deliver(.request(Self.turn("a")), tag: 7)
        _ = old.deliver(.request(Self.turn("b")), tag: 8)
        let oldRecord =
            old.published.compactMap { action -> [UInt64]? in
                if case .publishTurnMessage(.record(_, _, let windows), _) = action { return windows }
                return nil
            }.last ?? []
        #expect(oldRecord == [Self.current, Self.current + 1])
        // kill -9: the connection is gone with both turns in flight.
        #expect(old.machine.connectionLost().count == 2)
        #expect(old.machine.pendingReplies == 0)

        // The broker hands the old record and the turns to the next holder.
        var next = Harness(holder: "B")
        var actions = next.deliver(.record(holder: "A-1", account: "acct", windows: oldRecord))
        guard case .publishTurnMessage(.fence(let fence), _)? = actions.first else {
            Issue.record("no fence first: \(actions)")
            return
        }
        actions += next.deliver(.request(Self.turn("a")), tag: 7, redelivered: true)
        actions += next.deliver(.request(Self.turn("b")), tag: 8, redelivered: true)
        #expect(Self.records(actions).isEmpty, "decided before the fence came back")
        actions = next.deliver(.fence(id: fence))
        // Both get new, later windows: none the dead holder recorded.
        let windows = Self.records(actions).last ?? []
        #expect(windows == [Self.current, Self.current + 1, Self.current + 2, Self.current + 3])
    }

    @Test("A graceful stop: turns opening within the timeout are answered, an acknowledged far one hears unavailable, the rest go back; close once confirmed")
    func gracefulShutdown() {
        // Half the consumer_timeout: 60 s; the shutdown timeout: 20 s.
        var harness = Harness(consumerTimeout: 120_000, shutdownTimeout: 20_000)
        _ = harness.sync()
        for (index, id) in ["near", "second", "far"].enumerated() {
            _ = harness.deliver(.request(Self.turn(id)), tag: UInt64(10 + index))
        }
        // Windows current, +1, +2; the current one's reply goes at once.
        _ = harness.send(.publisherAck(sequence: harness.sequence, multiple: true, now: Self.now))
        let sent = Self.replies(harness.send(.tick(now: Self.now, uptime: 0)))
        #expect(sent.map(\.window?.counter) == [Self.current])
        _ = harness.send(.publisherAck(sequence: harness.sequence, multiple: true, now: Self.now))
        // A fourth turn, at +3 (77.655 s away, over half the consumer_timeout): acknowledged once recorded.
        _ = harness.deliver(.request(Self.turn("kept")), tag: 20)
        let kept = harness.send(.publisherAck(sequence: harness.sequence, multiple: false, now: Self.now))
        #expect(
            kept.contains {
                if case .ack(20) = $0 { return true }
                return false
            })

        // Stop: +1 (17.655 s) is answered; +2 (47.655 s, unacknowledged) goes back; the kept one (+3) hears unavailable.
        let stop = harness.send(.beginShutdown(now: Self.now))
        let unavailable = Self.replies(stop)
        #expect(unavailable.map(\.outcome) == [.unavailable])
        #expect(
            stop.contains {
                if case .log(.shuttingDown(answering: 1, returned: 1)) = $0 { return true }
                return false
            })
        #expect(
            !stop.contains {
                if case .close = $0 { return true }
                return false
            }, "closed with a reply in hand")
        // Deliveries meanwhile stay unacknowledged (they go back with the connection).
        #expect(harness.deliver(.request(Self.turn("late")), tag: 30).isEmpty)
        // The near one at its window, confirmed: then close.
        let opens = Int64(Self.current + 1) * 30_000
        #expect(Self.replies(harness.send(.tick(now: opens, uptime: 0))).map(\.window?.counter) == [Self.current + 1])
        _ = harness.send(.publisherAck(sequence: harness.sequence, multiple: true, now: opens))
        #expect(
            harness.send(.tick(now: opens, uptime: 0)).contains {
                if case .close = $0 { return true }
                return false
            })
    }

    @Test("A deleted turn queue or a cancelled consumer: reconnect, rather than trust a record to be kept")
    func deletedQueue() {
        var harness = Harness()
        let returned = harness.send(.returned(type: TurnMessage.recordType, routingKey: Self.queue, reply: "312 NO_ROUTE"))
        #expect(
            returned.contains {
                if case .reconnect = $0 { return true }
                return false
            })
        #expect(harness.send(.returned(type: "mfa-code-reply", routingKey: "amq.gen-x", reply: "312 NO_ROUTE")).isEmpty)
        #expect(
            harness.send(.consumerCancelled(tag: "c")).contains {
                if case .reconnect = $0 { return true }
                return false
            })
    }

    @Test("Forged turns, records and fences are dropped and counted; no code, no change to the ledger")
    func forged() {
        var harness = Harness()
        _ = harness.sync()
        let forgedRecord = harness.deliver(.record(holder: "x", account: "acct", windows: Array(Self.current..<Self.current + 100)), from: "rpa-bot-eu-2")
        #expect(
            forgedRecord.contains {
                if case .dropped(.untrustedSender) = $0 { return true }
                return false
            })
        let forgedTurn = harness.deliver(.request(Self.turn("forged")), from: "rpa-bot-eu-2")
        #expect(Self.replies(forgedTurn).isEmpty && Self.records(forgedTurn).isEmpty)
        #expect(harness.machine.keeper(of: "acct")?.ledger.issued == [])
        // One line for the first, the rest counted.
        let lines = (forgedRecord + forgedTurn).filter {
            if case .log(.dropped) = $0 { return true }
            return false
        }
        #expect(lines.count == 1)
        // A poisoned redelivery is not decided either.
        let poison = harness.deliver(.request(Self.turn("poison")), tag: 50, redelivered: true, poison: true)
        #expect(Self.records(poison).isEmpty)
        #expect(
            poison.contains {
                if case .ack(50) = $0 { return true }
                return false
            })
    }

    @Test("Within the broker's consumer_timeout: the held record is renewed every third of it")
    func renewal() {
        var harness = Harness(consumerTimeout: 3000)
        _ = harness.sync()
        _ = harness.deliver(.request(Self.turn("a")), tag: 7)
        let record = harness.published.last
        guard case .publishTurnMessage(let message, _)? = record else {
            Issue.record("no record")
            return
        }
        // Its own record comes back and is held unacknowledged.
        _ = harness.deliver(message)
        #expect(Self.records(harness.send(.tick(now: Self.now + 999, uptime: 0))).isEmpty)
        #expect(Self.records(harness.send(.tick(now: Self.now + 1000, uptime: 0))) == [[Self.current]])
    }

    @Test("A lost record gives its turn back to be given a window again; a refused reply settles its turn")
    func nacks() {
        var harness = Harness()
        _ = harness.sync()
        _ = harness.deliver(.request(Self.turn("a")), tag: 7)
        let lost = harness.send(.publisherNack(sequence: harness.sequence, multiple: false, now: Self.now))
        #expect(
            lost.contains {
                if case .nack(7, requeue: true) = $0 { return true }
                return false
            })
        #expect(harness.machine.pendingReplies == 0)

        // The next turn: the lost record's window stays given (it may have
        // been written), so it gets +1; its reply as that window opens.
        _ = harness.deliver(.request(Self.turn("b")), tag: 8)
        _ = harness.send(.publisherAck(sequence: harness.sequence, multiple: false, now: Self.now))
        #expect(Self.replies(harness.send(.tick(now: Int64(Self.current + 1) * 30_000, uptime: 0))).count == 1)
        let refused = harness.send(.publisherNack(sequence: harness.sequence, multiple: false, now: Self.now))
        #expect(
            refused.contains {
                if case .ack(8) = $0 { return true }
                return false
            })
        #expect(
            refused.contains {
                if case .log(.repliesRefused(count: 1)) = $0 { return true }
                return false
            })
    }

    @Test("One requester past max_per_requester is busy at once; its place frees when a reply goes")
    func cap() {
        var harness = Harness()
        _ = harness.sync()
        for index in 0..<3 { _ = harness.deliver(.request(Self.turn("t\(index)")), tag: UInt64(10 + index)) }
        let fourth = harness.deliver(.request(Self.turn("t3")), tag: 13)
        #expect(Self.replies(fourth).map(\.outcome) == [.busy])
    }
}
