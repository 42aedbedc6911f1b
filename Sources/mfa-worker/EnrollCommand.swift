import ArgumentParser
import Foundation
import MFAConfig
import MFAProtocol
import TOTP

struct EnrollCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Enrol an account: store its key and show its code for the enrolment screen.",
        discussion: """
            Reads the key that the site shows (Salesforce: "I Can't Scan the QR \
            Code") from the terminal without echo, or from stdin; checks it; writes \
            it with mode 0600 to secrets/NAME.key beside the configuration (never \
            over an existing file); prints the YAML lines that add the account; and \
            shows the current code with the seconds it has left, refreshed on a \
            terminal until Enter is pressed. The key itself is never printed.
            """
    )

    @Argument(help: ArgumentHelp("The account's name in the configuration (A-Z a-z 0-9 . _ @ -).", valueName: "name"))
    var name: String

    @OptionGroup var config: ConfigOption

    @Option(help: ArgumentHelp("Where to write the key (default: secrets/NAME.key beside the configuration).", valueName: "path"))
    var secretFile: String?

    @OptionGroup var totp: TOTPOptions

    func validate() throws {
        guard AccountName.isValid(name) else {
            throw ValidationError("an account name is 1 to 128 characters of A-Z a-z 0-9 . _ @ -")
        }
    }

    func run() throws {
        let configPath = try config.requiredPath()
        let directory = (configPath as NSString).deletingLastPathComponent.isEmpty ? "." : (configPath as NSString).deletingLastPathComponent
        if FileManager.default.fileExists(atPath: configPath) {
            let existing = try WorkerConfiguration.load(path: configPath)
            if existing.account(named: name) != nil {
                throw CommandFailure("\(configPath): account '\(name)' is already configured")
            }
        }
        let relativePath = secretFile ?? "secrets/\(name).key"
        let path = relativePath.hasPrefix("/") ? relativePath : (directory as NSString).appendingPathComponent(relativePath)
        if FileManager.default.fileExists(atPath: path) {
            throw CommandFailure("\(path) exists; enroll never overwrites a secret file")
        }

        guard let text = Terminal.readSecretLine(prompt: "Key for \(name) (base32 or otpauth:// URI; not echoed): ") else {
            throw CommandFailure("no key given on stdin")
        }
        let keyText: KeyText
        do {
            keyText = try KeyText(text)
        } catch {
            throw CommandFailure("the key is \(error)")
        }
        switch KeyStrength(keyText.key) {
        case .tooShort(let bits):
            throw CommandFailure("the key has \(bits) bits; at least \(KeyStrength.minimumBits) are required")
        case .weak(let bits):
            StandardError.print("warning: the key has \(bits) bits, under the \(KeyStrength.recommendedBits) that RFC 4226 asks for")
        case .acceptable:
            break
        }
        let parameters = try totp.parameters(uri: keyText.uriParameters)

        // Store the text as given (trimmed): a URI keeps its parameters.
        try writeSecret(text.trimmingCharacters(in: .whitespacesAndNewlines) + "\n", to: path)

        print("Wrote the key to \(path) (mode 0600).")
        print("")
        print("Add the account to \(configPath) under accounts:, and allow it to its requesters:")
        print("")
        print("accounts:")
        print("  \(name):")
        print("    secret_file: \(relativePath)")
        if parameters.algorithm != .sha1 || keyText.uriParameters != nil { print("    algorithm: \(parameters.algorithm.rawValue)") }
        if parameters.digits != 6 || keyText.uriParameters != nil { print("    digits: \(parameters.digits)") }
        if parameters.period != 30 || keyText.uriParameters != nil { print("    period: \(parameters.period)") }
        print("allow:")
        print("  REQUESTER: [\(name)]   # the robot's AMQP user name")
        print("")

        let generator = TOTPGenerator(key: keyText.key, parameters: parameters)
        if Terminal.isTerminal(STDOUT_FILENO) && Terminal.isTerminal(STDIN_FILENO) {
            print("Enter this code where the site asks for it. Press Enter when done.")
            repeat {
                let now = SystemTime.unixMilliseconds()
                let window = generator.window(at: now)
                let seconds = (window.millisecondsLeft(at: now) + 999) / 1000
                FileHandle.standardOutput.write(Data("\r\u{1B}[2KCode: \(generator.code(for: window).digits)  (\(seconds) s left)".utf8))
            } while !Terminal.lineArrived(within: 1000)
            print("")
        } else {
            let now = SystemTime.unixMilliseconds()
            let window = generator.window(at: now)
            print("Code: \(generator.code(for: window).digits)  (\((window.millisecondsLeft(at: now) + 999) / 1000) s left)")
        }
    }

    private func writeSecret(_ text: String, to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        // O_EXCL: never overwrite, even if the file appeared since the check.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CommandFailure("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        fchmod(fd, 0o600)  // regardless of umask
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            unlink(path)
            throw CommandFailure("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
