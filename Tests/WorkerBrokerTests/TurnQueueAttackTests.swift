import AMQP
import Foundation
import TestSupport
import Testing

/// The turn queues under attack by a robot with the README's robot
/// permissions (configure and read `^amq\.gen-.*`, write `^amq\.default$`):
/// the default exchange routes to every queue of the vhost, so a robot can
/// publish straight into a turn queue whose name it knows. The tests give
/// the attacker the real (hashed) name, as if it had leaked.
@Suite("Turn queues against a robot", .serialized)
struct TurnQueueAttackTests {
    static let period = 2

    /// rpa-bot-eu-1 is allowed sf-eu; rpa-bot-eu-2, the attacker, nothing.
    static func worker(metricsPort: Int? = nil, extra: String = "") -> WorkerProcess {
        WorkerProcess(
            accounts: ["sf-eu": (period, 6, "SHA1"), "sf-us": (period, 6, "SHA1")],
            allow: ["rpa-bot-eu-1": ["sf-eu", "sf-us"]], extra: extra, workers: 1, metricsPort: metricsPort, oncePerWindow: ["sf-eu", "sf-us"]
        )
    }

    static func cleanUp(_ worker: WorkerProcess) {
        worker.stop()
        if let admin = try? Broker.admin() {
            for account in ["sf-eu", "sf-us"] { _ = try? admin.deleteQueue(worker.turnQueue(account)) }
            _ = try? admin.deleteQueue(worker.queue)
            admin.close()
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Publishes a turn-queue message as `robot` (its own user_id: the
    /// broker refuses any other).
    static func forge(_ robot: Requester, into queue: String, type: String, body: String, messageID: String? = nil) throws {
        try robot.connection.publish(
            routingKey: queue,
            properties: MessageProperties(
                contentType: "application/json", deliveryMode: .persistent, correlationID: Array("forged-\(UUID().uuidString)".utf8),
                replyTo: robot.replyQueue, messageID: messageID, type: type, userID: robot.user
            ), body: Array(body.utf8))
    }

    static func forgedTurn(requester: String = "rpa-bot-eu-1", account: String = "sf-eu", received: String = "\(now())") -> String {
        #"{"requester":"\#(requester)","account":"\#(account)","min_validity_ms":0,"max_wait_ms":60000,"received_ms":\#(received)}"#
    }

    static func dropped(_ metrics: String, _ reason: String) -> Double {
        OperationsTests.value(metrics, #"mfa_turn_messages_dropped_total{reason="\#(reason)"}"#) ?? 0
    }

    @Test("1. A forged turn naming an allowed robot: dropped and counted; no code reaches the forger, nothing is audited for the robot it named")
    func forgedTurn() throws {
        let port = OperationsTests.freePort()
        let worker = try Self.worker(metricsPort: port).start()
        defer { Self.cleanUp(worker) }
        let attacker = try Requester("rpa-bot-eu-2", requestQueue: worker.queue)
        try Self.forge(attacker, into: worker.turnQueue("sf-eu"), type: "mfa-turn-request", body: Self.forgedTurn())
        #expect(worker.waitForLog("messages in a turn queue dropped unread"), "\(worker.log)")
        #expect(worker.log.contains("reason=\"1 untrusted_sender\""), "\(worker.log)")
        #expect(Self.dropped(try OperationsTests.get(port, "/metrics").body, "untrusted_sender") == 1)
        // The forger's turn was settled without a reply: nothing comes.
        #expect(try attacker.replies(count: 1, timeout: 1).isEmpty)
        #expect(!worker.audit.contains("\"outcome\":\"ok\""), "\(worker.audit)")
        // The account still serves its robot, in the current window.
        let robot = try Requester(requestQueue: worker.queue)
        let reply = try #require(try robot.ask(account: "sf-eu", timeout: Double(Self.period + 5)))
        #expect(reply.status == "ok", "\(reply.text)")
        #expect(reply.code == (try worker.expectedCode(account: "sf-eu", windowStart: reply.windowStart!)))
    }

    @Test("2. A turn with received_ms = Int64.min, from a robot or even a worker login: dropped; a worker started with it already queued starts and serves")
    func poison() throws {
        let port = OperationsTests.freePort()
        let first = try Self.worker().start()
        defer { Self.cleanUp(first) }
        first.stop()
        // Left in the durable queue while no worker runs.
        let attacker = try Requester("rpa-bot-eu-2", requestQueue: first.queue)
        let poison = Self.forgedTurn(received: "-9223372036854775808")
        try Self.forge(attacker, into: first.turnQueue("sf-eu"), type: "mfa-turn-request", body: poison)
        let workerLogin = try Broker.connect("mfa-worker")
        defer { workerLogin.close() }
        try workerLogin.publish(
            routingKey: first.turnQueue("sf-eu"),
            properties: MessageProperties(
                deliveryMode: .persistent, correlationID: [1], replyTo: attacker.replyQueue, type: "mfa-turn-request", userID: "mfa-worker"
            ), body: Array(poison.utf8))

        let second = try WorkerProcess(
            accounts: ["sf-eu": (Self.period, 6, "SHA1"), "sf-us": (Self.period, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu", "sf-us"]],
            queue: first.queue, workers: 1, keysFrom: first, metricsPort: port, oncePerWindow: ["sf-eu", "sf-us"]
        ).start()
        defer { second.stop() }
        let robot = try Requester(requestQueue: second.queue)
        let reply = try #require(try robot.ask(account: "sf-eu", timeout: Double(Self.period + 5)))
        #expect(reply.status == "ok", "\(reply.text)")
        #expect(second.isRunning)
        let metrics = try OperationsTests.get(port, "/metrics").body
        #expect(Self.dropped(metrics, "untrusted_sender") == 1 && Self.dropped(metrics, "undecodable") == 1, "\(metrics)")
        #expect(try attacker.replies(count: 1, timeout: 1).isEmpty)
    }

    @Test(
        "3. A forged record of the next 2,880 windows and a forged turn for another account: dropped; an allowed request gets the current window; the turn thread never reconnects"
    )
    func denialOfService() throws {
        let port = OperationsTests.freePort()
        let worker = try Self.worker(metricsPort: port).start()
        defer { Self.cleanUp(worker) }
        let attacker = try Requester("rpa-bot-eu-2", requestQueue: worker.queue)
        let current = Self.now() / 1000 / Int64(Self.period)
        let windows = (current..<current + 2880).map(String.init).joined(separator: ",")
        try Self.forge(
            attacker, into: worker.turnQueue("sf-eu"), type: "mfa-turn-record", body: #"{"holder":"forged","account":"sf-eu","windows":[\#(windows)]}"#)
        try Self.forge(attacker, into: worker.turnQueue("sf-eu"), type: "mfa-turn-request", body: Self.forgedTurn(account: "sf-us"))
        try Self.forge(attacker, into: worker.turnQueue("sf-eu"), type: "mfa-turn-fence", body: "", messageID: "forged-fence")
        var metrics = ""
        for _ in 0..<100 where Self.dropped(metrics, "untrusted_sender") < 3 {
            metrics = try OperationsTests.get(port, "/metrics").body
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(Self.dropped(metrics, "untrusted_sender") == 3, "\(metrics)")

        let robot = try Requester(requestQueue: worker.queue)
        let askedAt = Self.now()
        let reply = try #require(try robot.ask(account: "sf-eu", timeout: Double(Self.period + 5)))
        #expect(reply.status == "ok", "\(reply.text)")
        // The window it was due: the current one, or (a request at the very
        // end of a window) the next: within one period, never busy.
        #expect(reply.windowStart! * 1000 <= askedAt + Int64(Self.period) * 1000, "\(reply.text)")
        #expect(OperationsTests.value(try OperationsTests.get(port, "/metrics").body, "mfa_reconnects_total") == 0)
        #expect(!worker.log.contains("connection lost"), "\(worker.log)")
    }

    @Test("4. A robot cannot tell an existing account's turn queue from a made-up one: passive declare and mandatory publish read alike")
    func namesDoNotLeak() throws {
        let worker = try Self.worker().start()
        defer { Self.cleanUp(worker) }
        // The names a robot can make: the request queue and an account.
        func probe(_ account: String) throws -> (declare: String, returned: String) {
            let connection = try Broker.connect("rpa-bot-eu-2")
            defer { connection.close() }
            let name = "\(worker.queue).turns.\(account)"
            var declare = "exists"
            do {
                try connection.declareQueue(name, passive: true)
            } catch {
                declare = "\(error)".replacingOccurrences(of: name, with: "NAME")
                try connection.reopenChannel()
            }
            try connection.publish(routingKey: name, mandatory: true, properties: MessageProperties(userID: "rpa-bot-eu-2"), body: [])
            var returned = "routed"
            for _ in 0..<40 {
                if case .returned(let message) = try connection.nextEvent(timeoutMilliseconds: 50) {
                    returned = "\(message.replyCode) \(message.replyText)"
                    break
                }
            }
            return (declare, returned)
        }
        let real = try probe("sf-eu")
        let madeUp = try probe("no-such-account")
        #expect(real.declare.contains("404") && real.returned == "312 NO_ROUTE", "\(real)")
        #expect(real.declare == madeUp.declare && real.returned == madeUp.returned)
    }

    @Test(
        "5. One robot holds at most max_per_requester windows of an account: past them busy at once; after it leaves, the next robot waits no longer than those windows"
    )
    func capPerRequester() throws {
        // 30 s windows, the current one taken first: the greedy robot's
        // windows all lie ahead, so none is answered (and its place freed)
        // while its burst is decided, however loaded the machine.
        let period: Int64 = 30
        let worker = try WorkerProcess(
            accounts: ["sf-eu": (Int(period), 6, "SHA1"), "sf-us": (Int(period), 6, "SHA1")],
            allow: ["rpa-bot-eu-1": ["sf-eu"], "rpa-bot-eu-2": ["sf-eu"]], extra: "turns: {max_per_requester: 3}", workers: 1,
            oncePerWindow: ["sf-eu", "sf-us"]
        ).start()
        defer { Self.cleanUp(worker) }
        let robot = try Requester("rpa-bot-eu-1", requestQueue: worker.queue)
        OncePerWindowTests.alignToWindow(period: Int(period))
        let current = try #require(try robot.ask(account: "sf-eu"))
        #expect(current.status == "ok", "\(current.text)")

        let greedy = try Requester("rpa-bot-eu-2", requestQueue: worker.queue)
        for _ in 0..<6 { try greedy.send(account: "sf-eu", maxWait: 3_600_000) }
        // Three turns take windows +1..+3; the other three are busy at once.
        let busy = try greedy.replies(count: 3, timeout: 20)
        #expect(busy.count == 3 && busy.allSatisfy { $0.error == "busy" }, "\(busy.map(\.text))")
        for reply in busy {
            #expect(reply.text.contains("holds as many turns"), "\(reply.text)")
            #expect(((reply.json["retry_after_ms"] as? NSNumber)?.int64Value ?? -1) >= 0, "\(reply.text)")
        }
        #expect(try greedy.replies(count: 1, timeout: 1).isEmpty, "a fourth window was given")
        // It leaves before its windows open; the next robot's window is the
        // one after those three, not an hour away: busy with max_wait_ms 0,
        // told to come back when window +4 opens.
        greedy.connection.close()
        let sentAt = Self.now()
        let next = try #require(try robot.reply(to: try robot.send(account: "sf-eu", maxWait: 0)))
        #expect(next.error == "busy", "\(next.text)")
        let retryAfter = (next.json["retry_after_ms"] as? NSNumber)?.int64Value ?? -1
        let fourth = (current.windowStart! + 4 * period) * 1000
        #expect(WorkerClock.points(retryAfter, at: fourth, sentAt: sentAt, receivedAt: Self.now()), "retry_after_ms \(retryAfter)")
    }

    @Test("Over its rate, a robot's forbidden and malformed requests count too: rate_limited, and one summary line instead of a line each")
    func hostileRequestsCountAgainstTheRate() throws {
        let worker = try WorkerProcess(
            accounts: ["sf-eu": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"], "rpa-bot-eu-2": ["sf-eu"]],
            extra: "rate_limit: {per_requester: {rate_per_s: 0.01, burst: 3}}"
        ).start()
        defer { worker.stop() }
        let robot = try Requester("rpa-bot-eu-2", requestQueue: worker.queue)
        var outcomes: [String] = []
        for index in 0..<20 {
            let body = index % 2 == 0 ? #"{"account":"not-mine"}"# : "not json"
            let reply = try #require(try robot.reply(to: try robot.send(body: body)))
            outcomes.append(reply.error ?? "ok")
        }
        // Three tokens: the first three answered for what they are; then the
        // malformed ones are still bad_request (the shape comes first), the
        // rest rate_limited, and so is a request it may make.
        #expect(outcomes.prefix(3) == ["forbidden", "bad_request", "forbidden"], "\(outcomes)")
        #expect(outcomes.dropFirst(3).allSatisfy { $0 == "rate_limited" || $0 == "bad_request" }, "\(outcomes)")
        #expect(outcomes.dropFirst(3).filter { $0 == "rate_limited" }.count == 8)
        #expect(try robot.ask(account: "sf-eu")?.error == "rate_limited")
        // Another robot is not held up.
        #expect(try Requester(requestQueue: worker.queue).ask(account: "sf-eu")?.status == "ok")
        #expect(worker.waitForLog("requests refused while the requester is over its rate"), "\(worker.log)")
        // Two threads write lines, each through its own buffer: wait for the
        // three, then see that there are no more.
        #expect(worker.waitForLog("requester=rpa-bot-eu-2 account=", count: 3), "\(worker.log)")
        let lines = worker.log.split(separator: "\n").filter { $0.contains("requester=rpa-bot-eu-2") && $0.contains(" request ") }
        #expect(lines.count == 3, "one line for each request within the rate, none for the rest:\n\(lines.joined(separator: "\n"))")
        // The audit trail has the summary, written out when the worker idles.
        var audit = ""
        for _ in 0..<100 where !audit.contains(#""outcome":"over_rate""#) {
            audit = worker.audit
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(audit.contains(#""requester":"rpa-bot-eu-2","outcome":"over_rate","refused":{"#), "\(audit)")
    }
}
