/* SPDX-License-Identifier: MIT */
/* One IMAP session: the connection's input (the command parser, APPEND
 * message literals streamed to cmd_append.c, IDLE's DONE, AUTHENTICATE
 * continuation lines), the command table, one command at a time with
 * pipelined commands waiting in the buffer, the command life cycle
 * (imap_cmd_finish), COMPRESS=DEFLATE below everything, timers, and a
 * lifetime that outlasts the connection while a command still runs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "imap/session_int.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "net/tls_int.h"

#include "lib/banned.h"

#define OUT_MAX   (8 * 1024 * 1024)
#define OUT_FLUSH (32 * 1024)
#define POLL_MS   1000
/* Longest tagged reply text: far above any response code a mailbox of
 * STORE's limits can produce, so that only nonsense reaches it. */
#define FINISH_TEXT_MAX (64 * 1024 * 1024)

struct imap_command_entry {
	const char *name;
	unsigned states;
	unsigned flags;
	imap_cmd_fn *fn;
};

#define AUTHED (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define SEL    IMAP_STATE_SELECTED
#define F_UID  IMAP_CMD_F_UID
#define F_NOX  IMAP_CMD_F_NO_EXPUNGE

static const struct imap_command_entry commands[] = {
	{ "CAPABILITY", IMAP_STATES_ANY, 0, cmd_capability },
	{ "NOOP", IMAP_STATES_ANY, 0, cmd_noop },
	{ "LOGOUT", IMAP_STATES_ANY, 0, cmd_logout },
	{ "ID", IMAP_STATES_ANY, 0, cmd_id },
	{ "STARTTLS", IMAP_STATE_NOAUTH, 0, cmd_starttls },
	{ "LOGIN", IMAP_STATE_NOAUTH, 0, cmd_login },
	{ "AUTHENTICATE", IMAP_STATE_NOAUTH, 0, cmd_authenticate },
	{ "ENABLE", AUTHED, 0, cmd_enable },
	{ "NAMESPACE", AUTHED, 0, cmd_namespace },
	{ "LIST", AUTHED, 0, cmd_list },
	{ "LSUB", AUTHED, 0, cmd_lsub },
	{ "SELECT", AUTHED, 0, cmd_select },
	{ "EXAMINE", AUTHED, 0, cmd_select },
	{ "CREATE", AUTHED, 0, cmd_create },
	{ "DELETE", AUTHED, 0, cmd_delete },
	{ "RENAME", AUTHED, 0, cmd_rename },
	{ "SUBSCRIBE", AUTHED, 0, cmd_subscribe },
	{ "UNSUBSCRIBE", AUTHED, 0, cmd_subscribe },
	{ "STATUS", AUTHED, 0, cmd_status },
	{ "APPEND", AUTHED, IMAP_CMD_F_STREAM_LITERAL, cmd_append },
	{ "IDLE", AUTHED, 0, cmd_idle },
	{ "COMPRESS", AUTHED, 0, cmd_compress },
	{ "GETQUOTA", AUTHED, 0, cmd_getquota },
	{ "GETQUOTAROOT", AUTHED, 0, cmd_getquotaroot },
	{ "SETQUOTA", AUTHED, 0, cmd_setquota },
	{ "CLOSE", SEL, 0, cmd_close },
	{ "UNSELECT", SEL, 0, cmd_unselect },
	{ "CHECK", SEL, 0, cmd_check },
	{ "FETCH", SEL, F_UID | F_NOX, cmd_fetch },
	{ "STORE", SEL, F_UID | F_NOX, cmd_store },
	{ "COPY", SEL, F_UID, cmd_copy },
	{ "MOVE", SEL, F_UID, cmd_move },
	{ "EXPUNGE", SEL, F_UID, cmd_expunge },
	{ "SEARCH", SEL, F_UID | F_NOX, cmd_search },
	{ "SORT", SEL, F_UID | F_NOX, cmd_sort },
	{ "THREAD", SEL, F_UID | F_NOX, cmd_thread },
};

static size_t on_data(void *ctx, struct slice in);
static void on_timeout(void *ctx);
static void idle_cb(uv_timer_t *t);
static void on_close(void *ctx, const char *reason);
static void on_drain(void *ctx);
static void maybe_free(struct imap_session *s);
static void kick(struct imap_session *s);

static const struct net_conn_ops session_ops = {
	.on_data = on_data,
	.on_timeout = on_timeout,
	.on_close = on_close,
	.on_drain = on_drain,
};

static const struct imap_command_entry *
lookup(struct slice name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (slice_eq_ci(name, slice_cstr(commands[i].name)))
			return &commands[i];
	return NULL;
}

/* --- output ----------------------------------------------------------- */

