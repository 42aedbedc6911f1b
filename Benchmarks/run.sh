#!/usr/bin/env bash
# Measures the worker against a responder that does no work at all (the
# broker's own limit on this machine), in one run on one broker, with
# `mfa-worker burst` as the load. Prints each figure for both and the ratio.
#
#   Benchmarks/run.sh                    the scenarios at full size, 5 rounds each (about 5 minutes)
#   Benchmarks/run.sh --smoke            the same, small (CI)
#   Benchmarks/run.sh --only throughput  one scenario (latency, throughput, burst or barrage)
#   Benchmarks/run.sh --memory           also 1,000,000 requests, with the worker's resident memory along the way
#
# Scenarios: latency (1 connection, 1 in flight), throughput (8 connections x
# 32 in flight), burst (200 connections x 5 requests, all at once); and the
# barrage: the latency scenario against the worker quiet and while
# Benchmarks/hostile.py floods its queue with malformed requests. Each side's
# CPU per request (the measured process's, and the broker's) comes from
# /proc/PID/stat before and after each run. The worker runs as in production:
# publisher confirms, a log line per request (to a file), metrics served.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
memory=false
only=
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) mode=smoke ;;
        --memory) memory=true ;;
        --only)
            case "${2:-}" in latency | throughput | burst | barrage) only=$2 ;; *) sed -n '2,17p' "$0"; exit 2 ;; esac
            shift
            ;;
        *) sed -n '2,17p' "$0"; exit 2 ;;
    esac
    shift
done
wanted() { [ -z "$only" ] || [ "$only" = "$1" ]; }

scripts/broker.sh start >/dev/null
. Benchmarks/lib.sh
bench_build

bench_scratch mfa-bench

suffix=$(date +%s)
worker_queue=mfa-code-request-bench-$suffix
echo_queue=mfa-code-request-echo-$suffix
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MFA_BENCH_METRICS=127.0.0.1:$(free_port) bench_worker_config "$work" 5672 "$worker_queue"

"$bin/mfa-worker" run --config "$work/worker.yaml" > "$work/worker.log" 2>&1 &
worker_pid=$!
pids+=("$worker_pid")
# The same worker without publisher confirms, for the throughput scenario:
# confirms cost the broker work per reply that the no-work responder does not ask of it.
sed -e "s/publisher_confirms: .*/publisher_confirms: false/" -e "s/name: $worker_queue/name: $worker_queue-nc/" \
    -e "s/listen: 127.0.0.1:[0-9]*/listen: 127.0.0.1:$(free_port)/" "$work/worker.yaml" > "$work/worker-nc.yaml"
"$bin/mfa-worker" run --config "$work/worker-nc.yaml" > "$work/worker-nc.log" 2>&1 &
worker_nc_pid=$!
pids+=("$worker_nc_pid")
"$bin/mfa-echo-responder" --queue "$echo_queue" --threads 2 --prefetch "${MFA_BENCH_PREFETCH:-256}" > "$work/echo.log" 2>&1 &
echo_pid=$!
pids+=("$echo_pid")
bench_wait_consuming "$work/worker.log" "$work/worker-nc.log" "$work/echo.log"
broker_pid=$(scripts/broker.sh pid)
# The queues of this run go with it (the guard logs are streams kept for days).
bench_cleanup_extra() {
    local queue
    for queue in "$worker_queue" "$worker_queue.guard" "$worker_queue-nc" "$worker_queue-nc.guard" "$echo_queue"; do
        scripts/broker.sh ctl delete_queue "$queue" >/dev/null 2>&1 || true
    done
}

# PID: the CPU time it has used so far, in clock ticks (user + system,
# fields 14 and 15 of /proc/PID/stat, counted after the command's name).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

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
# PID OUT QUEUE OPTIONS...: one burst, its report in OUT.json and the CPU
# ticks PID and the broker used meanwhile in OUT.cpu.
measured() {
    local pid=$1 out=$2 process broker
    shift 2
    process=$(cpu_ticks "$pid")
    broker=$(cpu_ticks "$broker_pid")
    burst "$@" > "$out.json"
    echo "$(( $(cpu_ticks "$pid") - process )) $(( $(cpu_ticks "$broker_pid") - broker ))" > "$out.cpu"
}
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
                worker) measured "$worker_pid" "$work/$name.worker.$round" "$worker_queue" "$@" --verify-secret-file config/secrets/sf-automation-eu.key ;;
                worker-nc) measured "$worker_nc_pid" "$work/$name.worker-nc.$round" "$worker_queue-nc" "$@" --verify-secret-file config/secrets/sf-automation-eu.key ;;
                echo) measured "$echo_pid" "$work/$name.echo.$round" "$echo_queue" "$@" ;;
            esac
        done
    done
}
wanted latency && run_scenario latency "worker echo" "${latency[@]}"
wanted throughput && run_scenario throughput "worker worker-nc echo" "${throughput[@]}"
wanted burst && run_scenario burst "worker echo" "${burst_at_once[@]}"

# The barrage: well-formed latency, quiet and under a flood of hostile
# requests, alternating, each $rounds times.
wanted barrage && for round in $(seq 1 "$rounds"); do
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

