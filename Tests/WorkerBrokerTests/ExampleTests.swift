import Foundation
import TestSupport
import Testing

/// The examples that README shows, run against the real broker and worker.
@Suite("Examples against the worker")
struct ExampleTests {
    @Test("examples/shell/get_code.sh prints the code, and explains a refusal")
    func shell() throws {
        let worker = try WorkerProcess(
            accounts: ["sf-eu": (30, 6, "SHA1"), "other": (30, 6, "SHA1")],
            allow: ["rpa-bot-eu-1": ["sf-eu"]],
            queue: "mfa-code-request" + "-shell-\(UUID().uuidString.prefix(6).lowercased())"
        ).start()
        defer { worker.stop() }
        // The script uses the default queue name; point it at this worker's
        // with the URL's environment and a wrapper that adds --queue.
        let folder = TemporaryDirectory()
        let wrapper = folder.write(
            "mfa-worker",
            """
            #!/bin/sh
            exec "\(productsDirectory.path)/mfa-worker" "$@" --queue \(worker.queue)
            """, mode: 0o755)
        let environment = [
            "PATH": "/usr/bin:/bin",
            "MFA_WORKER_BIN": wrapper,
            "MFA_BROKER_URL": "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:\(Broker.port)/%2F",
        ]
        let script = repositoryRoot + "/examples/shell/get_code.sh"
        let ok = try run("/bin/bash", [script, "sf-eu"], environment: environment)
        #expect(ok.status == 0, "\(ok.stderr)")
        let code = ok.stdout.trimmingCharacters(in: .newlines)
        #expect(code.count == 6)
        let now = Int64(Date().timeIntervalSince1970)
        let candidates = try [now - 30, now, now + 30].map { try worker.expectedCode(account: "sf-eu", windowStart: $0 / 30 * 30) }
        #expect(candidates.contains(code))

        let refused = try run("/bin/bash", [script, "other"], environment: environment)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("not allowed, or no such account: check the name other"))
    }
}
