#!/usr/bin/env bash
# Ten thousand robots at once against the worker on the project's broker
# (mfa@localhost, 127.0.0.1:5672: scripts/broker.sh start): a worker as
# Benchmarks/run.sh configures it (prefetch 256, two consumer threads, a log
# line per request, confirms on) on a request queue of its own, then exactly
#
#   mfa-worker burst --connections 10000 --requests 10000 --inflight 1 --at-once
#
# with the two demo robots' logins, every code checked against the key, the
# default 10 s timeout. Prints burst's report; exit status 1 when a robot got
# no code, a wrong one, or could not connect.
#
#   Benchmarks/ten-thousand.sh [ROBOTS, default 10000]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-10000}
port=${MFA_BROKER_PORT:-5672}
. Benchmarks/lib.sh
bench_build
bench_scratch mfa-ten-thousand
queue=mfa-code-request-ten-thousand
bench_worker_config "$work" "$port" "$queue" "{default_min_validity_ms: 0, max_held_per_requester: 100000}"
"$bin/mfa-worker" run --config "$work/worker.yaml" > "$work/worker.log" 2>&1 &
pids+=("$!")
bench_wait_consuming "$work/worker.log"
(umask 077 && printf 'rpa-bot-eu-1:rpa-bot-eu-1-password\nrpa-bot-eu-2:rpa-bot-eu-2-password\n' > "$work/robots.txt")
export MFA_BROKER_URL=amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:$port/%2F
echo "ten-thousand: $size robots at once (connecting them takes about 40 s)" >&2
status=0
"$bin/mfa-worker" burst --account sf-automation-eu --queue "$queue" --connections "$size" --requests "$size" --inflight 1 --at-once \
    --logins "$work/robots.txt" --verify-secret-file config/secrets/sf-automation-eu.key || status=$?
# The worker's queues go with the run.
python3 - "$port" "$queue" <<'PY' || true
import sys, pika
port, queue = int(sys.argv[1]), sys.argv[2]
connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, "/", pika.PlainCredentials("mfa-test-admin", "mfa-test-admin-password")))
for name in (queue, queue + ".guard"):
    channel = connection.channel()
    try:
        channel.queue_delete(name)
    except Exception:
        pass
connection.close()
PY
exit $status
