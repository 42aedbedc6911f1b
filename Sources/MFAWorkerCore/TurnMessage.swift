import MFAConfig
import MFAProtocol

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

    public init(
        replyTo: String, correlationID: [UInt8]?, requester: String, account: String, minValidityMilliseconds: Int64, maxWaitMilliseconds: Int64,
        receivedMilliseconds: Int64
    ) {
        self.replyTo = replyTo
        self.correlationID = correlationID
        self.requester = requester
        self.account = account
        self.minValidityMilliseconds = minValidityMilliseconds
        self.maxWaitMilliseconds = maxWaitMilliseconds
        self.receivedMilliseconds = receivedMilliseconds
    }

    /// How much longer the requester waits at `now`; never negative, and
    /// never more than it asked for, whatever the clocks say.
    public func waitLeft(at now: Int64) -> Int64 {
        let waited = now.subtractingReportingOverflow(receivedMilliseconds)
        let elapsed = waited.overflow ? (now < receivedMilliseconds ? 0 : Int64.max) : max(0, waited.partialValue)
        return max(0, maxWaitMilliseconds - min(elapsed, maxWaitMilliseconds))
    }

    var body: TurnBody.Request {
        TurnBody.Request(
            requester: requester, account: account, minValidityMilliseconds: minValidityMilliseconds,
            maxWaitMilliseconds: maxWaitMilliseconds, receivedMilliseconds: receivedMilliseconds
        )
    }
}

/// The messages of an account's turn queue, told apart by their AMQP
/// `type`. None carries a secret or a code.
public enum TurnMessage: Sendable, Equatable {
    /// A request waiting for its turn. `reply_to` and `correlation_id` ride
    /// in the message's own properties; the rest in a JSON body.
    case request(TurnRequest)
    /// The windows of `account` handed out so far (the ledger), written by
    /// the holder before any of their codes leaves. `holder` tells a holder
    /// its own.
    case record(holder: String, account: String, windows: [UInt64])
    /// A marker a new holder sends itself: once it comes back, every record
    /// written before it has been delivered.
    case fence(id: String)

    public static let requestType = "mfa-turn-request"
    public static let recordType = "mfa-turn-record"
    public static let fenceType = "mfa-turn-fence"
    public static let types: Set<String> = [requestType, recordType, fenceType]

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
        switch self {
        case .request(let turn):
            TurnBody.encode(turn.body)
        case .record(let holder, let account, let windows):
            TurnBody.encode(TurnBody.Record(holder: holder, account: account, windows: windows))
        case .fence:
            []
        }
    }

    /// `message_id`: the fence's id; nothing for the others.
    public var messageID: String? {
        if case .fence(let id) = self { return id }
        return nil
    }

    /// Reads a turn-queue message back, strictly; nil for anything that is
    /// not a well-formed turn, record or fence with every field in range.
    /// Who sent it is not checked here: see ``TurnQueueGuard``.
    public static func decode(type: String?, messageID: String?, replyTo: String?, correlationID: [UInt8]?, body: [UInt8]) -> TurnMessage? {
        switch type {
        case requestType:
            guard let replyTo, !replyTo.isEmpty, replyTo.utf8.count <= TurnBody.largestNameBytes,
                (correlationID?.count ?? 0) <= ProtocolConstants.maxCorrelationIDBytes,
                let request = TurnBody.decodeRequest(body)
            else { return nil }
            return .request(
                TurnRequest(
                    replyTo: replyTo, correlationID: correlationID, requester: request.requester, account: request.account,
                    minValidityMilliseconds: request.minValidityMilliseconds, maxWaitMilliseconds: request.maxWaitMilliseconds,
                    receivedMilliseconds: request.receivedMilliseconds
                ))
        case recordType:
            guard let record = TurnBody.decodeRecord(body) else { return nil }
            return .record(holder: record.holder, account: record.account, windows: record.windows)
        case fenceType:
            guard let messageID, !messageID.isEmpty, messageID.utf8.count <= TurnBody.largestNameBytes,
                messageID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), body.isEmpty
            else { return nil }
            return .fence(id: messageID)
        default:
            return nil
        }
    }

    /// The account a turn or a record is about; nil for a fence.
    var account: String? {
        switch self {
        case .request(let turn): turn.account
        case .record(_, let account, _): account
        case .fence: nil
        }
    }
}

/// Why a message in a turn queue was dropped unread: acknowledged, answered
/// nothing, changing nothing.
public enum TurnDrop: String, Error, Sendable, CaseIterable {
    /// Its `user_id` is not a worker login: anyone with write on the
    /// default exchange can publish into a turn queue, and only `user_id`
    /// is checked by the broker.
    case untrustedSender = "untrusted_sender"
    /// Not a well-formed turn, record or fence (from a worker: a bug, or
    /// another version).
    case undecodable
    /// A turn or record about another account than the queue's.
    case wrongAccount = "wrong_account"
}

/// The gate of one turn queue: what a worker believes of a message it
/// reads there. Only messages published by a worker login (the broker
/// checks `user_id` against the login of the connection that published)
/// are read; of those, only well-formed ones about this queue's accounts
/// (or, for a turn, its pool) count.
public struct TurnQueueGuard: Sendable {
    /// The names a turn may ask for: the accounts, and the pool.
    public let names: [String]
    private let accounts: Set<[UInt8]>
    private let turnNames: Set<[UInt8]>
    /// Two user names are the same only when their bytes are.
    private let workerLogins: Set<UserName>

    public init(account: String, workerLogins: some Sequence<String>) {
        self.init(accounts: [account], pool: nil, workerLogins: workerLogins)
    }

    public init(accounts: [String], pool: String?, workerLogins: some Sequence<String>) {
        names = accounts + (pool.map { [$0] } ?? [])
        self.accounts = Set(accounts.map { Array($0.utf8) })
        turnNames = Set(names.map { Array($0.utf8) })
        self.workerLogins = Set(workerLogins.map(UserName.init))
    }

    public func admit(
        userID: String?, type: String?, messageID: String?, replyTo: String?, correlationID: [UInt8]?, body: [UInt8]
    ) -> Result<TurnMessage, TurnDrop> {
        guard let userID, workerLogins.contains(UserName(userID)) else { return .failure(.untrustedSender) }
        guard let message = TurnMessage.decode(type: type, messageID: messageID, replyTo: replyTo, correlationID: correlationID, body: body) else {
            return .failure(.undecodable)
        }
        switch message {
        case .request(let turn) where !turnNames.contains(Array(turn.account.utf8)):
            return .failure(.wrongAccount)
        case .record(_, let account, _) where !accounts.contains(Array(account.utf8)):
            return .failure(.wrongAccount)
        default:
            return .success(message)
        }
    }
}