static void
deflate_out(struct imap_session *s, const void *p, size_t n, int flush)
{
	struct imap_session_priv *pv = s->priv;
	unsigned char tmp[16384];

	pv->zo.next_in = (unsigned char *)(uintptr_t)p;
	pv->zo.avail_in = (uInt)n;
	do {
		pv->zo.next_out = tmp;
		pv->zo.avail_out = sizeof(tmp);
		if (deflate(&pv->zo, flush) == Z_STREAM_ERROR)
			return;
		if (sizeof(tmp) - pv->zo.avail_out > 0 && pv->conn != NULL)
			net_conn_write(pv->conn, tmp,
			    sizeof(tmp) - pv->zo.avail_out);
	} while (pv->zo.avail_out == 0);
}

void
imap_flush(struct imap_session *s)
{
	struct imap_session_priv *pv = s->priv;

	if (pv->out.len == 0 && !pv->zpending)
		return;
	pv->zpending = false;
	if (pv->conn != NULL && !pv->closing) {
		if (pv->compress)
			deflate_out(s, pv->out.p, pv->out.len, Z_SYNC_FLUSH);
		else
			net_conn_write(pv->conn, pv->out.p, pv->out.len);
	}
	buf_reset(&pv->out);
}

void
imap_out_append(struct imap_session *s, const void *p, size_t n)
{
	struct imap_session_priv *pv = s->priv;

	if (pv->conn == NULL || pv->closing)
		return;
	if (pv->out.len + n > OUT_FLUSH)
		imap_flush(s);
	if (n > OUT_FLUSH) {
		if (pv->compress) {
			deflate_out(s, p, n, Z_NO_FLUSH);
			pv->zpending = true; /* the next flush syncs */
		} else
			net_conn_write(pv->conn, p, n);
		return;
	}
	(void)buf_append(&pv->out, p, n);
}

size_t
imap_out_pending(const struct imap_session *s)
{
	const struct imap_session_priv *pv = s->priv;

	return pv->out.len +
	    (pv->conn != NULL ? net_conn_pending(pv->conn) : 0);
}

bool
imap_session_gone(const struct imap_session *s)
{
	return s->priv->conn == NULL || s->priv->closing;
}

void
imap_bye(struct imap_session *s, const char *text)
{
	struct imap_session_priv *pv = s->priv;

	if (pv->conn == NULL || pv->closing)
		return;
	imap_printf(s, "* BYE %s\r\n", text);
	imap_flush(s);
	if (pv->compress)
		deflate_out(s, "", 0, Z_FINISH);
	pv->closing = true;
	net_conn_close(pv->conn);
}

void
imap_count_bad(struct imap_session *s)
{
	struct imap_session_priv *pv = s->priv;

	if (++pv->bad >= pv->bad_max) {
		log_info(&s->log, "event=reject reason=too-many-errors");
		imap_bye(s, "Too many invalid commands");
	}
}

/* --- timers ------------------------------------------------------------ */

static void
timer_closed(uv_handle_t *h)
{
	struct imap_session *s = h->data;

	free(h);
	if (--s->priv->timers_open == 0) {
		free(s->priv);
		free(s);
	}
}

static uv_timer_t *
timer_new(struct imap_session *s)
{
	uv_timer_t *t = xmalloc(sizeof(*t));

	(void)uv_timer_init(s->srv->loop, t);
	t->data = s;
	s->priv->timers_open++;
	return t;
}

static void
kick_cb(uv_timer_t *t)
{
	struct imap_session *s = t->data;
	struct imap_session_priv *pv = s->priv;
	void (*fn)(struct imap_session *);

	if (pv->drain_resume != NULL) {
		if (pv->conn != NULL && !pv->closing &&
		    net_conn_pending(pv->conn) > IMAP_OUT_LOW)
			return; /* on_drain will call */
		fn = pv->drain_resume;
		pv->drain_resume = NULL;
		fn(s);
		return;
	}
	/* Input inflated earlier waits in zin: run it now. */
	if (pv->compress && pv->zin_len > 0 && s->cmd == NULL &&
	    pv->conn != NULL)
		(void)on_data(s, slice_make("", 0));
}

static void
kick(struct imap_session *s)
{
	(void)uv_timer_start(s->priv->t_kick, kick_cb, 0, 0);
}

void
imap_cmd_wait_drain(struct imap_session *s,
    void (*resume)(struct imap_session *s))
{
	struct imap_session_priv *pv = s->priv;

	imap_flush(s);
	pv->drain_resume = resume;
	/* Deferred even when drained already, so that a long stream never
	 * recurses. */
	if (pv->conn == NULL || pv->closing ||
	    net_conn_pending(pv->conn) <= IMAP_OUT_LOW)
		kick(s);
}

static void
on_drain(void *ctx)
{
	struct imap_session *s = ctx;

	if (s->priv->drain_resume != NULL &&
	    net_conn_pending(s->priv->conn) <= IMAP_OUT_LOW)
		kick(s);
}

static void
delay_cb(uv_timer_t *t)
{
	struct imap_session *s = t->data;
	void (*fn)(struct imap_session *) = s->priv->delay_fn;

	s->priv->delay_fn = NULL;
	if (fn != NULL)
		fn(s);
}

