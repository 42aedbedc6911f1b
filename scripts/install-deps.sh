#!/usr/bin/env bash
# Installs what mfa-worker needs from Debian (and pika from PyPI for the
# foreign-client tests), skipping what is already there. Debian 12 (bookworm).
#   scripts/install-deps.sh            build, test and demo dependencies
#   scripts/install-deps.sh --run      only what building and running the worker
#                                      and the Python example need (scripts/run.sh)
# The example robots (examples/README.md) need a JDK, Go and Mono with each
# one's RabbitMQ client from Debian; the test suite builds and runs them.
# prometheus gives promtool and the server the alert tests scrape a worker with;
# lintian, dpkg-dev, systemd and adduser build, check and install the Debian
# package (scripts/test-ops.sh); chromium renders burst's HTML report headless
# in a test; zlib1g-dev is for burst's histograms.
# (docker-compose only validates docker/compose.yaml; no Docker engine is needed.)
set -euo pipefail

run_packages=(librabbitmq-dev libssl-dev zlib1g-dev pkg-config rabbitmq-server python3 python3-pip)
packages=(librabbitmq-dev libssl-dev zlib1g-dev pkg-config rabbitmq-server amqp-tools oathtool python3 python3-pip curl openssl docker-compose
    default-jdk-headless librabbitmq-client-java libslf4j-java
    golang-go golang-github-rabbitmq-amqp091-go-dev
    mono-mcs mono-runtime libmono-rabbitmq4.0-cil libmono-system-json4.0-cil
    prometheus lintian dpkg-dev systemd adduser chromium)
if [ "${1:-}" = --run ]; then packages=("${run_packages[@]}"); fi
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    sudo_if_needed apt-get update -q
    # Keep Debian's own rabbitmq-server and prometheus services from starting
    # (and listening on every interface): the project runs its own RabbitMQ
    # node bound to 127.0.0.1, and the tests their own Prometheus.
    policy_added=false
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | sudo_if_needed tee /usr/sbin/policy-rc.d >/dev/null
        sudo_if_needed chmod 755 /usr/sbin/policy-rc.d
        policy_added=true
    fi
    DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -q --no-install-recommends "${missing[@]}"
    if $policy_added; then sudo_if_needed rm -f /usr/sbin/policy-rc.d; fi
    for service in rabbitmq-server prometheus; do
        if command -v systemctl >/dev/null && systemctl is-active -q "$service" 2>/dev/null; then
            echo "install-deps: stopping Debian's $service service (the tests run their own, on 127.0.0.1)"
            sudo_if_needed systemctl disable --now "$service" || true
        fi
    done
fi

# pika, for the foreign-client test and the Python example.
if ! python3 -c 'import pika' 2>/dev/null; then
    echo "install-deps: installing pika (PyPI)"
    python3 -m pip install -q pika 2>/dev/null || python3 -m pip install -q --break-system-packages pika
fi

if ! command -v swift >/dev/null; then
    echo "install-deps: no Swift toolchain on PATH; install Swift 6 from swift.org (https://www.swift.org/install/linux/)" >&2
    exit 1
fi
