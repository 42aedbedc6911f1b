import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

extension AMQPConnection {
    /// Waits up to `timeoutMilliseconds` (0: only what is already there) for
    /// the next thing from the broker, serving heartbeats meanwhile.
    ///
    /// Frames that are not deliveries are read and turned into events:
    /// returns, publisher acks, consumer cancellations, channel closes
    /// (close-ok is sent). A connection close from the broker, a missed
    /// heartbeat or a dropped socket throws.
    public func nextEvent(timeoutMilliseconds: Int) throws(AMQPError) -> AMQPEvent {
        // Coalesced frames leave before a read that waits for the broker,
        // or once the oldest has waited 1 ms; until then the read does not wait.
        var timeoutMilliseconds = timeoutMilliseconds
        if !outbound.isEmpty {
            if outbound.mustWrite(now: Self.monotonicNanoseconds(), inputBuffered: hasBufferedInput, limit: Self.coalescingDelayLimit) {
                try flush()
            } else {
                timeoutMilliseconds = 0
            }
        }
        // Recycle the memory of the previous frames (librabbitmq keeps it
        // otherwise, and a long run grows without bound).
        amqp_maybe_release_buffers(state)

        var envelope = amqp_envelope_t()
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        let reply = amqp_consume_message(state, &envelope, &timeout, 0)

        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            let delivery = Delivery(
                consumerTag: Self.string(envelope.consumer_tag),
                deliveryTag: envelope.delivery_tag,
                redelivered: envelope.redelivered != 0,
                exchange: Self.string(envelope.exchange),
                routingKey: Self.string(envelope.routing_key),
                properties: Self.properties(envelope.message.properties),
                body: Self.array(envelope.message.body)
            )
            amqp_destroy_envelope(&envelope)
            return .delivery(delivery)
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_TIMEOUT.rawValue:
            return .timeout
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue:
            return try readMethodFrame()
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw lost(reply.library_error, "waiting for deliveries")
        default:
            throw lost(AMQP_STATUS_UNEXPECTED_STATE.rawValue, "waiting for deliveries")
        }
    }

    /// Waits until the socket is readable, `otherDescriptor` is readable, or
    /// `timeoutMilliseconds` pass. Returns true when `otherDescriptor` woke
    /// it. Use with ``nextEvent(timeoutMilliseconds:)`` at 0 to serve a
    /// connection and a wake-up descriptor (an eventfd) from one thread.
    public func waitForInput(orReadable otherDescriptor: Int32, timeoutMilliseconds: Int) -> Bool {
        if hasBufferedInput { return false }
        // Coalesced frames leave first; a failed write shows in the next read.
        try? flush()
        var descriptors = [
            pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: otherDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        let ready = poll(&descriptors, 2, Int32(clamping: timeoutMilliseconds))
        return ready > 0 && descriptors[1].revents != 0
    }

    private func readMethodFrame() throws(AMQPError) -> AMQPEvent {
        var frame = amqp_frame_t()
        let status = amqp_simple_wait_frame(state, &frame)
        guard status == AMQP_STATUS_OK.rawValue else { throw lost(status, "reading a frame") }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else {
            // A stray header or body frame: nothing to act on.
            return .timeout
        }
        let method = frame.payload.method
        switch method.id {
        case mfa_method_basic_ack:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .publisherAck(deliveryTag: ack.delivery_tag, multiple: ack.multiple != 0)
        case mfa_method_basic_nack:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .publisherNack(deliveryTag: nack.delivery_tag, multiple: nack.multiple != 0)
        case mfa_method_basic_return:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let code = returned.reply_code
            let text = Self.string(returned.reply_text)
            let exchange = Self.string(returned.exchange)
            let routingKey = Self.string(returned.routing_key)
            var message = amqp_message_t()
            let reply = amqp_read_message(state, frame.channel, &message, 0)
            guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
                throw lost(reply.library_error, "reading a returned message")
            }
            let event = AMQPEvent.returned(
                ReturnedMessage(
                    replyCode: code, replyText: text, exchange: exchange, routingKey: routingKey,
                    properties: Self.properties(message.properties), body: Self.array(message.body)
                ))
            amqp_destroy_message(&message)
            return event
        case mfa_method_basic_cancel:
            let cancel = method.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            return .consumerCancelled(consumerTag: Self.string(cancel.consumer_tag))
        case mfa_method_channel_close:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let text = Self.string(close.reply_text)
            sendChannelCloseOK()
            return .channelClosed(code: close.reply_code, text: text)
        case mfa_method_connection_close:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let text = Self.string(close.reply_text)
            sendConnectionCloseOK()
            throw .connectionClosed(code: close.reply_code, text: text)
        case mfa_method_connection_blocked:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            return .blocked(true, reason: Self.string(blocked.reason))
        case mfa_method_connection_unblocked:
            return .blocked(false, reason: "")
        default:
            // Anything else (a late cancel-ok, say) needs no action.
            return .timeout
        }
    }
}
