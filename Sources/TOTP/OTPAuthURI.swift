/// An `otpauth://totp/` URI, as in a QR code from an enrolment page:
/// `otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30`.
///
/// Only the TOTP type is read; `hotp` URIs are refused. Parameter names are
/// case-sensitive lower case as in the Key Uri Format; an unknown parameter
/// (`image`, say) is ignored, a repeated one is an error.
public struct OTPAuthURI: Sendable, CustomStringConvertible {
    /// The decoded key.
    public let key: SecretKey
    /// Algorithm, digits and period, defaults filled in.
    public let parameters: TOTPParameters
    /// The account part of the label (after `Issuer:`), percent-decoded.
    public let accountName: String
    /// The issuer: the `issuer` parameter, else the label's prefix, else nil.
    public let issuer: String?

    /// Parses `text`. Errors never quote the secret.
    public init(_ text: String) throws(OTPAuthURIError) {
        let trimmed = text.trimmingASCIIWhitespace()
        let scheme = "otpauth://"
        guard trimmed.utf8.count > scheme.utf8.count,
            trimmed.prefix(scheme.count).lowercased() == scheme
        else {
            throw .notOTPAuth
        }
        let rest = trimmed.dropFirst(scheme.count)
        guard let slash = rest.firstIndex(of: "/") else { throw .missingLabel }
        let type = rest[..<slash].lowercased()
        guard type == "totp" else {
            throw type == "hotp" ? .unsupportedType("hotp") : .unsupportedType(String(type.prefix(16)))
        }
        let afterType = rest[rest.index(after: slash)...]
        let rawLabel: Substring
        let rawQuery: Substring
        if let question = afterType.firstIndex(of: "?") {
            rawLabel = afterType[..<question]
            rawQuery = afterType[afterType.index(after: question)...]
        } else {
            rawLabel = afterType
            rawQuery = ""
        }

        guard let label = PercentDecoding.decode(rawLabel) else { throw .badPercentEncoding(part: "label") }
        var labelIssuer: String?
        var accountName = label
        if let colon = label.firstIndex(of: ":") {
            labelIssuer = String(label[..<colon])
            accountName = String(label[label.index(after: colon)...].drop(while: { $0 == " " }))
        }

        var values: [String: String] = [:]
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let nameAndValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(nameAndValue[0])
            guard let value = PercentDecoding.decode(nameAndValue.count > 1 ? nameAndValue[1] : "") else {
                throw .badPercentEncoding(part: name == "secret" ? "secret" : "parameter \(name.prefix(32))")
            }
            guard values[name] == nil else { throw .repeatedParameter(String(name.prefix(32))) }
            values[name] = value
        }

        guard let secretText = values["secret"], !secretText.isEmpty else { throw .missingSecret }
        let keyBytes: [UInt8]
        do { keyBytes = try Base32.decode(secretText) } catch { throw .badSecret(error) }

        var algorithm = HashAlgorithm.sha1
        if let name = values["algorithm"] {
            guard let parsed = HashAlgorithm(name: name) else { throw .badAlgorithm }
            algorithm = parsed
        }
        var digits = 6
        if let text = values["digits"] {
            guard let parsed = Int(text) else { throw .badNumber("digits") }
            digits = parsed
        }
        var period = 30
        if let text = values["period"] {
            guard let parsed = Int(text) else { throw .badNumber("period") }
            period = parsed
        }
        do {
            parameters = try TOTPParameters(algorithm: algorithm, digits: digits, period: period)
        } catch {
            throw .badParameter(error)
        }

        let issuerParameter = values["issuer"]
        if let issuerParameter, let labelIssuer, issuerParameter != labelIssuer {
            throw .issuerMismatch
        }
        self.key = SecretKey(bytes: keyBytes)
        self.accountName = accountName
        self.issuer = issuerParameter ?? labelIssuer
    }

    public var description: String {
        "otpauth://totp/\(issuer.map { "\($0):" } ?? "")\(accountName) (\(parameters), key redacted)"
    }
}

/// Why a text is not a usable `otpauth://totp/` URI. Never quotes the secret.
public enum OTPAuthURIError: Error, Equatable, CustomStringConvertible {
    case notOTPAuth
    case unsupportedType(String)
    case missingLabel
    case badPercentEncoding(part: String)
    case repeatedParameter(String)
    case missingSecret
    case badSecret(Base32Error)
    case badAlgorithm
    case badNumber(String)
    case badParameter(TOTPParameterError)
    case issuerMismatch

    public var description: String {
        switch self {
        case .notOTPAuth: "not an otpauth:// URI"
        case .unsupportedType(let type): "otpauth type '\(type)' is not supported; only totp is"
        case .missingLabel: "otpauth URI has no type and label (otpauth://totp/LABEL?secret=...)"
        case .badPercentEncoding(let part): "otpauth URI: bad percent-encoding in the \(part)"
        case .repeatedParameter(let name): "otpauth URI: parameter '\(name)' appears more than once"
        case .missingSecret: "otpauth URI has no secret parameter"
        case .badSecret(let error): "otpauth URI secret: \(error)"
        case .badAlgorithm: "otpauth URI: algorithm must be SHA1, SHA256 or SHA512"
        case .badNumber(let name): "otpauth URI: \(name) is not a whole number"
        case .badParameter(let error): "otpauth URI: \(error)"
        case .issuerMismatch: "otpauth URI: the issuer parameter differs from the label's issuer prefix"
        }
    }
}

/// RFC 3986 percent-decoding into UTF-8 text; nil for a malformed `%` escape
/// or bytes that are not UTF-8.
enum PercentDecoding {
    static func decode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        return String(self.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
