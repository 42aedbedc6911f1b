// Asks mfa-worker for a TOTP code over AMQP, with the RabbitMQ.Client that
// Debian ships for Mono (libmono-rabbitmq4.0-cil), Mono's System.Json
// (libmono-system-json4.0-cil) and nothing but the protocol (docs/protocol.md).
//
//   export MFA_BROKER_URL=amqp://rpa-bot-eu-1:PASSWORD@127.0.0.1:5672/%2F
//   mcs -out:/tmp/mfa-example-csharp.exe -r:/usr/lib/mono/4.5/RabbitMQ.Client.dll -r:System.Json examples/csharp/GetCode.cs
//   mono /tmp/mfa-example-csharp.exe --account sf-automation-eu
//
// Prints the code alone (or the whole reply with --json). Every failure is
// one line on stderr, with an exit status: 0 ok, 2 forbidden, 3 bad_request,
// 4 rate_limited, 5 unavailable, 6 internal, 7 timeout or no worker
// consuming the request queue, 9 busy, 1 anything else (connection refused,
// login refused, no request queue, ...).
//
// That library is Mono's copy of an early RabbitMQ .NET client, from before
// AMQP 0-9-1: it speaks 0-9, which RabbitMQ serves as 0-9-1; it has no URI
// parser and no TLS that this example trusts (amqps:// is refused); and its
// QueueDeclare hides the consumer count, so the passive declare below sends
// the protocol method itself. A current RabbitMQ.Client (NuGet) does the same in a few
// lines: factory.Uri, channel.QueueDeclarePassive(queue).ConsumerCount.

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Json;
using System.Net.Sockets;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using RabbitMQ.Client.Impl;
using QueueDeclareMethod = RabbitMQ.Client.Framing.Impl.v0_9.QueueDeclare;
using IQueueDeclareOk = RabbitMQ.Client.Framing.v0_9.IQueueDeclareOk;

public static class GetCode
{
    static readonly Dictionary<string, int> ExitCodes = new Dictionary<string, int> {
        { "forbidden", 2 }, { "bad_request", 3 }, { "rate_limited", 4 }, { "unavailable", 5 }, { "internal", 6 }, { "busy", 9 },
    };
    const int ExitTimeout = 7;
    const int ExitOther = 1;

    /// One line for a person, and the exit status that goes with it.
    sealed class Failure : Exception
    {
        public readonly int Status;
        public Failure(int status, string message) : base(message) { Status = status; }
    }

    public static int Main(string[] arguments)
    {
        try {
            return Run(arguments);
        } catch (Failure failure) {
            Console.Error.WriteLine(failure.Message);
            return failure.Status;
        } catch (Exception error) {
            // Never a stack trace in a robot's log.
            Console.Error.WriteLine("failed: " + error.GetType().Name);
            return ExitOther;
        }
    }

