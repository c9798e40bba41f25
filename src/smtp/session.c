/* SPDX-License-Identifier: MIT */
/* One SMTP server session: the connection's input modes (lines, DATA,
 * BDAT chunks), replies held back while pipelining, error counting and
 * the session's lifetime, which outlasts its connection while a commit
 * is pending. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "lib/mem.h"
#include "lib/str.h"
#include "net/lineio.h"
#include "net/tls_int.h"
#include "smtp/session_int.h"

#include "lib/banned.h"

static size_t on_data(void *ctx, struct slice in);
static void on_timeout(void *ctx);
static void on_close(void *ctx, const char *reason);

static const struct net_conn_ops session_ops = {
	.on_data = on_data,
	.on_timeout = on_timeout,
	.on_close = on_close,
};

static void __attribute__((format(printf, 2, 0)))
vreply(struct smtp_session *s, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	if (buf_append(&s->reply, line, (size_t)n + 2) != 0) {
		smtp_flush(s);
		(void)buf_append(&s->reply, line, (size_t)n + 2);
	}
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, fmt, ap);
	va_end(ap);
}

void
smtp_reply_error(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, fmt, ap);
	va_end(ap);
	if (++s->errors >= s->max_errors) {
		log_info(&s->log, "event=reject reason=too-many-errors");
		smtp_close_421(s, "4.7.0 Too many errors");
	}
}

void
smtp_flush(struct smtp_session *s)
{
	if (s->reply.len == 0)
		return;
	if (s->conn != NULL)
		net_conn_write(s->conn, s->reply.p, s->reply.len);
	buf_reset(&s->reply);
}

void
smtp_close_421(struct smtp_session *s, const char *code_text)
{
	if (s->closing)
		return;
	smtp_reply(s, "421 %s, %s closing connection", code_text, s->hostname);
	smtp_flush(s);
	s->closing = true;
	if (s->conn != NULL)
		net_conn_close(s->conn);
}

void
smtp_txn_reset(struct smtp_session *s)
{
	store_msg_free(&s->msg);
	arena_reset(s->txn);
	s->sender[0] = '\0';
	s->smtputf8 = false;
	s->users = NULL;
	s->n_users = s->cap_users = 0;
	s->n_rcpt = 0;
	s->body_size = 0;
	s->txn_error = 0;
	s->bdat_used = false;
	s->chunk_last = false;
	s->chunk_left = 0;
	s->msgid[0] = '\0';
	s->ret = SMTP_RET_NONE;
	s->envid[0] = '\0';
	s->body_8bit = false;
	s->remote = NULL;
	s->n_remote = s->cap_remote = 0;
	s->notify_ok = NULL;
	s->n_notify_ok = s->cap_notify_ok = 0;
	buf_clear(&s->hold);
	buf_init(&s->hold, SMTP_SUBMIT_HOLD_MAX);
	s->holding = false;
	if (s->state != SMTP_STATE_GREETED)
		s->state = SMTP_STATE_READY;
}

const char *
smtp_session_peer(const struct smtp_session *s)
{
	return s->peer;
}

static void
free_handle(uv_handle_t *h)
{
	free(h);
}

void
smtp_session_hold_input(struct smtp_session *s, bool hold)
{
	bool was = s->auth_busy;

	s->auth_busy = hold;
	if (s->conn == NULL || hold == was)
		return;
	if (hold)
		net_conn_pause(s->conn);
	else if (!s->closing)
		net_conn_resume(s->conn);
}

void
smtp_session_maybe_free(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;

	if (s->conn != NULL || s->state == SMTP_STATE_COMMIT ||
	    s->auth_work != NULL)
		return;
	if (s->t_delay != NULL) {
		/* A pending failure answer dies with the session. */
		uv_close((uv_handle_t *)s->t_delay, free_handle);
		s->t_delay = NULL;
	}
	if (s->t_idle != NULL) {
		uv_close((uv_handle_t *)s->t_idle, free_handle);
		s->t_idle = NULL;
	}
	sodium_memzero(s->sasl_user, sizeof(s->sasl_user));
	store_msg_free(&s->msg);
	arena_free(&s->txn);
	buf_clear(&s->reply);
	buf_clear(&s->hold);
	tls_ctx_free(&s->tls);
	free(s->out);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->n_sessions--;
	free(s);
	smtp_server_session_gone(srv);
}

