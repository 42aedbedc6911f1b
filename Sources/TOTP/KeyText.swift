/// A key as an operator supplies it: a base32 string (with or without
/// spaces, any case) or an `otpauth://totp/` URI that also carries the
/// parameters.
public struct KeyText: Sendable {
    /// The decoded key.
    public let key: SecretKey
    /// The URI's parameters when the text was an `otpauth://` URI.
    public let uriParameters: TOTPParameters?

    private init(key: SecretKey, uriParameters: TOTPParameters?) {
        self.key = key
        self.uriParameters = uriParameters
    }

    /// Reads `text`, deciding by its prefix whether it is a URI.
    public init(_ text: String) throws(KeyTextError) {
        let trimmed = text.trimmingASCIIWhitespace()
        if trimmed.lowercased().hasPrefix("otpauth:") {
            do {
                let uri = try OTPAuthURI(trimmed)
                key = uri.key
                uriParameters = uri.parameters
            } catch {
                throw .uri(error)
            }
        } else {
            do {
                key = SecretKey(bytes: try Base32.decode(trimmed))
                uriParameters = nil
            } catch {
                throw .base32(error)
            }
        }
    }
}

extension KeyText {
    /// Reads a key from UTF-8 bytes the caller wipes afterwards. Base32 is
    /// decoded from the bytes themselves, and the decoded bytes are wiped
    /// once in the key; an `otpauth://` URI goes through a `String` (its
    /// parser reads one), which cannot be wiped.
    public init(utf8 bytes: [UInt8]) throws(KeyTextError) {
        var start = 0
        while start < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[start]) { start += 1 }
        let scheme = Array("otpauth:".utf8)
        let isURI =
            bytes.count - start >= scheme.count
            && zip(bytes[start...], scheme).allSatisfy { byte, letter in (byte | 0x20) == letter || byte == letter }
        if isURI {
            try self.init(String(decoding: bytes, as: UTF8.self))
            return
        }
        var decoded: [UInt8]
        do {
            decoded = try Base32.decode(utf8: bytes)
        } catch {
            throw .base32(error)
        }
        self.init(key: SecretKey(bytes: decoded), uriParameters: nil)
        SecretBytes.wipe(&decoded)
    }
}

/// Why a key text cannot be used.
public enum KeyTextError: Error, Equatable, CustomStringConvertible {
    case base32(Base32Error)
    case uri(OTPAuthURIError)

    public var description: String {
        switch self {
        case .base32(let error): "not a valid base32 key: \(error)"
        case .uri(let error): error.description
        }
    }
}

/// RFC 4226 section 4 asks for keys of at least 128 bits; the service
/// refuses keys under 80 bits and warns under 128.
public enum KeyStrength: Sendable, Equatable {
    case acceptable
    case weak(bits: Int)
    case tooShort(bits: Int)

    public static let minimumBits = 80
    public static let recommendedBits = 128

    public init(_ key: SecretKey) {
        if key.bitCount < Self.minimumBits {
            self = .tooShort(bits: key.bitCount)
        } else if key.bitCount < Self.recommendedBits {
            self = .weak(bits: key.bitCount)
        } else {
            self = .acceptable
        }
    }
}
