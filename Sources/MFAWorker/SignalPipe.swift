import AMQP

#if canImport(Glibc)
import Glibc
#endif

/// Delivers SIGINT, SIGTERM and SIGHUP as bytes on a pipe.
///
/// A handler that only `write`s (async-signal-safe) works whichever thread
/// the kernel picks, which matters here: the Swift runtime starts threads
/// of its own before `run` can block signals in them.
enum SignalPipe {
    nonisolated(unsafe) private static var pipe: WakePipe?
    nonisolated(unsafe) private static var writer: Int32 = -1

    /// Installs the handlers once; returns the descriptor to poll.
    static func install() -> Int32 {
        if let pipe { return pipe.reader }
        let created = WakePipe()
        pipe = created
        writer = created.writer
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(SignalPipe.writer, &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
        return created.reader
    }

    /// Waits up to `milliseconds` for the next signal.
    static func next(within milliseconds: Int32) -> Int32? {
        guard let pipe else { return nil }
        var descriptor = pollfd(fd: pipe.reader, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, milliseconds) > 0 else { return nil }
        var byte: UInt8 = 0
        guard read(pipe.reader, &byte, 1) == 1 else { return nil }
        return Int32(byte)
    }
}
