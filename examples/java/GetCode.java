// Asks mfa-worker for a TOTP code over AMQP, with RabbitMQ's Java client
// (amqp-client) and nothing but the protocol (docs/protocol.md).
//
//   export MFA_BROKER_URL=amqp://rpa-bot-eu-1:PASSWORD@127.0.0.1:5672/%2F
//   javac -d /tmp/mfa-example-java -cp /usr/share/java/amqp-client.jar examples/java/GetCode.java
//   java -cp /tmp/mfa-example-java:/usr/share/java/amqp-client.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar \
//       GetCode --account sf-automation-eu
//
// Prints the code alone (or the whole reply with --json). Every failure is
// one line on stderr, with an exit status: 0 ok, 2 forbidden, 3 bad_request,
// 4 rate_limited, 5 unavailable, 6 internal, 7 timeout or no worker
// consuming the request queue, 9 busy, 1 anything else (connection refused,
// login refused, no request queue, ...).

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.PossibleAuthenticationFailureException;
import com.rabbitmq.client.ShutdownSignalException;
import java.net.ConnectException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

public final class GetCode {
    static final Map<String, Integer> EXIT_CODES = Map.of(
        "forbidden", 2, "bad_request", 3, "rate_limited", 4, "unavailable", 5, "internal", 6, "busy", 9);
    static final int EXIT_TIMEOUT = 7;
    static final int EXIT_OTHER = 1;

    /** One line for a person, and the exit status that goes with it. */
    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;
        final int status;

