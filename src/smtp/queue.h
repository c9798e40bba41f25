/* SPDX-License-Identifier: MIT */
/* The outbound queue scheduler, run by `despatch serve`: finds due
 * recipients in the store, groups them by domain (one connection per
 * domain, several messages on it), resolves the route (config routes,
 * smarthost, else MX through smtp/dns.h), delivers through smtp/client.h
 * and records each outcome: delivered (row deleted after the remote
 * 250, never before), deferred (back-off: retry_min doubling per attempt
 * up to retry_max), or failed (5xx, or the lifetime ran out): a bounce
 * to the sender (smtp/dsn.h), committed in the same transaction that
 * deletes the rows it reports. A delay notice goes once per row after
 * queue_delay_notice_seconds (NOTIFY DELAY or no NOTIFY). No report for
 * the null sender or NOTIFY=NEVER. Time comes from lib/clock.h. Loop
 * thread only. */
#ifndef DESPATCH_SMTP_QUEUE_H
#define DESPATCH_SMTP_QUEUE_H

#include <uv.h>

#include "lib/config.h"
#include "lib/err.h"
#include "smtp/dsn.h"

struct smtp_queue;
struct store;

/* Starts the scheduler: it looks for due rows now, every second (so that
 * `despatch queue retry|flush|release` from another process take effect
 * within a second) and on smtp_queue_kick. cfg is copied. ERR_INPUT (bad
 * resolver/route), ERR_INTERNAL. */
int smtp_queue_start(uv_loop_t *loop, const struct config *cfg,
    struct store *st, struct smtp_queue **out, struct err *err);
/* New rows were committed: look now rather than at the next tick. */
void smtp_queue_kick(struct smtp_queue *q);
/* Applies a reloaded config to deliveries started from now on. */
void smtp_queue_reload(struct smtp_queue *q, const struct config *cfg);
/* Stops starting deliveries, aborts running ones (their rows stay
 * queued: one more delivery later, never none) and calls done(ctx) once
 * every client, DNS query and store callback has finished. */
void smtp_queue_shutdown(struct smtp_queue *q, void (*done)(void *ctx),
    void *ctx);
/* Frees a queue that has finished shutting down. Accepts NULL. */
void smtp_queue_free(struct smtp_queue **qp);

/* A message accepted by the MX or submission had local recipients that
 * asked NOTIFY=SUCCESS: sends the sender one "delivered" report for them
 * (DSN_DELIVERED, status 2.0.0), committed on its own with the null
 * sender (local delivery, or the queue when the sender is remote). The
 * strings are copied. Failures are logged only: the message itself is
 * already accepted. No report for the null sender. */
void smtp_queue_notify_delivered(struct smtp_queue *q, int64_t message_id,
    const char *sender, const char *envid, enum store_dsn_ret ret,
    int64_t arrival, const struct dsn_rcpt *rcpts, size_t n);

#endif
