import AMQP
import Foundation

/// The broker that `scripts/broker.sh` starts: 127.0.0.1, the demo users.
public enum Broker {
    public static let host = "127.0.0.1"
    public static let port = Int(ProcessInfo.processInfo.environment["MFA_BROKER_PORT"] ?? "") ?? 5672

    public static func password(of user: String) -> String {
        user == "mfa-worker" ? "demo-worker-password" : "\(user)-password"
    }

    public static func connect(_ user: String, port: Int = Broker.port, name: String = "tests") throws -> AMQPConnection {
        try AMQPConnection(
            ConnectionSettings(
                host: host, port: port,
                credentials: .plain(user: user, password: password(of: user)),
                heartbeatSeconds: 10, timeoutMilliseconds: 5000, connectionName: name
            ))
    }

    /// A connection as the test administrator (declares DLXs, deletes queues).
    public static func admin() throws -> AMQPConnection { try connect("mfa-test-admin") }

    /// Adds a broker user with a robot's permissions (its own server-named
    /// queues, publishing on the default exchange) and the password
    /// ``password(of:)`` gives, through rabbitmqctl (about a second a call).
    public static func addRobot(_ user: String) throws {
        try ctl("add_user", user, password(of: user))
        try ctl("set_permissions", "-p", "/", user, #"^amq\.gen-.*"#, #"^amq\.default$"#, #"^amq\.gen-.*"#)
    }

    public static func deleteUser(_ user: String) throws {
        try ctl("delete_user", user)
    }

    private static func ctl(_ arguments: String...) throws {
        let result = try run("/bin/bash", [repositoryRoot + "/scripts/broker.sh", "ctl"] + arguments)
        guard result.status == 0 else {
            throw NSError(
                domain: "rabbitmqctl", code: Int(result.status), userInfo: [NSLocalizedDescriptionKey: "rabbitmqctl \(arguments.first ?? ""): \(result.stderr)"]
            )
        }
    }

    /// A unique request queue name the worker user may configure.
    public static func uniqueQueueName(_ label: String = "test") -> String {
        "mfa-code-request-\(label)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}
