/// A robot's report of how a login went with a code it was handed
/// (`type: mfa-login-outcome`, docs/protocol.md): the account (the member,
/// for a pool) and window of the reply, success or failure, and an
/// optional reason for the audit trail.
public struct LoginOutcome: Sendable, Equatable {
    public var account: String
    /// Unix seconds: the reply's `window_start`.
    public var windowStart: Int64
    public var succeeded: Bool
    public var reason: String?

    public init(account: String, windowStart: Int64, succeeded: Bool, reason: String? = nil) {
        self.account = account
        self.windowStart = windowStart
        self.succeeded = succeeded
        self.reason = reason
    }

    /// The longest `reason`, in Unicode scalars (and at most four times as
    /// many bytes).
    public static let largestReason = 200

    public var outcomeName: String { succeeded ? "success" : "failure" }

    /// The body a robot sends.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: #"{"account":"#.utf8)
        JSONText.appendString(account, to: &out)
        out.append(contentsOf: #","window_start":"#.utf8)
        JSONText.appendInteger(windowStart, to: &out)
        out.append(contentsOf: #","outcome":""#.utf8)
        out.append(contentsOf: outcomeName.utf8)
        out.append(UInt8(ascii: "\""))
        if let reason {
            out.append(contentsOf: #","reason":"#.utf8)
            JSONText.appendString(reason, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Reads an outcome's body strictly: one JSON object, no duplicate
    /// keys, `account` in the protocol's syntax, `window_start` a
    /// non-negative integer below the year 9999, `outcome` one of the two
    /// words, `reason` (optional) a string of at most 200 characters.
    /// Unknown keys are read and ignored, as in requests.
    public static func decode(_ body: [UInt8]) -> Result<LoginOutcome, LoginOutcomeError> {
        guard body.count <= RequestBody.maxBytes else { return .failure(.body(.tooLarge(bytes: body.count))) }
        var account: String?, windowStart: Int?, outcome: Bool?, reason: String?
        var fieldError: LoginOutcomeError?
        let parsed: RequestBodyError? = body.withUnsafeBytes { (bytes) -> RequestBodyError? in
            var parser = RequestBodyDecoder.Parser(bytes: bytes)
            do {
                try parser.parseTopLevelObject { parser, key throws(RequestBodyError) in
                    let start = parser.index
                    if key.equals("account", in: parser.bytes) {
                        guard parser.peek() == UInt8(ascii: "\""), let name = try parser.parseString().asciiAccountName(in: parser.bytes) else {
                            if parser.index == start { try parser.parseValue() }
                            fieldError = fieldError ?? .body(.accountSyntax)
                            return
                        }
                        account = name
                    } else if key.equals("window_start", in: parser.bytes) {
                        guard try parser.parseValue() == .integer,
                            let value = RequestBodyDecoder.Parser.integer(parser.bytes, start..<parser.index),
                            value >= 0, value <= Int(TurnBody.largestTimestampMilliseconds / 1000)
                        else {
                            fieldError = fieldError ?? .windowStart
                            return
                        }
                        windowStart = value
                    } else if key.equals("outcome", in: parser.bytes) {
                        guard parser.peek() == UInt8(ascii: "\"") else {
                            try parser.parseValue()
                            fieldError = fieldError ?? .outcome
                            return
                        }
                        let token = try parser.parseString()
                        if token.equals("success", in: parser.bytes) {
                            outcome = true
                        } else if token.equals("failure", in: parser.bytes) {
                            outcome = false
                        } else {
                            fieldError = fieldError ?? .outcome
                        }
                    } else if key.equals("reason", in: parser.bytes) {
                        guard parser.peek() == UInt8(ascii: "\"") else {
                            try parser.parseValue()
                            fieldError = fieldError ?? .reason
                            return
                        }
                        let text = try parser.parseText()
                        guard text.unicodeScalars.count <= largestReason, text.utf8.count <= 4 * largestReason else {
                            fieldError = fieldError ?? .reason
                            return
                        }
                        reason = text
                    } else {
                        try parser.parseValue()
                    }
                }
                return nil
            } catch let error as RequestBodyError {
                return error
            } catch {
                return .notAnObject
            }
        }
        if let parsed { return .failure(.body(parsed)) }
        if let fieldError { return .failure(fieldError) }
        guard let account else { return .failure(.body(.accountMissing)) }
        guard let windowStart else { return .failure(.windowStart) }
        guard let outcome else { return .failure(.outcome) }
        return .success(LoginOutcome(account: account, windowStart: Int64(windowStart), succeeded: outcome, reason: reason))
    }
}

/// Why a body is not a usable login outcome: a `bad_request` with a fixed
/// message that echoes nothing of the body.
public enum LoginOutcomeError: Error, Sendable, Equatable {
    case body(RequestBodyError)
    case windowStart
    case outcome
    case reason

    public var message: String {
        switch self {
        case .body(let error): error.message
        case .windowStart: "window_start must be the reply's window_start: a JSON integer of Unix seconds"
        case .outcome: "outcome must be \"success\" or \"failure\""
        case .reason: "reason must be a string of at most \(LoginOutcome.largestReason) characters"
        }
    }
}
