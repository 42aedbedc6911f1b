import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP
import Testing

/// Pools without a broker: which member a request gets, what the reply
/// says, and that no (member, window) is given twice.
@Suite("Pools: many users behind one name")
struct PoolTests {
    static let now = TurnLedgerTests.now
    static let current = TurnLedgerTests.current
    static let members = ["sf-eu-1", "sf-eu-2", "sf-eu-3"]

    static func key(_ member: String) -> SecretKey { SecretKey(bytes: Array("key of \(member) 123456789".utf8)) }

    /// Three members of one issue mode in pool `sf-eu`, with usernames;
    /// `bot-1` may have the pool, `bot-2` the pool's first member by name.
    static func state(issue: IssueMode, allow: [String: Set<String>] = ["bot-1": ["sf-eu"], "bot-2": ["sf-eu-1"]]) -> ServiceState {
        var accounts: [String: Account] = [:]
        for (index, name) in members.enumerated() {
            accounts[name] = Account(name: name, generator: TOTPGenerator(key: key(name)), issue: issue, username: "robot\(index + 1)@example.com")
        }
        accounts["other"] = Account(name: "other", generator: TOTPGenerator(key: key("other")))
        return ServiceState(
            accounts: accounts, allow: Allowlist(allow), reply: ReplySettings(maxTTLMilliseconds: 20_000, defaultMinValidityMilliseconds: 0),
            pools: ["sf-eu": PoolSettings(name: "sf-eu", members: members)])
    }

    func request(_ account: String, user: String = "bot-1") -> RequestMessage {
        RequestMessage(
            body: Array(#"{"account":"\#(account)"}"#.utf8), replyTo: "amq.gen-r", correlationID: Array("c".utf8), userID: user,
            contentType: "application/json", type: nil)
    }

    func reply(_ decision: Decision) -> Reply? {
        if case .reply(let reply) = decision { return reply }
        Issue.record("expected a reply, got \(decision)")
        return nil
    }

    @Test("A shared pool gives each request the member used least recently, in turn; the reply names the member, its user and the pool")
    func sharedRotation() throws {
        var decider = RequestDecider(state: Self.state(issue: .shared))
        var chosen: [String] = []
        for _ in 0..<4 {
            let answer = try #require(reply(decider.decide(request("sf-eu"), now: Self.now)))
            let account = try #require(answer.account)
            chosen.append(account)
            #expect(answer.pool == "sf-eu")
            let window = TOTPWindow(containing: Self.now, period: 30)
            let code = HOTP.code(key: Self.key(account), counter: window.counter).digits
            let index = Self.members.firstIndex(of: account).map { $0 + 1 } ?? 0
            #expect(
                String(decoding: answer.body, as: UTF8.self)
                    == #"{"status":"ok","account":"\#(account)","pool":"sf-eu","username":"robot\#(index)@example.com","code":"\#(code)","digits":6,"period":30,"window_start":1764372600,"window_end":1764372630,"expires_in_ms":17655}"#
            )
        }
        #expect(chosen == Self.members + [Self.members[0]])
    }

    @Test("An unknown pool, a pool not allowed, and a member of an allowed pool asked by name read exactly like an unknown account")
    func forbiddenAlike() throws {
        var decider = RequestDecider(state: Self.state(issue: .shared))
        let unknown = try #require(reply(decider.decide(request("no-such-account"), now: Self.now)))
        #expect(unknown.outcome == .forbidden)
        let notAllowed = try #require(reply(decider.decide(request("sf-eu", user: "bot-2"), now: Self.now)))
        let memberByName = try #require(reply(decider.decide(request("sf-eu-2"), now: Self.now)))
        #expect(notAllowed.body == unknown.body)
        #expect(memberByName.body == unknown.body)
        // Allowed a member by name: its code, without a pool.
        let byName = try #require(reply(decider.decide(request("sf-eu-1", user: "bot-2"), now: Self.now)))
        #expect(byName.outcome == .ok)
        #expect(byName.pool == nil)
        #expect(!String(decoding: byName.body, as: UTF8.self).contains("pool"))
    }