void
imap_session_delay(struct imap_session *s, unsigned ms,
    void (*fn)(struct imap_session *s))
{
	s->priv->delay_fn = fn;
	(void)uv_timer_start(s->priv->t_delay, delay_cb, ms, 0);
}

static void
poll_cb(uv_timer_t *t)
{
	struct imap_session *s = t->data;

	if (s->priv->mode != IMAP_IN_IDLE || s->view == NULL ||
	    imap_session_gone(s))
		return;
	(void)imap_view_sync(s, true, NULL);
	imap_flush(s);
}

void
imap_session_poll(struct imap_session *s, bool on)
{
	if (on)
		(void)uv_timer_start(s->priv->t_poll, poll_cb, POLL_MS,
		    POLL_MS);
	else
		(void)uv_timer_stop(s->priv->t_poll);
}

void
imap_session_set_timeout(struct imap_session *s, unsigned ms)
{
	s->priv->timeout_ms = ms;
	if (s->priv->conn != NULL) {
		net_conn_set_timeout(s->priv->conn, ms);
		(void)uv_timer_start(s->priv->t_idle, idle_cb, ms, 0);
	}
}

/* --- command life cycle ------------------------------------------------ */

static void
resume_input(struct imap_session *s)
{
	struct imap_session_priv *pv = s->priv;

	if (pv->conn == NULL || pv->closing)
		return;
	if (pv->paused) {
		pv->paused = false;
		net_conn_resume(pv->conn);
	}
	if (pv->compress && pv->zin_len > 0)
		kick(s);
}

void
imap_condstore_enable(struct imap_session *s)
{
	if (s->enabled & IMAP_ENABLED_CONDSTORE)
		return;
	s->enabled |= IMAP_ENABLED_CONDSTORE;
	if (s->view != NULL)
		s->priv->condstore_announce = true;
}

void
imap_cmd_finish(struct imap_session *s, const char *status, const char *fmt,
    ...)
{
	struct imap_session_priv *pv = s->priv;
	const struct imap_command_entry *e = pv->entry;
	const struct imap_command *cl = s->cmd;
	char small[1024], *text = small;
	va_list ap;
	bool expunge_ok;
	int n;

	/* The text may carry a long response code (MODIFIED, COPYUID,
	 * APPENDUID over thousands of scattered UIDs): it is formatted
	 * whole, on the heap when it does not fit, up to FINISH_TEXT_MAX. */
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		small[0] = '\0';
	} else if ((size_t)n >= sizeof(small) && (size_t)n <= FINISH_TEXT_MAX) {
		text = xmalloc((size_t)n + 1);
		va_start(ap, fmt);
		(void)vsnprintf(text, (size_t)n + 1, fmt, ap);
		va_end(ap);
	} else if ((size_t)n >= sizeof(small)) {
		/* Never a cut line: an answer too long to send is replaced
		 * by a NO the client can act on (resync). */
		log_warn(&s->log, "event=reply-too-long bytes=%d", n);
		if (strcmp(status, "BAD") != 0)
			status = "NO";
		(void)str_copy(small, sizeof(small),
		    "[LIMIT] Response too long");
	}
	if (s->view != NULL && s->state == IMAP_STATE_SELECTED &&
	    !imap_session_gone(s)) {
		expunge_ok = e == NULL || !(e->flags & IMAP_CMD_F_NO_EXPUNGE) ||
		    (cl != NULL && cl->uid);
		if (strcmp(status, "BAD") == 0 && e != NULL &&
		    (e->flags & IMAP_CMD_F_NO_EXPUNGE))
			expunge_ok = false;
		(void)imap_view_sync(s, expunge_ok, NULL);
	}
	if (pv->condstore_announce && s->view != NULL) {
		imap_printf(s, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		    (unsigned long long)s->view->highestmodseq);
	}
	pv->condstore_announce = false;
	imap_write(s, pv->tag.p, pv->tag.len);
	imap_write(s, " ", 1);
	imap_write(s, status, strlen(status));
	imap_write(s, " ", 1);
	imap_write(s, text, strlen(text));
	imap_write(s, "\r\n", 2);
	if (text != small)
		free(text);
	imap_flush(s);
	if (pv->out.cap > 4096)
		buf_clear(&pv->out); /* idle sessions keep little memory */
	if (strcmp(status, "BAD") == 0)
		imap_count_bad(s);
	s->cmd = NULL;
	pv->entry = NULL;
	if (pv->in_literal_begin) {
		/* Answered from imap_append_literal_begin: the parser still
		 * owns the command tree until it has rejected the literal. */
		pv->finished_early = true;
		return;
	}
	arena_reset(s->cmd_arena);
	if (s->state == IMAP_STATE_LOGOUT) {
		if (pv->conn != NULL && !pv->closing) {
			if (pv->compress)
				deflate_out(s, "", 0, Z_FINISH);
			pv->closing = true;
			net_conn_close(pv->conn);
		}
		maybe_free(s);
		return;
	}
	if (pv->shutdown_pending) {
		imap_bye(s, "Server shutting down");
		maybe_free(s);
		return;
	}
	if (pv->conn == NULL) {
		maybe_free(s);
		return;
	}
	resume_input(s);
}

