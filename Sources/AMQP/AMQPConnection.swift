import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

/// One AMQP connection with one channel, over librabbitmq.
///
/// librabbitmq is not thread-safe: a connection belongs to the thread that
/// made it and is used from that thread only (it is not `Sendable`). Every
/// pointer into the library stays inside this type; what it hands out are
/// plain Swift values.
public final class AMQPConnection {
    /// The channel every operation uses.
    public static let channel: amqp_channel_t = 1

    public let settings: ConnectionSettings
    /// The broker's `frame_max` after tuning, in bytes.
    public private(set) var frameMax = 0
    public private(set) var isOpen = false
    public private(set) var isChannelOpen = false

    let state: amqp_connection_state_t
    let arena = CallArena()
    /// With publisher confirms on: the sequence number the next publish gets.
    var nextPublishSequence: UInt64 = 0
    private var socket: OpaquePointer?
    /// Over plain TCP the wrapper encodes publishes, acks, nacks and
    /// rejects itself (``OutboundFrames``) and writes each in one `send`;
    /// over TLS librabbitmq writes them (its socket encrypts).
    let writesOwnFrames: Bool
    /// Frames encoded and not yet written.
    var outbound = OutboundFrames()

    /// When true (plain TCP only), publishes, acks, nacks and rejects wait
    /// in a buffer and leave together, in one write: when the next read
    /// would wait for the broker (``nextEvent(timeoutMilliseconds:)`` with
    /// nothing buffered) or the oldest has waited 1 ms, before any other
    /// method, at ``close()``, at ``flush()``, or once 64 KiB wait. Their
    /// order on the wire is the order of the calls. For a consumer that
    /// answers a batch of deliveries: one write per batch rather than one
    /// per frame.
    public var coalescesWrites = false
    static let coalescingLimit = 65_536
    /// The longest a coalesced frame waits while input keeps coming: 1 ms.
    static let coalescingDelayLimit: UInt64 = 1_000_000

    /// Connects, logs in (advertising `consumer_cancel_notify`,
    /// `publisher_confirms` and `authentication_failure_close`) and opens
    /// the channel.
    public init(_ settings: ConnectionSettings) throws(AMQPError) {
        self.settings = settings
        guard let state = amqp_new_connection() else {
            throw .library(operation: "amqp_new_connection", reason: "out of memory")
        }
        self.state = state
        writesOwnFrames = settings.tls == nil
        try open()
    }

    deinit {
        // Destroying closes the socket; a polite close is `close()`.
        amqp_destroy_connection(state)
    }

    private func open() throws(AMQPError) {
        let timeoutMilliseconds = settings.timeoutMilliseconds
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)

