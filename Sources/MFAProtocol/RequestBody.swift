/// The body of an `mfa-code-request`: `{"account": "...", "min_validity_ms": 5000}`.
public struct RequestBody: Sendable, Equatable {
    /// The account whose code is wanted; its syntax is already checked.
    public var account: String
    /// `min_validity_ms`, nil when absent or `null`. Already within 0 to
    /// ``RequestBody/largestMinValidity``; the account's own bound
    /// (`period*1000 - 1000`) is checked after authorisation.
    public var minValidityMilliseconds: Int?
    /// `max_wait_ms`, nil when absent or `null`: how long the requester
    /// waits for its window at most. Already within 0 to
    /// ``RequestBody/largestMaxWait``.
    public var maxWaitMilliseconds: Int?

    public init(account: String, minValidityMilliseconds: Int? = nil, maxWaitMilliseconds: Int? = nil) {
        self.account = account
        self.minValidityMilliseconds = minValidityMilliseconds
        self.maxWaitMilliseconds = maxWaitMilliseconds
    }

    /// The largest bound any account can have: a 3600 s period.
    public static let largestMinValidity = 3_599_000
    /// The largest `max_wait_ms`: an hour.
    public static let largestMaxWait = 3_600_000
    /// Bodies over this many bytes are refused unparsed.
    public static let maxBytes = 4096
}

/// Why a body is not a usable request. Each maps to a `bad_request` with a
/// fixed message: nothing of the body is echoed back.
public enum RequestBodyError: Error, Sendable, Equatable {
    case tooLarge(bytes: Int)
    case notJSON(offset: Int)
    case invalidUTF8(offset: Int)
    case notAnObject
    case tooDeep
    case duplicateKey(offset: Int)
    case accountMissing
    case accountNotString
    case accountSyntax
    case minValidityNotInteger
    case minValidityOutOfRange
    case maxWaitNotInteger
    case maxWaitOutOfRange

    /// The reply's `message`: one line for a person.
    public var message: String {
        switch self {
        case .tooLarge(let bytes): "body is \(bytes) bytes; at most \(RequestBody.maxBytes) are read"
        case .notJSON(let offset): "body is not valid JSON (at byte \(offset))"
        case .invalidUTF8(let offset): "body is not valid UTF-8 (at byte \(offset))"
        case .notAnObject: "body must be one JSON object"
        case .tooDeep: "body nests deeper than \(RequestBodyDecoder.maxDepth) levels"
        case .duplicateKey(let offset): "body has a duplicate key (at byte \(offset))"
        case .accountMissing: "account is missing"
        case .accountNotString: "account must be a string"
        case .accountSyntax: "account must be 1 to 128 characters of A-Z a-z 0-9 . _ @ -"
        case .minValidityNotInteger: "min_validity_ms must be a JSON integer"
        case .minValidityOutOfRange: "min_validity_ms is out of range"
        case .maxWaitNotInteger: "max_wait_ms must be a JSON integer"
        case .maxWaitOutOfRange: "max_wait_ms must be 0 to \(RequestBody.largestMaxWait)"
        }
    }
}
