#!/usr/bin/env bash
# The operations kit's checks, with the real tools from Debian's packages
# (scripts/install-deps.sh installs them):
#   - the alert rules: promtool check rules, their unit tests (promtool test
#     rules), and every alert having a test; the example prometheus.yml;
#   - the systemd unit: systemd-analyze security --offline=true gives an
#     exposure of at most 2.0, and systemd-analyze verify passes;
#   - the Debian package (scripts/package-deb.sh): lintian finds no error; it
#     installs with dpkg (the user, the permissions, check-config on the
#     installed configuration, enroll as mfa-worker, the installed worker
#     serving a code as mfa-worker without privileges, with its audit trail),
#     and removes and purges cleanly. This part needs root, runs one at a
#     time on a machine, and undoes itself (the package purged, the user
#     removed); it is skipped where mfa-worker is installed already.
# The Swift tests check the rest that needs a running worker (promtool check
# metrics on its /metrics, a real Prometheus scraping it).
#   scripts/test-ops.sh            (the test broker runs: scripts/broker.sh start)
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

# --- The systemd unit, offline ---------------------------------------------
unit=deploy/systemd/mfa-worker.service
echo "ops: systemd-analyze security --offline=true $unit"
security=$(systemd-analyze security --offline=true "$unit" 2>&1)
exposure=$(sed -n 's/.*Overall exposure level for mfa-worker.service: \([0-9.]*\) .*/\1/p' <<<"$security")
grep 'Overall exposure level' <<<"$security"
if [ -z "$exposure" ] || ! awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
    echo "ops: the unit's exposure is '${exposure:-unknown}', over 2.0:" >&2
    grep '✗' <<<"$security" >&2 || true
    exit 1
fi

# --- The Debian package ------------------------------------------------------
echo "ops: building the Debian package"
package=$(scripts/package-deb.sh)
version=$(dpkg-deb -f "$package" Version)
echo "ops: lintian $package"
lintian_status=0
lintian_output=$(lintian --fail-on error "$package" 2>&1) || lintian_status=$?
grep -v 'running with root privileges' <<<"$lintian_output" || true
[ "$lintian_status" -eq 0 ] || { echo "ops: lintian reports errors" >&2; exit 1; }

# Installing touches the machine: only where the package is not installed
# already, one run at a time, and everything undone afterwards (the package
# purged, the mfa-worker user removed if this run created it).
if dpkg-query -W -f='${Status}' mfa-worker 2>/dev/null | grep -q 'installed'; then
    echo "ops: mfa-worker is installed on this machine; skipping the install/remove test" >&2
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ops: the install/remove test of the package needs root (dpkg, a system user): run scripts/test-ops.sh as root" >&2
    exit 1
