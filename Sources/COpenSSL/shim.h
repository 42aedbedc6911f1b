#ifndef MFA_COPENSSL_SHIM_H
#define MFA_COPENSSL_SHIM_H

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#endif
