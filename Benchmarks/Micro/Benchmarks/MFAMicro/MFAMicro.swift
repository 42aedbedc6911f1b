import Benchmark
import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP

// The hot path in isolation: computing a code, and deciding a request
// (parse, authorise, choose the window, build the reply), with wall-clock
// time and mallocs per operation.
let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .mallocCountTotal, .throughput]
    Benchmark.defaultConfiguration = .init(metrics: metrics, scalingFactor: .kilo, maxDuration: .seconds(2))

    let key = SecretKey(bytes: Array("12345678901234567890".utf8))
    let generator = TOTPGenerator(key: key)

    Benchmark("TOTP code (SHA1, 6 digits)") { benchmark in
        for counter in benchmark.scaledIterations {
            blackHole(generator.code(for: TOTPWindow(counter: UInt64(counter), period: 30)))
        }
    }

    let state = ServiceState(
        accounts: ["sf-automation-eu": Account(name: "sf-automation-eu", generator: generator)],
        allow: Allowlist(["rpa-bot-eu-1": ["sf-automation-eu"]]),
        reply: .default
    )
    let request = RequestMessage(
        body: Array(#"{"account":"sf-automation-eu"}"#.utf8),
        replyTo: "amq.gen-0123456789abcdef", correlationID: Array("3f2c8a1e-5b7d-4e7a-9c1f-2a6b8d4e0f13".utf8),
        userID: "rpa-bot-eu-1", contentType: "application/json", type: "mfa-code-request"
    )
    let now: Int64 = 1_764_372_612_345

    Benchmark("Decide a request (parse, authorise, window, reply; code cached)") { benchmark in
        var decider = RequestDecider(state: state)
        for _ in benchmark.scaledIterations {
            blackHole(decider.decide(request, now: now))
        }
    }

    Benchmark("Decide a forbidden request") { benchmark in
        var decider = RequestDecider(state: state)
        let forbidden = RequestMessage(body: request.body, replyTo: request.replyTo, correlationID: request.correlationID, userID: "rpa-bot-eu-2")
        for _ in benchmark.scaledIterations {
            blackHole(decider.decide(forbidden, now: now))
        }
    }

    Benchmark("Parse a request body") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RequestBodyDecoder.decode(request.body))
        }
    }
}
