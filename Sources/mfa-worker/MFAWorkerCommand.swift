import ArgumentParser
import MFAWorker

@main
struct MFAWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mfa-worker",
        abstract: "Serves TOTP codes of automation accounts over RabbitMQ.",
        discussion: """
            mfa-worker holds the TOTP keys of automation users in one place and \
            answers mfa-code-request messages from allowed requesters with the \
            code of the current window. See README.md and docs/protocol.md.
            """,
        version: WorkerVersion.current,
        subcommands: [
            RunCommand.self,
            RequestCommand.self,
            OutcomeCommand.self,
            ResumeCommand.self,
            BurstCommand.self,
            BurstMergeCommand.self,
            CodeCommand.self,
            EnrollCommand.self,
            CheckConfigCommand.self,
            HealthCommand.self,
        ]
    )
}

/// A failure the command reports as one line on stderr, then exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
