#!/usr/bin/env bash
# The operations kit's checks, with the real tools from Debian's packages
# (scripts/install-deps.sh installs them):
#   - the alert rules: promtool check rules, their unit tests (promtool test
#     rules), and every alert having a test; the example prometheus.yml.
# The Swift tests check the rest that needs a running worker (promtool check
# metrics on its /metrics, a real Prometheus scraping it).
#   scripts/test-ops.sh
set -euo pipefail
cd "$(dirname "$0")/.."

rules=deploy/prometheus/mfa-worker-alerts.yml
tests=deploy/prometheus/mfa-worker-alerts.test.yml

echo "ops: promtool check rules, test rules and check config (deploy/prometheus)"
promtool check rules "$rules"
(cd deploy/prometheus && promtool test rules "$(basename "$tests")")
promtool check config deploy/prometheus/prometheus.example.yml
# Every alert has a test case of its own.
untested=()
for alert in $(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$rules"); do
    grep -q "alertname: $alert\$" "$tests" || untested+=("$alert")
done
if [ ${#untested[@]} -gt 0 ]; then
    echo "ops: alerts without a promtool test in $tests: ${untested[*]}" >&2
    exit 1
fi
