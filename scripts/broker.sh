#!/usr/bin/env bash
# A RabbitMQ node of the project's own, bound to 127.0.0.1, with the demo and
# test users. Its files live in $MFA_BROKER_DIR (default /tmp/mfa-worker-broker/NAME).
#
#   scripts/broker.sh start     start the node (no-op when it answers already)
#   scripts/broker.sh stop      stop it
#   scripts/broker.sh status    says whether it answers (exit 0 when it does)
#   scripts/broker.sh restart   stop, then start
#   scripts/broker.sh ctl ARGS  rabbitmqctl against it
#   scripts/broker.sh pid       the node's operating-system process id (for /proc)
#
# Settings (environment): MFA_BROKER_NAME (node short name, default mfa),
# MFA_BROKER_PORT (AMQP port, default 5672), MFA_BROKER_DIST_PORT (default
# AMQP port + 20000), MFA_BROKER_CONF_EXTRA (lines appended to rabbitmq.conf),
# MFA_BROKER_OPEN_FILES (the open-files limit the node gets, default 65536, or
# the hard limit when that is lower and cannot be raised: start says which).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name=${MFA_BROKER_NAME:-mfa}
port=${MFA_BROKER_PORT:-5672}
dist_port=${MFA_BROKER_DIST_PORT:-$((port + 20000))}
state=${MFA_BROKER_DIR:-/tmp/mfa-worker-broker/$name}
node="$name@localhost"
bin=/usr/lib/rabbitmq/bin
. "$here/lib/open-files.sh"

# Every node of the project shares one Erlang cookie through one HOME, so
# that rabbitmqctl (run as this user, not switched to 'rabbitmq') reaches it.
export HOME=${MFA_BROKER_HOME:-/tmp/mfa-worker-broker/home}
export RABBITMQ_NODENAME=$node
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=$dist_port
export RABBITMQ_CONFIG_FILE=$state/rabbitmq
export RABBITMQ_MNESIA_BASE=$state/mnesia
export RABBITMQ_LOG_BASE=$state/log
export RABBITMQ_PID_FILE=$state/rabbitmq.pid
export RABBITMQ_ENABLED_PLUGINS_FILE=$state/enabled_plugins
export RABBITMQ_ADVANCED_CONFIG_FILE=$state/advanced.config
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export ERL_EPMD_ADDRESS=127.0.0.1

ctl() { "$bin/rabbitmqctl" -q -n "$node" "$@"; }

answers() { ctl status >/dev/null 2>&1; }

start() {
    if answers; then
        echo "broker: $node already answers on 127.0.0.1:$port"
        return 0
    fi
    mkdir -p "$state/mnesia" "$state/log" "$HOME"
    python3 "$here/lib/definitions.py" > "$state/definitions.json"
    cat > "$state/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
load_definitions = $state/definitions.json
log.file.level = warning
log.console = false
# A request is at most 4 KiB; a message of up to 128 MiB (the default) would
# be read whole into a consumer's memory before it is refused.
max_message_size = 1048576
${MFA_BROKER_CONF_EXTRA:-}
CONF
    [ -f "$state/enabled_plugins" ] || echo "[${MFA_BROKER_PLUGINS:-}]." > "$state/enabled_plugins"
    [ -f "$state/advanced.config" ] || echo "[]." > "$state/advanced.config"
    echo "broker: starting $node on 127.0.0.1:$port (files in $state)"
    # One file descriptor per connection: the node inherits this shell's limit.
    raise_open_files "${MFA_BROKER_OPEN_FILES:-65536}" "broker: $node"
    "$bin/rabbitmq-server" -detached
    for second in $(seq 1 60); do
        if answers; then
            echo "broker: $node up after ${second} s"
            return 0
        fi
        sleep 1
    done
    echo "broker: $node did not answer within 60 s; log in $state/log" >&2
    tail -n 20 "$state"/log/*.log >&2 2>/dev/null || true
    return 1
}

stop() {
    if answers; then
        ctl stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || ctl stop
        echo "broker: $node stopped"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) if answers; then echo "broker: $node answers on 127.0.0.1:$port"; else echo "broker: $node does not answer"; exit 1; fi ;;
    restart) stop; start ;;
    ctl) shift; ctl "$@" ;;
    pid) answers && echo "$(cat "$RABBITMQ_PID_FILE")" || { echo "broker: $node does not answer" >&2; exit 1; } ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
esac