python3 - "$work" "$mode" "$rounds" "$only" <<'PY'
import json, os, statistics, sys
work, mode, rounds, only = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
rows = [
    ("latency", "1 conn x 1 in flight", [("p50 ms", "p50"), ("p99 ms", "p99")]),
    ("throughput", "8 conn x 32 in flight", [("requests/s", "rps"), ("p50 ms", "p50"), ("p99 ms", "p99")]),
    ("burst", "200 conn x 5, at once" if mode == "full" else "50 conn x 5, at once", [("requests/s", "rps"), ("p99 ms", "p99"), ("max ms", "max")]),
]
rows = [row for row in rows if not only or row[0] == only]
cpu_figures = [("process CPU µs/request", 0), ("broker CPU µs/request", 1)]
def load(name, side):
    return [json.load(open(os.path.join(work, "%s.%s.%d.json" % (name, side, r)))) for r in range(1, rounds + 1)]
def cpu(name, side):
    """Per round: (process, broker) CPU microseconds per request sent."""
    rounds_cpu = []
    for r in range(1, rounds + 1):
        ticks = [int(t) for t in open(os.path.join(work, "%s.%s.%d.cpu" % (name, side, r))).read().split()]
        requests = json.load(open(os.path.join(work, "%s.%s.%d.json" % (name, side, r))))["requests"]
        rounds_cpu.append(tuple(t * tick_us / requests for t in ticks))
    return rounds_cpu
def value(report, key):
    return report["requestsPerSecond"] if key == "rps" else report["latencyMilliseconds"][key]
def ratio(w, e):
    return "%.2f" % (w / e) if e else "-"
def check(label, reports, verified):
    for report in reports:
        if report["ok"] != report["requests"] or (verified and (report.get("wrongCodes") or 0) != 0):
            problems.append("%s: %d of %d ok, %s wrong codes, errors %s" % (label, report["ok"], report["requests"], report.get("wrongCodes"), report.get("errors")))
problems = []
if rows:
    print("| scenario | figure | worker | no-work responder | worker / responder |")
    print("|---|---|---:|---:|---:|")
for name, label, figures in rows:
    workers, echoes = load(name, "worker"), load(name, "echo")
    for title, key in figures:
        w = statistics.median(value(r, key) for r in workers)
        e = statistics.median(value(r, key) for r in echoes)
        fmt = "%.0f" if key == "rps" else "%.3f"
        print("| %s (%s) | %s | %s | %s | %s |" % (name, label, title, fmt % w, fmt % e, ratio(w, e)))
    worker_cpu, echo_cpu = cpu(name, "worker"), cpu(name, "echo")
    for title, index in cpu_figures:
        w = statistics.median(c[index] for c in worker_cpu)
        e = statistics.median(c[index] for c in echo_cpu)
        print("| %s (%s) | %s | %.1f | %.1f | %s |" % (name, label, title, w, e, ratio(w, e)))
    check(name + ", worker", workers, True)
    check(name + ", responder", echoes, False)
    if name == "throughput":
        nc, nc_cpu = load(name, "worker-nc"), cpu(name, "worker-nc")
        w = statistics.median(value(r, "rps") for r in nc)
        e = statistics.median(value(r, "rps") for r in echoes)
        print("| %s, publisher confirms off | requests/s | %.0f | %.0f | %s |" % (name, w, e, ratio(w, e)))
        for title, index in cpu_figures:
            w = statistics.median(c[index] for c in nc_cpu)
            e = statistics.median(c[index] for c in echo_cpu)
            print("| %s, publisher confirms off | %s | %.1f | %.1f | %s |" % (name, title, w, e, ratio(w, e)))
        check("throughput, confirms off", nc, True)
if rows:
    print()
for name, _, _ in rows:
    workers, echoes = load(name, "worker"), load(name, "echo")
    print("%s: worker %d of %d requests ok over %d rounds, wrong codes %d; by round, requests/s: worker %s, responder %s; process CPU µs/request: worker %s, responder %s" % (
        name, sum(r["ok"] for r in workers), sum(r["requests"] for r in workers), rounds, sum(r.get("wrongCodes") or 0 for r in workers),
        " ".join("%.0f" % r["requestsPerSecond"] for r in workers), " ".join("%.0f" % r["requestsPerSecond"] for r in echoes),
        " ".join("%.1f" % c[0] for c in cpu(name, "worker")), " ".join("%.1f" % c[0] for c in cpu(name, "echo"))))
if not only or only == "barrage":
    quiet, fire = load("barrage", "quiet"), load("barrage", "fire")
    hostile = [int((open(os.path.join(work, "barrage.hostile.%d.txt" % r)).read().strip() or "0")) for r in range(1, rounds + 1)]
    print()
    print("| barrage (1 conn x 1 in flight) | figure | quiet | under fire | under fire / quiet |")
    print("|---|---|---:|---:|---:|")
    for title, key in [("p50 ms", "p50"), ("p99 ms", "p99")]:
        q = statistics.median(value(r, key) for r in quiet)
        f = statistics.median(value(r, key) for r in fire)
        print("| well-formed requests | %s | %.3f | %.3f | %s |" % (title, q, f, ratio(f, q)))
    print("barrage: hostile messages sent by round: %s; well-formed ok %d of %d, wrong codes %d" % (
        " ".join(map(str, hostile)), sum(r["ok"] for r in fire), sum(r["requests"] for r in fire), sum(r.get("wrongCodes") or 0 for r in fire)))
    check("barrage, quiet", quiet, True)
    check("barrage, under fire", fire, True)
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
