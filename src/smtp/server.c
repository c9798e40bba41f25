/* SPDX-License-Identifier: MIT */
/* The SMTP server: listeners (MX on 25, submission on 587 with STARTTLS
 * and on 465 with implicit TLS), the session list, the failed-AUTH
 * throttle and the per-user submission limits shared by sessions, reload
 * and the graceful shutdown of smtp.h. */
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "net/tls_int.h"
#include "smtp/session_int.h"

#include "lib/banned.h"

static const struct log_ctx server_log = { "smtp", 0 };

/* Config may lower a cap of smtp/limits.h, never raise it. */
static void
clamp(struct config *c)
{
	if (c->smtp_max_message_size == 0 ||
	    c->smtp_max_message_size > SMTP_MESSAGE_MAX)
		c->smtp_max_message_size = SMTP_MESSAGE_MAX;
	if (c->smtp_max_recipients == 0 ||
	    c->smtp_max_recipients > SMTP_RCPT_MAX)
		c->smtp_max_recipients = SMTP_RCPT_MAX;
	if (c->smtp_max_errors == 0 || c->smtp_max_errors > SMTP_ERRORS_MAX)
		c->smtp_max_errors = SMTP_ERRORS_MAX;
	if (c->smtp_timeout_seconds == 0 ||
	    c->smtp_timeout_seconds > SMTP_TIMEOUT_MAX)
		c->smtp_timeout_seconds = SMTP_TIMEOUT_MAX;
	if (c->smtp_max_connections == 0 ||
	    c->smtp_max_connections > SMTP_CONNS_MAX)
		c->smtp_max_connections = SMTP_CONNS_MAX;
	if (c->smtp_max_connections_per_ip == 0 ||
	    c->smtp_max_connections_per_ip > SMTP_CONNS_PER_IP_MAX)
		c->smtp_max_connections_per_ip = SMTP_CONNS_PER_IP_MAX;
	if (c->smtp_data_time_seconds == 0 ||
	    c->smtp_data_time_seconds > SMTP_DATA_TIME_MAX)
		c->smtp_data_time_seconds = SMTP_DATA_TIME_MAX;
}

static void
on_accept(void *ctx, uv_stream_t *server)
{
	struct smtp_listen_ctx *l = ctx;

	smtp_session_accept(l->srv, server, l->kind);
}

static const char *
kind_name(enum listener_kind k)
{
	switch (k) {
	case LISTENER_SUBMISSION:
		return "submission";
	case LISTENER_SUBMISSIONS:
		return "submissions";
	default:
		return "smtp";
	}
}

static void
grace_closed(uv_handle_t *h)
{
	struct smtp_server *srv = h->data;

	srv->grace_open = false;
	if (srv->done != NULL && !srv->done_called) {
		srv->done_called = true;
		srv->done(srv->done_ctx);
	}
}

static void
free_on_close(uv_handle_t *h)
{
	struct smtp_server *srv = h->data;

	auth_throttle_free(&srv->throttle);
	smtp_ratelimit_free(&srv->ratelimit);
	free(srv);
}

static void
check_done(struct smtp_server *srv)
{
	if (!srv->shutting_down || srv->listeners_open > 0 ||
	    srv->n_sessions > 0 || !srv->grace_open ||
	    uv_is_closing((uv_handle_t *)&srv->grace))
		return;
	log_info(&server_log, "event=stopped");
	uv_close((uv_handle_t *)&srv->grace, grace_closed);
}

void
smtp_server_session_gone(struct smtp_server *srv)
{
	check_done(srv);
}

static void
listener_closed(void *ctx)
{
	struct smtp_server *srv = ctx;

	srv->listeners_open--;
	check_done(srv);
}

int
smtp_server_start(uv_loop_t *loop, const struct config *cfg, struct store *st,
    struct tls_ctx *tls, struct smtp_server **out, struct err *err)
{
	struct smtp_server *srv = xcalloc(1, sizeof(*srv));
	const struct listener_config *lc;
	const struct auth_throttle_opts to = { SMTP_AUTH_DELAY_BASE_MS,
		SMTP_AUTH_DELAY_MAX_MS, SMTP_AUTH_BAN_AFTER, SMTP_AUTH_BAN_MS };
	size_t i, n = 0;
	int rc;