/* A bad command line: counted, and answered; the session goes on. */
static void
line_error(struct smtp_session *s, const char *what)
{
	log_info(&s->log, "event=reject reason=%s", what);
	smtp_reply_error(s, "500 5.5.2 Syntax error: %s", what);
}

static size_t
feed_lines(struct smtp_session *s, struct slice in)
{
	struct slice line;
	size_t used = 0;

	switch (line_next(in, SMTP_LINE_MAX, &line, &used)) {
	case LINE_MORE:
		return 0;
	case LINE_TOO_LONG:
		s->input = SMTP_IN_SKIP;
		return 0; /* the caller goes on in SKIP mode */
	case LINE_BARE_LF:
		line_error(s, "bare LF in command line");
		return used;
	case LINE_OK:
		break;
	}
	if (memchr(line.p, '\r', line.len) != NULL)
		line_error(s, "bare CR in command line");
	else if (memchr(line.p, '\0', line.len) != NULL)
		line_error(s, "NUL in command line");
	else if (s->sasl != SMTP_SASL_NONE)
		smtp_auth_line(s, line);
	else
		smtp_dispatch(s, line);
	return used;
}

static bool
in_data(const struct smtp_session *s)
{
	return (s->state & (SMTP_STATE_DATA | SMTP_STATE_CHUNKING)) != 0 ||
	    s->input == SMTP_IN_DATA || s->input == SMTP_IN_CHUNK;
}

/* Slowloris: every byte resets the idle timer, so a message's data must
 * also arrive within data_time_ms plus 1 s per SMTP_DATA_RATE_MIN bytes
 * (limits.h). Starts the clock when data begins, stops it outside. */
static bool
data_too_slow(struct smtp_session *s)
{
	uint64_t now = uv_now(s->srv->loop), allowed;

	if (!in_data(s)) {
		s->data_clock = false;
		return false;
	}
	if (!s->data_clock) {
		s->data_clock = true;
		s->data_start = now;
		s->data_bytes = 0;
		return false;
	}
	allowed = s->data_time_ms + s->data_bytes * 1000 / SMTP_DATA_RATE_MIN;
	return now - s->data_start > allowed;
}

static bool
stalled(const struct smtp_session *s)
{
	return s->closing || s->conn == NULL || s->starttls_now ||
	    s->auth_busy || s->state == SMTP_STATE_COMMIT;
}

static void
idle_cb(uv_timer_t *t)
{
	struct smtp_session *s = t->data;

	if (s->conn == NULL || s->closing)
		return;
	if (stalled(s)) { /* the server, not the client, is slow */
		(void)uv_timer_start(s->t_idle, idle_cb, s->idle_ms, 0);
		return;
	}
	log_info(&s->log, "event=timeout state=%d plaintext=0", (int)s->state);
	store_msg_free(&s->msg);
	smtp_close_421(s, "4.4.2 Idle timeout");
}

