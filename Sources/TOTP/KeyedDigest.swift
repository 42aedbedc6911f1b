import COpenSSL

/// HMAC under a secret key for purposes other than codes: a value that
/// anyone holding the key computes alike and no one without it can.
public enum KeyedDigest {
    /// HMAC-SHA256 of `message` under `key` (32 bytes).
    public static func sha256(key: SecretKey, message: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let produced = key.withUnsafeBytes { keyBytes in
            message.withUnsafeBufferPointer { messageBytes in
                HMAC(EVP_sha256(), keyBytes.baseAddress, Int32(keyBytes.count), messageBytes.baseAddress, messageBytes.count, &digest, &length)
            }
        }
        precondition(produced != nil && length == 32, "HMAC-SHA256 failed")
        return digest
    }
}
