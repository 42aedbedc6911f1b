import Foundation

/// A request of a `once_per_window` account, checked and waiting for its
/// turn. The worker that received it writes it to the account's turn queue;
/// whichever worker holds that queue gives it a window.
public struct TurnRequest: Sendable, Equatable {
    public var replyTo: String
    public var correlationID: [UInt8]?
    public var requester: String
    public var account: String
    public var minValidityMilliseconds: Int64
    public var maxWaitMilliseconds: Int64
    /// Unix ms when a worker received the request: its wait counts from here,
    /// whichever worker answers it.
    public var receivedMilliseconds: Int64

    public init(replyTo: String, correlationID: [UInt8]?, requester: String, account: String, minValidityMilliseconds: Int64, maxWaitMilliseconds: Int64, receivedMilliseconds: Int64) {
        self.replyTo = replyTo
        self.correlationID = correlationID
        self.requester = requester
        self.account = account
        self.minValidityMilliseconds = minValidityMilliseconds
        self.maxWaitMilliseconds = maxWaitMilliseconds
        self.receivedMilliseconds = receivedMilliseconds
    }

    /// How much longer the requester waits at `now`.
    public func waitLeft(at now: Int64) -> Int64 {
        max(0, maxWaitMilliseconds - max(0, now - receivedMilliseconds))
    }
}

/// The messages of an account's turn queue, told apart by their AMQP
/// `type`. None carries a secret or a code.
public enum TurnMessage: Sendable, Equatable {
    /// A request waiting for its turn. `reply_to` and `correlation_id` ride
    /// in the message's own properties; the rest in a JSON body.
    case request(TurnRequest)
    /// The windows handed out so far (the ledger), written by the holder
    /// before any of their codes leaves. `holder` tells a holder its own.
    case record(holder: String, windows: [UInt64])
    /// A marker a new holder sends itself: once it comes back, every record
    /// written before it has been delivered.
    case fence(id: String)

    public static let requestType = "mfa-turn-request"
    public static let recordType = "mfa-turn-record"
    public static let fenceType = "mfa-turn-fence"

    /// The AMQP `type` of the message.
    public var type: String {
        switch self {
        case .request: Self.requestType
        case .record: Self.recordType
        case .fence: Self.fenceType
        }
    }

    /// The body (JSON, or empty for a fence).
    public func body() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        switch self {
        case .request(let turn):
            let body = RequestBody(requester: turn.requester, account: turn.account, min_validity_ms: turn.minValidityMilliseconds, max_wait_ms: turn.maxWaitMilliseconds, received_ms: turn.receivedMilliseconds)
            return Array((try? encoder.encode(body)) ?? Data())
        case .record(let holder, let windows):
            return Array((try? encoder.encode(RecordBody(holder: holder, windows: windows))) ?? Data())
        case .fence:
            return []
        }
    }

    /// `message_id`: the fence's id; nothing for the others.
    public var messageID: String? {
        if case .fence(let id) = self { return id }
        return nil
    }

    /// Reads a turn-queue message back; nil for anything it does not know
    /// (which the holder acknowledges and drops).
    public static func decode(type: String?, messageID: String?, replyTo: String?, correlationID: [UInt8]?, body: [UInt8]) -> TurnMessage? {
        let decoder = JSONDecoder()
        switch type {
        case requestType:
            guard let replyTo, !replyTo.isEmpty,
                  let body = try? decoder.decode(RequestBody.self, from: Data(body)) else { return nil }
            return .request(TurnRequest(
                replyTo: replyTo, correlationID: correlationID, requester: body.requester, account: body.account,
                minValidityMilliseconds: body.min_validity_ms, maxWaitMilliseconds: body.max_wait_ms, receivedMilliseconds: body.received_ms
            ))
        case recordType:
            guard let body = try? decoder.decode(RecordBody.self, from: Data(body)) else { return nil }
            return .record(holder: body.holder, windows: body.windows)
        case fenceType:
            guard let messageID, !messageID.isEmpty else { return nil }
            return .fence(id: messageID)
        default:
            return nil
        }
    }

    private struct RequestBody: Codable {
        var requester: String
        var account: String
        var min_validity_ms: Int64
        var max_wait_ms: Int64
        var received_ms: Int64
    }

    private struct RecordBody: Codable {
        var holder: String
        var windows: [UInt64]
    }
}
