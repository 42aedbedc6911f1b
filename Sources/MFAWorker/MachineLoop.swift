import AMQP
import MFAWorkerCore
import TOTP

/// A thread's loop around a pure state machine (``ConsumerMachine``,
/// ``TurnsMachine``): it feeds the machine events and performs the actions
/// it returns. What every such loop does the same way lives here.
protocol MachineLoop: AnyObject {
    associatedtype Event
    var shared: SharedWorkerState { get }
    /// The thread's name, as the service started it (for the generation it reports).
    var threadName: String { get }
    /// The state generation the machine builds replies with.
    var machineGeneration: Int { get }
    func reloaded(_ state: ServiceState) -> Event
    func beginShutdown(now: Int64) -> Event
    /// Feeds one event and performs its actions; true once one is to close.
    func step(_ event: Event, _ connection: AMQPConnection) throws(AMQPError) -> Bool
    /// One turn: the clock, then one event from the broker; true once the
    /// machine asks to close.
    func next(_ connection: AMQPConnection) throws(AMQPError) -> Bool
}

extension MachineLoop {
    /// Serves until the service stops, taking up each reload on the way.
    func serveUntilStopped(_ connection: AMQPConnection) throws(AMQPError) {
        shared.report(thread: threadName, runs: machineGeneration)
        while !shared.isStopping {
            if shared.stateGeneration != machineGeneration {
                _ = try step(reloaded(shared.currentState()), connection)
                // Said once taken up: the service knows when a reload applies.
                shared.report(thread: threadName, runs: machineGeneration)
            }
            _ = try next(connection)
        }
    }

    /// Tells the machine to stop and serves until it asks to close.
    func drain(_ connection: AMQPConnection) throws(AMQPError) {
        var closed = try step(beginShutdown(now: SystemTime.unixMilliseconds()), connection)
        while !closed { closed = try next(connection) }
    }
}
