#!/usr/bin/env python3
"""Ask mfa-worker for a TOTP code over AMQP, with pika and nothing but the
protocol (docs/protocol.md).

    export MFA_BROKER_URL=amqp://rpa-bot-eu-1:PASSWORD@127.0.0.1:5672/%2F
    python3 examples/python/get_code.py --account sf-automation-eu

Prints the code alone (or the whole reply with --json). After the login,
report how it went, with the reply's account and window_start:

    python3 examples/python/get_code.py --account sf-automation-eu --report failure --window-start 1764372600

Every failure is one line on stderr, with an exit status: 0 ok,
2 forbidden, 3 bad_request, 4 rate_limited, 5 unavailable, 6 internal,
7 timeout or no worker consuming the request queue, 9 busy, 10 paused (the
account's lockout guard), 1 anything else (connection refused, login
refused, no request queue, ...).
"""
import argparse
import json
import os
import sys
import time
import uuid
from urllib.parse import unquote, urlparse

try:
    import pika
    import pika.exceptions
except ImportError:
    print("pika is not installed: python3 -m pip install pika", file=sys.stderr)
    sys.exit(1)

EXIT_CODES = {"forbidden": 2, "bad_request": 3, "rate_limited": 4, "unavailable": 5, "internal": 6, "busy": 9, "paused": 10}
EXIT_TIMEOUT = 7
EXIT_OTHER = 1


class Failure(Exception):
    """One line for a person, and the exit status that goes with it."""

    def __init__(self, message, status=EXIT_OTHER):
        super().__init__(message)
        self.status = status


def endpoint(url):
    """HOST:PORT of a broker URL, for messages (never the password)."""
    parsed = urlparse(url)
    host = parsed.hostname or "localhost"
    if ":" in host:
        host = "[%s]" % host
    port = parsed.port or (5671 if parsed.scheme == "amqps" else 5672)
    return "%s:%d" % (host, port)


def caused_by(error, kind):
    """True when `kind` is somewhere in the exception's arguments (pika wraps
    the socket's error in its own)."""
    seen = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        if isinstance(current, BaseException):
            todo.extend(current.args)
            todo.append(getattr(current, "exception", None))
            todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return False


def connect(url, user):
    try:
        return pika.BlockingConnection(pika.URLParameters(url))
    except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
        raise Failure("login refused for user '%s': check the password in MFA_BROKER_URL" % user)
    except pika.exceptions.ProbableAccessDeniedError:
        raise Failure("login refused for user '%s': no access to the vhost in MFA_BROKER_URL" % user)
    except Exception as error:  # pika wraps socket errors in several ways
        if caused_by(error, ConnectionRefusedError):
            raise Failure("connection refused: is RabbitMQ running on %s?" % endpoint(url))
        raise Failure("cannot connect to %s: %s" % (endpoint(url), type(error).__name__))


