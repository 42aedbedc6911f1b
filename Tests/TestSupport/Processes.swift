import Foundation

/// The result of running a program.
public struct RunResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Where the package's products are: beside the test bundle.
public let productsDirectory: URL = {
    var url = URL(fileURLWithPath: CommandLine.arguments.first { $0.contains(".xctest") } ?? CommandLine.arguments[0])
    while url.pathExtension == "xctest" || url.lastPathComponent.hasSuffix(".xctest")
        || !FileManager.default.fileExists(atPath: url.appendingPathComponent("mfa-worker").path)
    {
        let parent = url.deletingLastPathComponent()
        if parent.path == url.path { break }
        url = parent
    }
    return url
}()

public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// Runs `executable` with `arguments`, feeding `stdin`, and collects output.
public func run(
    _ executable: String, _ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil, directory: String? = nil
) throws -> RunResult {
    let base = NSTemporaryDirectory() + "mfa-run-\(UUID().uuidString)"
    defer {
        unlink(base + ".out")
        unlink(base + ".err")
    }
    var command = executable
    var commandArguments = arguments
    if let directory {
        // posix_spawn has no working directory of its own here: go through sh.
        command = "/bin/sh"
        commandArguments = ["-c", "cd \"$0\" && exec \"$@\"", directory, executable] + arguments
    }
    let child = try ChildProcess(command, commandArguments, environment: environment, stdin: stdin, outputPath: base + ".out", errorPath: base + ".err")
    let status = child.wait() ?? -1
    let outData = FileManager.default.contents(atPath: base + ".out") ?? Data()
    let errData = FileManager.default.contents(atPath: base + ".err") ?? Data()
    return RunResult(status: status, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs the built `mfa-worker`.
public func mfaWorker(_ arguments: String..., stdin: String? = nil, environment: [String: String]? = nil) throws -> RunResult {
    try run(productsDirectory.appendingPathComponent("mfa-worker").path, arguments, stdin: stdin, environment: environment)
}

/// A temporary folder removed when the value goes away.
public final class TemporaryDirectory {
    public let path: String
    public init() {
        var template = Array((NSTemporaryDirectory() + "mfa-cli-test-XXXXXX").utf8CString)
        path = String(cString: mkdtemp(&template)!)
        chmod(path, 0o755)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    public func write(_ name: String, _ text: String, mode: mode_t = 0o600) -> String {
        let file = path + "/" + name
        try? FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        chmod(file, mode)
        return file
    }
}