        if let tls = settings.tls {
            guard let socket = amqp_ssl_socket_new(state) else {
                throw .tlsSetup("cannot create a TLS socket")
            }
            self.socket = socket
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
            defer { arena.reset() }
            if let ca = tls.caFile {
                let status = amqp_ssl_socket_set_cacert(socket, arena.cString(ca))
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw .tlsSetup("cannot load CA certificates from \(ca): \(Self.statusText(status))")
                }
            }
            if let cert = tls.certFile, let key = tls.keyFile {
                let status = amqp_ssl_socket_set_key(socket, arena.cString(cert), arena.cString(key))
                guard status == AMQP_STATUS_OK.rawValue else {
                    // A key handed over as an open descriptor is named by what it is.
                    let keyName = key.hasPrefix("/proc/self/fd/") ? "its key" : "key \(key)"
                    throw .tlsSetup("cannot load the client certificate \(cert) with \(keyName): \(Self.statusText(status))")
                }
            } else if tls.certFile != nil || tls.keyFile != nil {
                throw .tlsSetup("a client certificate needs both cert_file and key_file")
            }
        } else {
            guard let socket = amqp_tcp_socket_new(state) else {
                throw .library(operation: "amqp_tcp_socket_new", reason: "out of memory")
            }
            self.socket = socket
        }

        amqp_set_handshake_timeout(state, &timeout)
        amqp_set_rpc_timeout(state, &timeout)

        let opened = amqp_socket_open_noblock(socket, arena.cString(settings.host), Int32(settings.port), &timeout)
        arena.reset()
        guard opened == AMQP_STATUS_OK.rawValue else {
            let reason =
                opened == AMQP_STATUS_SOCKET_ERROR.rawValue || opened == AMQP_STATUS_TIMEOUT.rawValue
                    || opened == AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED.rawValue
                ? ConnectDiagnosis.reason(host: settings.host, port: settings.port, timeoutMilliseconds: min(timeoutMilliseconds, 2000))
                : Self.connectFailureText(opened, tls: settings.tls != nil)
            throw .connectFailed(endpoint: settings.endpoint, reason: reason)
        }

        try login()
        isOpen = true
        frameMax = Int(amqp_get_frame_max(state))

        amqp_channel_open(state, Self.channel)
        try check(amqp_get_rpc_reply(state), "channel.open")
        isChannelOpen = true
    }

    private func login() throws(AMQPError) {
        defer { arena.reset() }
        var properties = arena.table([
            ("product", .string("mfa-worker")),
            ("platform", .string("Swift, librabbitmq \(String(cString: amqp_version()))")),
            ("connection_name", .string(settings.connectionName)),
            (
                "capabilities",
                .table([
                    ("consumer_cancel_notify", .bool(true)),
                    ("publisher_confirms", .bool(true)),
                    ("basic.nack", .bool(true)),
                    ("connection.blocked", .bool(true)),
                    ("authentication_failure_close", .bool(true)),
                ])
            ),
        ])
        let vhost = arena.cString(settings.vhost)
        let reply: amqp_rpc_reply_t
        switch settings.credentials {
        case .plain(let user, let password):
            reply = mfa_amqp_login_plain(state, vhost, 0, 131_072, Int32(settings.heartbeatSeconds), &properties, arena.cString(user), arena.cString(password))
        case .external(let identity):
            reply = mfa_amqp_login_external(
                state, vhost, 0, 131_072, Int32(settings.heartbeatSeconds), &properties, arena.cString(identity.isEmpty ? "external" : identity))
        }
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == mfa_method_connection_close:
            let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            sendConnectionCloseOK()
            throw .loginRefused(user: settings.credentials.user, vhost: settings.vhost, reason: "\(close.reply_code) \(Self.string(close.reply_text))")
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let status = reply.library_error
            if status == AMQP_STATUS_CONNECTION_CLOSED.rawValue || status == AMQP_STATUS_SOCKET_ERROR.rawValue || status == AMQP_STATUS_SOCKET_CLOSED.rawValue {
                throw .loginRefused(user: settings.credentials.user, vhost: settings.vhost, reason: "the broker closed the connection during login")
            }
            throw .loginRefused(user: settings.credentials.user, vhost: settings.vhost, reason: Self.statusText(status))
        default:
            throw .loginRefused(user: settings.credentials.user, vhost: settings.vhost, reason: "no reply to the login")
        }
    }

    /// Closes the channel and the connection politely. Errors are ignored:
    /// the socket goes either way.
    public func close() {
        guard isOpen else { return }
        // What waits is sent first; a failure shows in what follows.
        try? flush()
        guard isOpen else { return }
        if isChannelOpen {
            _ = amqp_channel_close(state, Self.channel, Int32(AMQP_REPLY_SUCCESS))
            isChannelOpen = false
        }
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        isOpen = false
    }

    /// Opens the channel again after the broker closed it. Publisher
    /// confirms must be selected again on the new channel.
    public func reopenChannel() throws(AMQPError) {
        // Frames of the closed channel would be taken for the new one's.
        outbound.removeAll()
        amqp_channel_open(state, Self.channel)
        try check(amqp_get_rpc_reply(state), "channel.open")
        isChannelOpen = true
        nextPublishSequence = 0
    }

    /// The socket, for `poll` together with other descriptors.
    public var fileDescriptor: Int32 { amqp_get_sockfd(state) }

    /// True when frames or bytes are already read and waiting in the
    /// library, so that polling the socket would wait for nothing.
    public var hasBufferedInput: Bool {
        amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0
    }

    // MARK: - Frames the wrapper writes

    /// Writes the frames that wait (``coalescesWrites``), in one `send`
    /// where the socket takes them at once.
    public func flush() throws(AMQPError) {
        guard !outbound.isEmpty else { return }
        let descriptor = amqp_get_sockfd(state)
        let error = outbound.bytes.withUnsafeBytes { Self.sendAll($0, to: descriptor) }
        outbound.removeAll()
        guard error == 0 else {
            isOpen = false
            isChannelOpen = false
            if error == EPIPE || error == ECONNRESET { throw .connectionLost(reason: "the broker closed the socket") }
            throw .connectionLost(reason: "sending frames: \(String(cString: strerror(error)))")
        }
    }

    /// Writes after an append: at once, unless the connection coalesces
    /// and the buffer is not full yet.
    func flushUnlessCoalescing() throws(AMQPError) {
        if !coalescesWrites || outbound.count >= Self.coalescingLimit {
            try flush()
        } else if outbound.waitingSince == nil {
            outbound.waiting(since: Self.monotonicNanoseconds())
        }
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Sends every byte, waiting while the socket is full (as librabbitmq
    /// does: a broker that stops reading, as under a resource alarm, holds
    /// the writer). Returns 0, or the `errno` that ended it.
    private static func sendAll(_ buffer: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32 {
        guard let base = buffer.baseAddress else { return 0 }
        var offset = 0
        while offset < buffer.count {
            let sent = send(descriptor, base + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            if sent > 0 {
                offset += sent
                continue
            }
            let error = sent < 0 ? errno : EPIPE
            switch error {
            case EINTR:
                continue
            case EAGAIN, EWOULDBLOCK:
                var waiting = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&waiting, 1, -1)
            default:
                return error
            }
        }
        return 0
    }

    // MARK: - Replies and errors

    /// Turns a synchronous call's reply into an error, answering the
    /// broker's close with close-ok (librabbitmq does not).
    func check(_ reply: amqp_rpc_reply_t, _ operation: String) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == mfa_method_channel_close {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                let text = Self.string(close.reply_text)
                sendChannelCloseOK()
                throw .channelClosed(code: close.reply_code, text: text)
            }
            if reply.reply.id == mfa_method_connection_close {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                let text = Self.string(close.reply_text)
                sendConnectionCloseOK()
                throw .connectionClosed(code: close.reply_code, text: text)
            }
            throw .library(operation: operation, reason: "unexpected method \(reply.reply.id) from the broker")
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw lost(reply.library_error, operation)
        default:
            throw .library(operation: operation, reason: "no reply")
        }
    }

    /// The error for a failed library status during `operation`.
    func lost(_ status: Int32, _ operation: String) -> AMQPError {
        isOpen = false
        isChannelOpen = false
        outbound.removeAll()
        if status == AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue {
            return .connectionLost(reason: "no heartbeat from the broker")
        }
        if status == AMQP_STATUS_CONNECTION_CLOSED.rawValue || status == AMQP_STATUS_SOCKET_CLOSED.rawValue {
            return .connectionLost(reason: "the broker closed the socket")
        }
        return .connectionLost(reason: "\(operation): \(Self.statusText(status))")
    }

    func sendChannelCloseOK() {
        // The broker ignores what else comes on a closing channel.
        outbound.removeAll()
        var ok = amqp_channel_close_ok_t(dummy: 0)
        _ = amqp_send_method(state, Self.channel, mfa_method_channel_close_ok, &ok)
        isChannelOpen = false
    }

    func sendConnectionCloseOK() {
        outbound.removeAll()
        var ok = amqp_connection_close_ok_t(dummy: 0)
        _ = amqp_send_method(state, 0, mfa_method_connection_close_ok, &ok)
        isOpen = false
        isChannelOpen = false
    }

    static func statusText(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }

    private static func connectFailureText(_ status: Int32, tls: Bool) -> String {
        if tls && status == AMQP_STATUS_SSL_ERROR.rawValue {
            return "TLS handshake failed"
        }
        if tls && status == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue {
            return "the broker's certificate does not name this host"
        }
        if tls && status == AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue {
            return "the broker's certificate is not signed by a trusted CA"
        }
        if tls && status == AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue {
            return "TLS connection failed (certificate refused, or not a TLS port)"
        }
        return statusText(status)
    }

    static func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let pointer = bytes.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: bytes.len), as: UTF8.self)
    }

    /// The text when `bytes` are valid UTF-8, else nil: for the properties
    /// that name something (a queue to publish to, a user), where a lossy
    /// decoding could turn two byte strings into one name, or one into a
    /// name longer than an AMQP short string.
    static func strictString(_ bytes: amqp_bytes_t) -> String? {
        guard bytes.len > 0, let pointer = bytes.bytes else { return "" }
        return String(validating: UnsafeRawBufferPointer(start: pointer, count: bytes.len), as: UTF8.self)
    }

    static func array(_ bytes: amqp_bytes_t) -> [UInt8] {
        guard bytes.len > 0, let pointer = bytes.bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: bytes.len))
    }
}
