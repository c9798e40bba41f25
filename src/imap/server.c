/* SPDX-License-Identifier: MIT */
/* The IMAP server: listeners (IMAP with STARTTLS, IMAPS with implicit
 * TLS), the session list, reload, graceful shutdown, and the in-memory
 * \Recent high-water marks (not persisted: after a restart nothing is
 * recent). */
#include <stdlib.h>
#include <string.h>

#include "imap/session_int.h"
#include "lib/mem.h"
#include "net/tls_int.h"

#include "lib/banned.h"

static const struct log_ctx server_log = { "imap", 0 };

/* Failed logins: a peer address or a user name is banned after 10
 * failures, for 5 minutes since the last failure. */
#define BAN_AFTER 10
#define BAN_MS    (5u * 60u * 1000u)

static void
on_accept(void *ctx, uv_stream_t *server)
{
	struct imap_listen_ctx *l = ctx;

	imap_session_accept(l->srv, server, l->implicit_tls);
}

static void
grace_closed(uv_handle_t *h)
{
	struct imap_server *srv = h->data;

	srv->grace_open = false;
	if (srv->done != NULL && !srv->done_called) {
		srv->done_called = true;
		srv->done(srv->done_ctx);
	}
}

static void
free_on_close(uv_handle_t *h)
{
	struct imap_server *srv = h->data;

	auth_throttle_free(&srv->throttle);
	imap_view_cache_clear(srv);
	free(srv->recent);
	free(srv);
}

static void
check_done(struct imap_server *srv)
{
	if (!srv->shutting_down || srv->listeners_open > 0 ||
	    srv->n_sessions > 0 || !srv->grace_open ||
	    uv_is_closing((uv_handle_t *)&srv->grace))
		return;
	log_info(&server_log, "event=stopped");
	uv_close((uv_handle_t *)&srv->grace, grace_closed);
}

void
imap_server_session_gone(struct imap_server *srv)
{
	check_done(srv);
}

static void
listener_closed(void *ctx)
{
	struct imap_server *srv = ctx;

	srv->listeners_open--;
	check_done(srv);
}

/* Config may lower a cap of imap/limits.h, never raise it. */
static void
clamp(struct config *c)
{
	if (c->imap_max_connections == 0 ||
	    c->imap_max_connections > IMAP_CONNS_MAX)
		c->imap_max_connections = IMAP_CONNS_MAX;
	if (c->imap_max_connections_per_ip == 0 ||
	    c->imap_max_connections_per_ip > IMAP_CONNS_PER_IP_MAX)
		c->imap_max_connections_per_ip = IMAP_CONNS_PER_IP_MAX;
	if (c->imap_command_time_seconds == 0 ||
	    c->imap_command_time_seconds > IMAP_COMMAND_TIME_MAX)
		c->imap_command_time_seconds = IMAP_COMMAND_TIME_MAX;
}

int
imap_server_start(uv_loop_t *loop, const struct config *cfg, struct store *st,
    struct tls_ctx *tls, struct imap_server **out, struct err *err)
{
	struct imap_server *srv = xcalloc(1, sizeof(*srv));
	const struct listener_config *lc;
	struct auth_throttle_opts to = { IMAP_AUTH_DELAY_BASE_MS,
		IMAP_AUTH_DELAY_MAX_MS, BAN_AFTER, BAN_MS };
	size_t i, n = 0;
	int rc;

	srv->loop = loop;
	srv->cfg = *cfg;
	clamp(&srv->cfg);
	srv->st = st;
	srv->tls = tls_ctx_ref(tls);
	srv->throttle = auth_throttle_new(&to);
	(void)uv_timer_init(loop, &srv->grace);
	srv->grace.data = srv;
	srv->grace_open = true;
	for (i = 0; i < cfg->n_listeners; i++) {
		lc = &cfg->listeners[i];
		if (lc->kind != LISTENER_IMAP && lc->kind != LISTENER_IMAPS)
			continue;
		if (lc->kind == LISTENER_IMAPS && tls == NULL) {
			rc = err_set(err, ERR_INPUT,
			    "imaps listener %s:%u without TLS", lc->addr,
			    lc->port);
			goto fail;
		}
		srv->lctx[n].srv = srv;
		srv->lctx[n].implicit_tls = lc->kind == LISTENER_IMAPS;
		rc = net_listener_start(loop, lc->addr, lc->port, on_accept,
		    &srv->lctx[n], &srv->listeners[n], err);
		if (rc != 0)
			goto fail;
		log_info(&server_log, "event=listen addr=%s port=%u tls=%s",
		    lc->addr, lc->port,
		    lc->kind == LISTENER_IMAPS ? "implicit" : "starttls");
		n++;
	}
	srv->listeners_open = n;
	*out = srv;
	return 0;
fail:
	while (n > 0)
		net_listener_close(&srv->listeners[--n], NULL, NULL);
	tls_ctx_free(&srv->tls);
	uv_close((uv_handle_t *)&srv->grace, free_on_close);
	return rc;
}

