/* SPDX-License-Identifier: MIT */
/* TLS server contexts (OpenSSL 3): TLS 1.2 and 1.3 only. */
#ifndef DESPATCH_NET_TLS_H
#define DESPATCH_NET_TLS_H

#include "lib/err.h"

struct tls_ctx;

/* Loads a PEM certificate chain and key. ERR_INPUT (unreadable, key does
 * not match) with err set. */
int tls_ctx_new(const char *cert_path, const char *key_path,
    struct tls_ctx **out, struct err *err);
/* Drops the caller's reference; sessions using it keep theirs. */
void tls_ctx_free(struct tls_ctx **tp);

#endif
