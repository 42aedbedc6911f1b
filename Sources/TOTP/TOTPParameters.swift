/// What, besides the key, decides an account's codes.
public struct TOTPParameters: Sendable, Hashable, CustomStringConvertible {
    /// The HMAC hash function (SHA-1 by default).
    public var algorithm: HashAlgorithm
    /// Digits per code: 6 to 8 (6 by default).
    public var digits: Int
    /// Seconds per window: 1 to 3600 (30 by default).
    public var period: Int

    public static let allowedDigits = 6...8
    public static let allowedPeriods = 1...3600

    /// SHA-1, 6 digits, 30 seconds: what Salesforce and authenticator apps use.
    public static let `default` = TOTPParameters(uncheckedAlgorithm: .sha1, digits: 6, period: 30)

    /// Checks the ranges and returns the parameters, or throws a
    /// ``TOTPParameterError`` saying which one is out of range.
    public init(algorithm: HashAlgorithm = .sha1, digits: Int = 6, period: Int = 30) throws(TOTPParameterError) {
        guard Self.allowedDigits.contains(digits) else { throw .digitsOutOfRange(digits) }
        guard Self.allowedPeriods.contains(period) else { throw .periodOutOfRange(period) }
        self.init(uncheckedAlgorithm: algorithm, digits: digits, period: period)
    }

    private init(uncheckedAlgorithm algorithm: HashAlgorithm, digits: Int, period: Int) {
        self.algorithm = algorithm
        self.digits = digits
        self.period = period
    }

    public var description: String { "\(algorithm.rawValue), \(digits) digits, \(period) s" }
}

/// A TOTP parameter outside what RFC 6238 and this service allow.
public enum TOTPParameterError: Error, Equatable, CustomStringConvertible {
    case digitsOutOfRange(Int)
    case periodOutOfRange(Int)

    public var description: String {
        switch self {
        case .digitsOutOfRange(let digits):
            "digits must be 6, 7 or 8, not \(digits)"
        case .periodOutOfRange(let period):
            "period must be 1 to 3600 seconds, not \(period)"
        }
    }
}
