import Foundation

/// Child processes through posix_spawn and waitpid.
///
/// Foundation's Process reaps children from a monitor of its own; in the
/// fault tests a child sometimes stayed a zombie and waitUntilExit never
/// returned. Reaping our own children ourselves cannot miss one.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?

    /// Starts `executable`; stdout and stderr go to `outputPath` and
    /// `errorPath` (appended), stdin reads `stdin` (then end of file).
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdin: String? = nil, outputPath: String, errorPath: String
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }

        let inputPath = NSTemporaryDirectory() + "mfa-stdin-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: inputPath, contents: Data((stdin ?? "").utf8))
        defer { unlink(inputPath) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let environmentList = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            environmentList.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environmentList)
        guard result == 0 else {
            throw NSError(
                domain: "spawn", code: Int(result), userInfo: [NSLocalizedDescriptionKey: "cannot start \(executable): \(String(cString: strerror(result)))"])
        }
        self.pid = pid
    }

    /// The exit status (or 128 + signal) once the child ended, else nil.
    public var exitStatus: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid {
            let signal = raw & 0x7F
            status = signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
        }
        return status
    }

    public var isRunning: Bool { exitStatus == nil }

    /// Waits up to `timeout` seconds for the end; the status, or nil.
    @discardableResult
    public func wait(timeout: TimeInterval = .infinity) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let status = exitStatus { return status }
            if Date() >= deadline { return nil }
            usleep(10_000)
        }
    }

    public func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }
}
