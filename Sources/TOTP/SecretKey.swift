import COpenSSL

/// The shared secret of a TOTP account: raw key bytes.
///
/// The bytes live in memory of their own that is wiped when the last copy of
/// the key goes away, and the key never describes itself: printing,
/// interpolating or dumping a `SecretKey` shows only its length, so a key
/// cannot reach a log line or an error message by accident.
public struct SecretKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let storage: Storage

    /// Copies `bytes` into wiped-on-release memory.
    public init<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        storage = Storage(copying: bytes)
    }

    /// Number of bytes in the key.
    public var count: Int { storage.count }

    /// Number of bits in the key.
    public var bitCount: Int { storage.count * 8 }

    /// Calls `body` with the key bytes. The buffer must not escape `body`.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage.buffer))
    }

    /// Compares two keys in constant time.
    public func constantTimeEquals(_ other: SecretKey) -> Bool {
        guard count == other.count else { return false }
        if count == 0 { return true }
        return CRYPTO_memcmp(storage.buffer.baseAddress, other.storage.buffer.baseAddress, count) == 0
    }

    public var description: String { "SecretKey(\(bitCount) bits, redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["bits": bitCount]) }

    /// Owns the bytes. Immutable after `init`, so sharing it across threads is
    /// safe; `deinit` overwrites the bytes before freeing them.
    private final class Storage: @unchecked Sendable {
        private let allocation: UnsafeMutableRawBufferPointer
        /// The key bytes: the first `count` bytes of the allocation.
        let buffer: UnsafeMutableRawBufferPointer
        var count: Int { buffer.count }

        init<Bytes: Collection>(copying bytes: Bytes) where Bytes.Element == UInt8 {
            // Never allocate zero bytes, so that `baseAddress` is never nil.
            allocation = .allocate(byteCount: max(bytes.count, 1), alignment: 16)
            allocation.initializeMemory(as: UInt8.self, repeating: 0)
            buffer = UnsafeMutableRawBufferPointer(rebasing: allocation[0..<bytes.count])
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }

        deinit {
            OPENSSL_cleanse(allocation.baseAddress, allocation.count)
            allocation.deallocate()
        }
    }
}

/// Wiping the bytes a secret passed through on its way to a ``SecretKey``
/// (a file's text, base32 before decoding).
public enum SecretBytes {
    /// Overwrites every byte of `bytes` (in place: the caller holds the only
    /// copy), then empties it.
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { OPENSSL_cleanse(base, raw.count) }
        }
        bytes.removeAll()
    }
}
