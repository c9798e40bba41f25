/* SPDX-License-Identifier: MIT */
/* Net-layer view of a TLS context: reference counting and the SSL objects
 * that connections make from it. */
#ifndef DESPATCH_NET_TLS_INT_H
#define DESPATCH_NET_TLS_INT_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include "net/tls.h"

/* Takes another reference; tls_ctx_free drops one. Loop thread only. */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *t);
/* true for a context from tls_ctx_new_client. */
bool tls_ctx_is_client(const struct tls_ctx *t);
/* A new SSL (server side; the caller switches a client context's to
 * connect state) with memory BIOs (rbio: network in, wbio:
 * network out) owned by the SSL. NULL on failure (logged by the caller). */
SSL *tls_ssl_new(struct tls_ctx *t, BIO **rbio_out, BIO **wbio_out);

#endif
