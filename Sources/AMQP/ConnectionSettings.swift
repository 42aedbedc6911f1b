/// Where and how to connect.
public struct ConnectionSettings: Sendable {
    public enum Credentials: Sendable {
        /// PLAIN login with a user name and password.
        case plain(user: String, password: String)
        /// EXTERNAL login: the broker takes the identity from the client
        /// certificate (rabbitmq_auth_mechanism_ssl). `identity` must not be
        /// empty with librabbitmq 0.11.
        case external(identity: String)

        var user: String {
            switch self {
            case .plain(let user, _): user
            case .external(let identity): identity
            }
        }
    }

    public struct TLS: Sendable, Equatable {
        /// CA certificates (PEM) the broker's certificate must chain to.
        public var caFile: String?
        /// Client certificate and key (PEM), for EXTERNAL login or mutual TLS.
        public var certFile: String?
        public var keyFile: String?
        public var verifyPeer: Bool
        public var verifyHostname: Bool

        public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, verifyPeer: Bool = true, verifyHostname: Bool = true) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
        }
    }

    public var host: String
    public var port: Int
    public var vhost: String
    public var credentials: Credentials
    /// Seconds; 0 turns heartbeats off.
    public var heartbeatSeconds: Int
    /// TLS, or nil for plain TCP.
    public var tls: TLS?
    /// How long to wait for the TCP connection, the handshake and each
    /// synchronous reply.
    public var timeoutMilliseconds: Int
    /// Shown by the broker (management UI, `rabbitmqctl list_connections`).
    public var connectionName: String

    public init(
        host: String,
        port: Int,
        vhost: String = "/",
        credentials: Credentials,
        heartbeatSeconds: Int = 30,
        tls: TLS? = nil,
        timeoutMilliseconds: Int = 10_000,
        connectionName: String = "mfa-worker"
    ) {
        self.host = host
        self.port = port
        self.vhost = vhost
        self.credentials = credentials
        self.heartbeatSeconds = heartbeatSeconds
        self.tls = tls
        self.timeoutMilliseconds = timeoutMilliseconds
        self.connectionName = connectionName
    }

    /// `host:port`, for messages.
    public var endpoint: String {
        (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }
}
