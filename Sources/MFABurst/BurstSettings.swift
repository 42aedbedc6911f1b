import AMQP
import MFABroker
import TOTP

/// What a burst does.
public struct BurstSettings: Sendable {
    public struct Login: Sendable, Equatable {
        public var user: String
        public var password: String
        public init(user: String, password: String) {
            self.user = user
            self.password = password
        }
    }

    /// The broker (host, port, vhost, TLS); its user is replaced per login.
    public var url: BrokerURL
    public var tls: ConnectionSettings.TLS?
    /// Requester logins, used round-robin by the connections.
    public var logins: [Login]
    public var requestQueue: String
    /// The accounts asked for, in turn: request n asks for `accounts[n % count]`.
    public var accounts: [String]
    public var connections: Int
    /// Requests in all, spread evenly over the connections.
    public var requests: Int
    /// Requests in flight per connection (closed loop).
    public var inflight: Int
    /// Open loop: requests go out on this schedule, spread over the
    /// connections, whatever the answers do (`requests`, `inflight` and
    /// `atOnce` do not apply). Nil: the closed loop.
    public var schedule: ArrivalSchedule?
    /// Connect every connection first, then start them all at one instant.
    public var atOnce: Bool
    public var minValidityMilliseconds: Int?
    public var maxWaitMilliseconds: Int?
    /// A request not answered in this time counts as a timeout.
    public var timeoutMilliseconds: Int
    /// Keys by account: every code of these accounts is checked
    /// independently.
    public var verifiers: [String: TOTPGenerator]

    public init(
        url: BrokerURL, tls: ConnectionSettings.TLS? = nil, logins: [Login], requestQueue: String, accounts: [String],
        connections: Int, requests: Int, inflight: Int, atOnce: Bool = false, minValidityMilliseconds: Int? = nil,
        maxWaitMilliseconds: Int? = nil, timeoutMilliseconds: Int = 10_000, verifiers: [String: TOTPGenerator] = [:],
        schedule: ArrivalSchedule? = nil
    ) {
        self.url = url
        self.tls = tls
        self.logins = logins
        self.requestQueue = requestQueue
        self.accounts = accounts
        self.connections = connections
        self.requests = requests
        self.inflight = inflight
        self.atOnce = atOnce
        self.minValidityMilliseconds = minValidityMilliseconds
        self.maxWaitMilliseconds = maxWaitMilliseconds
        self.timeoutMilliseconds = timeoutMilliseconds
        self.verifiers = verifiers
        self.schedule = schedule
    }

    /// Parses a logins file: one `user:password` per line; `#` comments and
    /// blank lines are skipped.
    public static func parseLogins(_ text: String) throws(BurstError) -> [Login] {
        var logins: [Login] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmed()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":"), colon != trimmed.startIndex else {
                throw .badLoginsFile(line: index + 1)
            }
            logins.append(Login(user: String(trimmed[..<colon]), password: String(trimmed[trimmed.index(after: colon)...])))
        }
        guard !logins.isEmpty else { throw .badLoginsFile(line: 0) }
        return logins
    }
}

public enum BurstError: Error, Equatable, CustomStringConvertible {
    case badLoginsFile(line: Int)

    public var description: String {
        switch self {
        case .badLoginsFile(let line) where line == 0: "the logins file has no user:password line"
        case .badLoginsFile(let line): "the logins file's line \(line) is not user:password"
        }
    }
}

extension StringProtocol {
    func trimmed() -> String {
        let spaces: Set<Character> = [" ", "\t", "\r"]
        return String(drop(while: { spaces.contains($0) }).reversed().drop(while: { spaces.contains($0) }).reversed())
    }
}
