import AMQP
import Foundation
// A responder that does no work: it answers every request on a queue with
// one fixed reply, through the same librabbitmq wrapper as the worker.
// What it reaches is the broker's own limit on this machine, the yardstick
// for the worker's figures (Benchmarks/run.sh).
//
//   mfa-echo-responder --url amqp://user:password@127.0.0.1:5672/%2F --queue NAME [--threads N] [--prefetch N]
import MFABroker

struct Options {
    var url = "amqp://mfa-worker:demo-worker-password@127.0.0.1:5672/%2F"
    var queue = "mfa-code-request-echo"
    var threads = 2
    var prefetch = 64

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { break }
            switch flag {
            case "--url": url = value
            case "--queue": queue = value
            case "--threads": threads = Int(value) ?? threads
            case "--prefetch": prefetch = Int(value) ?? prefetch
            default:
                FileHandle.standardError.write(Data("unknown option \(flag)\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options(CommandLine.arguments)
let url: BrokerURL
do { url = try BrokerURL(parsing: options.url) } catch {
    FileHandle.standardError.write(Data("bad --url: \(error)\n".utf8))
    exit(2)
}
let reply = Array(#"{"status":"ok","account":"echo","code":"000000","digits":6,"period":30,"window_start":0,"window_end":30,"expires_in_ms":30000}"#.utf8)

final class Responder: Sendable {
    let settings: ConnectionSettings
    let queue: String
    let prefetch: Int
    let ready = DispatchSemaphore(value: 0)

    init(settings: ConnectionSettings, queue: String, prefetch: Int) {
        self.settings = settings
        self.queue = queue
        self.prefetch = prefetch
    }

    func run() {
        do {
            let connection = try AMQPConnection(settings)
            try connection.setPrefetch(prefetch)
            try connection.declareQueue(queue, durable: true)
            try connection.consume(queue: queue)
            ready.signal()
            while true {
                guard case .delivery(let delivery) = try connection.nextEvent(timeoutMilliseconds: 100) else { continue }
                if let replyTo = delivery.properties.replyTo {
                    try connection.publish(
                        routingKey: replyTo, mandatory: true,
                        properties: MessageProperties(
                            contentType: "application/json", deliveryMode: .transient,
                            correlationID: delivery.properties.correlationID, expiration: "30000", type: "mfa-code-reply"
                        ), body: reply)
                }
                try connection.ack(deliveryTag: delivery.deliveryTag)
            }
        } catch {
            FileHandle.standardError.write(Data("echo responder: \(error)\n".utf8))
            exit(1)
        }
    }
}

let responder = Responder(settings: url.connectionSettings(connectionName: "mfa-echo-responder"), queue: options.queue, prefetch: options.prefetch)
for _ in 0..<options.threads {
    Thread { responder.run() }.start()
}
for _ in 0..<options.threads { responder.ready.wait() }
FileHandle.standardOutput.write(Data("echo responder: consuming \(options.queue) with \(options.threads) threads\n".utf8))
while true { sleep(3600) }
