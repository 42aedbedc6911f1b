import COpenSSL

/// RFC 4226 HOTP: an HMAC-based one-time code for a counter value.
public enum HOTP {
    /// The code for `counter` under `key`.
    ///
    /// - Parameters:
    ///   - key: the shared secret.
    ///   - counter: the moving factor (for TOTP, the time step).
    ///   - algorithm: the HMAC hash function.
    ///   - digits: 6 to 8 (RFC 4226 asks for at least 6; 9 is the most a
    ///     31-bit truncation can fill).
    public static func code(
        key: SecretKey,
        counter: UInt64,
        algorithm: HashAlgorithm = .sha1,
        digits: Int = 6
    ) -> OneTimeCode {
        precondition((1...9).contains(digits), "HOTP digits out of range")

        // The counter as 8 bytes, big-endian (RFC 4226 section 5.2).
        var message = counter.bigEndian
        // The largest digest (SHA-512) is 64 bytes.
        var digest: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        let truncated: UInt32 = withUnsafeMutableBytes(of: &digest) { digestBytes in
            var digestLength: UInt32 = 0
            let produced = key.withUnsafeBytes { keyBytes in
                withUnsafeBytes(of: &message) { messageBytes in
                    HMAC(
                        algorithm.evpMD,
                        keyBytes.baseAddress, Int32(keyBytes.count),
                        messageBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), messageBytes.count,
                        digestBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), &digestLength
                    )
                }
            }
            precondition(produced != nil && Int(digestLength) == algorithm.digestLength, "HMAC failed")

            // Dynamic truncation (RFC 4226 section 5.3).
            let offset = Int(digestBytes[Int(digestLength) - 1] & 0x0f)
            return (UInt32(digestBytes[offset] & 0x7f) << 24)
                | (UInt32(digestBytes[offset + 1]) << 16)
                | (UInt32(digestBytes[offset + 2]) << 8)
                | UInt32(digestBytes[offset + 3])
        }
        return OneTimeCode(value: truncated % powersOfTen[digits], digitCount: digits)
    }

    private static let powersOfTen: [UInt32] = [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
    ]
}