/* --- input ------------------------------------------------------------- */

static void
set_tag(struct imap_session *s, struct slice tag)
{
	struct imap_session_priv *pv = s->priv;
	size_t n =
	    tag.len < sizeof(pv->tagbuf) ? tag.len : sizeof(pv->tagbuf) - 1;

	memcpy(pv->tagbuf, tag.p, n);
	pv->tagbuf[n] = '\0';
	pv->tag = slice_make(pv->tagbuf, n);
}

/* A command ended (or never ran) without cmd_append: message literals
 * an APPEND streamed before a syntax error are dropped now, not at the
 * next APPEND or at disconnect (imap_append_abort leaves a committing
 * APPEND alone). */
static void
append_drop(struct imap_session *s)
{
	if (s->append != NULL)
		imap_append_abort(s);
}

static void
bad_line(struct imap_session *s, struct slice tag, const char *why)
{
	append_drop(s);
	imap_write(s, tag.p, tag.len);
	imap_printf(s, " BAD %s\r\n", why);
	imap_count_bad(s);
}

static void
dispatch(struct imap_session *s, const struct imap_command *c)
{
	struct imap_session_priv *pv = s->priv;
	const struct imap_command_entry *e = lookup(c->name);

	set_tag(s, c->tag);
	if (e == NULL || (c->uid && !(e->flags & IMAP_CMD_F_UID))) {
		bad_line(s, c->tag, "Unknown command");
		arena_reset(s->cmd_arena);
		return;
	}
	if (!(e->states & (unsigned)s->state)) {
		bad_line(s, c->tag,
		    s->state == IMAP_STATE_NOAUTH ? "Log in first"
		                                  : "Command not allowed now");
		arena_reset(s->cmd_arena);
		return;
	}
	if (e->fn != cmd_append)
		append_drop(s);
	s->cmd = c;
	pv->entry = e;
	e->fn(s, c);
	if (s->cmd != NULL && pv->mode == IMAP_IN_CMD && pv->conn != NULL &&
	    !pv->paused) {
		/* Running on: later commands wait in the buffer. */
		pv->paused = true;
		net_conn_pause(pv->conn);
	}
}

static bool
is_append_message_literal(const struct imap_session *s,
    const struct imap_literal_info *li)
{
	const struct imap_command_entry *e;

	if (li->so_far == NULL || li->so_far->tag.len == 0 ||
	    li->so_far->name.len == 0 || li->so_far->uid)
		return false;
	e = lookup(li->so_far->name);
	return e != NULL && (e->flags & IMAP_CMD_F_STREAM_LITERAL) &&
	    (e->states & (unsigned)s->state) && li->so_far->n_args >= 1;
}

static void
literal(struct imap_session *s)
{
	struct imap_session_priv *pv = s->priv;
	struct imap_literal_info li;
	bool authed = s->state != IMAP_STATE_NOAUTH;
	int rc;

	imap_parser_literal_info(pv->parser, &li);
	if (authed && is_append_message_literal(s, &li)) {
		set_tag(s, li.so_far->tag);
		s->cmd = li.so_far;
		pv->entry = lookup(li.so_far->name);
		pv->in_literal_begin = true;
		pv->finished_early = false;
		rc = imap_append_literal_begin(s, &li);
		pv->in_literal_begin = false;
		if (rc == 0 && !pv->finished_early) {
			s->cmd = NULL; /* not running until the line ends */
			pv->entry = NULL;
			if (li.sync)
				imap_printf(s, "+ Ready for literal data\r\n");
			imap_flush(s);
			pv->stream_left = li.size;
			pv->mode = IMAP_IN_STREAM;
			if (li.size == 0) {
				imap_append_literal_end(s);
				imap_parser_literal_streamed(pv->parser);
				pv->mode = IMAP_IN_CMD;
			}
			return;
		}
		s->cmd = NULL;
		pv->entry = NULL;
		if (!pv->finished_early)
			imap_cmd_finish(s, "NO", "APPEND failed");
		pv->finished_early = false;
		imap_parser_literal_reject(pv->parser);
		arena_reset(s->cmd_arena);
		return;
	}
	if (li.size > (authed ? IMAP_LITERAL_MAX : IMAP_LITERAL_MAX_PREAUTH)) {
		struct slice tag = li.so_far != NULL && li.so_far->tag.len > 0
		    ? li.so_far->tag
		    : SLICE_LIT("*");

		append_drop(s);
		imap_write(s, tag.p, tag.len);
		imap_printf(s, " %s\r\n",
		    li.sync ? "NO [TOOBIG] Literal too big"
		            : "BAD [TOOBIG] Literal too big");
		imap_parser_literal_reject(pv->parser);
		arena_reset(s->cmd_arena);
		if (!li.sync) {
			imap_count_bad(s);
			/* A non-synchronizing literal past the limit is
			 * not worth skipping byte by byte (RFC 7888 §4). */
			imap_bye(s, "Literal too big");
		}
		return;
	}
	if (li.sync)
		imap_printf(s, "+ Ready for literal data\r\n");
	imap_flush(s);
	imap_parser_literal_accept(pv->parser);
}

