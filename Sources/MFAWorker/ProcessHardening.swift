import CClock

#if canImport(Glibc)
import Glibc
#endif

/// What `run` does to the process before any secret is read.
public enum ProcessHardening {
    /// The core-file limit found at start, to give back with
    /// ``allowCoreDumps()``.
    nonisolated(unsafe) private static var savedCoreLimit = rlimit()

    /// No core dump can hold a key: the process is not dumpable (no core
    /// file, no ptrace or /proc/PID/mem by other processes of the user) and
    /// its core-file limit is 0. A stdout whose reader went away no longer
    /// kills it (SIGPIPE is ignored: a write fails instead, and the service
    /// goes on and stops gracefully on its signal).
    public static func apply() {
        signal(SIGPIPE, SIG_IGN)
        getrlimit(Int32(RLIMIT_CORE.rawValue), &savedCoreLimit)
        var none = rlimit(rlim_cur: 0, rlim_max: savedCoreLimit.rlim_max)
        setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
        _ = mfa_set_dumpable(0)
    }

    /// `allow_core_dumps: true`, for debugging: as the process was.
    public static func allowCoreDumps() {
        setrlimit(Int32(RLIMIT_CORE.rawValue), &savedCoreLimit)
        _ = mfa_set_dumpable(1)
    }

    /// Whether the process may dump core now.
    public static var isDumpable: Bool { mfa_get_dumpable() == 1 }
}