    @Test("A once_per_window pool's request is one turn naming the pool; its member's reply carries the pool, rechecked against the allowlist")
    func oncePerWindowTurn() throws {
        var decider = RequestDecider(state: Self.state(issue: .oncePerWindow))
        guard case .takeTurn(let turn) = decider.decide(request("sf-eu"), now: Self.now) else {
            Issue.record("expected a turn")
            return
        }
        #expect(turn.account == "sf-eu")
        let next = TOTPWindow(counter: Self.current + 1, period: 30)
        var pending = PendingRequest(
            replyTo: "amq.gen-r", correlationID: nil, requester: "bot-1", account: "sf-eu-2", minValidityMilliseconds: 0, receivedAt: 0, window: next,
            deliveryTag: 7)
        pending.pool = "sf-eu"
        let answer = decider.complete(pending, now: next.start * 1000 + 5)
        #expect(answer.outcome == .ok)
        #expect(answer.account == "sf-eu-2")
        #expect(answer.pool == "sf-eu")
        let code = HOTP.code(key: Self.key("sf-eu-2"), counter: next.counter).digits
        #expect(String(decoding: answer.body, as: UTF8.self).contains(#""account":"sf-eu-2","pool":"sf-eu","username":"robot2@example.com","code":"\#(code)""#))

        // The pool no longer allowed: forbidden, as for an unknown account.
        var reloaded = RequestDecider(state: Self.state(issue: .oncePerWindow, allow: ["bot-1": ["other"]]))
        let refused = reloaded.complete(pending, now: next.start * 1000 + 5)
        #expect(refused.outcome == .forbidden)
        #expect(!String(decoding: refused.body, as: UTF8.self).contains("sf-eu"))
    }

    static func turn(_ id: Int, asking account: String = "sf-eu", requester: String? = nil) -> TurnRequest {
        TurnRequest(
            replyTo: "amq.gen-\(id)", correlationID: Array("t\(id)".utf8), requester: requester ?? "bot-\(id)", account: account,
            minValidityMilliseconds: 0, maxWaitMilliseconds: 600_000, receivedMilliseconds: now)
    }

    /// A keeper of the pool's queue, serving.
    func servingKeeper() -> TurnKeeper {
        var keeper = TurnKeeper(accounts: Self.members, pool: "sf-eu", holder: "H")
        #expect(keeper.received(nil, deliveryTag: 1, now: Self.now, period: 30) == [.publishFence("H-fence-1"), .ack(1)])
        _ = keeper.received(.fence(id: "H-fence-1"), deliveryTag: 2, now: Self.now, period: 30)
        #expect(keeper.phase == .serving)
        return keeper
    }

    @Test("Nine robots at once on a pool of three once_per_window members: three windows, three members each, no (member, window) twice")
    func nineOnThree() {
        var keeper = servingKeeper()
        var given: [(account: String, counter: UInt64)] = []
        for id in 1...9 {
            let (account, choice) = keeper.give(Self.turn(id), now: Self.now) { _ in 30 }
            guard case .window(let window, let opensAt) = choice else {
                Issue.record("expected a window, got \(choice)")
                return
            }
            #expect(opensAt == max(Self.now, window.start * 1000))
            given.append((account, window.counter))
        }
        #expect(Set(given.map { "\($0.account)@\($0.counter)" }).count == 9)
        for offset in 0..<3 {
            #expect(given[offset * 3..<offset * 3 + 3].map(\.counter) == Array(repeating: Self.current + UInt64(offset), count: 3))
            #expect(Set(given[offset * 3..<offset * 3 + 3].map(\.account)) == Set(Self.members))
        }
        for member in Self.members {
            #expect(keeper.record(of: member) == .record(holder: "H", account: member, windows: [Self.current, Self.current + 1, Self.current + 2]))
        }
    }

