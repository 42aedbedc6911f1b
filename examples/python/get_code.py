#!/usr/bin/env python3
"""Ask mfa-worker for a TOTP code over AMQP, with pika and nothing but the
protocol (docs/protocol.md).

    python3 examples/python/get_code.py --account sf-automation-eu \
        --url amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:5672/%2F

Prints the code alone (or the whole reply with --json). Exit status: 0 ok,
2 forbidden, 3 bad_request, 4 rate_limited, 5 unavailable, 6 internal,
7 timeout, 9 busy, 1 anything else. The broker password may also come from
MFA_BROKER_URL.
"""
import argparse
import json
import os
import sys
import time
import uuid
from urllib.parse import unquote, urlparse

import pika

EXIT_CODES = {"forbidden": 2, "bad_request": 3, "rate_limited": 4, "unavailable": 5, "internal": 6, "busy": 9}


def request_code(url, account, min_validity_ms=None, timeout_s=10.0, queue="mfa-code-request"):
    """Returns the worker's reply as a dict, or None on timeout."""
    parameters = pika.URLParameters(url)
    # The protocol's requester identity is the user we log in as; RabbitMQ
    # refuses a user_id that differs from it.
    user = unquote(urlparse(url).username or "guest")
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        # Our own reply queue: server-named, exclusive, auto-delete, no DLX.
        reply_queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
        correlation_id = str(uuid.uuid4())
        body = {"account": account}
        if min_validity_ms is not None:
            body["min_validity_ms"] = min_validity_ms
        # Never let the worker hold our turn for a window longer than we wait
        # (a once_per_window account would spend that window on nobody).
        body["max_wait_ms"] = max(0, int(timeout_s * 1000) - 1000)
        channel.basic_publish(
            exchange="",
            routing_key=queue,
            properties=pika.BasicProperties(
                reply_to=reply_queue,
                correlation_id=correlation_id,
                user_id=user,
                content_type="application/json",
                type="mfa-code-request",
                expiration=str(int(timeout_s * 1000)),
            ),
            body=json.dumps(body).encode(),
        )
        deadline = time.monotonic() + timeout_s
        for method, properties, payload in channel.consume(reply_queue, auto_ack=True, inactivity_timeout=0.1):
            if method is not None and properties.correlation_id == correlation_id:
                reply = json.loads(payload)
                reply["_properties"] = {
                    "correlation_id": properties.correlation_id,
                    "content_type": properties.content_type,
                    "type": properties.type,
                    "delivery_mode": properties.delivery_mode,
                    "expiration": properties.expiration,
                    "timestamp": properties.timestamp,
                }
                return reply
            if time.monotonic() > deadline:
                return None
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--account", required=True)
    parser.add_argument("--url", default=os.environ.get("MFA_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"))
    parser.add_argument("--min-validity-ms", type=int)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--queue", default="mfa-code-request")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    reply = request_code(args.url, args.account, args.min_validity_ms, args.timeout, args.queue)
    if reply is None:
        print("timeout: no reply within %.1f s" % args.timeout, file=sys.stderr)
        return 7
    if args.json:
        print(json.dumps(reply))
    if reply.get("status") == "ok":
        if not args.json:
            print(reply["code"])
        return 0
    retry = " (retry after %d ms)" % reply["retry_after_ms"] if "retry_after_ms" in reply else ""
    print("%s: %s%s" % (reply.get("error"), reply.get("message"), retry), file=sys.stderr)
    return EXIT_CODES.get(reply.get("error"), 1)


if __name__ == "__main__":
    sys.exit(main())