/* One line (CRLF-terminated) at the front of in, for IDLE and SASL. */
static bool
take_line(struct slice in, size_t max, struct slice *line, size_t *used,
    bool *too_long)
{
	const char *lf = memchr(in.p, '\n', in.len);

	*too_long = false;
	if (lf == NULL) {
		if (in.len > max)
			*too_long = true;
		return false;
	}
	line->p = in.p;
	line->len = (size_t)(lf - in.p);
	if (line->len > 0 && line->p[line->len - 1] == '\r')
		line->len--;
	*used = (size_t)(lf - in.p) + 1;
	return true;
}

static size_t
process(struct imap_session *s, struct slice in)
{
	struct imap_session_priv *pv = s->priv;
	size_t used = 0, n;
	enum imap_parse_rc rc;
	struct slice line, tag;
	bool too_long, is_limit;
	const char *why;

	while (used < in.len && pv->conn != NULL && !pv->closing &&
	    !pv->input_changed) {
		struct slice rest = slice_skip(in, used);

		if (pv->mode == IMAP_IN_STREAM) {
			n = rest.len < pv->stream_left
			    ? rest.len
			    : (size_t)pv->stream_left;
			imap_append_literal_data(s, rest.p, n);
			used += n;
			pv->stream_left -= n;
			if (pv->stream_left == 0) {
				pv->mode = IMAP_IN_CMD;
				imap_append_literal_end(s);
				imap_parser_literal_streamed(pv->parser);
			}
			continue;
		}
		if (pv->mode == IMAP_IN_IDLE || pv->mode == IMAP_IN_SASL) {
			if (!take_line(rest, IMAP_LINE_MAX_PREAUTH, &line, &n,
			        &too_long)) {
				if (too_long) {
					imap_bye(s, "Line too long");
					return in.len;
				}
				break;
			}
			used += n;
			pv->cmd_clock = false; /* the line is whole */
			if (pv->mode == IMAP_IN_IDLE) {
				pv->mode = IMAP_IN_CMD;
				imap_session_poll(s, false);
				if (slice_eq_ci(line, SLICE_LIT("DONE")))
					imap_cmd_finish(s, "OK",
					    "IDLE terminated");
				else
					imap_cmd_finish(s, "BAD",
					    "Expected DONE");
			} else {
				pv->mode = IMAP_IN_CMD;
				pv->sasl_line(s, line);
				/* The response is a base64 password: wipe it
				 * where it arrived (net's input buffer or the
				 * inflated input), as LOGIN and SASL-IR wipe
				 * their copies. */
				sodium_memzero((void *)(uintptr_t)rest.p, n);
			}
			if (s->cmd != NULL && pv->conn != NULL && !pv->paused &&
			    pv->mode == IMAP_IN_CMD) {
				pv->paused = true;
				net_conn_pause(pv->conn);
			}
			if (s->cmd != NULL && pv->mode == IMAP_IN_CMD)
				break;
			continue;
		}
		if (s->cmd != NULL)
			break; /* a command runs: the rest waits */
		rc = imap_parser_push(pv->parser, rest, &n);
		used += n;
		switch (rc) {
		case IMAP_PARSE_MORE:
			if (n == 0)
				return used;
			break;
		case IMAP_PARSE_DONE:
			pv->cmd_clock = false;
			dispatch(s, imap_parser_command(pv->parser));
			break;
		case IMAP_PARSE_LITERAL:
			literal(s);
			break;
		case IMAP_PARSE_ERROR:
			pv->cmd_clock = false;
			why = imap_parser_error(pv->parser, &tag, &is_limit);
			if (tag.len == 0)
				tag = SLICE_LIT("*");
			bad_line(s, tag, why);
			if (is_limit)
				imap_count_bad(s);
			arena_reset(s->cmd_arena);
			break;
		}
	}
	return used;
}

/* Slowloris: every byte resets the idle timer, so a command, literals
 * included, must also arrive within cmd_time_ms plus 1 s per
 * IMAP_COMMAND_RATE_MIN bytes (limits.h), counted from its first byte. */
static bool
command_too_slow(const struct imap_session *s)
{
	const struct imap_session_priv *pv = s->priv;
	uint64_t allowed =
	    pv->cmd_time_ms + pv->cmd_bytes * 1000 / IMAP_COMMAND_RATE_MIN;

	return uv_now(s->srv->loop) - pv->cmd_start > allowed;
}

