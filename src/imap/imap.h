/* SPDX-License-Identifier: MIT */
/* The IMAP server (143 with STARTTLS, 993 with implicit TLS): what
 * `despatch serve` starts. Same life cycle as smtp/smtp.h. */
#ifndef DESPATCH_IMAP_IMAP_H
#define DESPATCH_IMAP_IMAP_H

#include <uv.h>

#include "lib/config.h"
#include "lib/err.h"

struct imap_server;
struct store;
struct tls_ctx;

/* Binds every LISTENER_IMAP and LISTENER_IMAPS listener of cfg on loop
 * and starts serving. cfg is copied; st and tls must outlive the server
 * (tls may be NULL only if no IMAPS listener is configured: then no
 * STARTTLS is offered and logins are allowed from loopback only).
 * ERR_TEMP (bind failed) with err naming the listener. */
int imap_server_start(uv_loop_t *loop, const struct config *cfg,
    struct store *st, struct tls_ctx *tls, struct imap_server **out,
    struct err *err);
/* Applies a reloaded config and TLS context to new sessions. */
void imap_server_reload(struct imap_server *s, const struct config *cfg,
    struct tls_ctx *tls);
/* Graceful stop: closes listeners, sends "* BYE" to every session,
 * waits for pending store operations, and calls done(ctx) when every
 * session is closed. */
void imap_server_shutdown(struct imap_server *s, unsigned grace_ms,
    void (*done)(void *ctx), void *ctx);
void imap_server_free(struct imap_server **sp);

struct auth_throttle;
/* The server's failed-login throttle, for `serve` to share it with the
 * submission server (auth_throttle_ref). */
struct auth_throttle *imap_server_throttle(struct imap_server *s);

#endif
