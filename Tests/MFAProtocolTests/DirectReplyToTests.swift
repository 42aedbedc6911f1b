import Testing

@testable import MFAProtocol

/// Direct reply-to names: only what RabbitMQ's encoder writes is answered.
@Suite("Direct reply-to names")
struct DirectReplyToTests {
    /// Given by RabbitMQ 3.10 on this machine to a pika client.
    static let real = "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzvbQ==.Wlx7W1Yu6/10Xu0Kpger0g=="

    @Test("A name the broker gave out reads as its node; ordinary queue names are ordinary")
    func real() {
        #expect(DirectReplyTo.classify(Self.real) == .node("46638468"))
        for name in ["amq.gen-JzTY20BRgKO-HjmUJj0wLg", "robot-replies", "amq.rabbitmq.reply", ""] {
            #expect(DirectReplyTo.classify(name) == .ordinary, "\(name)")
        }
    }

    @Test(
        "Names that start like direct reply-to but are not the broker's shape are malformed",
        arguments: [
            // An attack review's name: an Erlang term RabbitMQ cannot decode (541).
            "amq.rabbitmq.reply-to.g2dkABNyYWJiaXRAbG9jYWxob3N0AAAD5QAAAAAA.abc",
            "amq.rabbitmq.reply-to",
            "amq.rabbitmq.reply-to.",
            "amq.rabbitmq.reply-toX.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzvbQ==.key",
            "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzvbQ==",
            "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzvbQ==.",
            "amq.rabbitmq.reply-to..key",
            "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzvbQ==.a.b",
            "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzvbQ=.key",  // bad padding
            "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzvbR==.key",  // bits past the data
            "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzv.key",  // 3 bytes short
            "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzvbQ==.k*y",
            "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA0NjYzODQ2OAAAZEIAAAANawzvbQ==." + String(repeating: "k", count: 65),
        ])
    func malformed(_ name: String) {
        #expect(DirectReplyTo.classify(name) == .malformed)
    }

    @Test("A pid on a node that is not reply@<digits>, with a leading zero or over 9 digits, is malformed")
    func nodeNames() {
        func name(_ node: String) -> String {
            let bytes = Array(node.utf8)
            return DirectReplyTo.pseudoQueue + "."
                + DirectReplyTo.encodeBase64([131, 88, 118, 0, UInt8(bytes.count)] + bytes + [UInt8](repeating: 1, count: 12)) + ".key"
        }
        #expect(DirectReplyTo.classify(name("reply@123")) == .node("123"))
        #expect(DirectReplyTo.classify(name("reply@0")) == .node("0"))
        for node in ["rabbit@localhost", "reply@", "reply@0123", "reply@1234567890", "reply@12a", "reply@-5", "reply@ 5"] {
            #expect(DirectReplyTo.classify(name(node)) == .malformed, "\(node)")
        }
    }

    @Test("A probe name is well formed on the node it probes")
    func probe() {
        #expect(DirectReplyTo.classify(DirectReplyTo.probeName(node: "46638468")) == .node("46638468"))
        #expect(DirectReplyTo.classify(DirectReplyTo.probeName(node: "7")) == .node("7"))
    }

    @Test("Base64 reads back what it writes, for every length up to 40")
    func base64() {
        for length in 0...40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = DirectReplyTo.encodeBase64(bytes)
            if length == 0 {
                #expect(text.isEmpty)
            } else {
                #expect(DirectReplyTo.decodeBase64(Array(text.utf8)[...]) == bytes, "\(length)")
            }
        }
    }
}