static size_t
on_data(void *ctx, struct slice in)
{
	struct imap_session *s = ctx;
	struct imap_session_priv *pv = s->priv;
	size_t used = 0, n;
	int zr;
	bool progress;

	if (pv->timeout_ms > 0)
		(void)uv_timer_start(pv->t_idle, idle_cb, pv->timeout_ms, 0);
	if (pv->cmd_clock && command_too_slow(s)) {
		log_info(&s->log,
		    "event=reject reason=command-too-slow bytes=%llu ms=%llu",
		    (unsigned long long)pv->cmd_bytes,
		    (unsigned long long)(uv_now(s->srv->loop) - pv->cmd_start));
		imap_bye(s, "Command data too slow");
		return in.len;
	}
	if (!pv->cmd_clock && in.len > 0 &&
	    !(s->cmd != NULL && pv->mode == IMAP_IN_CMD)) {
		/* The first byte of a command (or of an IDLE/SASL line):
		 * stopped when the parser or take_line has it whole. */
		pv->cmd_clock = true;
		pv->cmd_start = uv_now(s->srv->loop);
		pv->cmd_bytes = 0;
	}
	if (!pv->compress) {
		used = process(s, in);
		if (pv->cmd_clock)
			pv->cmd_bytes += used;
		goto out;
	}
	do {
		progress = false;
		if (used < in.len && pv->zin_len < IMAP_ZIN_BUF) {
			pv->zi.next_in =
			    (unsigned char *)(uintptr_t)(in.p + used);
			pv->zi.avail_in = (uInt)(in.len - used);
			pv->zi.next_out =
			    (unsigned char *)pv->zin + pv->zin_len;
			pv->zi.avail_out = (uInt)(IMAP_ZIN_BUF - pv->zin_len);
			zr = inflate(&pv->zi, Z_SYNC_FLUSH);
			if (zr != Z_OK && zr != Z_BUF_ERROR) {
				log_info(&s->log,
				    "event=reject reason=inflate");
				imap_bye(s, "Compression error");
				return in.len;
			}
			n = (in.len - used) - pv->zi.avail_in;
			used += n;
			pv->zin_len = IMAP_ZIN_BUF - pv->zi.avail_out;
			progress = n > 0;
		}
		if (pv->zin_len > 0) {
			n = process(s, slice_make(pv->zin, pv->zin_len));
			if (pv->cmd_clock)
				pv->cmd_bytes += n;
			if (n > 0) {
				memmove(pv->zin, pv->zin + n, pv->zin_len - n);
				pv->zin_len -= n;
				progress = true;
			}
		}
	} while (progress && pv->conn != NULL && !pv->closing &&
	    !pv->input_changed && (s->cmd == NULL || pv->mode != IMAP_IN_CMD));
	/* Bytes the protocol has not taken stay compressed in net's
	 * buffer; with a command running, input is paused anyway. */
out:
	imap_flush(s);
	if (pv->starttls_now) {
		pv->starttls_now = false;
		pv->input_changed = false;
		pv->tls_on = true;
		if (net_conn_starttls(pv->conn, pv->tls) != 0)
			pv->closing = true;
		return in.len; /* RFC 9051 §6.2.1: plaintext after is void */
	}
	if (pv->input_changed) {
		pv->input_changed = false;
		if (used == 0 && !pv->paused)
			kick(s); /* nothing consumed: ask again */
	}
	return used;
}

static void
on_timeout(void *ctx)
{
	struct imap_session *s = ctx;

	if (s->cmd != NULL && s->priv->mode == IMAP_IN_CMD)
		return; /* a command runs (input is paused meanwhile) */
	log_info(&s->log, "event=timeout state=%d", (int)s->state);
	imap_bye(s, "Autologout; idle for too long");
}

static void
idle_cb(uv_timer_t *t)
{
	struct imap_session *s = t->data;
	struct imap_session_priv *pv = s->priv;

	if (pv->conn == NULL || pv->closing)
		return;
	if ((s->cmd != NULL && pv->mode == IMAP_IN_CMD) ||
	    pv->auth_work != NULL) {
		/* A command runs, input is held: not the client's time. */
		(void)uv_timer_start(pv->t_idle, idle_cb, pv->timeout_ms, 0);
		return;
	}
	log_info(&s->log, "event=timeout state=%d plaintext=0", (int)s->state);
	imap_bye(s, "Autologout; idle for too long");
}

static void
cleanup(struct imap_session *s)
{
	struct imap_session_priv *pv = s->priv;

	if (s->append != NULL)
		imap_append_abort(s);
	if (s->view != NULL)
		imap_view_free(&s->view);
	if (pv->watch != NULL)
		store_watch_remove(s->st, &pv->watch);
}

