import ArgumentParser
import Foundation
import MFAClient

struct OutcomeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outcome",
        abstract: "Report how a login with a code went, as a robot would.",
        discussion: """
            Publishes one mfa-login-outcome as the requester's AMQP user: the \
            account and window_start of the code's reply (`request --json` prints \
            them), and success or failure. Failures count towards the account's \
            lockout guard. Prints ok; errors print one line on stderr with the exit \
            statuses of `request` (2 forbidden: this requester was not handed that \
            window's code).
            """
    )

    @Option(help: ArgumentHelp("The account of the code's reply (the member, for a pool).", valueName: "name"))
    var account: String

    @Option(help: ArgumentHelp("The reply's window_start (Unix seconds).", valueName: "seconds"))
    var windowStart: Int64

    @Argument(help: ArgumentHelp("How the login went.", valueName: "success|failure"))
    var outcome: String

    @Option(help: ArgumentHelp("Why, for the audit trail (at most 200 characters).", valueName: "text"))
    var reason: String?

    @Option(help: ArgumentHelp("Seconds to wait for the answer.", valueName: "seconds"))
    var timeout: Double = 10

    @OptionGroup var broker: BrokerOptions

    func validate() throws {
        guard ["success", "failure"].contains(outcome) else { throw ValidationError("the outcome is success or failure") }
        guard timeout > 0 && timeout <= 3600 else { throw ValidationError("--timeout must be more than 0 and at most 3600 seconds") }
        if let reason, reason.unicodeScalars.count > 200 || reason.utf8.count > 800 {
            throw ValidationError("--reason is at most 200 characters (and 800 bytes)")
        }
    }

    func run() async throws {
        let client = MFAClient(try broker.clientConfiguration(connectionName: "mfa-worker outcome"))
        defer { client.close() }
        do {
            try await client.reportOutcome(
                account: account, windowStart: windowStart, succeeded: outcome == "success", reason: reason,
                timeout: .milliseconds(Int64(timeout * 1000)))
            print("ok")
        } catch {
            StandardError.print(error.description)
            throw ExitCode(RequestCommand.exitStatus(error))
        }
    }
}
