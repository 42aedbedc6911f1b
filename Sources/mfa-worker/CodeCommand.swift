import ArgumentParser
import Foundation
import MFAConfig
import TOTP

struct CodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "code",
        abstract: "Print the current code of a key.",
        discussion: """
            The key comes from a configured account (--account with --config) or \
            from a file (--secret-file, '-' for stdin) holding a base32 key or an \
            otpauth:// URI. It is never taken as an argument, where ps would show it.

            Prints the code alone; --json prints {code, window_start, window_end, \
            expires_in_ms}. --time reproduces the code of a given moment.
            """
    )

    @Option(help: ArgumentHelp("A configured account whose code to print.", valueName: "name"))
    var account: String?

    @OptionGroup var config: ConfigOption

    @Option(help: ArgumentHelp("A file holding a base32 key or an otpauth:// URI; '-' reads stdin.", valueName: "path"))
    var secretFile: String?

    @OptionGroup var totp: TOTPOptions

    @Option(help: ArgumentHelp("Unix time in seconds to compute the code for (default: now).", valueName: "unix-seconds"))
    var time: Int64?

    @Flag(help: "Print {code, window_start, window_end, expires_in_ms} as JSON.")
    var json = false

    func validate() throws {
        if account == nil && secretFile == nil {
            throw ValidationError("give --account NAME (with --config) or --secret-file PATH")
        }
        if account != nil && secretFile != nil {
            throw ValidationError("give --account or --secret-file, not both")
        }
        if account != nil && !totp.isEmpty {
            throw ValidationError("--algorithm, --digits and --period come from the configuration with --account")
        }
        if let time, time < 0 || time > 1_000_000_000_000 {
            throw ValidationError("--time must be Unix seconds from 0 on")
        }
    }

    func run() throws {
        let generator = try makeGenerator()
        let now = time.map { $0 * 1000 } ?? SystemTime.unixMilliseconds()
        let window = generator.window(at: now)
        let code = generator.code(for: window)
        if json {
            print(
                "{\"code\":\"\(code.digits)\",\"window_start\":\(window.start),\"window_end\":\(window.end),\"expires_in_ms\":\(window.millisecondsLeft(at: now))}"
            )
        } else {
            print(code.digits)
        }
    }

    private func makeGenerator() throws -> TOTPGenerator {
        if let account {
            let path = try config.requiredPath()
            let configuration = try WorkerConfiguration.load(path: path)
            guard let settings = configuration.account(named: account) else {
                throw CommandFailure("\(path): no account '\(account)' under accounts")
            }
            // Load only this account's secret: another account's missing
            // variable should not stop a look at this one.
            var single = configuration
            single.accounts = [settings]
            single.allow = Allowlist()
            single.broker.password = .url
            let loaded = try LoadedConfiguration(single)
            loaded.warnings.forEach { StandardError.print("warning: \($0)") }
            return loaded.accounts[account]!.generator
        }

        let path = secretFile!
        var text: [UInt8]
        if path == "-" {
            text = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else {
            // A file named on the command line is read even when loose (the
            // worker refuses those), with a warning.
            text = try SecretFile.read(path: path, allowLoose: true) { message in
                ConfigurationError(keyPath: "--secret-file", message: message)
            }
            var info = stat()
            if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
                StandardError.print(
                    "warning: \(path) is accessible by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); the worker refuses it unless its configuration sets allow_loose_secret_files"
                )
            }
        }
        let keyText: KeyText
        do {
            defer { SecretBytes.wipe(&text) }
            keyText = try KeyText(utf8: text)
        } catch {
            throw CommandFailure("the secret is \(error)")
        }
        let parameters = try totp.parameters(uri: keyText.uriParameters)
        switch KeyStrength(keyText.key) {
        case .tooShort(let bits):
            StandardError.print("warning: the key has \(bits) bits; the worker refuses keys under \(KeyStrength.minimumBits)")
        case .weak(let bits):
            StandardError.print("warning: the key has \(bits) bits, under the \(KeyStrength.recommendedBits) that RFC 4226 asks for")
        case .acceptable:
            break
        }
        return TOTPGenerator(key: keyText.key, parameters: parameters)
    }
}
