#!/usr/bin/env bash
# Measures the worker against a responder that does no work at all (the
# broker's own limit on this machine), in one run on one broker, with
# `mfa-worker burst` as the load. Prints each figure for both and the ratio.
#
#   Benchmarks/run.sh            the three scenarios at full size, 5 rounds each (about 2 minutes)
#   Benchmarks/run.sh --smoke    the same, small (CI)
#   Benchmarks/run.sh --memory   also 1,000,000 requests, with the worker's resident memory along the way
#
# Scenarios: latency (1 connection, 1 in flight), throughput (8 connections x
# 32 in flight), burst (200 connections x 5 requests, all at once); and the
# barrage: the latency scenario against the worker quiet and while
# Benchmarks/hostile.py floods its queue with malformed requests.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
memory=false
for argument in "$@"; do
    case "$argument" in
        --smoke) mode=smoke ;;
        --memory) memory=true ;;
        *) sed -n '2,12p' "$0"; exit 2 ;;
    esac
done

scripts/broker.sh start >/dev/null
. Benchmarks/lib.sh
bench_build

bench_scratch mfa-bench

suffix=$(date +%s)
worker_queue=mfa-code-request-bench-$suffix
echo_queue=mfa-code-request-echo-$suffix
bench_worker_config "$work" 5672 "$worker_queue"

"$bin/mfa-worker" run --config "$work/worker.yaml" > "$work/worker.log" 2>&1 &
worker_pid=$!
pids+=("$worker_pid")
# The same worker without publisher confirms, for the throughput scenario:
# confirms cost the broker work per reply that the no-work responder does not ask of it.
sed -e "s/publisher_confirms: .*/publisher_confirms: false/" -e "s/name: $worker_queue/name: $worker_queue-nc/" "$work/worker.yaml" > "$work/worker-nc.yaml"
"$bin/mfa-worker" run --config "$work/worker-nc.yaml" > "$work/worker-nc.log" 2>&1 &
pids+=("$!")
"$bin/mfa-echo-responder" --queue "$echo_queue" --threads 2 --prefetch 64 > "$work/echo.log" 2>&1 &
pids+=("$!")
bench_wait_consuming "$work/worker.log" "$work/worker-nc.log" "$work/echo.log"

export MFA_BROKER_URL=amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:5672/%2F
burst() { # queue, then burst options; prints the JSON report
    local queue=$1
    shift
    "$bin/mfa-worker" burst --account sf-automation-eu --queue "$queue" --json "$@" || true
}

if [ "$mode" = smoke ]; then
    latency=(--connections 1 --inflight 1 --requests 200)
    throughput=(--connections 8 --inflight 32 --requests 4000)
    burst_at_once=(--connections 50 --inflight 5 --requests 250 --at-once)
else
    latency=(--connections 1 --inflight 1 --requests 3000)
    throughput=(--connections 8 --inflight 32 --requests 100000)
    burst_at_once=(--connections 200 --inflight 5 --requests 1000 --at-once)
fi

# Warm both up (connections, JIT-free but caches and the broker's queues).
burst "$worker_queue" --connections 2 --inflight 8 --requests 2000 >/dev/null
burst "$echo_queue" --connections 2 --inflight 8 --requests 2000 >/dev/null

# Each scenario runs $rounds times for each side, alternating which goes
# first; the table shows the median of the rounds.
rounds=5
[ "$mode" = smoke ] && rounds=1
run_scenario() { # name, sides ("worker echo" or "worker worker-nc echo"), options...
    local name=$1 sides=$2
    shift 2
    for round in $(seq 1 "$rounds"); do
        # Rotate the order from round to round.
        order=$sides
        for _ in $(seq 2 "$round"); do order="${order#* } ${order%% *}"; done
        for side in $order; do
            echo "bench: $name, round $round of $rounds: $side" >&2
            case "$side" in
                worker) burst "$worker_queue" "$@" --verify-secret-file config/secrets/sf-automation-eu.key > "$work/$name.worker.$round.json" ;;
                worker-nc) burst "$worker_queue-nc" "$@" --verify-secret-file config/secrets/sf-automation-eu.key > "$work/$name.worker-nc.$round.json" ;;
                echo) burst "$echo_queue" "$@" > "$work/$name.echo.$round.json" ;;
            esac
        done
    done
}
run_scenario latency "worker echo" "${latency[@]}"
run_scenario throughput "worker worker-nc echo" "${throughput[@]}"
run_scenario burst "worker echo" "${burst_at_once[@]}"

# The barrage: well-formed latency, quiet and under a flood of hostile
# requests, alternating, each $rounds times.
for round in $(seq 1 "$rounds"); do
    echo "bench: barrage, round $round of $rounds: quiet" >&2
    burst "$worker_queue" "${latency[@]}" --verify-secret-file config/secrets/sf-automation-eu.key > "$work/barrage.quiet.$round.json"
    echo "bench: barrage, round $round of $rounds: under fire" >&2
    python3 Benchmarks/hostile.py "$worker_queue" > "$work/barrage.hostile.$round.txt" 2>"$work/barrage.hostile.$round.err" &
    hostile_pid=$!
    pids+=("$hostile_pid")
    # The flood under way before the measurement starts.
    until grep -q flooding "$work/barrage.hostile.$round.err" 2>/dev/null; do
        kill -0 "$hostile_pid" 2>/dev/null || { cat "$work/barrage.hostile.$round.err" >&2; exit 1; }
        sleep 0.05
    done
    burst "$worker_queue" "${latency[@]}" --verify-secret-file config/secrets/sf-automation-eu.key > "$work/barrage.fire.$round.json"
    kill -TERM "$hostile_pid"
    wait "$hostile_pid" || true