static void
maybe_free(struct imap_session *s)
{
	struct imap_session_priv *pv = s->priv;
	struct imap_server *srv = s->srv;

	if (pv->conn != NULL || s->cmd != NULL || pv->auth_work != NULL ||
	    pv->freeing)
		return;
	pv->freeing = true;
	cleanup(s);
	imap_parser_free(&pv->parser);
	arena_free(&s->cmd_arena);
	arena_free(&s->arena);
	buf_clear(&pv->out);
	tls_ctx_free(&pv->tls);
	if (pv->zo.state != NULL)
		(void)deflateEnd(&pv->zo);
	if (pv->zi.state != NULL)
		(void)inflateEnd(&pv->zi);
	free(pv->zin);
	free(s->searchres);
	free(pv->pend_exp);
	if (pv->prev != NULL)
		pv->prev->next = pv->next;
	else
		srv->sessions = pv->next;
	if (pv->next != NULL)
		pv->next->prev = pv->prev;
	srv->n_sessions--;
	uv_close((uv_handle_t *)pv->t_kick, timer_closed);
	uv_close((uv_handle_t *)pv->t_poll, timer_closed);
	uv_close((uv_handle_t *)pv->t_delay, timer_closed);
	uv_close((uv_handle_t *)pv->t_idle, timer_closed);
	imap_server_session_gone(srv);
}

static void
on_close(void *ctx, const char *reason)
{
	struct imap_session *s = ctx;
	struct imap_session_priv *pv = s->priv;

	log_info(&s->log, "event=disconnect reason=%s user=%s", reason,
	    s->user[0] != '\0' ? s->user : "-");
	(void)uv_timer_stop(pv->t_idle);
	pv->conn = NULL;
	pv->closing = true;
	imap_session_poll(s, false);
	(void)uv_timer_stop(pv->t_kick);
	append_drop(s);
	if (pv->mode == IMAP_IN_IDLE || pv->mode == IMAP_IN_SASL) {
		pv->mode = IMAP_IN_CMD;
		if (s->cmd != NULL && pv->auth_work == NULL)
			imap_cmd_finish(s, "BAD", "Connection closed");
		return; /* finish freed it */
	}
	if (pv->drain_resume != NULL && s->cmd != NULL) {
		/* The streaming command sees imap_session_gone and
		 * finishes. */
		kick(s);
		return;
	}
	maybe_free(s);
}

void
imap_session_shutdown(struct imap_session *s, bool force)
{
	struct imap_session_priv *pv = s->priv;

	if (pv->conn == NULL || pv->closing)
		return;
	if (!force && s->cmd != NULL && pv->mode == IMAP_IN_CMD) {
		pv->shutdown_pending = true;
		return;
	}
	imap_bye(s, "Server shutting down");
}

/* --- session state changes ---------------------------------------------- */

static void
set_limits(struct imap_session *s, bool authed)
{
	struct imap_parse_limits lim;

	if (authed) {
		lim.line_max = IMAP_LINE_MAX;
		lim.literal_max = IMAP_LITERAL_MAX;
		lim.literals_max = IMAP_LITERALS_MAX;
		lim.depth_max = IMAP_DEPTH_MAX;
		lim.literal_plus = true;
	} else {
		lim.line_max = IMAP_LINE_MAX_PREAUTH;
		lim.literal_max = IMAP_LITERAL_MAX_PREAUTH;
		lim.literals_max = IMAP_LITERALS_MAX_PREAUTH;
		lim.depth_max = IMAP_DEPTH_MAX_PREAUTH;
		lim.literal_plus = false;
	}
	if (s->priv->parser == NULL)
		s->priv->parser = imap_parser_new(s->cmd_arena, &lim);
	else
		imap_parser_set_limits(s->priv->parser, &lim);
}

void
imap_session_logged_in(struct imap_session *s)
{
	struct imap_session_priv *pv = s->priv;

	s->state = IMAP_STATE_AUTH;
	pv->bad = 0;
	pv->bad_max = IMAP_BAD_MAX;
	set_limits(s, true);
	/* The pre-auth session arena holds nothing: swap it for the
	 * bigger budget. */
	arena_free(&s->arena);
	s->arena = arena_new("imap-session", IMAP_ARENA);
	s->log.proto = "imap";
	pv->watch =
	    store_watch_add(s->st, s->user_id, imap_session_watch_cb, s);
	imap_session_set_timeout(s, IMAP_TIMEOUT_AUTH_MS);
}

void
imap_session_set_mode(struct imap_session *s, enum imap_input_mode m)
{
	s->priv->mode = m;
}

int
imap_session_compress_start(struct imap_session *s)
{
	struct imap_session_priv *pv = s->priv;

	memset(&pv->zo, 0, sizeof(pv->zo));
	memset(&pv->zi, 0, sizeof(pv->zi));
	/* Raw deflate (RFC 4978 §4: no zlib header). */
	if (deflateInit2(&pv->zo, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
	        Z_DEFAULT_STRATEGY) != Z_OK)
		return ERR_TEMP;
	if (inflateInit2(&pv->zi, -15) != Z_OK) {
		(void)deflateEnd(&pv->zo);
		memset(&pv->zo, 0, sizeof(pv->zo));
		return ERR_TEMP;
	}
	pv->zin = xmalloc(IMAP_ZIN_BUF);
	pv->zin_len = 0;
	pv->compress = true;
	pv->input_changed = true; /* the rest of this input is compressed */
	return 0;
}

