/// What a reload (SIGHUP) does with a new configuration: a pure function of
/// the running one and the new one.
///
/// Accounts (secrets included), `allow`, `reply` and `rate_limit` apply at
/// once and whole. The `once_per_window` accounts and their keys cannot
/// change (each has a turn queue, named after its key, consumed since
/// start-up): such a reload is refused whole. Everything else is left as it
/// runs, and named as needing a restart.
public enum ReloadPlan: Sendable, Equatable {
    /// Apply the new configuration's accounts, `allow`, `reply` and
    /// `rate_limit`; these sections changed too and need a restart.
    case apply(needsRestart: [String])
    /// Keep the running configuration whole.
    case refuse(reason: String)

    public init(running: LoadedConfiguration, next: LoadedConfiguration) {
        guard next.turnGroups == running.turnGroups else {
            self = .refuse(reason: "the accounts with issue: once_per_window, their pools or their keys changed; that needs a restart")
            return
        }
        let current = running.configuration, incoming = next.configuration
        var restart: [String] = []
        if current.broker != incoming.broker || running.brokerPassword != next.brokerPassword { restart.append("broker") }
        if current.requestQueue != incoming.requestQueue { restart.append("request_queue") }
        if current.metrics != incoming.metrics { restart.append("metrics") }
        if current.audit != incoming.audit { restart.append("audit") }
        if current.workers != incoming.workers { restart.append("workers") }
        if current.log != incoming.log { restart.append("log") }
        if current.shutdownTimeoutSeconds != incoming.shutdownTimeoutSeconds { restart.append("shutdown_timeout_s") }
        if current.turns != incoming.turns { restart.append("turns") }
        if current.allowCoreDumps != incoming.allowCoreDumps { restart.append("allow_core_dumps") }
        self = .apply(needsRestart: restart)
    }
}
