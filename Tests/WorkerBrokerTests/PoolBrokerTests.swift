import Foundation
import MFABroker
import TestSupport
import Testing

/// Pools through the broker: many users behind one name, each window of
/// each member given once, across replicas and restarts.
@Suite("Pools against the broker", .serialized)
struct PoolBrokerTests {
    static let members = ["sf-eu-1", "sf-eu-2", "sf-eu-3"]
    static let period = 2

    static func worker(keysFrom other: WorkerProcess? = nil, queue: String = Broker.uniqueQueueName()) -> WorkerProcess {
        WorkerProcess(
            accounts: Dictionary(uniqueKeysWithValues: members.map { ($0, (period, 6, "SHA1")) }),
            allow: ["rpa-bot-eu-1": ["sf-eu", "sf-eu-2"]], queue: queue, extra: "pools:\n  sf-eu: {members: [\(members.joined(separator: ", "))]}",
            workers: 1, keysFrom: other, oncePerWindow: Set(members), turnsPerRequester: 50)
    }

    /// Sends one request per name (one robot user standing for many robots)
    /// and reads every reply.
    static func ask(_ names: [String], robot: Requester) throws -> [Requester.Reply] {
        let sent = try names.map { try robot.send(account: $0, maxWait: 120_000) }
        var replies: [Requester.Reply] = []
        for id in sent {
            guard let reply = try robot.reply(to: id, timeout: Double(period * names.count + 20)) else {
                Issue.record("request \(replies.count + 1) of \(names.count) had no reply")
                return replies
            }
            replies.append(reply)
        }
        return replies
    }

    @Test(
        "Nine robots at once on a pool of three once_per_window members, one asking a member by name, on two replicas, then after a restart: right codes, no (member, window) twice, at most three a window"
    )
    func nineOnThree() throws {
        let first = try Self.worker().start()
        let second = try Self.worker(keysFrom: first, queue: first.queue).start()
        defer {
            if let admin = try? Broker.admin() {
                _ = try? admin.deleteQueue(first.turnQueue(pool: "sf-eu", firstMember: Self.members[0]))
                admin.close()
            }
        }
        let robot = try Requester(requestQueue: first.queue)
        var names = Array(repeating: "sf-eu", count: 9)
        names.insert("sf-eu-2", at: 4)
        var replies = try Self.ask(names, robot: robot)
        #expect(first.stop() == 0)
        #expect(second.stop() == 0)

        // Restarted: the windows given before are in the pool's records.
        let third = try Self.worker(keysFrom: first, queue: first.queue).start()
        defer { third.stop() }
        replies += try Self.ask(["sf-eu", "sf-eu-2", "sf-eu"], robot: robot)
        try #require(replies.count == 13)

        var given: Set<String> = []
        var perWindow: [Int64: Int] = [:]
        for (index, reply) in replies.enumerated() {
            #expect(reply.status == "ok", "\(reply.text)")
            guard let account = reply.json["account"] as? String, let start = reply.windowStart else { continue }
            #expect(Self.members.contains(account))
            #expect(reply.code == (try first.expectedCode(account: account, windowStart: start)), "the code of \(account) at \(start)")
            #expect(given.insert("\(account)@\(start)").inserted, "\(account)'s window \(start) was given twice")
            perWindow[start, default: 0] += 1
            let byName = index == 4 || index == 11
            #expect((reply.json["pool"] as? String) == (byName ? nil : "sf-eu"), "\(reply.text)")
            if byName { #expect(account == "sf-eu-2") }
        }
        #expect(perWindow.values.allSatisfy { $0 <= 3 }, "\(perWindow)")
        // The pool spreads the burst: every member serves, each window more than one.
        #expect(Set(given.map { $0.split(separator: "@")[0] }).count == 3)
        // Some window served more than one member: the pool spread the burst
        // (how many windows it took depends on when in a window it began).
        #expect(perWindow.values.contains { $0 > 1 }, "\(perWindow)")
        let audited = first.audit + second.audit
        #expect(audited.contains(#""pool":"sf-eu""#), "the audit trail names the pool")
    }

    @Test("mfa-worker burst on a pool reports per member how many codes each window served")
    func burstPerMember() throws {
        let worker = try Self.worker().start()
        defer {
            worker.stop()
            if let admin = try? Broker.admin() {
                _ = try? admin.deleteQueue(worker.turnQueue(pool: "sf-eu", firstMember: Self.members[0]))
                admin.close()
            }
        }
        let environment = ["MFA_BROKER_URL": "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:\(Broker.port)/%2F", "PATH": "/usr/bin:/bin"]
        let run = try mfaWorker(
            "burst", "--account", "sf-eu", "--connections", "6", "--requests", "6", "--at-once", "--max-wait-ms", "30000", "--timeout", "30",
            "--queue", worker.queue, "--json", environment: environment)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let account = try #require((report["accounts"] as? [[String: Any]])?.first)
        let members = try #require(account["members"] as? [String: [String: Int]], "\(run.stdout)")
        // Six requests on three members: every member serves, each of its
        // windows once; no more than three codes in any window of the pool.
        #expect(Set(members.keys) == Set(Self.members), "\(members)")
        #expect(members.values.allSatisfy { $0.values.allSatisfy { $0 == 1 } }, "\(members)")
        #expect(members.values.map { $0.count }.reduce(0, +) == 6)
        let perWindow = try #require(account["codesPerWindow"] as? [String: Int])
        #expect(perWindow.values.allSatisfy { $0 <= 3 }, "\(perWindow)")
    }
}
