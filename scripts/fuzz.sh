#!/usr/bin/env bash
# Fuzzes the request decoder with libFuzzer (and AddressSanitizer) for a
# bounded time: scripts/fuzz.sh [SECONDS, default 30]. The seed corpus is
# Fuzz/corpus; what the fuzzer finds stays in .build/fuzz-corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
out=.build/fuzz
mkdir -p "$out" .build/fuzz-corpus
echo "fuzz: building the request decoder with -sanitize=fuzzer,address"
if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g \
    Sources/MFAProtocol/AccountName.swift \
    Sources/MFAProtocol/RequestBody.swift \
    Sources/MFAProtocol/RequestBodyDecoder.swift \
    Fuzz/RequestDecoder/main.swift \
    -o "$out/request-decoder" > "$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    exit 1
fi
echo "fuzz: running for $seconds s"
"$out/request-decoder" -max_total_time="$seconds" -max_len=5000 -print_final_stats=1 \
    -artifact_prefix="$out/" .build/fuzz-corpus Fuzz/corpus 2>&1 | grep -E "^#|stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY|crash|Done" | tail -8
echo "fuzz: no crash in $seconds s"