    @Test("A member asked for by name takes its own window, which the pool then never gives; asked by pool, any member's")
    func byNameAndByPool() {
        var keeper = servingKeeper()
        let byName = keeper.give(Self.turn(1, asking: "sf-eu-2"), now: Self.now) { _ in 30 }
        #expect(byName.account == "sf-eu-2")
        #expect(byName.choice == .window(TOTPWindow(counter: Self.current, period: 30), opensAt: Self.now))
        var accounts: [String] = []
        for id in 2...3 {
            let (account, choice) = keeper.give(Self.turn(id), now: Self.now) { _ in 30 }
            #expect(choice == .window(TOTPWindow(counter: Self.current, period: 30), opensAt: Self.now))
            accounts.append(account)
        }
        #expect(Set(accounts) == ["sf-eu-1", "sf-eu-3"])
        // The current window of every member is taken: the next opens.
        let fourth = keeper.give(Self.turn(4), now: Self.now) { _ in 30 }
        #expect(fourth.choice == .window(TOTPWindow(counter: Self.current + 1, period: 30), opensAt: Int64(Self.current + 1) * 30_000))
        // A member by name again: its next free window, whatever the pool gave.
        let again = keeper.give(Self.turn(5, asking: fourth.account), now: Self.now) { _ in 30 }
        #expect(again.choice == .window(TOTPWindow(counter: Self.current + 2, period: 30), opensAt: Int64(Self.current + 2) * 30_000))
    }

    @Test("One requester holds at most max_per_requester windows per name it asks for; a reply frees a place")
    func capPerName() {
        var keeper = servingKeeper()
        var first: (account: String, counter: UInt64)?
        for id in 1...3 {
            let (account, choice) = keeper.give(Self.turn(id, requester: "bot"), now: Self.now) { _ in 30 }
            if case .window(let window, _) = choice, first == nil { first = (account, window.counter) }
        }
        #expect(keeper.held(by: "bot", asked: "sf-eu") == 3)
        #expect(keeper.give(Self.turn(4, requester: "bot"), now: Self.now) { _ in 30 }.choice == .capped(retryAfterMilliseconds: 0))
        // The same requester asking a member by name counts apart.
        if case .window = keeper.give(Self.turn(5, asking: "sf-eu-3", requester: "bot"), now: Self.now, period: { _ in 30 }).choice {
        } else {
            Issue.record("a member by name should still have a window")
        }
        guard let first else { return }
        keeper.release(requester: "bot", asked: "sf-eu", account: first.account, window: first.counter)
        #expect(keeper.held(by: "bot", asked: "sf-eu") == 2)
        if case .window = keeper.give(Self.turn(6, requester: "bot"), now: Self.now, period: { _ in 30 }).choice {
        } else {
            Issue.record("a released place should give a window")
        }
    }

    @Test("The pool's queue reads turns for the pool and its members, and records of its members only")
    func guardNames() {
        let gate = TurnQueueGuard(accounts: Self.members, pool: "sf-eu", workerLogins: ["mfa-worker"])
        #expect(gate.names == Self.members + ["sf-eu"])
        func admit(_ message: TurnMessage) -> Result<TurnMessage, TurnDrop> {
            var replyTo: String?, correlationID: [UInt8]?
            if case .request(let turn) = message {
                replyTo = turn.replyTo
                correlationID = turn.correlationID
            }
            return gate.admit(
                userID: "mfa-worker", type: message.type, messageID: message.messageID, replyTo: replyTo, correlationID: correlationID,
                body: message.body())
        }
        for name in Self.members + ["sf-eu"] {
            let turn = TurnMessage.request(Self.turn(1, asking: name))
            #expect(admit(turn) == .success(turn))
        }
        #expect(admit(.request(Self.turn(1, asking: "other"))) == .failure(.wrongAccount))
        let memberRecord = TurnMessage.record(holder: "H", account: "sf-eu-3", windows: [Self.current])
        #expect(admit(memberRecord) == .success(memberRecord))
        #expect(admit(.record(holder: "H", account: "sf-eu", windows: [Self.current])) == .failure(.wrongAccount))
    }
}
