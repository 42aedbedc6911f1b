#!/usr/bin/env bash
# The tests that need RabbitMQ nodes of their own: a broker restart under
# load (node mfa-fault on 127.0.0.1:5681), a memory alarm (node mfa-alarm on
# 127.0.0.1:5684), a lost node of a 3-node cluster (scripts/cluster.sh), and
# TLS (scripts/tls-node.sh, TLS on 5771).
# Starts the nodes they need, runs them, stops the nodes. Expects the test
# build of scripts/test.sh (or runs swift build --build-tests itself).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
# Stopped whatever happens, a node that failed to start included.
cleanup() {
    MFA_BROKER_NAME=mfa-fault MFA_BROKER_PORT=5681 scripts/broker.sh stop || true
    MFA_BROKER_NAME=mfa-alarm MFA_BROKER_PORT=5684 scripts/broker.sh stop || true
    scripts/cluster.sh stop || true
    scripts/tls-node.sh stop || true
}
trap cleanup EXIT
MFA_BROKER_NAME=mfa-fault MFA_BROKER_PORT=5681 scripts/broker.sh start
MFA_BROKER_NAME=mfa-alarm MFA_BROKER_PORT=5684 scripts/broker.sh start
scripts/cluster.sh start
scripts/tls-node.sh start

swift build --build-tests >/dev/null
echo "faults: nodes up after $(( $(date +%s) - started )) s; running the fault and TLS tests"
MFA_FAULT_TESTS=1 swift test --skip-build --filter FaultTests
