#!/usr/bin/env bash
# Robots at once: N robots connect, then each asks for one code at the same
# instant (`mfa-worker burst --connections N --requests N --inflight 1
# --at-once`), against the worker and against the no-work responder on the
# same broker, for each N. Runs a RabbitMQ node of its own (mfa-robots on
# 127.0.0.1:5692, with the open-files limit scripts/broker.sh gives it) and
# stops it after.
#
#   Benchmarks/robots.sh              1,000, 3,000 and 10,000 robots (about 10 minutes on 2 cores)
#   Benchmarks/robots.sh --smoke      200 robots (CI)
#   Benchmarks/robots.sh 500 2000     the sizes given
#
# Prints a table: ok, connection failures, p50, p99, max, the time to open
# the connections, and the broker's memory (resident, before the run and at
# its peak during it). Exit status 1 when a robot got no code, a wrong one,
# or could not connect.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=()
for argument in "$@"; do
    case "$argument" in
        --smoke) sizes+=(200) ;;
        [0-9]*) sizes+=("$argument") ;;
        *) sed -n '2,16p' "$0"; exit 2 ;;
    esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 3000 10000)

export MFA_BROKER_NAME=${MFA_ROBOTS_NODE:-mfa-robots} MFA_BROKER_PORT=${MFA_ROBOTS_PORT:-5692}
port=$MFA_BROKER_PORT
. Benchmarks/lib.sh
bench_build

# The node goes with the run.
bench_cleanup_extra() { scripts/broker.sh stop >/dev/null || true; }
bench_scratch mfa-robots
scripts/broker.sh start >&2
broker_pid=$(cat "${MFA_BROKER_DIR:-/tmp/mfa-worker-broker/$MFA_BROKER_NAME}/rabbitmq.pid")

worker_queue=mfa-code-request-robots
echo_queue=mfa-code-request-robots-echo
# Two logins stand for every robot: neither may be told busy for holding too many.
bench_worker_config "$work" "$port" "$worker_queue" "{default_min_validity_ms: 0, max_held_per_requester: 100000}"
"$bin/mfa-worker" run --config "$work/worker.yaml" > "$work/worker.log" 2>&1 &
pids+=("$!")
"$bin/mfa-echo-responder" --url "amqp://mfa-worker:demo-worker-password@127.0.0.1:$port/%2F" --queue "$echo_queue" --threads 2 --prefetch "${MFA_BENCH_PREFETCH:-256}" \
    > "$work/echo.log" 2>&1 &
pids+=("$!")
bench_wait_consuming "$work/worker.log" "$work/echo.log"

(umask 077 && printf 'rpa-bot-eu-1:rpa-bot-eu-1-password\nrpa-bot-eu-2:rpa-bot-eu-2-password\n' > "$work/robots.txt")
export MFA_BROKER_URL=amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:$port/%2F
rss() { awk '/VmRSS/ {print $2}' "/proc/$broker_pid/status"; }
connections() { scripts/broker.sh ctl list_connections name 2>/dev/null | wc -l; }
idle=$(connections)

round=0
for size in "${sizes[@]}"; do
    # The side that goes first alternates from size to size.
    sides="worker echo"
    [ $((round % 2)) -eq 1 ] && sides="echo worker"
    round=$((round + 1))
    for side in $sides; do
        queue=$worker_queue
        verify=(--verify-secret-file config/secrets/sf-automation-eu.key)
        if [ "$side" = echo ]; then queue=$echo_queue; verify=(); fi
        echo "robots: $size at once, $side" >&2
        before=$(rss)
        echo "$before" > "$work/peak"
        (
            peak=$before
            while true; do
                now=$(rss)
                [ "$now" -gt "$peak" ] && peak=$now && echo "$peak" > "$work/peak"
                sleep 0.2
            done
        ) &
        sampler=$!
        "$bin/mfa-worker" burst --account sf-automation-eu --queue "$queue" --connections "$size" --requests "$size" --inflight 1 --at-once --timeout 60 \
            --logins "$work/robots.txt" "${verify[@]}" --json > "$work/$size.$side.json" || true
        kill "$sampler"
        wait "$sampler" 2>/dev/null || true
        echo "$size $side $before $(cat "$work/peak")" >> "$work/memory.txt"
        # The next run starts on a broker that has closed this one's connections.
        for _ in $(seq 1 120); do
            [ "$(connections)" -le "$idle" ] && break
            sleep 1
        done
    done
done

python3 - "$work" "${sizes[@]}" <<'PY'
import json, os, sys
work, sizes = sys.argv[1], sys.argv[2:]
memory = {}
for line in open(os.path.join(work, "memory.txt")):
    size, side, before, peak = line.split()
    memory[(size, side)] = (int(before), int(peak))
print("| robots at once | responder | ok | connection failures | p50 ms | p99 ms | max ms | connections open in | broker memory before, peak |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
problems = []
for size in sizes:
    for side, name in (("worker", "worker"), ("echo", "no-work responder")):
        report = json.load(open(os.path.join(work, "%s.%s.json" % (size, side))))
        latency = report["latencyMilliseconds"]
        opening = (report.get("connecting") or {}).get("seconds", 0)
        before, peak = memory[(size, side)]
        print("| %s | %s | %d | %d | %.0f | %.0f | %.0f | %.1f s | %d MiB, %d MiB |" % (
            format(int(size), ","), name, report["ok"], report["connectFailures"], latency["p50"], latency["p99"], latency["max"],
            opening, before // 1024, peak // 1024))
        if report["ok"] != report["requests"] or report["connectFailures"] or (report.get("wrongCodes") or 0):
            problems.append("%s robots, %s: %d of %d ok, %d connections failed (%s), errors %s, wrong codes %s" % (
                size, name, report["ok"], report["requests"], report["connectFailures"],
                (report.get("connecting") or {}).get("failures"), report["errors"], report.get("wrongCodes")))
print()
for size in sizes:
    report = json.load(open(os.path.join(work, "%s.worker.json" % size)))
    print("%s robots: the worker's codes checked against the key: %s wrong" % (size, report.get("wrongCodes")))
if problems:
    print("\n".join("PROBLEM: " + p for p in problems))
    sys.exit(1)
PY
