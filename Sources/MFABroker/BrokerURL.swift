/// An AMQP URI as RabbitMQ documents it:
/// `amqp[s]://[user[:password]@]host[:port][/vhost]`.
///
/// User, password and vhost are percent-decoded (`%2F` is the default vhost
/// `/`). The description never shows the password.
public struct BrokerURL: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var tls: Bool
    public var host: String
    public var port: Int
    public var vhost: String
    public var user: String?
    public var password: String?

    public init(tls: Bool = false, host: String, port: Int? = nil, vhost: String = "/", user: String? = nil, password: String? = nil) {
        self.tls = tls
        self.host = host
        self.port = port ?? (tls ? 5671 : 5672)
        self.vhost = vhost
        self.user = user
        self.password = password
    }

    public init(parsing text: String) throws(BrokerURLError) {
        let parts = text.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .notAnAMQPURL }
        let scheme = parts[0]
        let rest = parts[1]
        switch scheme.lowercased() {
        case "amqp": tls = false
        case "amqps": tls = true
        default: throw .notAnAMQPURL
        }
        guard !rest.contains("?"), !rest.contains("#") else { throw .queryNotSupported }

        let authority: Substring
        var path: Substring?
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        } else {
            authority = rest
        }

        var hostPort = authority
        user = nil
        password = nil
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                guard let decodedUser = percentDecode(userInfo[..<colon]),
                    let decodedPassword = percentDecode(userInfo[userInfo.index(after: colon)...])
                else {
                    throw .badPercentEncoding("user or password")
                }
                user = decodedUser
                password = decodedPassword
            } else {
                guard let decodedUser = percentDecode(userInfo) else { throw .badPercentEncoding("user") }
                user = decodedUser
            }
            if user?.isEmpty == true { user = nil }
        }

        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw .badHost }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { throw .badHost }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = String(hostPort)
        }
        guard !host.isEmpty else { throw .badHost }
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else { throw .badPort }
            port = value
        } else {
            port = tls ? 5671 : 5672
        }

        if let path, !path.isEmpty {
            guard let decoded = percentDecode(path) else { throw .badPercentEncoding("vhost") }
            vhost = decoded
        } else {
            vhost = "/"
        }
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["tls": tls, "host": host, "port": port, "vhost": vhost, "user": user as Any])
    }

    /// The URL as text, with the password replaced by `***`.
    public var description: String {
        var text = tls ? "amqps://" : "amqp://"
        if let user {
            text += percentEncode(user)
            if password != nil { text += ":***" }
            text += "@"
        }
        text += host.contains(":") ? "[\(host)]" : host
        text += ":\(port)/" + percentEncode(vhost)
        return text
    }
}

public enum BrokerURLError: Error, Equatable, CustomStringConvertible {
    case notAnAMQPURL
    case queryNotSupported
    case badHost
    case badPort
    case badPercentEncoding(String)

    public var description: String {
        switch self {
        case .notAnAMQPURL: "must be an amqp:// or amqps:// URL"
        case .queryNotSupported: "query parameters are not supported in the URL; use the broker.* keys"
        case .badHost: "has no usable host"
        case .badPort: "port must be 1 to 65535"
        case .badPercentEncoding(let part): "bad percent-encoding in the \(part)"
        }
    }
}

func percentDecode(_ text: Substring) -> String? {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        if byte == UInt8(ascii: "%") {
            guard let high = iterator.next().flatMap(hexDigit), let low = iterator.next().flatMap(hexDigit) else { return nil }
            bytes.append(high << 4 | low)
        } else {
            bytes.append(byte)
        }
    }
    return String(validating: bytes, as: UTF8.self)
}

private func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

private func percentEncode(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
        }
    }
    return out
}