fi
exec 9>/tmp/mfa-worker-package-test.lock
flock 9
user_existed=false
getent passwd mfa-worker >/dev/null && user_existed=true
scratch=$(mktemp -d /tmp/mfa-ops-XXXXXX)
worker_pid=
undo() {
    [ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null || true
    dpkg --purge mfa-worker >/dev/null 2>&1 || true
    if ! $user_existed && getent passwd mfa-worker >/dev/null; then
        deluser --system --quiet mfa-worker >/dev/null 2>&1 || true
    fi
    if ! $user_existed && getent group mfa-worker >/dev/null; then
        delgroup --system --quiet mfa-worker >/dev/null 2>&1 || true
    fi
    rm -rf "$scratch"
}
trap undo EXIT
fail() { echo "ops: $*" >&2; exit 1; }

echo "ops: dpkg --install $package"
dpkg --install "$package" >/dev/null
# Not enabled before it is configured.
[ ! -e /etc/systemd/system/multi-user.target.wants/mfa-worker.service ] || fail "the unit was enabled on installation"
[ "$(/usr/bin/mfa-worker --version)" = "$version" ] || fail "the installed binary does not say version $version"
getent passwd mfa-worker | grep -q ':/nonexistent:/usr/sbin/nologin$' || fail "no system user mfa-worker without a home and a shell"
[ "$(id -u mfa-worker)" -lt 1000 ] || fail "mfa-worker is not a system user"
for expected in "root mfa-worker 750 /etc/mfa-worker" "root mfa-worker 640 /etc/mfa-worker/worker.yaml" \
        "root root 600 /etc/mfa-worker/amqp-password" "mfa-worker mfa-worker 700 /etc/mfa-worker/secrets" \
        "mfa-worker mfa-worker 750 /var/log/mfa-worker"; do
    path=${expected##* }
    [ "$(stat -c '%U %G %a %n' "$path")" = "$expected" ] || fail "$path: $(stat -c '%U %G %a' "$path"), expected ${expected% *}"
done
# The configuration is the service's to read, nobody else's; the broker
# password reaches the service through systemd (LoadCredential=) only.
runuser -u mfa-worker -- cat /etc/mfa-worker/worker.yaml >/dev/null || fail "mfa-worker cannot read its configuration"
! runuser -u mfa-worker -- cat /etc/mfa-worker/amqp-password >/dev/null 2>&1 || fail "mfa-worker can read the password file itself"
! runuser -u nobody -- cat /etc/mfa-worker/worker.yaml >/dev/null 2>&1 || fail "others can read the configuration"
/usr/bin/mfa-worker check-config --config /etc/mfa-worker/worker.yaml >/dev/null || fail "check-config refuses the installed configuration"
echo "ops: systemd-analyze verify (installed unit)"
systemd-analyze verify /lib/systemd/system/mfa-worker.service

# An operator's first steps, as docs/operations.md gives them: enrol an
# account as mfa-worker (the key is a random one; nothing is printed),
# allow it, check the configuration.
head -c 20 /dev/urandom | base32 | runuser -u mfa-worker -- /usr/bin/mfa-worker enroll ops-check --config /etc/mfa-worker/worker.yaml >/dev/null \
    || fail "enroll as mfa-worker failed"
[ "$(stat -c '%U %a' /etc/mfa-worker/secrets/ops-check.key)" = "mfa-worker 600" ] || fail "the enrolled key is not mfa-worker's alone"
sed -i -e 's/^accounts: {}$/accounts:\n  ops-check: {secret_file: secrets\/ops-check.key}/' \
    -e 's/^allow: {}$/allow:\n  rpa-bot-eu-1: [ops-check]/' /etc/mfa-worker/worker.yaml
/usr/bin/mfa-worker check-config --config /etc/mfa-worker/worker.yaml | grep -q '^accounts (1):' \
    || fail "check-config does not take the enrolled account"

# The installed binary serves as the unprivileged user with the package's
# files: a copy of the configuration pointed at the test broker (the demo
# password in a file mfa-worker may read, as systemd's credential would be),
# its audit trail in /var/log/mfa-worker.
queue="mfa-code-request-ops-$$"
metrics_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chown mfa-worker "$scratch" && chmod 700 "$scratch"
install -o mfa-worker -m 0600 /dev/null "$scratch/amqp-password"
printf 'demo-worker-password\n' > "$scratch/amqp-password"
sed -e "s|password_file: amqp-password|password_file: $scratch/amqp-password|" -e "s|name: mfa-code-request|name: $queue|" \
    -e "s|listen: 127.0.0.1:9464|listen: 127.0.0.1:$metrics_port|" -e "s|secrets/ops-check.key|/etc/mfa-worker/secrets/ops-check.key|" \
    /etc/mfa-worker/worker.yaml > "$scratch/worker.yaml"
chown mfa-worker "$scratch/worker.yaml"
setpriv --reuid=mfa-worker --regid=mfa-worker --init-groups --no-new-privs --inh-caps=-all --bounding-set=-all \
    /usr/bin/mfa-worker run --config "$scratch/worker.yaml" --workers 1 > "$scratch/worker.log" 2>&1 &
worker_pid=$!
for _ in $(seq 1 300); do
    grep -q 'notice consuming' "$scratch/worker.log" && break
    kill -0 "$worker_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q 'notice consuming' "$scratch/worker.log" || { cat "$scratch/worker.log" >&2; fail "the installed worker did not start consuming as mfa-worker"; }
runuser -u mfa-worker -- /usr/bin/mfa-worker health --config "$scratch/worker.yaml" >/dev/null || fail "mfa-worker health: not healthy"
mfa-worker request --account ops-check --url "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:5672/%2F" --queue "$queue" --timeout 20 >/dev/null \
    || fail "no code from the installed worker"
kill -TERM "$worker_pid"
wait "$worker_pid" || fail "the installed worker did not stop cleanly"
worker_pid=
grep -q '"outcome":"ok"' /var/log/mfa-worker/audit.jsonl || fail "no audit record in /var/log/mfa-worker/audit.jsonl"
[ "$(stat -c '%U %a' /var/log/mfa-worker/audit.jsonl)" = "mfa-worker 600" ] || fail "the audit trail is not mfa-worker's alone"

echo "ops: dpkg --remove, then --purge"
dpkg --remove mfa-worker >/dev/null
[ ! -e /usr/bin/mfa-worker ] || fail "dpkg --remove left /usr/bin/mfa-worker"
[ -e /etc/mfa-worker/worker.yaml ] || fail "dpkg --remove took the configuration"
dpkg --purge mfa-worker >/dev/null
for path in /etc/mfa-worker /var/log/mfa-worker /lib/systemd/system/mfa-worker.service; do
    [ ! -e "$path" ] || fail "dpkg --purge left $path"
done
leftovers=$(find /etc/systemd /var/lib/systemd -name '*mfa-worker*' 2>/dev/null)
[ -z "$leftovers" ] || fail "dpkg --purge left $leftovers"
! dpkg-statoverride --list | grep -q mfa-worker || fail "dpkg --purge left a stat override"
echo "ops: installed, ran, removed and purged $package"
