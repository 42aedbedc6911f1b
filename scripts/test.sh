#!/usr/bin/env bash
# README's test command: installs what is missing, starts the project's
# RabbitMQ node on 127.0.0.1 (with the test users), and runs every test:
# the unit and broker tests, the fault tests (with RabbitMQ nodes of their
# own), 30 s of fuzzing, and a benchmark smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/broker.sh start

# Every worker the tests run leaves its log, audit trail and keys here for
# the secret scan below.
export MFA_TEST_EVIDENCE=/tmp/mfa-test-evidence
rm -rf "$MFA_TEST_EVIDENCE"

echo "test: the sources are formatted as .swift-format says (swift format lint)"
swift format lint --configuration .swift-format --strict --recursive Sources Tests Benchmarks/EchoResponder Fuzz Package.swift

echo "test: building (the release binary, left on PATH as mfa-worker; then the tests)"
. scripts/lib/on-path.sh
swift build --build-tests
echo "test: running the test suite (unit tests, command line, examples, and the broker tests against 127.0.0.1:5672)"
swift test --skip-build

echo "test: fault and TLS tests (a broker restart under load, a lost cluster node, a TLS node; RabbitMQ nodes of their own)"
scripts/test-faults.sh

echo "test: scanning every log line and audit record of the tests for every secret and code"
python3 scripts/scan-secrets.py "$MFA_TEST_EVIDENCE"

echo "test: fuzzing the request decoder for 30 s"
scripts/fuzz.sh 30

echo "test: benchmark smoke run (release build; the figures of a smoke run mean little)"
Benchmarks/run.sh --smoke

echo "test: robots at once, smoke (200 robots against the worker and the no-work responder, a RabbitMQ node of its own)"
Benchmarks/robots.sh --smoke

echo "test: operations kit (alert rules with promtool, the systemd unit, the Debian package installed and purged)"
scripts/test-ops.sh
