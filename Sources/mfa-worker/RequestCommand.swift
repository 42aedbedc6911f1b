import ArgumentParser
import Foundation
import MFAClient
import MFAProtocol

struct RequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Ask the worker for a code, as a robot would.",
        discussion: """
            Publishes one mfa-code-request as the requester's AMQP user and prints \
            the code alone, so that a robot in any language can shell out to it; \
            --json prints the whole reply. Errors print one line on stderr, with \
            an exit status per kind: 2 forbidden, 3 bad_request, 4 rate_limited, \
            5 unavailable, 6 internal, 7 timeout or no worker consuming the \
            request queue, 8 connection failed (refused, login refused) or no \
            request queue, 9 busy, 10 paused (the account's lockout guard), 1 anything else. It checks the request queue \
            before it asks, so that these say so at once; only a worker that \
            consumes and is slow makes it wait the whole --timeout. The worker \
            holds the request for its window at most --max-wait-ms (default: \
            --timeout less a second).
            """
    )

    @Option(help: ArgumentHelp("The account whose code to ask for.", valueName: "name"))
    var account: String

    @Option(help: ArgumentHelp("The code must stay valid this long, or the next window's comes.", valueName: "ms"))
    var minValidityMs: Int?

    @Option(help: ArgumentHelp("How long the worker may hold the request for its window; later is busy (default: the timeout less a second).", valueName: "ms"))
    var maxWaitMs: Int?

    @Option(help: ArgumentHelp("Seconds to wait for the reply.", valueName: "seconds"))
    var timeout: Double = 10

    @Flag(help: "Print the whole reply as JSON.")
    var json = false

    @OptionGroup var broker: BrokerOptions

    func validate() throws {
        guard timeout > 0 && timeout <= 3600 else { throw ValidationError("--timeout must be more than 0 and at most 3600 seconds") }
        if let minValidityMs, minValidityMs < 0 { throw ValidationError("--min-validity-ms must not be negative") }
        if let maxWaitMs, maxWaitMs < 0 || maxWaitMs > 3_600_000 { throw ValidationError("--max-wait-ms must be 0 to 3600000") }
    }

    func run() async throws {
        let client = MFAClient(try broker.clientConfiguration(connectionName: "mfa-worker request"))
        defer { client.close() }
        do {
            let code = try await client.code(
                for: account,
                minValidity: minValidityMs.map { .milliseconds($0) },
                maxWait: maxWaitMs.map { .milliseconds($0) },
                timeout: .milliseconds(Int64(timeout * 1000))
            )
            if json {
                print(Self.json(code))
            } else {
                print(code.code)
            }
        } catch {
            StandardError.print(error.description)
            if case .connectionFailed(let reason) = error, reason.contains("refused the login") {
                StandardError.print(
                    "check the user and password: MFA_BROKER_URL or --url, --password-file, --password-env (with --config, --user names the robot)")
            }
            throw ExitCode(Self.exitStatus(error))
        }
    }

    /// The reply as the worker sent it (`pool` and `username` when it had them).
    static func json(_ code: MFACode) -> String {
        var out: [UInt8] = Array(#"{"status":"ok","account":"#.utf8)
        JSONText.appendString(code.account, to: &out)
        if let pool = code.pool {
            out.append(contentsOf: #","pool":"#.utf8)
            JSONText.appendString(pool, to: &out)
        }
        if let username = code.username {
            out.append(contentsOf: #","username":"#.utf8)
            JSONText.appendString(username, to: &out)
        }
        out.append(contentsOf: #","code":"#.utf8)
        JSONText.appendString(code.code, to: &out)
        for (key, value) in [
            ("digits", Int64(code.digits)), ("period", Int64(code.period)), ("window_start", code.windowStart), ("window_end", code.windowEnd),
            ("expires_in_ms", Int64(code.expiresIn.milliseconds)),
        ] {
            out.append(contentsOf: ",\"\(key)\":".utf8)
            JSONText.appendInteger(value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    static func exitStatus(_ error: MFAClientError) -> Int32 {
        switch error {
        case .forbidden: 2
        case .badRequest: 3
        case .rateLimited: 4
        case .unavailable: 5
        case .internal, .invalidReply: 6
        case .timeout, .noWorker: 7
        case .connectionFailed, .connectionRefused, .noRequestQueue: 8
        case .busy: 9
        case .paused: 10
        case .closed, .cancelled: 1
        }
    }
}
