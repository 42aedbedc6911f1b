import AMQP
import Foundation
import TestSupport
import Testing

/// A corpus of malformed and hostile messages: zero crashes, each answered
/// or rejected as the protocol says, and well-formed requests sent
/// meanwhile all answered right. (How much slower they are is a figure,
/// not a test: Benchmarks/run.sh measures it side by side.)
@Suite("Hostile input against the worker", .serialized)
struct HostileInputTests {
    struct Case {
        let name: String
        let body: [UInt8]
        var contentType: String? = "application/json"
        var type: String? = nil
        var userID: String?? = .none
        var replyTo: String?? = .none
        var correlationID: [UInt8]? = nil
        /// The error kind expected; nil: ok; "none": no reply at all.
        let expected: String?
    }

    static func corpus(frameMax: Int) -> [Case] {
        func b(_ text: String) -> [UInt8] { Array(text.utf8) }
        let deep = b(#"{"account":"sf-eu","x":"#) + Array(repeating: UInt8(ascii: "["), count: 1500) + Array(repeating: UInt8(ascii: "]"), count: 1500) + b("}")
        return [
            Case(name: "invalid UTF-8", body: b(#"{"account":"sf-eu","x":""#) + [0xFF, 0xFE] + b(#""}"#), expected: "bad_request"),
            Case(name: "overlong UTF-8", body: b(#"{"account":"sf-eu","x":""#) + [0xC0, 0xAF] + b(#""}"#), expected: "bad_request"),
            Case(name: "NUL in a string", body: b(#"{"account":"sf-eu","x":""#) + [0] + b(#""}"#), expected: "bad_request"),
            Case(name: "NUL after the object", body: b(#"{"account":"sf-eu"}"#) + [0], expected: "bad_request"),
            Case(name: "only NUL bytes", body: [0, 0, 0, 0], expected: "bad_request"),
            Case(name: "empty body", body: [], expected: "bad_request"),
            Case(name: "deep nesting", body: deep, expected: "bad_request"),
            Case(name: "a huge exponent", body: b(#"{"account":"sf-eu","min_validity_ms":1e400}"#), expected: "bad_request"),
            Case(name: "a huge integer", body: b(#"{"account":"sf-eu","min_validity_ms":99999999999999999999999999999}"#), expected: "bad_request"),
            Case(name: "a huge number in an unknown field", body: b(#"{"account":"sf-eu","x":1e999999}"#), expected: nil),
            Case(name: "a negative integer", body: b(#"{"account":"sf-eu","min_validity_ms":-1}"#), expected: "bad_request"),
            Case(name: "duplicate keys", body: b(#"{"account":"sf-eu","account":"other"}"#), expected: "bad_request"),
            Case(name: "duplicate keys, escaped", body: b(#"{"account":"sf-eu","\u0061ccount":"other"}"#), expected: "bad_request"),
            Case(name: "account a number", body: b(#"{"account":5}"#), expected: "bad_request"),
            Case(name: "account an object", body: b(#"{"account":{"name":"sf-eu"}}"#), expected: "bad_request"),
            Case(name: "an array", body: b(#"[{"account":"sf-eu"}]"#), expected: "bad_request"),
            Case(name: "null", body: b("null"), expected: "bad_request"),
            Case(name: "NaN", body: b(#"{"account":"sf-eu","min_validity_ms":NaN}"#), expected: "bad_request"),
            Case(
                name: "4097 bytes", body: b(#"{"account":"sf-eu","p":""#) + Array(repeating: UInt8(ascii: "x"), count: 4097 - 24 - 2) + b(#""}"#),
                expected: "bad_request"),
            Case(name: "a body at the frame limit", body: Array(repeating: UInt8(ascii: "{"), count: frameMax), expected: "bad_request"),
            Case(name: "a body over several frames", body: Array(repeating: UInt8(ascii: " "), count: frameMax * 3), expected: "bad_request"),
            Case(name: "an account with a path", body: b(#"{"account":"../../etc/passwd"}"#), expected: "bad_request"),
            Case(name: "an identity in the body", body: b(#"{"account":"other","user_id":"rpa-bot-eu-2","requester":"rpa-bot-eu-2"}"#), expected: "forbidden"),
            Case(name: "content_type text/html", body: b(#"{"account":"sf-eu"}"#), contentType: "text/html", expected: "bad_request"),
            Case(name: "content_type with control bytes", body: b(#"{"account":"sf-eu"}"#), contentType: "application/json\u{0}", expected: "bad_request"),
            Case(name: "a foreign type", body: b(#"{"account":"sf-eu"}"#), type: "mfa-code-reply", expected: "bad_request"),
            Case(name: "no user_id", body: b(#"{"account":"sf-eu"}"#), userID: .some(nil), expected: "forbidden"),
            Case(
                name: "a 255-byte correlation_id", body: b(#"{"account":"sf-eu"}"#), correlationID: Array(repeating: 0xEE, count: 255), expected: "bad_request"),
            Case(name: "a binary correlation_id", body: b(#"{"account":"sf-eu"}"#), correlationID: [0, 10, 13, 0x1B, 0xFF], expected: nil),
            Case(name: "no reply_to", body: b(#"{"account":"sf-eu"}"#), replyTo: .some(nil), expected: "none"),
            Case(name: "an empty reply_to", body: b(#"{"account":"sf-eu"}"#), replyTo: .some(""), expected: "none"),
            Case(name: "a reply_to nobody has", body: b(#"{"account":"sf-eu"}"#), replyTo: .some("amq.gen-nobody-here"), expected: "none"),
        ]
    }

    func send(_ testCase: Case, index: Int, round: Int, from requester: Requester) throws -> [UInt8] {
        let correlation = testCase.correlationID ?? Array("hostile-\(round)-\(index)".utf8)
        try requester.send(
            body: String(decoding: testCase.body, as: UTF8.self), correlationID: correlation,
            replyTo: testCase.replyTo, userID: testCase.userID, contentType: testCase.contentType, type: testCase.type)
        return correlation
    }

    @Test("Every corpus message is answered or rejected as the protocol says; the worker keeps serving")
    func corpusOutcomes() throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (30, 6, "SHA1"), "other": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"]]).start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        let corpus = Self.corpus(frameMax: requester.connection.frameMax)
        var byCorrelation: [[UInt8]: Case] = [:]
        for (index, testCase) in corpus.enumerated() {
            // Bodies that are not UTF-8 go through as raw bytes.
            let correlation = testCase.correlationID ?? Array("hostile-0-\(index)".utf8)
            try requester.connection.publish(
                routingKey: worker.queue,
                properties: MessageProperties(
                    contentType: testCase.contentType, correlationID: correlation,
                    replyTo: testCase.replyTo ?? requester.replyQueue, type: testCase.type,
                    userID: testCase.userID ?? "rpa-bot-eu-1"
                ), body: testCase.body)
            byCorrelation[correlation] = testCase
        }
        let expectedReplies = corpus.filter { $0.expected != "none" }.count
        let replies = try requester.replies(count: expectedReplies, timeout: 15)
        #expect(replies.count == expectedReplies)
        for reply in replies {
            guard let id = reply.properties.correlationID, let testCase = byCorrelation[id] else {
                Issue.record("a reply nobody asked for: \(reply.text)")
                continue
            }
            #expect(reply.error == testCase.expected, "\(testCase.name): \(reply.text)")
            #expect(!reply.text.contains("\n"))
        }
        // Nothing more: the three without a usable reply_to got none.
        #expect(try requester.replies(count: 1, timeout: 1).isEmpty)
        #expect(worker.isRunning)
        #expect(worker.waitForLog("request rejected: nobody can be answered", count: 2))
        #expect(worker.waitForLog("reply unroutable"))
        #expect(try requester.ask(account: "sf-eu")?.status == "ok")
    }

    @Test("Well-formed requests during a barrage of hostile ones are each answered with the right code, and the worker keeps serving")
    func wellFormedDuringBarrage() throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (30, 6, "SHA1"), "other": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"]]).start()
        defer { worker.stop() }
        let stop = StopFlag()
        let sent = Counter()
        let queue = worker.queue
        let barrage = Thread {
            guard let hostile = try? Requester(requestQueue: queue) else { return }
            let corpus = Self.corpus(frameMax: hostile.connection.frameMax)
            // Flow control: at most this many hostile replies outstanding, so
            // that on a slow machine the barrage slows down with the worker
            // instead of piling up a backlog in front of the probes.
            var outstanding = 0
            while !stop.isSet {
                for testCase in corpus where !stop.isSet {
                    try? hostile.connection.publish(
                        routingKey: queue,
                        properties: MessageProperties(
                            contentType: testCase.contentType, correlationID: testCase.correlationID ?? [1],
                            replyTo: testCase.replyTo ?? hostile.replyQueue, type: testCase.type,
                            userID: testCase.userID ?? "rpa-bot-eu-1"
                        ), body: testCase.body)
                    sent.add()
                    if testCase.expected != "none" { outstanding += 1 }
                }
                while outstanding > 100 && !stop.isSet {
                    outstanding -= (try? hostile.replies(count: outstanding - 100, timeout: 0.5).count) ?? 0
                }
            }
        }
        barrage.start()
        defer { stop.set() }

        // Count-driven, not timed: probe until the barrage has sent this many
        // hostile messages during the probing (and at least this many probes).
        let hostileTarget = 3000, probeTarget = 200
        while sent.value < 100 { usleep(10_000) }
        let before = sent.value
        let probe = try Requester(requestQueue: worker.queue)
        var probes = 0, wrong: [String] = []
        let deadline = Date().addingTimeInterval(300)
        while (sent.value - before < hostileTarget || probes < probeTarget) && Date() < deadline {
            probes += 1
            guard let reply = try probe.ask(account: "sf-eu"), reply.status == "ok", let start = reply.windowStart,
                reply.code == (try worker.expectedCode(account: "sf-eu", windowStart: start))
            else {
                wrong.append("probe \(probes)")
                continue
            }
        }
        let hostileCount = sent.value - before
        stop.set()
        print(
            "hostile input: \(probes) well-formed requests answered while \(hostileCount) hostile messages were sent (latency side by side: Benchmarks/run.sh, barrage scenario)"
        )
        #expect(hostileCount >= hostileTarget, "the barrage did not run through the probing")
        #expect(wrong.isEmpty, "well-formed requests without the right code: \(wrong.prefix(10))")
        #expect(worker.isRunning)
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.withLock { flag = true } }
    var isSet: Bool { lock.withLock { flag } }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