static size_t
on_data(void *ctx, struct slice in)
{
	struct smtp_session *s = ctx;
	size_t total = 0, n;
	enum smtp_input mode;

	(void)uv_timer_start(s->t_idle, idle_cb, s->idle_ms, 0);

	if (!stalled(s) && data_too_slow(s)) {
		log_info(&s->log,
		    "event=reject reason=data-too-slow bytes=%llu ms=%llu",
		    (unsigned long long)s->data_bytes,
		    (unsigned long long)(uv_now(s->srv->loop) - s->data_start));
		store_msg_free(&s->msg);
		smtp_close_421(s, "4.4.2 Data rate too low");
		return in.len;
	}
	if (!stalled(s) && s->line_clock &&
	    uv_now(s->srv->loop) - s->line_start > s->data_time_ms) {
		log_info(&s->log,
		    "event=reject reason=line-too-slow bytes=%zu ms=%llu",
		    in.len,
		    (unsigned long long)(uv_now(s->srv->loop) - s->line_start));
		smtp_close_421(s, "4.4.2 Command too slow");
		return in.len;
	}
	while (total < in.len && !stalled(s)) {
		struct slice rest = slice_skip(in, total);

		mode = s->input;
		switch (mode) {
		case SMTP_IN_LINE:
			n = feed_lines(s, rest);
			break;
		case SMTP_IN_SKIP:
			if (line_skip(rest, &n)) {
				s->input = SMTP_IN_LINE;
				line_error(s, "line too long");
			}
			break;
		case SMTP_IN_DATA:
			n = smtp_ingest_data(s, rest);
			break;
		case SMTP_IN_CHUNK:
			n = smtp_ingest_chunk(s, rest);
			break;
		default:
			n = 0;
		}
		total += n;
		if (mode == SMTP_IN_DATA || mode == SMTP_IN_CHUNK)
			s->data_bytes += n;
		else if (mode == SMTP_IN_LINE && n > 0)
			s->line_clock = false; /* a whole line was taken */
		if (n == 0 && s->input == mode)
			break; /* needs more input */
	}
	if (s->starttls_now) {
		/* RFC 3207 §4: whatever followed STARTTLS in plaintext is
		 * discarded with the buffer; the 220 goes out first. */
		smtp_flush(s);
		s->starttls_now = false;
		s->tls_on = true;
		if (net_conn_starttls(s->conn, s->tls) != 0)
			s->closing = true;
		return in.len;
	}
	/* Slowloris between commands: a partial line (or one being skipped
	 * as too long) starts the clock that data_too_slow's base time
	 * bounds. Not while stalled: the server, not the client, is slow. */
	if (stalled(s))
		s->line_clock = false;
	else if ((s->input == SMTP_IN_LINE && total < in.len) ||
	    s->input == SMTP_IN_SKIP) {
		if (!s->line_clock) {
			s->line_clock = true;
			s->line_start = uv_now(s->srv->loop);
		}
	} else
		s->line_clock = false;
	smtp_flush(s);
	return total;
}

static void
on_timeout(void *ctx)
{
	struct smtp_session *s = ctx;

	if (s->state == SMTP_STATE_COMMIT || s->auth_busy)
		return;
	log_info(&s->log, "event=timeout state=%d", (int)s->state);
	store_msg_free(&s->msg);
	smtp_close_421(s, "4.4.2 Idle timeout");
}

static void
on_close(void *ctx, const char *reason)
{
	struct smtp_session *s = ctx;

	log_info(&s->log, "event=disconnect reason=%s messages=%u errors=%u",
	    reason, s->messages, s->errors);
	(void)uv_timer_stop(s->t_idle);
	s->conn = NULL;
	s->closing = true;
	if (s->state != SMTP_STATE_COMMIT)
		store_msg_free(&s->msg); /* an unfinished message goes */
	smtp_session_maybe_free(s);
}

void
smtp_session_shutdown(struct smtp_session *s, bool force)
{
	if (s->conn == NULL || s->closing)
		return;
	if (!force &&
	    (s->state &
	        (SMTP_STATE_DATA | SMTP_STATE_CHUNKING | SMTP_STATE_COMMIT))) {
		s->shutdown_pending = true; /* after this transaction */
		return;
	}
	if (s->state != SMTP_STATE_COMMIT)
		store_msg_free(&s->msg);
	smtp_close_421(s, "4.3.2 Service shutting down");
}

/* The connection caps (limits.h SMTP_CONNS_*): NULL if s may stay, else
 * the reason. s is already on the server's list. */
