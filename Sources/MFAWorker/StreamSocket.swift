#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket for the first address that a host and a numeric port
/// resolve to, with that address: what the metrics listener binds and what
/// `mfa-worker health` connects to.
public struct StreamSocket {
    /// Close-on-exec; the caller owns it (and closes it).
    public let descriptor: Int32
    private var address = sockaddr_storage()
    private let length: socklen_t

    /// `host` as `127.0.0.1`, `::1` or a name; `port` in `1...65535`.
    /// `passive`: for listening. Fails with the resolver's or the system's
    /// reason.
    public static func open(host: String, port: Int, passive: Bool) -> Result<StreamSocket, StreamSocketError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = (passive ? AI_PASSIVE : 0) | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &results)
        guard resolved == 0, let first = results else {
            return .failure(StreamSocketError(String(cString: gai_strerror(resolved))))
        }
        defer { freeaddrinfo(results) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), first.pointee.ai_protocol)
        guard fd >= 0 else { return .failure(StreamSocketError(String(cString: strerror(errno)))) }
        var socket = StreamSocket(descriptor: fd, length: first.pointee.ai_addrlen)
        withUnsafeMutableBytes(of: &socket.address) { storage in
            storage.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        return .success(socket)
    }

    private init(descriptor: Int32, length: socklen_t) {
        self.descriptor = descriptor
        self.length = length
    }

    /// `bind` to the address; false with `errno` set when it fails.
    public func bind() -> Bool {
        withAddress { Glibc.bind(descriptor, $0, $1) == 0 }
    }

    /// `connect` to the address; false with `errno` set when it fails.
    public func connect() -> Bool {
        withAddress { Glibc.connect(descriptor, $0, $1) == 0 }
    }

    private func withAddress(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Bool) -> Bool {
        withUnsafeBytes(of: address) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}

public struct StreamSocketError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