        Failure(int status, String message) {
            super(message, null, false, false);
            this.status = status;
        }
    }

    public static void main(String[] arguments) {
        int status;
        try {
            status = run(arguments);
        } catch (Failure failure) {
            System.err.println(failure.getMessage());
            status = failure.status;
        } catch (Exception error) {
            // Never a stack trace in a robot's log.
            System.err.println("failed: " + error.getClass().getSimpleName());
            status = EXIT_OTHER;
        }
        System.exit(status);
    }

    static int run(String[] arguments) throws Exception {
        String account = null;
        Long minValidityMs = null;
        double timeoutSeconds = 10;
        String queue = "mfa-code-request";
        boolean json = false;
        // The broker URL (with the robot's password) comes from
        // MFA_BROKER_URL only: on the command line, ps would show it.
        String url = System.getenv("MFA_BROKER_URL");
        for (int i = 0; i < arguments.length; i++) {
            String option = arguments[i];
            if (option.equals("--json")) {
                json = true;
                continue;
            }
            if (option.equals("--help") || option.equals("-h")) {
                System.out.println("usage: GetCode --account NAME [--min-validity-ms MS] [--timeout SECONDS] [--queue NAME] [--json]; the broker URL comes from MFA_BROKER_URL");
                return 0;
            }
            if (i + 1 >= arguments.length) throw new Failure(EXIT_OTHER, "usage: " + option + " needs a value");
            String value = arguments[++i];
            try {
                switch (option) {
                    case "--account": account = value; break;
                    case "--min-validity-ms": minValidityMs = Long.parseLong(value); break;
                    case "--timeout": timeoutSeconds = Double.parseDouble(value); break;
                    case "--queue": queue = value; break;
                    default: throw new Failure(EXIT_OTHER, "usage: unknown option " + option);
                }
            } catch (NumberFormatException error) {
                throw new Failure(EXIT_OTHER, "usage: " + option + " needs a number");
            }
        }
        if (account == null) throw new Failure(EXIT_OTHER, "usage: --account is required");
        if (!(timeoutSeconds > 0 && timeoutSeconds <= 3600)) throw new Failure(EXIT_OTHER, "usage: --timeout must be more than 0 and at most 3600 seconds");
        if (url == null || url.isEmpty()) throw new Failure(EXIT_OTHER, "MFA_BROKER_URL is not set (amqp://USER:PASSWORD@HOST:5672/%2F)");

        String body = requestCode(url, queue, account, minValidityMs, (long) (timeoutSeconds * 1000));
        Map<String, Object> reply;
        try {
            reply = Json.object(body);
        } catch (IllegalArgumentException error) {
            throw new Failure(EXIT_CODES.get("internal"), "invalid reply: not a JSON object");
        }
        if (json) System.out.println(body);
        if ("ok".equals(reply.get("status"))) {
            if (!json) System.out.println(reply.get("code"));
            return 0;
        }
        Object retry = reply.get("retry_after_ms");
        String error = String.valueOf(reply.get("error"));
        System.err.println(error + ": " + reply.get("message") + (retry instanceof Long ? " (retry after " + retry + " ms)" : ""));
        // An error this program does not know is still an error, with its message.
        return EXIT_CODES.getOrDefault(error, EXIT_OTHER);
    }

    /** The worker's reply body, or a Failure. */
    static String requestCode(String url, String queue, String account, Long minValidityMs, long timeoutMs) throws Failure {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        ConnectionFactory factory = new ConnectionFactory();
        String user;
        String endpoint;
        try {
            factory.setUri(url);
            URI uri = new URI(url);
            // The requester is the user we log in as; RabbitMQ refuses any other.
            user = factory.getUsername();
            String host = factory.getHost().contains(":") ? "[" + factory.getHost() + "]" : factory.getHost();
            endpoint = host + ":" + factory.getPort();
            if (uri.getRawUserInfo() == null) throw new Failure(EXIT_OTHER, "MFA_BROKER_URL has no user (amqp://USER:PASSWORD@HOST:5672/%2F)");
        } catch (Failure failure) {
            throw failure;
        } catch (Exception error) {
            throw new Failure(EXIT_OTHER, "MFA_BROKER_URL is not a broker URL (amqp://USER:PASSWORD@HOST:5672/%2F)");
        }
        // Fail, do not retry in the background: a robot wants the reason now.
        factory.setAutomaticRecoveryEnabled(false);
        factory.setConnectionTimeout(5000);

        Connection connection;
        try {
            connection = factory.newConnection("mfa-worker example (Java)");
        } catch (ConnectException error) {
            throw new Failure(EXIT_OTHER, "connection refused: is RabbitMQ running on " + endpoint + "?");
        } catch (PossibleAuthenticationFailureException error) {
            throw new Failure(EXIT_OTHER, "login refused for user '" + user + "': check the password in MFA_BROKER_URL");
        } catch (Exception error) {
            throw new Failure(EXIT_OTHER, "cannot connect to " + endpoint + ": " + error.getClass().getSimpleName());
        }
        try {
            Channel channel = connection.createChannel();
            checkRequestQueue(channel, queue);
            // Our own reply queue: server-named, exclusive, auto-delete, no DLX.
            String replyQueue = channel.queueDeclare().getQueue();
            String correlationId = UUID.randomUUID().toString();
            BlockingQueue<String> replies = new ArrayBlockingQueue<>(1);
            channel.basicConsume(replyQueue, true, (tag, delivery) -> {
                // Anything that is not the answer to this request is dropped.
                if (correlationId.equals(delivery.getProperties().getCorrelationId())) {
                    replies.offer(new String(delivery.getBody(), StandardCharsets.UTF_8));
                }
            }, tag -> { });
            // Never let the worker hold our turn for a window longer than we
            // wait (a once_per_window account would spend that window on nobody).
            String request = "{\"account\":" + Json.string(account)
                + (minValidityMs == null ? "" : ",\"min_validity_ms\":" + minValidityMs)
                + ",\"max_wait_ms\":" + Math.max(0, timeoutMs - 1000) + "}";
            AMQP.BasicProperties properties = new AMQP.BasicProperties.Builder()
                .replyTo(replyQueue)
                .correlationId(correlationId)
                .userId(user)
                .contentType("application/json")
                .type("mfa-code-request")
                .expiration(String.valueOf(Math.max(1, timeoutMs)))
                .build();
            channel.basicPublish("", queue, properties, request.getBytes(StandardCharsets.UTF_8));
            String reply = replies.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (reply == null) throw new Failure(EXIT_TIMEOUT, String.format(Locale.ROOT, "timeout: no reply within %.1f s", timeoutMs / 1000.0));
            return reply;
        } catch (Failure failure) {
            throw failure;
        } catch (Exception error) {
            throw new Failure(EXIT_OTHER, "the broker connection failed: " + error.getClass().getSimpleName());
        } finally {
            try {
                connection.abort();
            } catch (Exception ignored) {
                // leaving anyway
            }
        }
    }

    /**
     * Fails at once when nobody could answer: a passive declare needs no
     * permission on the queue, and tells whether it exists and how many
     * consumers (workers) it has.
     */
    static void checkRequestQueue(Channel channel, String queue) throws Failure {
        AMQP.Queue.DeclareOk declared;
        try {
            declared = channel.queueDeclarePassive(queue);
        } catch (Exception error) {
            Throwable cause = error.getCause();
            if (cause instanceof ShutdownSignalException) {
                Object reason = ((ShutdownSignalException) cause).getReason();
                if (reason instanceof AMQP.Channel.Close && ((AMQP.Channel.Close) reason).getReplyCode() == 404) {
                    throw new Failure(EXIT_OTHER, "the request queue " + queue + " does not exist");
                }
            }
            throw new Failure(EXIT_OTHER, "cannot check the request queue " + queue + ": " + error.getClass().getSimpleName());
        }
        if (declared.getConsumerCount() == 0) throw new Failure(EXIT_TIMEOUT, "no worker is consuming " + queue);
    }

    /** Just enough JSON for the protocol's replies: objects, strings, numbers, true, false, null. */
    static final class Json {
        private final String text;
        private int at;

        private Json(String text) {
            this.text = text;
        }

        @SuppressWarnings("unchecked")
        static Map<String, Object> object(String text) {
            Json json = new Json(text);
            Object value = json.value();
            json.space();
            if (!(value instanceof Map) || json.at != text.length()) throw new IllegalArgumentException("not one JSON object");
            return (Map<String, Object>) value;
        }

        static String string(String value) {
            StringBuilder out = new StringBuilder("\"");
            for (char c : value.toCharArray()) {
                if (c == '"' || c == '\\') out.append('\\').append(c);
                else if (c < 0x20) out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                else out.append(c);
            }
            return out.append('"').toString();
        }

        private void space() {
            while (at < text.length() && " \t\r\n".indexOf(text.charAt(at)) >= 0) at++;
        }

        private char next() {
            if (at >= text.length()) throw new IllegalArgumentException("unexpected end");
            return text.charAt(at++);
        }

        private void expect(String word) {
            if (!text.startsWith(word, at)) throw new IllegalArgumentException("unexpected text");
            at += word.length();
        }

        private Object value() {
            space();
            if (at >= text.length()) throw new IllegalArgumentException("unexpected end");
            char c = text.charAt(at);
            switch (c) {
                case '{': {
                    at++;
                    Map<String, Object> object = new HashMap<>();
                    space();
                    if (at < text.length() && text.charAt(at) == '}') { at++; return object; }
                    while (true) {
                        space();
                        if (next() != '"') throw new IllegalArgumentException("a key must be a string");
                        String key = stringBody();
                        space();
                        if (next() != ':') throw new IllegalArgumentException("':' expected");
                        object.put(key, value());
                        space();
                        char separator = next();
                        if (separator == '}') return object;
                        if (separator != ',') throw new IllegalArgumentException("',' expected");
                    }
                }
                case '[': {
                    at++;
                    java.util.List<Object> list = new java.util.ArrayList<>();
                    space();
                    if (at < text.length() && text.charAt(at) == ']') { at++; return list; }
                    while (true) {
                        list.add(value());
                        space();
                        char separator = next();
                        if (separator == ']') return list;
                        if (separator != ',') throw new IllegalArgumentException("',' expected");
                    }
                }
                case '"': at++; return stringBody();
                case 't': expect("true"); return Boolean.TRUE;
                case 'f': expect("false"); return Boolean.FALSE;
                case 'n': expect("null"); return null;
                default: return number();
            }
        }

        private String stringBody() {
            StringBuilder out = new StringBuilder();
            while (true) {
                char c = next();
                if (c == '"') return out.toString();
                if (c != '\\') { out.append(c); continue; }
                char escaped = next();
                switch (escaped) {
                    case 'b': out.append('\b'); break;
                    case 'f': out.append('\f'); break;
                    case 'n': out.append('\n'); break;
                    case 'r': out.append('\r'); break;
                    case 't': out.append('\t'); break;
                    case 'u':
                        if (at + 4 > text.length()) throw new IllegalArgumentException("bad \\u escape");
                        out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                        at += 4;
                        break;
                    default: out.append(escaped);
                }
            }
        }

        private Object number() {
            int start = at;
            while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) at++;
            String number = text.substring(start, at);
            if (number.isEmpty()) throw new IllegalArgumentException("unexpected character");
            if (number.matches("-?\\d+")) return Long.parseLong(number);
            return Double.parseDouble(number);
        }
    }
}
