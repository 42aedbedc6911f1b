"""Prints the RabbitMQ definitions (users, permissions) of the demo and test
broker; with --without-test-admin, those of docker/compose.yaml
(docker/rabbitmq/definitions.json). Passwords are the demo ones from
README: never real.

Least privilege (see README, "Users and permissions"):
- the worker reads and configures only the request queues and writes only to
  the default exchange (replies) and the request queues' dead-letter
  exchanges (RabbitMQ checks that when the queue is declared);
- a requester writes to the default exchange (RabbitMQ checks publishing on
  the exchange) and configures and reads only its own server-named queues;
- no requester has the `impersonator` tag, which would let it forge user_id.
"""
import base64
import hashlib
import json
import os
import sys

REQUEST_QUEUES = r"^mfa-code-request.*$"
OWN_QUEUES = r"^amq\.gen-.*$"
DEFAULT_EXCHANGE = r"^amq\.default$"
# Declaring a queue with x-dead-letter-exchange needs write on that exchange.
WORKER_WRITE = r"^(amq\.default|mfa-code-request.*\.dlx)$"

USERS = [
    # name, password, tags, (configure, write, read)
    ("mfa-worker", "demo-worker-password", [], (REQUEST_QUEUES, WORKER_WRITE, REQUEST_QUEUES)),
    ("rpa-bot-eu-1", "rpa-bot-eu-1-password", [], (OWN_QUEUES, DEFAULT_EXCHANGE, OWN_QUEUES)),
    ("rpa-bot-eu-2", "rpa-bot-eu-2-password", [], (OWN_QUEUES, DEFAULT_EXCHANGE, OWN_QUEUES)),
    # For tests only: declares dead-letter exchanges, inspects and deletes queues.
    ("mfa-test-admin", "mfa-test-admin-password", ["administrator"], (".*", ".*", ".*")),
]
if "--without-test-admin" in sys.argv:
    USERS = [user for user in USERS if user[0] != "mfa-test-admin"]


def password_hash(password: str) -> str:
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


definitions = {
    "users": [
        {
            "name": name,
            "password_hash": password_hash(password),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": tags,
        }
        for name, password, tags, _ in USERS
    ],
    "vhosts": [{"name": "/"}],
    "permissions": [
        {"user": name, "vhost": "/", "configure": c, "write": w, "read": r}
        for name, _, _, (c, w, r) in USERS
    ],
}
print(json.dumps(definitions, indent=2))
