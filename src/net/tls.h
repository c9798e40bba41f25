/* SPDX-License-Identifier: MIT */
/* TLS contexts (OpenSSL 3): TLS 1.2 and 1.3 only. Servers load a
 * certificate; the outbound SMTP client uses one unverified client
 * context (opportunistic STARTTLS, RFC 7435). */
#ifndef DESPATCH_NET_TLS_H
#define DESPATCH_NET_TLS_H

#include <stdint.h>

#include "lib/err.h"

struct tls_ctx;

/* Loads a PEM certificate chain and key. ERR_INPUT (unreadable, key does
 * not match) with err set. */
int tls_ctx_new(const char *cert_path, const char *key_path,
    struct tls_ctx **out, struct err *err);
/* A client context for outbound STARTTLS: TLS 1.2+, no certificate
 * verification (RFC 7435 opportunistic security: any certificate, even
 * self-signed or expired, is better than plaintext), no session cache.
 * Used with net_conn_starttls_client, which sets SNI. ERR_INTERNAL. */
int tls_ctx_new_client(struct tls_ctx **out, struct err *err);
/* Seconds from now until the server certificate of t expires (negative:
 * expired already); INT64_MAX for a context without one. */
int64_t tls_ctx_cert_expires_in(const struct tls_ctx *t);
/* Drops the caller's reference; sessions using it keep theirs. */
void tls_ctx_free(struct tls_ctx **tp);

#endif
