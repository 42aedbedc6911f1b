#!/usr/bin/env bash
# A robot's way to a TOTP code from a shell script: `mfa-worker request`
# prints the code alone, and its exit status says what went wrong.
#
#   MFA_BROKER_URL=amqp://rpa-bot-eu-1:PASSWORD@broker:5672/%2F \
#       examples/shell/get_code.sh sf-automation-eu
#
# Waits for the next window when the current one has less than 5 s left,
# so that the code survives typing it into the login form. Runs the
# `mfa-worker` on PATH (scripts/run.sh and scripts/test.sh put it there), or
# the one $MFA_WORKER_BIN names.
set -uo pipefail

account=${1:?usage: get_code.sh ACCOUNT}
mfa_worker=${MFA_WORKER_BIN:-mfa-worker}

code=$("$mfa_worker" request --account "$account" --min-validity-ms 5000 --timeout 15)
status=$?
case $status in
    0) echo "$code" ;;
    2) echo "not allowed, or no such account: check the name $account, or ask for it on this robot's allowlist" >&2 ;;
    4) echo "rate limited: try again shortly" >&2 ;;
    7) echo "no answer: is the worker running?" >&2 ;;
    8) echo "cannot reach the broker (or the login was refused)" >&2 ;;
    9) echo "busy: every window within the wait is taken (a once_per_window account); try again later" >&2 ;;
    *) echo "failed with status $status" >&2 ;;
esac
exit $status
