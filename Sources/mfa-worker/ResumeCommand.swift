import ArgumentParser
import Foundation
import MFAConfig
import MFAWorker

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "End an account's lockout-guard pause early, and clear its failure count.",
        discussion: """
            Writes a resume record into the guard log as the worker's own broker \
            login (from --config: the workers believe no other login), waits for \
            the broker to confirm it, and reads the log back to say which pause \
            it ended. Exit status 0 once the pause has ended on the broker (also \
            when the account was not paused: its failure count is cleared), 1 \
            otherwise. Every worker replica reads the record within moments and \
            serves the account again.
            """
    )

    @Argument(help: ArgumentHelp("The account (not a pool) to resume.", valueName: "account"))
    var account: String

    @OptionGroup var config: ConfigOption

    func run() throws {
        let loaded = try LoadedConfiguration.load(path: try config.requiredPath())
        let result: GuardResume.Result
        do {
            result = try GuardResume.run(loaded, account: account)
        } catch {
            throw CommandFailure(error.description)
        }
        let cleared = result.failuresCleared == 1 ? "1 failure" : "\(result.failuresCleared) failures"
        if let ended = result.ended, ended.until > Int64(Date().timeIntervalSince1970 * 1000) {
            let since = Date(timeIntervalSince1970: Double(ended.from) / 1000).ISO8601Format()
            let left = (ended.until - Int64(Date().timeIntervalSince1970 * 1000) + 999) / 1000
            print("\(account): pause ended (paused since \(since), \(left) s were left); \(cleared) cleared")
        } else {
            print("\(account): was not paused; \(cleared) cleared")
        }
    }
}
