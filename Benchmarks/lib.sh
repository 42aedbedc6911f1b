# Sourced by the benchmark scripts (run from the repository's root): the
# release build, a scratch folder cleaned up at exit, a worker's
# configuration for measuring, and the wait until the measured processes
# consume.

# Builds mfa-worker and mfa-echo-responder (release, with Swift's runtime
# linked in statically, as the Debian package and the container ship it,
# so scripts/package-deb.sh reuses this build). Sets $bin.
bench_build() {
    echo "bench: building (release)" >&2
    local product
    for product in mfa-worker mfa-echo-responder; do
        if ! swift build -c release --static-swift-stdlib --product "$product" > /tmp/mfa-bench-build.log 2>&1; then
            cat /tmp/mfa-bench-build.log >&2
            exit 1
        fi
    done
    bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
}

# PREFIX: a scratch folder, $work, and a list of processes, $pids; at exit
# the processes are killed, bench_cleanup_extra runs if the script defines
# it, and the folder goes.
bench_scratch() {
    work=$(mktemp -d "/tmp/$1-XXXXXX")
    pids=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra; fi
    rm -rf "$work"
}

# FOLDER PORT QUEUE [REPLY]: a worker's configuration in FOLDER/worker.yaml,
# its password and the demo key beside it (modes the worker accepts), on
# the broker at 127.0.0.1:PORT, serving the demo account to the demo robots;
# REPLY is its `reply:` setting. MFA_BENCH_METRICS: its `metrics.listen` (default off).
bench_worker_config() {
    local folder=$1 port=$2 queue=$3 reply=${4:-"{default_min_validity_ms: 0}"}
    mkdir -p "$folder/secrets"
    chmod 700 "$folder" "$folder/secrets"
    cp config/secrets/sf-automation-eu.key "$folder/secrets/key"
    chmod 600 "$folder/secrets/key"
    (umask 077 && echo demo-worker-password > "$folder/password")
    cat > "$folder/worker.yaml" <<YAML
broker:
  url: amqp://mfa-worker@127.0.0.1:$port/%2F
  password_file: password
  prefetch: ${MFA_BENCH_PREFETCH:-256}
  publisher_confirms: ${MFA_BENCH_CONFIRMS:-true}
request_queue:
  name: $queue
accounts:
  sf-automation-eu:
    secret_file: secrets/key
allow:
  rpa-bot-eu-1: [sf-automation-eu]
  rpa-bot-eu-2: [sf-automation-eu]
# The plain path, whatever the window's phase: with the default 5 s, the
# requests of a window's last seconds would wait for the next one.
reply: $reply
workers: 2
log: {level: ${MFA_BENCH_LOG_LEVEL:-info}}
metrics: {listen: ${MFA_BENCH_METRICS:-off}}
YAML
}

# LOG...: waits (30 s at most) until every log says its process consumes.
bench_wait_consuming() {
    local log ready
    for _ in $(seq 1 300); do
        ready=true
        for log in "$@"; do
            grep -q "consuming" "$log" 2>/dev/null || ready=false
        done
        $ready && return 0
        sleep 0.1
    done
    echo "bench: a worker or the responder did not start consuming within 30 s:" >&2
    tail -n 5 "$@" >&2
    exit 1
}
