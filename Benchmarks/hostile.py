"""Publishes malformed and hostile requests to a request queue as fast as it
can, until SIGTERM or SIGINT; then prints how many it sent. The load of
Benchmarks/run.sh's barrage scenario (well-formed latency while this runs).

    python3 Benchmarks/hostile.py QUEUE          (broker URL from $MFA_BROKER_URL)
"""
import os
import signal
import sys

import pika

queue = sys.argv[1]
params = pika.URLParameters(os.environ["MFA_BROKER_URL"])
user = params.credentials.username
connection = pika.BlockingConnection(params)
channel = connection.channel()
reply_queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
channel.basic_consume(reply_queue, lambda *args: None, auto_ack=True)

deep = b'{"account":"x","y":' + b"[" * 1500 + b"]" * 1500 + b"}"
corpus = [
    (b'{"account":"sf-eu","x":"\xff\xfe"}', "application/json", None),
    (b'{"account":"sf-eu","account":"other"}', "application/json", None),
    (b'{"account":"other"}', "application/json", None),
    (b'{"account":"sf-eu","min_validity_ms":1e400}', "application/json", None),
    (b"null", "application/json", None),
    (deep, "application/json", None),
    (b'{"account":"sf-eu"}', "text/html", None),
    (b'{"account":"sf-eu"}', "application/json", "mfa-code-reply"),
    (b" " * 4097, "application/json", None),
]

stopped = False


def stop(*_):
    global stopped
    stopped = True


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
sent = 0
while not stopped:
    for body, content_type, kind in corpus:
        channel.basic_publish("", queue, body, pika.BasicProperties(
            content_type=content_type, correlation_id="hostile", reply_to=reply_queue, type=kind, user_id=user))
        sent += 1
    if sent == len(corpus):
        print("hostile: flooding", file=sys.stderr, flush=True)
    # Serve the connection (and drop the replies) between rounds.
    connection.process_data_events(time_limit=0)
print(sent)