done

python3 - "$work" "$mode" "$rounds" <<'PY'
import json, os, statistics, sys
work, mode, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [
    ("latency", "1 conn x 1 in flight", [("p50 ms", "p50"), ("p99 ms", "p99")]),
    ("throughput", "8 conn x 32 in flight", [("requests/s", "rps"), ("p50 ms", "p50"), ("p99 ms", "p99")]),
    ("burst", "200 conn x 5, at once" if mode == "full" else "50 conn x 5, at once", [("requests/s", "rps"), ("p99 ms", "p99"), ("max ms", "max")]),
]
def load(name, side):
    return [json.load(open(os.path.join(work, "%s.%s.%d.json" % (name, side, r)))) for r in range(1, rounds + 1)]
def value(report, key):
    return report["requestsPerSecond"] if key == "rps" else report["latencyMilliseconds"][key]
print("| scenario | figure | worker | no-work responder | worker / responder |")
print("|---|---|---:|---:|---:|")
problems = []
for name, label, figures in rows:
    workers, echoes = load(name, "worker"), load(name, "echo")
    for title, key in figures:
        w = statistics.median(value(r, key) for r in workers)
        e = statistics.median(value(r, key) for r in echoes)
        fmt = "%.0f" if key == "rps" else "%.3f"
        print("| %s (%s) | %s | %s | %s | %.2f |" % (name, label, title, fmt % w, fmt % e, w / e if e else float("nan")))
    for worker in workers:
        if worker["ok"] != worker["requests"] or (worker.get("wrongCodes") or 0) != 0:
            problems.append("%s: worker answered %d of %d ok, %s wrong codes, errors %s" % (name, worker["ok"], worker["requests"], worker.get("wrongCodes"), worker["errors"]))
    for echo in echoes:
        if echo["ok"] != echo["requests"]:
            problems.append("%s: responder answered %d of %d" % (name, echo["ok"], echo["requests"]))
    if name == "throughput":
        nc = load(name, "worker-nc")
        w = statistics.median(value(r, "rps") for r in nc)
        e = statistics.median(value(r, "rps") for r in echoes)
        print("| %s, publisher confirms off | requests/s | %.0f | %.0f | %.2f |" % (name, w, e, w / e))
        for worker in nc:
            if worker["ok"] != worker["requests"] or (worker.get("wrongCodes") or 0) != 0:
                problems.append("throughput, confirms off: %d of %d ok, %s wrong" % (worker["ok"], worker["requests"], worker.get("wrongCodes")))
print()
for name, _, _ in rows:
    workers, echoes = load(name, "worker"), load(name, "echo")
    print("%s: worker %d of %d requests ok over %d rounds, wrong codes %d; requests/s by round: worker %s, responder %s" % (
        name, sum(r["ok"] for r in workers), sum(r["requests"] for r in workers), rounds, sum(r.get("wrongCodes") or 0 for r in workers),
        " ".join("%.0f" % r["requestsPerSecond"] for r in workers), " ".join("%.0f" % r["requestsPerSecond"] for r in echoes)))
quiet, fire = load("barrage", "quiet"), load("barrage", "fire")
hostile = [int((open(os.path.join(work, "barrage.hostile.%d.txt" % r)).read().strip() or "0")) for r in range(1, rounds + 1)]
print()
print("| barrage (1 conn x 1 in flight) | figure | quiet | under fire | under fire / quiet |")
print("|---|---|---:|---:|---:|")
for title, key in [("p50 ms", "p50"), ("p99 ms", "p99")]:
    q = statistics.median(value(r, key) for r in quiet)
    f = statistics.median(value(r, key) for r in fire)
    print("| well-formed requests | %s | %.3f | %.3f | %.2f |" % (title, q, f, f / q if q else float("nan")))
print("barrage: hostile messages sent by round: %s; well-formed ok %d of %d, wrong codes %d" % (
    " ".join(map(str, hostile)), sum(r["ok"] for r in fire), sum(r["requests"] for r in fire), sum(r.get("wrongCodes") or 0 for r in fire)))
for report in quiet + fire:
    if report["ok"] != report["requests"] or (report.get("wrongCodes") or 0) != 0:
        problems.append("barrage: %d of %d ok, %s wrong" % (report["ok"], report["requests"], report.get("wrongCodes")))
if problems:
    print("\n".join(["PROBLEM: " + p for p in problems]))
    sys.exit(1)
PY

if $memory; then
    rss() { awk '/VmRSS/ {print $2}' "/proc/$worker_pid/status"; }
    echo "bench: memory: 1,000,000 requests through the worker (8 conn x 32 in flight)" >&2
    burst "$worker_queue" --connections 8 --inflight 32 --requests 100000 >/dev/null
    before=$(rss)
    for round in $(seq 1 9); do
        burst "$worker_queue" --connections 8 --inflight 32 --requests 100000 >/dev/null
        echo "bench: memory: $(( (round + 1) * 100000 )) requests, worker RSS $(rss) KiB" >&2
    done
    after=$(rss)
    echo
    echo "memory: worker RSS after 100,000 requests ${before} KiB, after 1,000,000 ${after} KiB, growth $(( after - before )) KiB"
fi
