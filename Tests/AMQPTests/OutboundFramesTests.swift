import Testing

@testable import AMQP

/// The frames the wrapper encodes itself, byte for byte (AMQP 0-9-1,
/// section 4.2.3), without a broker; AMQPBrokerTests sends them to one.
@Suite("Outbound frames")
struct OutboundFramesTests {
    @Test("A publish is a method frame, a content header with the properties in flag order, and the body")
    func publish() throws {
        var frames = OutboundFrames()
        try frames.appendPublish(
            channel: 1, exchange: "", routingKey: "q", mandatory: true,
            properties: MessageProperties(contentType: "a", deliveryMode: .transient, timestamp: 5), body: [0x7B], frameMax: 131_072)
        let method: [UInt8] = [1, 0, 1, 0, 0, 0, 10, 0, 60, 0, 40, 0, 0, 0, 1, UInt8(ascii: "q"), 1, 0xCE]
        let header: [UInt8] =
            [2, 0, 1, 0, 0, 0, 25, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x90, 0x40, 1, UInt8(ascii: "a"), 1, 0, 0, 0, 0, 0, 0, 0, 5, 0xCE]
        let body: [UInt8] = [3, 0, 1, 0, 0, 0, 1, 0x7B, 0xCE]
        #expect(frames.bytes == method + header + body)
    }

    @Test("A body longer than a frame is split into frames of at most frame_max bytes")
    func split() throws {
        var frames = OutboundFrames()
        try frames.appendPublish(
            channel: 1, exchange: "", routingKey: "q", mandatory: false, properties: MessageProperties(), body: [UInt8](repeating: 7, count: 10_000),
            frameMax: 4096)
        // Method (18 bytes) and header (22), then 4088 + 4088 + 1824 bytes of body.
        let bodies = Array(frames.bytes.dropFirst(18 + 22))
        #expect(bodies.count == 3 * 8 + 10_000)
        #expect(Array(bodies[3..<7]) == [0, 0, 0x0F, 0xF8])
        #expect(bodies[4095] == 0xCE && bodies[4096] == 3)
    }

    @Test("Ack, nack and reject carry the delivery tag and their bits")
    func tagMethods() {
        var frames = OutboundFrames()
        frames.appendAck(channel: 1, deliveryTag: 0x0102, multiple: true)
        frames.appendNack(channel: 1, deliveryTag: 3, multiple: false, requeue: true)
        frames.appendReject(channel: 1, deliveryTag: 4, requeue: false)
        let ack: [UInt8] = [1, 0, 1, 0, 0, 0, 13, 0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 1, 2, 1, 0xCE]
        let nack: [UInt8] = [1, 0, 1, 0, 0, 0, 13, 0, 60, 0, 120, 0, 0, 0, 0, 0, 0, 0, 3, 2, 0xCE]
        let reject: [UInt8] = [1, 0, 1, 0, 0, 0, 13, 0, 60, 0, 90, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0xCE]
        #expect(frames.bytes == ack + nack + reject)
    }

    @Test("A name or property over 255 bytes is refused, and nothing is appended")
    func overlong() {
        var frames = OutboundFrames()
        frames.appendAck(channel: 1, deliveryTag: 1, multiple: false)
        let before = frames.bytes
        let long = String(repeating: "x", count: 256)
        for properties in [MessageProperties(userID: long), MessageProperties(correlationID: Array(long.utf8))] {
            #expect(throws: AMQPError.self) {
                try frames.appendPublish(channel: 1, exchange: "", routingKey: "q", mandatory: false, properties: properties, body: [1], frameMax: 131_072)
            }
        }
        #expect(throws: AMQPError.self) {
            try frames.appendPublish(
                channel: 1, exchange: "", routingKey: long, mandatory: false, properties: MessageProperties(), body: [1], frameMax: 131_072)
        }
        #expect(frames.bytes == before)
    }

    @Test("Frames that wait are written when the next read would wait, or once the oldest has waited the limit")
    func whenToWrite() {
        var frames = OutboundFrames()
        #expect(!frames.mustWrite(now: 0, inputBuffered: false, limit: 1000))
        frames.appendAck(channel: 1, deliveryTag: 1, multiple: false)
        frames.waiting(since: 5000)
        frames.appendAck(channel: 1, deliveryTag: 2, multiple: false)
        frames.waiting(since: 5900)
        #expect(frames.waitingSince == 5000)
        #expect(frames.mustWrite(now: 5100, inputBuffered: false, limit: 1000))
        #expect(!frames.mustWrite(now: 5999, inputBuffered: true, limit: 1000))
        #expect(frames.mustWrite(now: 6000, inputBuffered: true, limit: 1000))
        frames.removeAll()
        #expect(frames.waitingSince == nil)
        #expect(!frames.mustWrite(now: 9000, inputBuffered: true, limit: 1000))
    }
}