static const char *
over_cap(const struct smtp_session *s)
{
	const struct smtp_server *srv = s->srv;
	const struct smtp_session *o;
	size_t all = 0, same = 0;

	/* Sessions already closing (refused ones among them) do not count:
	 * a flood must not lock out the address once it stops. */
	for (o = srv->sessions; o != NULL; o = o->next) {
		if (o->conn == NULL || o->closing)
			continue;
		all++;
		if (net_peer_same(o->peer_key, o->peer_key_len, o->peer,
		        s->peer_key, s->peer_key_len, s->peer))
			same++;
	}
	return net_peer_over_cap(all, same, srv->cfg.smtp_max_connections,
	    srv->cfg.smtp_max_connections_per_ip,
	    !srv->cfg.smtp_limit_loopback && net_peer_is_loopback(s->peer));
}

void
smtp_session_accept(struct smtp_server *srv, uv_stream_t *server,
    enum smtp_kind kind)
{
	const char *cap;
	const struct config *cfg = &srv->cfg;
	struct smtp_session *s;
	struct net_conn *c;

	if (net_conn_accept(srv->loop, server, &c) != 0)
		return;
	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->conn = c;
	randombytes_buf(&s->log.session, sizeof(s->log.session));
	s->log.proto = "smtp";
	(void)str_copy(s->peer, sizeof(s->peer), net_conn_peer(c));
	s->peer_key_len = net_peer_key(s->peer, s->peer_key);
	(void)str_copy(s->hostname, sizeof(s->hostname), cfg->hostname);
	s->max_size = cfg->smtp_max_message_size;
	s->max_rcpt = cfg->smtp_max_recipients;
	s->max_errors = cfg->smtp_max_errors;
	/* Submitted mail is ours to get right: a bare CR or LF is refused
	 * whatever the MX's setting. */
	s->kind = kind;
	s->submission = kind != SMTP_KIND_MX;
	s->reject_bare_lf = cfg->smtp_reject_bare_lf || s->submission;
	s->data_time_ms = (uint64_t)cfg->smtp_data_time_seconds * 1000;
	s->tls = tls_ctx_ref(srv->tls);
	s->state = SMTP_STATE_GREETED;
	s->input = SMTP_IN_LINE;
	buf_init(&s->reply, SMTP_REPLY_BUF);
	buf_init(&s->hold, SMTP_SUBMIT_HOLD_MAX);
	s->txn = arena_new("smtp-txn", SMTP_SESSION_ARENA);
	s->out = xmalloc(SMTP_DATA_OUT_MAX(NET_CONN_INBUF));
	s->next = srv->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	srv->sessions = s;
	srv->n_sessions++;

	log_info(&s->log, "event=connect peer=%s kind=%s", s->peer,
	    kind == SMTP_KIND_MX               ? "mx"
	        : kind == SMTP_KIND_SUBMISSION ? "submission"
	                                       : "submissions");
	if (kind == SMTP_KIND_SUBMISSIONS) {
		/* RFC 8314 §3.3: TLS from the first byte, as IMAPS. */
		s->tls_on = true;
		(void)net_conn_starttls(c, s->tls);
	}
	net_conn_start(c, &session_ops, s);
	net_conn_set_timeout(c, cfg->smtp_timeout_seconds * 1000);
	s->idle_ms = cfg->smtp_timeout_seconds * 1000;
	s->t_idle = xmalloc(sizeof(*s->t_idle));
	(void)uv_timer_init(srv->loop, s->t_idle);
	s->t_idle->data = s;
	(void)uv_timer_start(s->t_idle, idle_cb, s->idle_ms, 0);
	if (srv->shutting_down) {
		smtp_close_421(s, "4.3.2 Service shutting down");
		return;
	}
	if ((cap = over_cap(s)) != NULL) {
		log_info(&s->log, "event=reject reason=%s peer=%s sessions=%zu",
		    cap, s->peer, srv->n_sessions);
		smtp_close_421(s, "4.7.0 Too many connections");
		return;
	}
	smtp_reply(s, "220 %s ESMTP despatch", s->hostname);
	smtp_flush(s);
}