	srv->loop = loop;
	srv->cfg = *cfg;
	clamp(&srv->cfg);
	srv->st = st;
	srv->tls = tls_ctx_ref(tls);
	srv->throttle = auth_throttle_new(&to);
	srv->ratelimit =
	    smtp_ratelimit_new(srv->cfg.submission_max_messages_per_hour,
	        srv->cfg.submission_max_recipients_per_hour);
	(void)uv_timer_init(loop, &srv->grace);
	srv->grace.data = srv;
	srv->grace_open = true;
	for (i = 0; i < cfg->n_listeners; i++) {
		lc = &cfg->listeners[i];
		if (lc->kind != LISTENER_SMTP &&
		    lc->kind != LISTENER_SUBMISSION &&
		    lc->kind != LISTENER_SUBMISSIONS)
			continue;
		if (lc->kind == LISTENER_SUBMISSIONS && tls == NULL) {
			rc = err_set(err, ERR_INPUT,
			    "submissions listener %s:%u without TLS", lc->addr,
			    lc->port);
			goto fail;
		}
		if (lc->kind == LISTENER_SUBMISSION && tls == NULL)
			log_warn(&server_log,
			    "event=listen addr=%s port=%u note=\"submission "
			    "without TLS: AUTH is never offered\"",
			    lc->addr, lc->port);
		srv->lctx[n].srv = srv;
		srv->lctx[n].kind = lc->kind == LISTENER_SUBMISSION
		    ? SMTP_KIND_SUBMISSION
		    : lc->kind == LISTENER_SUBMISSIONS ? SMTP_KIND_SUBMISSIONS
		                                       : SMTP_KIND_MX;
		rc = net_listener_start(loop, lc->addr, lc->port, on_accept,
		    &srv->lctx[n], &srv->listeners[n], err);
		if (rc != 0)
			goto fail;
		log_info(&server_log, "event=listen addr=%s port=%u kind=%s",
		    lc->addr, lc->port, kind_name(lc->kind));
		n++;
	}
	srv->listeners_open = n;
	*out = srv;
	return 0;
fail:
	/* Unwind: the listeners close on the loop. */
	while (n > 0)
		net_listener_close(&srv->listeners[--n], NULL, NULL);
	tls_ctx_free(&srv->tls);
	uv_close((uv_handle_t *)&srv->grace, free_on_close);
	return rc;
}

void
smtp_server_set_queue(struct smtp_server *srv, struct smtp_queue *q)
{
	srv->queue = q;
}

void
smtp_server_reload(struct smtp_server *srv, const struct config *cfg,
    struct tls_ctx *tls)
{
	struct config next = *cfg;
	size_t i;
	bool same = next.n_listeners == srv->cfg.n_listeners;

	clamp(&next);
	for (i = 0; same && i < next.n_listeners; i++)
		same = next.listeners[i].kind == srv->cfg.listeners[i].kind &&
		    next.listeners[i].port == srv->cfg.listeners[i].port &&
		    strcmp(next.listeners[i].addr,
		        srv->cfg.listeners[i].addr) == 0;
	if (!same) {
		log_warn(&server_log,
		    "event=reload note=\"listener changes "
		    "need a restart\"");
		/* Keep the listeners we actually have. */
		memcpy(next.listeners, srv->cfg.listeners,
		    sizeof(next.listeners));
		next.n_listeners = srv->cfg.n_listeners;
	}
	srv->cfg = next;
	smtp_ratelimit_set(srv->ratelimit,
	    srv->cfg.submission_max_messages_per_hour,
	    srv->cfg.submission_max_recipients_per_hour);
	if (tls != srv->tls) {
		struct tls_ctx *old = srv->tls;

		srv->tls = tls_ctx_ref(tls);
		tls_ctx_free(&old);
	}
	log_info(&server_log, "event=reload hostname=%s max_size=%llu",
	    srv->cfg.hostname,
	    (unsigned long long)srv->cfg.smtp_max_message_size);
}

static void
grace_expired(uv_timer_t *t)
{
	struct smtp_server *srv = t->data;
	struct smtp_session *s, *next;

	log_info(&server_log, "event=shutdown-grace-expired sessions=%zu",
	    srv->n_sessions);
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next; /* s may go (closing is asynchronous) */
		smtp_session_shutdown(s, true);
	}
}

void
smtp_server_shutdown(struct smtp_server *srv, unsigned grace_ms,
    void (*done)(void *ctx), void *ctx)
{
	struct smtp_session *s, *next;
	size_t i;

	if (srv->shutting_down)
		return;
	srv->shutting_down = true;
	srv->done = done;
	srv->done_ctx = ctx;
	log_info(&server_log, "event=shutdown sessions=%zu grace_ms=%u",
	    srv->n_sessions, grace_ms);
	for (i = 0; i < CONFIG_LISTENERS_MAX; i++)
		if (srv->listeners[i] != NULL)
			net_listener_close(&srv->listeners[i], listener_closed,
			    srv);
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		smtp_session_shutdown(s, false);
	}
	(void)uv_timer_start(&srv->grace, grace_expired, grace_ms, 0);
	check_done(srv);
}

void
smtp_server_free(struct smtp_server **sp)
{
	struct smtp_server *srv = *sp;

	if (srv == NULL)
		return;
	*sp = NULL;
	tls_ctx_free(&srv->tls);
	auth_throttle_free(&srv->throttle);
	smtp_ratelimit_free(&srv->ratelimit);
	free(srv);
}

void
smtp_server_share_throttle(struct smtp_server *s, struct auth_throttle *t)
{
	auth_throttle_free(&s->throttle);
	s->throttle = auth_throttle_ref(t);
}
