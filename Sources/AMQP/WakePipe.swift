#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking, close-on-exec pipe: one thread polls `reader` (with a
/// connection's socket, see ``AMQPConnection/waitForInput(orReadable:timeoutMilliseconds:)``),
/// others wake it by writing a byte.
public struct WakePipe: Sendable {
    public let reader: Int32
    public let writer: Int32

    public init() {
        var descriptors: [Int32] = [-1, -1]
        _ = pipe(&descriptors)
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        reader = descriptors[0]
        writer = descriptors[1]
    }

    /// Writes one byte (async-signal-safe).
    public func wake(_ byte: UInt8 = 1) {
        var value = byte
        _ = write(writer, &value, 1)
    }

    /// Reads what is there; returns the last byte, if any.
    @discardableResult
    public func drain() -> UInt8? {
        var buffer = [UInt8](repeating: 0, count: 256)
        var last: UInt8?
        while true {
            let count = read(reader, &buffer, buffer.count)
            guard count > 0 else { return last }
            last = buffer[count - 1]
        }
    }

    public func close() {
        Glibc.close(reader)
        Glibc.close(writer)
    }
}
