import AMQP
import MFAConfig

/// The settings the consumer threads run with, derived once from the
/// configuration: plain values, shared by every thread.
public struct WorkerRuntime: Sendable {
    /// One per `broker.url`, in order (a cluster's nodes).
    public var endpoints: [ConnectionSettings]
    public var queue: RequestQueueSettings
    public var prefetch: Int
    public var publisherConfirms: Bool
    public var reconnectInitialMilliseconds: Int
    public var reconnectMaxMilliseconds: Int
    public var shutdownTimeoutMilliseconds: Int
    public var workers: Int
    /// The `once_per_window` accounts, each with a turn queue.
    public var turnAccounts: [String]
    /// Their turn queues, by account.
    public var turnQueues: [String: String]
    /// Each turn queue with the accounts (and pool) it decides for.
    public var turnGroups: [TurnGroup]
    /// The broker user this worker logs in as: the `user_id` of everything
    /// it publishes.
    public var login: String
    /// The logins whose turn-queue messages are believed.
    public var workerLogins: [String]
    /// `turns.max_per_requester`.
    public var maxTurnsPerRequester: Int
    /// The broker's `consumer_timeout` in ms; 0: none.
    public var consumerTimeoutMilliseconds: Int

    public init(_ loaded: LoadedConfiguration, workers: Int? = nil) {
        let configuration = loaded.configuration
        let broker = configuration.broker
        let tls = broker.tls
        endpoints = broker.urls.map { url in
            var settings = url.connectionSettings(
                password: loaded.brokerPassword?.text,
                heartbeatSeconds: broker.heartbeatSeconds,
                tls: ConnectionSettings.TLS(
                    caFile: tls.caFile, certFile: tls.certFile, keyFile: loaded.tlsKeyPath ?? tls.keyFile,
                    verifyPeer: tls.verifyPeer, verifyHostname: tls.verifyHostname
                ),
                timeoutMilliseconds: broker.connectTimeoutMilliseconds,
                connectionName: "mfa-worker"
            )
            if tls.external {
                settings.credentials = .external(identity: url.user ?? "mfa-worker")
            }
            return settings
        }
        queue = configuration.requestQueue
        prefetch = broker.prefetch
        publisherConfirms = broker.publisherConfirms
        reconnectInitialMilliseconds = broker.reconnectInitialMilliseconds
        reconnectMaxMilliseconds = broker.reconnectMaxMilliseconds
        shutdownTimeoutMilliseconds = configuration.shutdownTimeoutSeconds * 1000
        self.workers = workers ?? configuration.workers ?? System.coreCount
        turnAccounts = loaded.oncePerWindowAccounts
        turnQueues = loaded.turnQueues
        turnGroups = loaded.turnGroups
        login = broker.login
        workerLogins = loaded.workerLogins
        maxTurnsPerRequester = configuration.turns.maxPerRequester
        consumerTimeoutMilliseconds = broker.consumerTimeoutMilliseconds
    }

    /// The same settings with the connections named `name` (told apart
    /// from the consumer threads' in the broker's connection list).
    func naming(connections name: String) -> WorkerRuntime {
        var named = self
        for index in named.endpoints.indices { named.endpoints[index].connectionName = name }
        return named
    }

    /// The request queue's `x-` arguments, as the configuration gives them.
    /// A classic queue is declared without `x-queue-type`, as most tools do.
    public var queueArguments: [(String, FieldValue)] {
        var arguments: [(String, FieldValue)] = []
        if queue.type == .quorum { arguments.append(("x-queue-type", .string("quorum"))) }
        if let dlx = queue.deadLetterExchange { arguments.append(("x-dead-letter-exchange", .string(dlx))) }
        if let maxLength = queue.maxLength { arguments.append(("x-max-length", .int(Int64(maxLength)))) }
        if let overflow = queue.overflow { arguments.append(("x-overflow", .string(overflow.rawValue))) }
        return arguments
    }

    /// The turn queue of a `once_per_window` account (a reload cannot
    /// add, remove or re-key one); nil for any other account.
    public func turnQueueName(_ account: String) -> String? {
        turnQueues[account]
    }

    /// Declares an account's turn queue: a durable quorum queue (it
    /// outlives a node) with a single active consumer (one worker at a time
    /// gives the account's windows out).
    public func declareTurnQueue(_ queue: String, on connection: AMQPConnection) throws(AMQPError) {
        try connection.declareQueue(
            queue, durable: true,
            arguments: [
                ("x-queue-type", .string("quorum")),
                ("x-single-active-consumer", .bool(true)),
            ])
    }

    /// The guard log: login outcomes, handouts and pauses (``GuardBook``).
    public var guardQueue: String { queue.name + ".guard" }

    /// Declares the guard log: a stream (every replica reads all of it; it
    /// keeps two days, more than a pause and what led to it can span).
    public func declareGuardQueue(on connection: AMQPConnection) throws(AMQPError) {
        try connection.declareQueue(
            guardQueue, durable: true,
            arguments: [
                ("x-queue-type", .string("stream")),
                ("x-max-age", .string("2D")),
            ])
    }

    /// Declares the request queue: durable, with the configured arguments.
    public func declareRequestQueue(on connection: AMQPConnection) throws(AMQPError) {
        try connection.declareQueue(queue.name, durable: true, arguments: queueArguments)
    }
}

enum System {
    static var coreCount: Int {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 2
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#endif
