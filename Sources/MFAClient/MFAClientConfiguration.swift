import AMQP
import MFABroker
import MFAProtocol

/// Where and as whom a client asks.
public struct MFAClientConfiguration: Sendable {
    /// The broker's URLs, tried in order (a cluster's nodes). Their user is
    /// the requester's login; a password in a URL is used unless
    /// ``password`` is set.
    public var urls: [BrokerURL]
    /// The requester's password.
    public var password: String?
    /// TLS settings for `amqps://` URLs.
    public var tls: ConnectionSettings.TLS?
    /// EXTERNAL login with the TLS client certificate instead of a password.
    public var externalLogin: Bool
    /// The worker's request queue.
    public var requestQueue: String
    public var heartbeatSeconds: Int
    public var connectTimeout: Duration
    /// Reconnection backoff after a lost connection.
    public var reconnectInitial: Duration
    public var reconnectMax: Duration
    /// Shown by the broker for this connection.
    public var connectionName: String

    public init(
        urls: [BrokerURL],
        password: String? = nil,
        tls: ConnectionSettings.TLS? = nil,
        externalLogin: Bool = false,
        requestQueue: String = ProtocolConstants.defaultRequestQueue,
        heartbeatSeconds: Int = 10,
        connectTimeout: Duration = .seconds(5),
        reconnectInitial: Duration = .milliseconds(100),
        reconnectMax: Duration = .seconds(2),
        connectionName: String = "mfa-client"
    ) {
        self.urls = urls
        self.password = password
        self.tls = tls
        self.externalLogin = externalLogin
        self.requestQueue = requestQueue
        self.heartbeatSeconds = heartbeatSeconds
        self.connectTimeout = connectTimeout
        self.reconnectInitial = reconnectInitial
        self.reconnectMax = reconnectMax
        self.connectionName = connectionName
    }

    /// The requester's AMQP user: the `user_id` of every request.
    public var user: String { urls.first?.user ?? "guest" }

    func settings(for url: BrokerURL) -> ConnectionSettings {
        var settings = url.connectionSettings(
            password: password,
            heartbeatSeconds: heartbeatSeconds,
            tls: tls,
            timeoutMilliseconds: Int(connectTimeout.milliseconds),
            connectionName: connectionName
        )
        if externalLogin { settings.credentials = .external(identity: url.user ?? "external") }
        return settings
    }
}
