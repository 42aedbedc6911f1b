import MFABroker

extension BrokerURL {
    /// Connection settings for this URL, with `password` unless the URL has one.
    public func connectionSettings(
        password: String? = nil, heartbeatSeconds: Int = 30, tls: ConnectionSettings.TLS? = nil, timeoutMilliseconds: Int = 10_000,
        connectionName: String = "mfa-worker"
    ) -> ConnectionSettings {
        ConnectionSettings(
            host: host, port: port, vhost: vhost,
            credentials: .plain(user: user ?? "guest", password: password ?? self.password ?? ""),
            heartbeatSeconds: heartbeatSeconds,
            tls: self.tls ? (tls ?? ConnectionSettings.TLS()) : nil,
            timeoutMilliseconds: timeoutMilliseconds,
            connectionName: connectionName
        )
    }
}
