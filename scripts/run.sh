#!/usr/bin/env bash
# README's run command. On a fresh Debian 12 machine: installs what is
# missing, builds the worker, and runs it.
#  - With MFA_WORKER_CONFIG set, runs on that configuration and its broker.
#  - Without it, starts the project's RabbitMQ node on 127.0.0.1:5672 (with
#    the demo users) and runs on config/worker.example.yaml.
# Extra arguments go to `mfa-worker run` (e.g. --workers 4).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --run

config=${MFA_WORKER_CONFIG:-}
if [ -z "$config" ]; then
    config=config/worker.example.yaml
    scripts/broker.sh start
fi

echo "run: building mfa-worker (release; the first build takes a few minutes)"
. scripts/lib/on-path.sh

"$binary" check-config --config "$config" >/dev/null

if [ "$config" = config/worker.example.yaml ]; then
    cat <<HOW

Ask it for a code, from another terminal:

  export MFA_BROKER_URL=amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:5672/%2F
  mfa-worker request --account sf-automation-eu
  python3 examples/python/get_code.py --account sf-automation-eu

and compare with the key itself:

  mfa-worker code --account sf-automation-eu --config config/worker.example.yaml

The demo users and passwords (rpa-bot-eu-1, rpa-bot-eu-2, mfa-worker) exist
only on this local broker, bound to 127.0.0.1. Ctrl-C stops the worker;
scripts/broker.sh stop stops the broker.

HOW
fi

exec "$binary" run --config "$config" "$@"
