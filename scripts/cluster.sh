#!/usr/bin/env bash
# A 3-node RabbitMQ cluster on this machine, for the fault tests: nodes
# c1, c2, c3 @localhost on 127.0.0.1:5701-5703 (distribution ports 25701-25703),
# the same users as scripts/broker.sh.
#
#   scripts/cluster.sh start          start the three nodes and join them
#   scripts/cluster.sh stop           stop them
#   scripts/cluster.sh stop-node N    stop node cN (as a lost node)
#   scripts/cluster.sh start-node N   start node cN again (it rejoins)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

node() { # N, then broker.sh arguments
    local n=$1
    shift
    # pause_minority: a node cut off from the majority stops and closes its
    # connections, so a worker there cannot act on stale turns
    # (docs/design.md, "One code per window").
    MFA_BROKER_NAME=c$n MFA_BROKER_PORT=$((5700 + n)) \
        MFA_BROKER_CONF_EXTRA="cluster_partition_handling = pause_minority" "$here/broker.sh" "$@"
}

case "${1:-}" in
    start)
        started=$(date +%s)
        # Boot in parallel, then join c2 and c3 to c1.
        for n in 1 2 3; do node "$n" start & done
        wait
        for n in 2 3; do
            if ! node "$n" ctl cluster_status 2>/dev/null | grep -q "c1@localhost"; then
                node "$n" ctl stop_app
                node "$n" ctl join_cluster c1@localhost
                node "$n" ctl start_app
            fi
        done
        echo "cluster: c1, c2, c3 up and joined in $(( $(date +%s) - started )) s"
        ;;
    stop)
        for n in 1 2 3; do node "$n" stop & done
        wait
        ;;
    stop-node) node "${2:?node number}" stop ;;
    start-node) node "${2:?node number}" start ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
esac
