/* SPDX-License-Identifier: MIT */
/* The SMTP server (MX listener): what `despatch serve` starts. */
#ifndef DESPATCH_SMTP_SMTP_H
#define DESPATCH_SMTP_SMTP_H

#include <uv.h>

#include "lib/config.h"
#include "lib/err.h"

struct smtp_server;
struct store;
struct tls_ctx;

/* Binds every LISTENER_SMTP (MX), LISTENER_SUBMISSION (587: STARTTLS
 * before AUTH) and LISTENER_SUBMISSIONS (465: implicit TLS; needs tls)
 * listener of cfg on loop and starts serving.
 * cfg is copied; st and tls (may be NULL: no STARTTLS) must outlive the
 * server. ERR_TEMP (bind failed, address in use) with err naming it. */
int smtp_server_start(uv_loop_t *loop, const struct config *cfg,
    struct store *st, struct tls_ctx *tls, struct smtp_server **out,
    struct err *err);
struct smtp_queue;
/* The outbound queue that sessions wake after committing remote
 * recipients, and that sends "delivered" DSNs (NOTIFY=SUCCESS). Until
 * it is set (or with NULL) remote recipients are still queued in the
 * store, just picked up at the queue's next poll. */
void smtp_server_set_queue(struct smtp_server *s, struct smtp_queue *q);
/* Applies a reloaded config (limits, hostname) and TLS context to new
 * sessions; listeners are not rebound (a change there needs a restart,
 * and is logged as such). */
void smtp_server_reload(struct smtp_server *s, const struct config *cfg,
    struct tls_ctx *tls);
/* Graceful stop: closes the listeners, answers 421 to idle sessions at
 * once, lets sessions in DATA/BDAT finish their transaction (up to
 * grace_ms, then 421), and calls done(ctx) when every session is closed
 * and every pending commit has completed. */
void smtp_server_shutdown(struct smtp_server *s, unsigned grace_ms,
    void (*done)(void *ctx), void *ctx);
/* Frees a server that has finished shutting down. Accepts NULL. */
void smtp_server_free(struct smtp_server **sp);

struct auth_throttle;
/* Uses t (another server's, e.g. IMAP's: a password guess then counts on
 * both protocols) for failed AUTH instead of the server's own. Call
 * before sessions start; takes a reference. */
void smtp_server_share_throttle(struct smtp_server *s,
    struct auth_throttle *t);

#endif
