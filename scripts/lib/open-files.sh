# Sourced by scripts/broker.sh: gives the shell (and so the server it starts)
# an open-files limit fit for bursts of connections. Every AMQP connection
# costs the broker one file descriptor; RabbitMQ refuses connections near its
# limit ("Ranch acceptor reducing accept rate: out of file descriptors") and
# raises the file descriptor alarm. A server started from a login shell gets
# its soft limit, often 1,024.
#
#   raise_open_files WANT LABEL
#
# Sets the soft limit to WANT when the hard limit allows it, raising the hard
# limit first where that is permitted (root); otherwise to the hard limit.
# Prints the limit it got, and a warning on stderr when that is below WANT.
raise_open_files() {
    local want=$1 label=$2 hard soft
    hard=$(ulimit -Hn)
    if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
        ulimit -Hn "$want" 2>/dev/null || true
        hard=$(ulimit -Hn)
    fi
    if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then
        ulimit -Sn "$want" 2>/dev/null || true
    else
        ulimit -Sn "$hard" 2>/dev/null || true
    fi
    soft=$(ulimit -Sn)
    if [ "$soft" != unlimited ] && [ "$soft" -lt "$want" ]; then
        echo "$label: WARNING: only $soft open files (hard limit $hard, wanted $want): at most about $((soft > 200 ? soft - 200 : 0)) connections; raise the hard limit (ulimit -Hn as root, LimitNOFILE= in a systemd unit, nofile in /etc/security/limits.d/)" >&2
    else
        echo "$label: open files limit $soft"
    fi
}