void
imap_session_starttls(struct imap_session *s)
{
	s->priv->starttls_now = true;
	s->priv->input_changed = true;
}

bool
imap_session_is_tls(const struct imap_session *s)
{
	return s->priv->tls_on;
}

bool
imap_session_starttls_offered(const struct imap_session *s)
{
	return !s->priv->tls_on && s->priv->tls != NULL && !s->priv->compress;
}

bool
imap_session_login_allowed(const struct imap_session *s)
{
	return s->priv->tls_on || s->priv->loopback;
}

const char *
imap_session_peer(const struct imap_session *s)
{
	return s->priv->peer;
}

/* The connection caps (limits.h IMAP_CONNS_*): NULL if s may stay, else
 * the reason. s is already on the server's list. Sessions already
 * closing (refused ones among them) do not count. */
static const char *
over_cap(const struct imap_session *s)
{
	const struct imap_server *srv = s->srv;
	const struct imap_session_priv *o;
	size_t all = 0, same = 0;

	for (o = srv->sessions; o != NULL; o = o->next) {
		if (o->conn == NULL || o->closing)
			continue;
		all++;
		if (net_peer_same(o->peer_key, o->peer_key_len, o->peer,
		        s->priv->peer_key, s->priv->peer_key_len,
		        s->priv->peer))
			same++;
	}
	return net_peer_over_cap(all, same, srv->cfg.imap_max_connections,
	    srv->cfg.imap_max_connections_per_ip,
	    !srv->cfg.imap_limit_loopback && s->priv->loopback);
}

void
imap_session_accept(struct imap_server *srv, uv_stream_t *server,
    bool implicit_tls)
{
	const struct config *cfg = &srv->cfg;
	struct imap_session *s;
	struct imap_session_priv *pv;
	struct net_conn *c;
	struct buf caps;
	const char *cap;

	if (net_conn_accept(srv->loop, server, &c) != 0)
		return;
	s = xcalloc(1, sizeof(*s));
	pv = xcalloc(1, sizeof(*pv));
	s->priv = pv;
	pv->s = s;
	s->srv = srv;
	s->st = srv->st;
	pv->conn = c;
	randombytes_buf(&s->log.session, sizeof(s->log.session));
	s->log.proto = "imap";
	(void)str_copy(pv->peer, sizeof(pv->peer), net_conn_peer(c));
	pv->peer_key_len = net_peer_key(pv->peer, pv->peer_key);
	pv->loopback = net_peer_is_loopback(pv->peer);
	pv->tls = tls_ctx_ref(srv->tls);
	s->state = IMAP_STATE_NOAUTH;
	s->arena = arena_new("imap-session", IMAP_ARENA_PREAUTH);
	s->cmd_arena = arena_new("imap-cmd", IMAP_CMD_ARENA);
	s->max_message_size = cfg->smtp_max_message_size;
	s->quota_bytes = cfg->imap_quota_bytes;
	s->quota_messages = cfg->imap_quota_messages;
	pv->bad_max = IMAP_BAD_MAX_PREAUTH;
	pv->cmd_time_ms = (uint64_t)cfg->imap_command_time_seconds * 1000;
	buf_init(&pv->out, OUT_MAX);
	pv->t_kick = timer_new(s);
	pv->t_poll = timer_new(s);
	pv->t_delay = timer_new(s);
	pv->t_idle = timer_new(s);
	set_limits(s, false);
	pv->next = srv->sessions;
	if (pv->next != NULL)
		pv->next->prev = pv;
	srv->sessions = pv;
	srv->n_sessions++;

	log_info(&s->log, "event=connect peer=%s tls=%s", pv->peer,
	    implicit_tls ? "implicit" : "no");
	if (implicit_tls) {
		pv->tls_on = true;
		(void)net_conn_starttls(c, pv->tls);
	}
	net_conn_start(c, &session_ops, s);
	/* The config may shorten the pre-login timer, never lengthen it. */
	imap_session_set_timeout(s,
	    cfg->imap_login_timeout_seconds > 0 &&
	            cfg->imap_login_timeout_seconds * 1000u <
	                IMAP_TIMEOUT_PREAUTH_MS
	        ? cfg->imap_login_timeout_seconds * 1000u
	        : IMAP_TIMEOUT_PREAUTH_MS);
	if (srv->shutting_down) {
		imap_bye(s, "Server shutting down");
		return;
	}
	if ((cap = over_cap(s)) != NULL) {
		log_info(&s->log, "event=reject reason=%s peer=%s sessions=%zu",
		    cap, pv->peer, srv->n_sessions);
		imap_bye(s, "Too many connections");
		return;
	}
	buf_init(&caps, 4096);
	imap_capabilities(s, &caps);
	imap_printf(s, "* OK [CAPABILITY %s] despatch ready\r\n",
	    caps.p != NULL ? caps.p : "IMAP4rev1");
	buf_clear(&caps);
	imap_flush(s);
}
