#!/usr/bin/env bash
# A RabbitMQ node with a TLS listener, for the TLS tests: mfa-tls@localhost,
# TLS on 127.0.0.1:5771 (plain AMQP on 5682), EXTERNAL login from the client
# certificate's common name (rabbitmq_auth_mechanism_ssl). Certificates are
# made with openssl in $MFA_TLS_DIR (default /tmp/mfa-worker-broker/tls-certs):
#   ca.pem            the CA the broker's certificate chains to
#   server.pem/.key   the broker's certificate, for DNS:localhost only
#   mfa-worker.pem/.key, rpa-bot-eu-1.pem/.key   client certificates (CN = user)
#   other-ca.pem      a CA that signed nothing here (the "wrong CA")
#
#   scripts/tls-node.sh start | stop
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
certs=${MFA_TLS_DIR:-/tmp/mfa-worker-broker/tls-certs}

make_certificates() {
    [ -f "$certs/server.pem" ] && return 0
    mkdir -p "$certs"
    cd "$certs"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mfa-test-ca" -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mfa-other-ca" -keyout other-ca.key -out other-ca.pem 2>/dev/null
    issue() { # name, subject, extensions
        openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
        printf '%s\n' "$3" > "$1.ext"
        openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
        rm -f "$1.csr" "$1.ext"
        chmod 600 "$1.key"
    }
    issue server "/CN=localhost" "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth"
    issue mfa-worker "/CN=mfa-worker" "extendedKeyUsage=clientAuth"
    issue rpa-bot-eu-1 "/CN=rpa-bot-eu-1" "extendedKeyUsage=clientAuth"
    cd - >/dev/null
}

export MFA_BROKER_NAME=mfa-tls MFA_BROKER_PORT=5682
case "${1:-}" in
    start)
        make_certificates
        export MFA_BROKER_PLUGINS=rabbitmq_auth_mechanism_ssl
        export MFA_BROKER_CONF_EXTRA="listeners.ssl.default = 127.0.0.1:5771
ssl_options.cacertfile = $certs/ca.pem
ssl_options.certfile = $certs/server.pem
ssl_options.keyfile = $certs/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = EXTERNAL
ssl_cert_login_from = common_name"
        "$here/broker.sh" start
        ;;
    stop) "$here/broker.sh" stop ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
esac
