# Sourced by scripts/run.sh and scripts/test.sh: builds the release binary
# (the build the benchmarks and the package use too) and leaves `mfa-worker`
# on PATH, as the README's commands write it: a link in /usr/local/bin when
# that folder can be written, else the line to add the build to PATH.
# Sets $binary.
swift build -c release --static-swift-stdlib --product mfa-worker
binary="$(swift build -c release --static-swift-stdlib --show-bin-path)/mfa-worker"
if [ -w /usr/local/bin ]; then
    ln -sfn "$binary" /usr/local/bin/mfa-worker
    echo "on-path: /usr/local/bin/mfa-worker -> $binary"
elif [ "$(command -v mfa-worker)" != "$binary" ]; then
    echo "on-path: /usr/local/bin cannot be written; to run mfa-worker as the README writes it:"
    echo "  export PATH=\"$(dirname "$binary"):\$PATH\""
fi
