/// Direct reply-to names (`amq.rabbitmq.reply-to.<pid>.<key>`), read as
/// strictly as RabbitMQ writes them.
///
/// RabbitMQ gives a requester that consumes from `amq.rabbitmq.reply-to` a
/// name that encodes its channel: the base64 of an Erlang pid whose node is
/// `reply@<hash of the node name>`, a dot, and a random key. A publish to
/// such a name is decoded by the publisher's channel; RabbitMQ 3.10 (as
/// measured here) closes the publisher's whole connection (541
/// INTERNAL_ERROR) when the pid
/// part is not one their encoder writes, or names a node hash that is not a
/// running node of the cluster. A requester that forges a name would thus
/// cut the worker's connection, and everything published on it after its
/// reply. So the worker answers a direct reply-to name only when it has the
/// exact shape of the broker's encoder (``classify(_:)``) and its node is
/// running (checked once by ``probeName(node:)`` on a connection of its
/// own, then cached).
public enum DirectReplyTo {
    /// What the requester sets as `reply_to`; the broker replaces it with a
    /// name of its own.
    public static let pseudoQueue = "amq.rabbitmq.reply-to"

    public enum Name: Sendable, Equatable {
        /// An ordinary queue name.
        case ordinary
        /// Starts like a direct reply-to name but is not one the broker
        /// writes: never published to.
        case malformed
        /// A well-formed name on the node whose hash is this (decimal
        /// digits): usable when that node runs.
        case node(String)
    }

    public static func classify(_ name: String) -> Name {
        let bytes = Array(name.utf8)
        let prefix = Array((pseudoQueue).utf8)
        guard bytes.starts(with: prefix) else { return .ordinary }
        // "amq.rabbitmq.reply-to" followed by anything but ".<pid>.<key>".
        guard bytes.count > prefix.count + 1, bytes[prefix.count] == UInt8(ascii: "."), bytes.count <= 255 else { return .malformed }
        let rest = bytes[(prefix.count + 1)...]
        let parts = rest.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty, parts[1].count <= 64, parts[1].allSatisfy(isBase64Byte),
            let pid = decodeBase64(parts[0])
        else { return .malformed }
        return node(ofPid: pid).map { .node($0) } ?? .malformed
    }

    /// A name on `node` that reaches no channel: a publish to it tells
    /// whether the broker knows the node (the connection survives) without
    /// delivering anything to anyone.
    public static func probeName(node: String) -> String {
        let nodeName = Array(("reply@" + node).utf8)
        var pid: [UInt8] = [131, 88, 118, UInt8(nodeName.count >> 8), UInt8(nodeName.count & 0xFF)]
        pid += nodeName
        pid += [UInt8](repeating: 0, count: 12)
        return pseudoQueue + "." + encodeBase64(pid) + "." + encodeBase64(Array("mfa-worker-probe".utf8))
    }

    /// `131, 88 (NEW_PID_EXT), 118 (ATOM_UTF8_EXT), length (2 bytes),
    /// "reply@<digits>", id, serial, creation (4 bytes each)`: what
    /// RabbitMQ's encoder writes, and nothing else.
    static func node(ofPid pid: [UInt8]) -> String? {
        guard pid.count >= 5, pid[0] == 131, pid[1] == 88, pid[2] == 118 else { return nil }
        let length = Int(pid[3]) << 8 | Int(pid[4])
        guard pid.count == 5 + length + 12 else { return nil }
        let name = pid[5..<(5 + length)]
        let prefix = Array("reply@".utf8)
        guard name.starts(with: prefix) else { return nil }
        let digits = name.dropFirst(prefix.count)
        // erlang:phash2 gives 0 to 2^27 - 1, written without leading zeros.
        guard (1...9).contains(digits.count), digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            digits.first != UInt8(ascii: "0") || digits.count == 1
        else { return nil }
        return String(decoding: digits, as: UTF8.self)
    }

    // MARK: - Base64 (RFC 4648, standard alphabet, padded)

    static func isBase64Byte(_ byte: UInt8) -> Bool {
        sextet(byte) != nil || byte == UInt8(ascii: "=")
    }

    @inline(__always)
    static func sextet(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }

    /// Strict: a length that is a multiple of 4, `=` only as the last one
    /// or two characters, and no bits set past the data.
    static func decodeBase64(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard !text.isEmpty, text.count % 4 == 0 else { return nil }
        let padding = text.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        guard padding <= 2 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in text.dropLast(padding) {
            guard let value = sextet(byte) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> UInt32(bits)) & 0xFF))
            }
        }
        // The leftover bits must be zero (one encoding per byte string).
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }

    static func encodeBase64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = UInt32(0)
            for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << UInt32(16 - 8 * offset) }
            for position in 0..<4 {
                if position <= chunk.count {
                    out.append(alphabet[Int((value >> UInt32(18 - 6 * position)) & 0x3F)])
                } else {
                    out.append(UInt8(ascii: "="))
                }
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
