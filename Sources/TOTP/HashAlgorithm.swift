import COpenSSL

/// The HMAC hash function of an HOTP/TOTP key.
///
/// RFC 6238 allows SHA-1 (the default and what authenticator apps and
/// Salesforce use), SHA-256 and SHA-512.
public enum HashAlgorithm: String, Sendable, CaseIterable, Hashable {
    case sha1 = "SHA1"
    case sha256 = "SHA256"
    case sha512 = "SHA512"

    /// Reads the names used by configuration files and `otpauth://` URIs:
    /// `SHA1`, `SHA256`, `SHA512`, case-insensitively, with or without a dash.
    public init?(name: String) {
        switch name.uppercased().filter({ $0 != "-" }) {
        case "SHA1": self = .sha1
        case "SHA256": self = .sha256
        case "SHA512": self = .sha512
        default: return nil
        }
    }

    /// Length of the HMAC output in bytes.
    public var digestLength: Int {
        switch self {
        case .sha1: 20
        case .sha256: 32
        case .sha512: 64
        }
    }

    var evpMD: OpaquePointer? {
        switch self {
        case .sha1: EVP_sha1()
        case .sha256: EVP_sha256()
        case .sha512: EVP_sha512()
        }
    }
}
