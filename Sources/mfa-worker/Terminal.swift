import Foundation

/// What the command line needs of a terminal: is it one, reading a line
/// without echo, and waiting for Enter with a timeout.
enum Terminal {
    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// Reads one line from stdin. On a terminal, echo is off while typing
    /// (and restored afterwards, on ^C too).
    static func readSecretLine(prompt: String) -> String? {
        guard isTerminal(STDIN_FILENO) else {
            return readLine(strippingNewline: true)
        }
        FileHandle.standardError.write(Data(prompt.utf8))
        var original = termios()
        guard tcgetattr(STDIN_FILENO, &original) == 0 else { return readLine(strippingNewline: true) }
        savedAttributes = original
        signal(SIGINT) { _ in
            if var saved = Terminal.savedAttributes { tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
            _exit(130)
        }
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        silent.c_lflag |= tcflag_t(ECHONL)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &original)
            signal(SIGINT, SIG_DFL)
            savedAttributes = nil
        }
        return readLine(strippingNewline: true)
    }

    /// Waits up to `milliseconds` for a line on stdin; true when one came.
    static func lineArrived(within milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, milliseconds) > 0 else { return false }
        _ = readLine()
        return true
    }

    nonisolated(unsafe) private static var savedAttributes: termios?
}