    static int Run(string[] arguments)
    {
        string account = null;
        long? minValidityMs = null;
        double timeoutSeconds = 10;
        string queue = "mfa-code-request";
        bool json = false;
        // The broker URL (with the robot's password) comes from
        // MFA_BROKER_URL only: on the command line, ps would show it.
        string url = Environment.GetEnvironmentVariable("MFA_BROKER_URL");
        for (int i = 0; i < arguments.Length; i++) {
            string option = arguments[i];
            if (option == "--json") { json = true; continue; }
            if (option == "--help" || option == "-h") {
                Console.WriteLine("usage: GetCode --account NAME [--min-validity-ms MS] [--timeout SECONDS] [--queue NAME] [--json]; the broker URL comes from MFA_BROKER_URL");
                return 0;
            }
            if (i + 1 >= arguments.Length) throw new Failure(ExitOther, "usage: " + option + " needs a value");
            string value = arguments[++i];
            switch (option) {
                case "--account": account = value; break;
                case "--min-validity-ms": minValidityMs = Number(option, value); break;
                case "--timeout":
                    double seconds;
                    if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out seconds)) throw new Failure(ExitOther, "usage: --timeout needs a number");
                    timeoutSeconds = seconds;
                    break;
                case "--queue": queue = value; break;
                default: throw new Failure(ExitOther, "usage: unknown option " + option);
            }
        }
        if (account == null) throw new Failure(ExitOther, "usage: --account is required");
        if (!(timeoutSeconds > 0 && timeoutSeconds <= 3600)) throw new Failure(ExitOther, "usage: --timeout must be more than 0 and at most 3600 seconds");
        if (string.IsNullOrEmpty(url)) throw new Failure(ExitOther, "MFA_BROKER_URL is not set (amqp://USER:PASSWORD@HOST:5672/%2F)");

        string body = RequestCode(url, queue, account, minValidityMs, (long)(timeoutSeconds * 1000));
        JsonObject reply;
        try {
            reply = JsonValue.Parse(body) as JsonObject;
        } catch (Exception) {
            reply = null;
        }
        if (reply == null) throw new Failure(ExitCodes["internal"], "invalid reply: not a JSON object");
        if (json) Console.WriteLine(body);
        if (Text(reply, "status") == "ok") {
            if (!json) Console.WriteLine(Text(reply, "code"));
            return 0;
        }
        JsonValue retry;
        string retryText = reply.TryGetValue("retry_after_ms", out retry) && retry != null && retry.JsonType == JsonType.Number
            ? " (retry after " + retry.ToString() + " ms)" : "";
        string error = Text(reply, "error");
        Console.Error.WriteLine(error + ": " + Text(reply, "message") + retryText);
        // An error this program does not know is still an error, with its message.
        int status;
        return error != null && ExitCodes.TryGetValue(error, out status) ? status : ExitOther;
    }

    /// A string field of the reply, or null.
    static string Text(JsonObject reply, string name)
    {
        JsonValue value;
        return reply.TryGetValue(name, out value) && value != null && value.JsonType == JsonType.String ? (string)value : null;
    }

    static long Number(string option, string value)
    {
        long number;
        if (!long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out number)) throw new Failure(ExitOther, "usage: " + option + " needs a number");
        return number;
    }

    /// The worker's reply body, or a Failure.
    static string RequestCode(string url, string queue, string account, long? minValidityMs, long timeoutMs)
    {
        DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        ConnectionFactory factory = Factory(url);
        string endpoint = (factory.HostName.Contains(":") ? "[" + factory.HostName + "]" : factory.HostName) + ":" + factory.Port;
        // The requester is the user we log in as; RabbitMQ refuses any other.
        string user = factory.UserName;

        IConnection connection;
        try {
            connection = factory.CreateConnection();
        } catch (BrokerUnreachableException error) {
            if (Refused(error)) throw new Failure(ExitOther, "connection refused: is RabbitMQ running on " + endpoint + "?");
            // RabbitMQ closes the socket on a refused login of a 0-9 client,
            // without saying why: the library sees a connection that ended
            // during the handshake.
            if (Contains<PossibleAuthenticationFailureException>(error) || Contains<System.IO.EndOfStreamException>(error)) {
                throw new Failure(ExitOther, "login refused for user '" + user + "': check the password in MFA_BROKER_URL");
            }
            throw new Failure(ExitOther, "cannot connect to " + endpoint + ": " + error.GetType().Name);
        }
        try {
            IModel channel = connection.CreateModel();
            CheckRequestQueue(channel, queue);
            // Our own reply queue: server-named, exclusive, auto-delete, no DLX.
            string replyQueue = channel.QueueDeclare("", false, false, true, true, false, null);
            QueueingBasicConsumer consumer = new QueueingBasicConsumer(channel);
            channel.BasicConsume(replyQueue, true, null, consumer);
            string correlationId = Guid.NewGuid().ToString();
            IBasicProperties properties = channel.CreateBasicProperties();
            properties.ReplyTo = replyQueue;
            properties.CorrelationId = correlationId;
            properties.UserId = user;
            properties.ContentType = "application/json";
            properties.Type = "mfa-code-request";
            properties.Expiration = Math.Max(1, timeoutMs).ToString(CultureInfo.InvariantCulture);
            // Never let the worker hold our turn for a window longer than we
            // wait (a once_per_window account would spend that window on nobody).
            JsonObject request = new JsonObject();
            request["account"] = account;
            if (minValidityMs.HasValue) request["min_validity_ms"] = minValidityMs.Value;
            request["max_wait_ms"] = Math.Max(0, timeoutMs - 1000);
            channel.BasicPublish("", queue, properties, Encoding.UTF8.GetBytes(request.ToString()));
            while (true) {
                int left = (int)Math.Max(0, (deadline - DateTime.UtcNow).TotalMilliseconds);
                object delivery;
                if (left == 0 || !consumer.Queue.Dequeue(left, out delivery)) {
                    throw new Failure(ExitTimeout, string.Format(CultureInfo.InvariantCulture, "timeout: no reply within {0:0.0} s", timeoutMs / 1000.0));
                }
                BasicDeliverEventArgs message = (BasicDeliverEventArgs)delivery;
                // Anything that is not the answer to this request is dropped.
                if (message.BasicProperties.CorrelationId == correlationId) return Encoding.UTF8.GetString(message.Body);
            }
        } catch (Failure) {
            throw;
        } catch (Exception error) {
            throw new Failure(ExitOther, "the broker connection failed: " + error.GetType().Name);
        } finally {
            connection.Abort(1000);
        }
    }

    /// The connection settings from an amqp:// URL (this library reads no URLs).
    static ConnectionFactory Factory(string url)
    {
        Uri uri;
        if (!Uri.TryCreate(url, UriKind.Absolute, out uri) || (uri.Scheme != "amqp" && uri.Scheme != "amqps") || uri.UserInfo == "") {
            throw new Failure(ExitOther, "MFA_BROKER_URL is not a broker URL (amqp://USER:PASSWORD@HOST:5672/%2F)");
        }
        if (uri.Scheme == "amqps") throw new Failure(ExitOther, "amqps:// is not supported by this example (Mono's RabbitMQ.Client)");
        string[] login = uri.UserInfo.Split(new[] { ':' }, 2);
        string path = uri.GetComponents(UriComponents.Path, UriFormat.UriEscaped);
        ConnectionFactory factory = new ConnectionFactory();
        factory.Protocol = Protocols.AMQP_0_9;
        factory.HostName = uri.Host.Trim('[', ']');
        factory.Port = uri.IsDefaultPort || uri.Port < 0 ? 5672 : uri.Port;
        factory.UserName = Uri.UnescapeDataString(login[0]);
        factory.Password = login.Length > 1 ? Uri.UnescapeDataString(login[1]) : "";
        factory.VirtualHost = path == "" ? "/" : Uri.UnescapeDataString(path);
        return factory;
    }

    static bool Refused(BrokerUnreachableException error)
    {
        foreach (object inner in error.ConnectionErrors.Values) {
            SocketException socket = inner as SocketException;
            if (socket != null && socket.SocketErrorCode == SocketError.ConnectionRefused) return true;
        }
        return false;
    }

    static bool Contains<T>(BrokerUnreachableException error) where T : Exception
    {
        foreach (object inner in error.ConnectionErrors.Values) {
            for (Exception current = inner as Exception; current != null; current = current.InnerException) {
                if (current is T) return true;
            }
        }
        return false;
    }

    /// Fails at once when nobody could answer: a passive declare needs no
    /// permission on the queue, and tells whether it exists and how many
    /// consumers (workers) it has.
    static void CheckRequestQueue(IModel channel, string queue)
    {
        IQueueDeclareOk declared;
        try {
            declared = (IQueueDeclareOk)((ModelBase)channel).ModelRpc(
                new QueueDeclareMethod(0, queue, true, false, false, false, false, null), null, null);
        } catch (OperationInterruptedException error) {
            if (error.ShutdownReason != null && error.ShutdownReason.ReplyCode == 404) {
                throw new Failure(ExitOther, "the request queue " + queue + " does not exist");
            }
            throw new Failure(ExitOther, "cannot check the request queue " + queue + ": " + error.GetType().Name);
        }
        if (declared.ConsumerCount == 0) throw new Failure(ExitTimeout, "no worker is consuming " + queue);
    }
}
