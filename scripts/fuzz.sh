#!/usr/bin/env bash
# Fuzzes the request decoder and the internal bodies' decoders (turn queues,
# guard log, login outcomes) with libFuzzer
# (and AddressSanitizer) for a bounded time, shared between them:
# scripts/fuzz.sh [SECONDS, default 30]. The seed corpora are Fuzz/corpus and
# Fuzz/turn-corpus; what the fuzzer finds stays in .build/fuzz-corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
out=.build/fuzz
mkdir -p "$out" .build/fuzz-corpus
# Two targets share the time: the request reader and the turn-queue bodies.
build() {
    local name=$1 main=$2
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g \
        Sources/MFAProtocol/AccountName.swift \
        Sources/MFAProtocol/RequestBody.swift \
        Sources/MFAProtocol/RequestBodyDecoder.swift \
        Sources/MFAProtocol/TurnBody.swift \
        Sources/MFAProtocol/GuardBody.swift \
        Sources/MFAProtocol/LoginOutcome.swift \
        Sources/MFAProtocol/JSONText.swift \
        Sources/MFAProtocol/JSONReading.swift \
        Sources/MFAProtocol/DirectReplyTo.swift \
        "$main" -o "$out/$name" > "$out/$name.log" 2>&1; then
        cat "$out/$name.log" >&2
        exit 1
    fi
}
run() {
    local name=$1 corpus=$2 seconds=$3
    mkdir -p ".build/fuzz-corpus/$name"
    echo "fuzz: running $name for $seconds s"
    "$out/$name" -max_total_time="$seconds" -max_len=5000 -print_final_stats=1 \
        -artifact_prefix="$out/$name-" ".build/fuzz-corpus/$name" "$corpus" 2>&1 | grep -E "^#|stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY|crash|Done" | tail -8
    # grep's status is not the fuzzer's: a crash leaves an artifact.
    if ls "$out/$name"-crash-* "$out/$name"-leak-* "$out/$name"-timeout-* >/dev/null 2>&1; then
        echo "fuzz: $name found a failing input (in $out)" >&2
        exit 1
    fi
}
echo "fuzz: building the request decoder and the turn-body decoder with -sanitize=fuzzer,address"
rm -f "$out"/*-crash-* "$out"/*-leak-* "$out"/*-timeout-*
build request-decoder Fuzz/RequestDecoder/main.swift
build turn-decoder Fuzz/TurnDecoder/main.swift
run request-decoder Fuzz/corpus $(( (seconds + 1) / 2 ))
run turn-decoder Fuzz/turn-corpus $(( seconds / 2 ))
echo "fuzz: no crash in $seconds s"
