#if canImport(Glibc)
import Glibc
#endif

/// Why a TCP connection to `host:port` fails, in words.
///
/// librabbitmq reports a failed connect only as "a socket error", and its
/// errno is the non-blocking connect's EINPROGRESS. On that path only, this
/// tries once more itself to tell "connection refused" from "timed out" or
/// "no such host".
enum ConnectDiagnosis {
    static func reason(host: String, port: Int, timeoutMilliseconds: Int) -> String {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &results)
        guard resolved == 0, let first = results else {
            return "cannot resolve host name '\(host)': \(String(cString: gai_strerror(resolved)))"
        }
        defer { freeaddrinfo(results) }

        var lastError: Int32 = ETIMEDOUT
        var address: UnsafeMutablePointer<addrinfo>? = first
        while let current = address {
            defer { address = current.pointee.ai_next }
            let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue), current.pointee.ai_protocol)
            guard fd >= 0 else {
                lastError = errno
                continue
            }
            defer { close(fd) }
            if connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 {
                return "the TCP connection succeeded on a second try; the broker may be overloaded or not speaking AMQP"
            }
            guard errno == EINPROGRESS else {
                lastError = errno
                continue
            }
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&descriptor, 1, Int32(clamping: timeoutMilliseconds)) > 0 else {
                lastError = ETIMEDOUT
                continue
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error == 0 {
                return "the TCP connection succeeded on a second try; the broker may be overloaded or not speaking AMQP"
            }
            lastError = error
        }
        return String(cString: strerror(lastError)).lowercased()
    }
}
