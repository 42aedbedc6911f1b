#!/usr/bin/env bash
# README's test command: installs what is missing, starts the project's
# RabbitMQ node on 127.0.0.1 (with the test users), and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/broker.sh start

echo "test: building"
swift build --build-tests
echo "test: running the test suite (unit tests, command line, examples, and the broker tests against 127.0.0.1:5672)"
swift test --skip-build

echo "test: benchmark smoke run (release build; the figures of a smoke run mean little)"
Benchmarks/run.sh --smoke
