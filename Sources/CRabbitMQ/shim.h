#ifndef MFA_CRABBITMQ_SHIM_H
#define MFA_CRABBITMQ_SHIM_H

// Debian bookworm ships rabbitmq-c 0.11: the headers sit directly in the
// include path (the <rabbitmq-c/...> layout begins with 0.12).
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>

// amqp_login_with_properties is variadic, which Swift cannot call. These two
// wrappers fix its arguments for the two mechanisms the worker uses.
static inline amqp_rpc_reply_t mfa_amqp_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max,
    int frame_max, int heartbeat, const amqp_table_t *properties,
    const char *user, const char *password) {
  return amqp_login_with_properties(state, vhost, channel_max, frame_max,
                                    heartbeat, properties,
                                    AMQP_SASL_METHOD_PLAIN, user, password);
}

static inline amqp_rpc_reply_t mfa_amqp_login_external(
    amqp_connection_state_t state, const char *vhost, int channel_max,
    int frame_max, int heartbeat, const amqp_table_t *properties,
    const char *identity) {
  return amqp_login_with_properties(state, vhost, channel_max, frame_max,
                                    heartbeat, properties,
                                    AMQP_SASL_METHOD_EXTERNAL, identity);
}

#endif