def check_request_queue(channel, queue):
    """Fails at once when nobody could answer: a passive declare needs no
    permission on the queue, and tells whether it exists and how many
    consumers (workers) it has."""
    try:
        declared = channel.queue_declare(queue=queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == 404:
            raise Failure("the request queue %s does not exist" % queue)
        raise Failure("cannot check the request queue %s: %s %s" % (queue, error.reply_code, error.reply_text))
    if declared.method.consumer_count == 0:
        raise Failure("no worker is consuming %s" % queue, EXIT_TIMEOUT)


def request_code(url, account, min_validity_ms=None, timeout_s=10.0, queue="mfa-code-request"):
    """Returns the worker's reply as a dict; raises Failure otherwise."""
    body = {"account": account}
    if min_validity_ms is not None:
        body["min_validity_ms"] = min_validity_ms
    # Never let the worker hold our turn for a window longer than we wait
    # (a once_per_window account would spend that window on nobody).
    body["max_wait_ms"] = max(0, int(timeout_s * 1000) - 1000)
    return call(url, "mfa-code-request", body, timeout_s, queue)


def report_outcome(url, account, window_start, outcome, reason=None, timeout_s=10.0, queue="mfa-code-request"):
    """Tells the worker how a login with a code went ("success" or
    "failure"): `account` and `window_start` as the code's reply gave them.
    Failures feed the account's lockout guard. Returns the answer,
    {"status": "ok"} or an error; raises Failure otherwise."""
    body = {"account": account, "window_start": window_start, "outcome": outcome}
    if reason:
        body["reason"] = reason[:200]
    return call(url, "mfa-login-outcome", body, timeout_s, queue)


def call(url, message_type, body, timeout_s, queue):
    """Publishes one message of the protocol and returns its answer as a dict."""
    # The protocol's requester identity is the user we log in as; RabbitMQ
    # refuses a user_id that differs from it.
    user = unquote(urlparse(url).username or "guest")
    deadline = time.monotonic() + timeout_s
    connection = connect(url, user)
    try:
        channel = connection.channel()
        check_request_queue(channel, queue)
        # Our own reply queue: server-named, exclusive, auto-delete, no DLX.
        reply_queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
        correlation_id = str(uuid.uuid4())
        channel.basic_publish(
            exchange="",
            routing_key=queue,
            properties=pika.BasicProperties(
                reply_to=reply_queue,
                correlation_id=correlation_id,
                user_id=user,
                content_type="application/json",
                type=message_type,
                expiration=str(max(1, int(timeout_s * 1000))),
            ),
            body=json.dumps(body).encode(),
        )
        for method, properties, payload in channel.consume(reply_queue, auto_ack=True, inactivity_timeout=0.1):
            # Anything that is not the answer to this request is dropped.
            if method is None or properties.correlation_id != correlation_id:
                if time.monotonic() >= deadline:
                    raise Failure("timeout: no reply within %.1f s" % timeout_s, EXIT_TIMEOUT)
                continue
            try:
                reply = json.loads(payload)
            except ValueError:
                raise Failure("invalid reply: not JSON", EXIT_CODES["internal"])
            if not isinstance(reply, dict):
                raise Failure("invalid reply: not a JSON object", EXIT_CODES["internal"])
            reply["_properties"] = {
                "correlation_id": properties.correlation_id,
                "content_type": properties.content_type,
                "type": properties.type,
                "delivery_mode": properties.delivery_mode,
                "expiration": properties.expiration,
                "timestamp": properties.timestamp,
                "user_id": properties.user_id,
            }
            return reply
    except pika.exceptions.AMQPError as error:
        raise Failure("the broker connection failed: %s" % type(error).__name__)
    finally:
        try:
            connection.close()
        except Exception:
            pass


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error, which here means forbidden: one
    line and status 1 instead."""

    def error(self, message):
        raise Failure("usage: %s" % message)


def main():
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--account", required=True, help="the account whose code to ask for")
    parser.add_argument("--min-validity-ms", type=int, help="the code must stay valid this long, or the next window's comes")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the reply (default 10)")
    parser.add_argument("--queue", default="mfa-code-request", help="the worker's request queue (default mfa-code-request)")
    parser.add_argument("--json", action="store_true", help="print the whole reply")
    parser.add_argument("--report", choices=["success", "failure"], help="report how a login went instead of asking for a code")
    parser.add_argument("--window-start", type=int, help="with --report: the window_start of the code's reply")
    parser.add_argument("--reason", help="with --report: why, for the audit trail (at most 200 characters)")
    # The broker URL (with the robot's password) comes from MFA_BROKER_URL, so
    # that it never shows in `ps`; --url stays for old callers.
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = args.url or os.environ.get("MFA_BROKER_URL")
    if not url:
        raise Failure("MFA_BROKER_URL is not set (amqp://USER:PASSWORD@HOST:5672/%2F)")
    if not 0 < args.timeout <= 3600:
        raise Failure("usage: --timeout must be more than 0 and at most 3600 seconds")

    if args.report:
        if args.window_start is None:
            raise Failure("usage: --report needs --window-start (the reply's window_start)")
        reply = report_outcome(url, args.account, args.window_start, args.report, args.reason, args.timeout, args.queue)
        if reply.get("status") == "ok":
            print("ok")
            return 0
    else:
        reply = request_code(url, args.account, args.min_validity_ms, args.timeout, args.queue)
    if args.json:
        print(json.dumps(reply))
    if reply.get("status") == "ok":
        if not args.json:
            print(reply["code"])
        return 0
    retry = " (retry after %d ms)" % reply["retry_after_ms"] if isinstance(reply.get("retry_after_ms"), int) else ""
    print("%s: %s%s" % (reply.get("error"), reply.get("message"), retry), file=sys.stderr)
    # An error this program does not know is still an error, with its message.
    return EXIT_CODES.get(reply.get("error"), EXIT_OTHER)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as failure:
        print(failure, file=sys.stderr)
        sys.exit(failure.status)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_OTHER)
    except Exception as error:  # never a traceback for a robot's log
        print("failed: %s" % type(error).__name__, file=sys.stderr)
        sys.exit(EXIT_OTHER)
