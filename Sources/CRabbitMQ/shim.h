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

// Method numbers: the header defines them as casts, which Swift does not import.
static const amqp_method_number_t mfa_method_connection_close = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t mfa_method_connection_close_ok = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_method_number_t mfa_method_connection_blocked = AMQP_CONNECTION_BLOCKED_METHOD;
static const amqp_method_number_t mfa_method_connection_unblocked = AMQP_CONNECTION_UNBLOCKED_METHOD;
static const amqp_method_number_t mfa_method_channel_close = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t mfa_method_channel_close_ok = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t mfa_method_basic_deliver = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t mfa_method_basic_return = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t mfa_method_basic_cancel = AMQP_BASIC_CANCEL_METHOD;
static const amqp_method_number_t mfa_method_basic_cancel_ok = AMQP_BASIC_CANCEL_OK_METHOD;
static const amqp_method_number_t mfa_method_basic_ack = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t mfa_method_basic_nack = AMQP_BASIC_NACK_METHOD;

#endif