void
imap_server_reload(struct imap_server *srv, const struct config *cfg,
    struct tls_ctx *tls)
{
	struct config next = *cfg;

	/* Listeners are not rebound (a change needs a restart). */
	memcpy(next.listeners, srv->cfg.listeners, sizeof(next.listeners));
	next.n_listeners = srv->cfg.n_listeners;
	clamp(&next);
	srv->cfg = next;
	if (tls != srv->tls) {
		struct tls_ctx *old = srv->tls;

		srv->tls = tls_ctx_ref(tls);
		tls_ctx_free(&old);
	}
	log_info(&server_log, "event=reload");
}

static void
grace_expired(uv_timer_t *t)
{
	struct imap_server *srv = t->data;
	struct imap_session_priv *p, *next;

	log_info(&server_log, "event=shutdown-grace-expired sessions=%zu",
	    srv->n_sessions);
	for (p = srv->sessions; p != NULL; p = next) {
		next = p->next;
		imap_session_shutdown(p->s, true);
	}
}

void
imap_server_shutdown(struct imap_server *srv, unsigned grace_ms,
    void (*done)(void *ctx), void *ctx)
{
	struct imap_session_priv *p, *next;
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
	for (p = srv->sessions; p != NULL; p = next) {
		next = p->next;
		imap_session_shutdown(p->s, false);
	}
	(void)uv_timer_start(&srv->grace, grace_expired, grace_ms, 0);
	check_done(srv);
}

void
imap_server_free(struct imap_server **sp)
{
	struct imap_server *srv = *sp;

	if (srv == NULL)
		return;
	*sp = NULL;
	tls_ctx_free(&srv->tls);
	auth_throttle_free(&srv->throttle);
	imap_view_cache_clear(srv);
	free(srv->recent);
	free(srv);
}

/* The record of mailbox_id; one left by a deleted mailbox whose id was
 * reused (another UIDVALIDITY) starts over. */
static struct imap_recent *
recent_find(struct imap_server *srv, int64_t mailbox_id, uint32_t uidvalidity)
{
	size_t i;

	for (i = 0; i < srv->n_recent; i++)
		if (srv->recent[i].mailbox_id == mailbox_id) {
			if (srv->recent[i].uidvalidity != uidvalidity) {
				srv->recent[i].uidvalidity = uidvalidity;
				srv->recent[i].uid = 0;
			}
			return &srv->recent[i];
		}
	return NULL;
}

uint32_t
imap_server_recent_peek(struct imap_server *srv, int64_t mailbox_id,
    uint32_t uidvalidity)
{
	struct imap_recent *r = recent_find(srv, mailbox_id, uidvalidity);

	return r != NULL ? r->uid : 0;
}

uint32_t
imap_server_recent_claim(struct imap_server *srv, int64_t mailbox_id,
    uint32_t uidvalidity, uint32_t uid)
{
	struct imap_recent *r = recent_find(srv, mailbox_id, uidvalidity);
	uint32_t old;

	if (r == NULL) {
		if (srv->n_recent == srv->cap_recent) {
			srv->cap_recent =
			    srv->cap_recent ? srv->cap_recent * 2 : 16;
			srv->recent = xrealloc(srv->recent,
			    srv->cap_recent * sizeof(*srv->recent));
		}
		r = &srv->recent[srv->n_recent++];
		r->mailbox_id = mailbox_id;
		r->uidvalidity = uidvalidity;
		r->uid = 0;
	}
	old = r->uid;
	if (uid > r->uid)
		r->uid = uid;
	return old;
}

struct auth_throttle *
imap_server_throttle(struct imap_server *s)
{
	return s->throttle;
}
