/* SPDX-License-Identifier: MIT */
/* APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502), literal8
 * (RFC 3516) and the UTF8 (...) form (RFC 6855), APPENDUID (RFC 4315),
 * APPENDLIMIT/TOOBIG and quota. Each message literal streams into
 * store_msg_write as it arrives; the tagged OK comes only from the
 * commit callbacks, once every message is durable.
 *
 * Line ends: ingest and every reader expect CRLF lines, and clients do
 * send bare LF (hand-written appends, some scripts). Bare LF in a text
 * literal is turned into CRLF before the store sees it, so the stored
 * size can exceed the literal's. A literal8 (~{n}) is binary by
 * declaration and stored exactly as sent.
 *
 * MULTIAPPEND commits the messages one by one (usually in one group
 * commit); if one fails, those that landed are expunged again before
 * the NO (see undo_start), so the command is all or nothing as RFC 3502
 * asks, though another session may glimpse them meanwhile. */
#include <stdlib.h>
#include <string.h>

#include "imap/fetch_int.h"
#include "imap/imap_int.h"
#include "imap/limits.h"
#include "lib/mem.h"
#include "lib/str.h"

#include "lib/banned.h"

/* Bytes converted at a time (bare LF to CRLF doubles at most). */
#define APPEND_CHUNK (16 * 1024)

struct append_msg {
	struct store_msg *m; /* until committed */
	uint64_t literal_size;
	char *flags; /* xmalloc, NULL: none */
	int64_t internaldate;
	uint32_t uid;
	int status;
};

struct append_state {
	struct imap_session *s;
	char *mailbox; /* xmalloc, UTF-8 */
	uint32_t uidvalidity;
	struct append_msg *msgs;
	size_t n, cap;
	bool in_literal, binary, cr;
	int write_rc; /* sticky failure of the current message */
	struct err err;
	uint64_t used_bytes, used_msgs; /* quota usage at the first message */
	uint64_t pending_bytes;
	bool committing;
	size_t waiting; /* commit callbacks still to come */
	bool have_validity, uid_mismatch;
	int fail_status; /* the first failed message's status */
	int64_t mailbox_id;
	uint32_t *undo; /* MULTIAPPEND roll-back: UIDs to expunge again */
	size_t n_undo;
};

size_t
append_crlf(bool *cr, const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '\n' && !*cr)
			out[o++] = '\r';
		out[o++] = in[i];
		*cr = in[i] == '\r';
	}
	return o;
}

static void
state_free(struct append_state *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++) {
		store_msg_free(&a->msgs[i].m);
		xfree(&a->msgs[i].flags);
	}
	xfree(&a->msgs);
	xfree(&a->undo);
	xfree(&a->mailbox);
	xfree(&a);
}

void
imap_append_abort(struct imap_session *s)
{
	struct append_state *a = s->append;

	if (a == NULL)
		return;
	if (a->committing) {
		/* the commit callbacks still hold it; they free it */
		return;
	}
	s->append = NULL;
	state_free(a);
}

/* Answers the command from begin: the session then rejects the literal. */
static int
begin_fail(struct imap_session *s, const char *status, const char *text)
{
	imap_append_abort(s);
	imap_cmd_finish(s, status, "%s", text);
	return ERR_INPUT;
}

/* Message literals already streamed in the command so far. */
static size_t
count_streamed(const struct imap_arg *x)
{
	size_t n = 0;

	for (; x != NULL; x = x->next) {
		if (x->type == IMAP_ARG_STREAMED)
			n++;
		else if (x->type == IMAP_ARG_LIST)
			n += count_streamed(x->list);
	}
	return n;
}

int
imap_append_literal_begin(struct imap_session *s,
    const struct imap_literal_info *li)
{
	struct append_state *a = s->append;
	const struct imap_command *c = li->so_far;
	struct store_mailbox_status st;
	struct err err = { 0 };
	struct append_msg *m;
	int rc;

	if (a != NULL && !a->committing && !a->in_literal &&
	    (c == NULL || count_streamed(c->args) != a->n)) {
		/* left over from an APPEND that ended in a syntax error:
		 * this literal starts a new command */
		imap_append_abort(s);
		a = NULL;
	}
	if (a == NULL) {
		const char *name;

		if (c == NULL || c->args == NULL)
			return begin_fail(s, "BAD",
			    "APPEND needs the mailbox name before the message");
		name = imap_arg_mailbox(s, c->args);
		if (name == NULL)
			return begin_fail(s, "BAD", "Invalid mailbox name");
		rc = store_mailbox_peek(s->st, s->user_id, name, &st, &err);
		if (rc == ERR_NOTFOUND)
			return begin_fail(s, "NO",
			    "[TRYCREATE] Mailbox doesn't exist");
		if (rc != 0) {
			log_warn(&s->log, "event=append error=%s", err.msg);
			return begin_fail(s, "NO",
			    "[UNAVAILABLE] Can't open mailbox");
		}
		a = xcalloc(1, sizeof(*a));
		a->s = s;
		a->mailbox = xstrdup(name);
		a->uidvalidity = st.uidvalidity;
		a->mailbox_id = st.id;
		s->append = a;
		if ((s->quota_bytes || s->quota_messages) &&
		    store_user_usage(s->st, s->user_id, &a->used_bytes,
		        &a->used_msgs, &err) != 0) {
			log_warn(&s->log, "event=append error=%s", err.msg);
			return begin_fail(s, "NO",
			    "[UNAVAILABLE] Can't read quota usage");
		}
	}
	if (a->committing || a->in_literal)
		return begin_fail(s, "BAD", "Unexpected literal");
	if (li->size == 0)
		return begin_fail(s, "NO", "Can't store an empty message");
	/* RFC 7889 APPENDLIMIT / RFC 4469 TOOBIG before the "+" */
	if (s->max_message_size > 0 && li->size > s->max_message_size)
		return begin_fail(s, "NO", "[TOOBIG] Message too large");
	if (a->n >= IMAP_APPEND_MESSAGES_MAX)
		return begin_fail(s, "NO", "[LIMIT] Too many messages");
	if (s->quota_bytes > 0 &&
	    a->used_bytes + a->pending_bytes + li->size > s->quota_bytes)
		return begin_fail(s, "NO", "[OVERQUOTA] Quota exceeded");
	if (s->quota_messages > 0 &&
	    a->used_msgs + a->n + 1 > s->quota_messages)
		return begin_fail(s, "NO", "[OVERQUOTA] Quota exceeded");
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 4;
		a->msgs = xrealloc(a->msgs, a->cap * sizeof(*a->msgs));
	}
	m = &a->msgs[a->n];
	memset(m, 0, sizeof(*m));
	if (store_msg_new(s->st, &m->m, &err) != 0) {
		log_warn(&s->log, "event=append error=%s", err.msg);
		return begin_fail(s, "NO", "[UNAVAILABLE] Can't store message");
	}
	a->n++;
	m->literal_size = li->size;
	a->pending_bytes += li->size;
	a->in_literal = true;
	a->binary = li->binary;
	a->cr = false;
	a->write_rc = 0;
	return 0;
}

void
imap_append_literal_data(struct imap_session *s, const void *p, size_t n)
{
	struct append_state *a = s->append;
	struct append_msg *m;
	char out[2 * APPEND_CHUNK];
	const char *in = p;

	if (a == NULL || !a->in_literal || a->n == 0)
		return;
	m = &a->msgs[a->n - 1];
	if (a->write_rc != 0)
		return; /* swallow the rest, answer at the end */
	if (a->binary) {
		a->write_rc = store_msg_write(m->m, p, n, &a->err);
		return;
	}
	while (n > 0 && a->write_rc == 0) {
		size_t k = n < APPEND_CHUNK ? n : APPEND_CHUNK;
		size_t o = append_crlf(&a->cr, in, k, out);

		a->write_rc = store_msg_write(m->m, out, o, &a->err);
		in += k;
		n -= k;
	}
}

void
imap_append_literal_end(struct imap_session *s)
{
	struct append_state *a = s->append;
	struct append_msg *m;

	if (a == NULL || !a->in_literal || a->n == 0)
		return;
	a->in_literal = false;
	m = &a->msgs[a->n - 1];
	if (a->write_rc == 0)
		a->write_rc = store_msg_finish(m->m, &a->err);
	if (a->write_rc != 0)
		m->status = a->write_rc;
}

/* --- the command once its line is complete ---------------------------- */

/* The NO for a message that could not be stored: a full disk is
 * OVERQUOTA (as Dovecot answers ENOSPC), anything else a temporary
 * failure. */
static void
finish_store_failed(struct imap_session *s, int status)
{
	if (status == ERR_FULL)
		imap_cmd_finish(s, "NO", "[OVERQUOTA] Out of space");
	else
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] Can't store message");
}

/* MULTIAPPEND is all or nothing (RFC 3502 §6.3.11): when a commit
 * failed, the messages that did land are flagged \Deleted and expunged
 * again before the NO. Other sessions may see them come and go. */
static void
undo_finish(struct append_state *a, int status)
{
	struct imap_session *s = a->s;
	int failed = a->fail_status;

	if (status != 0)
		log_warn(&s->log, "event=append_undo error=%s",
		    err_name(status));
	s->append = NULL;
	state_free(a);
	finish_store_failed(s, failed);
}

static void
undo_expunged(void *ctx, const struct store_op_result *res)
{
	undo_finish(ctx, res->status);
}

static void
undo_flagged(void *ctx, const struct store_op_result *res)
{
	struct append_state *a = ctx;

	if (res->status != 0 ||
	    store_expunge(a->s->st, a->mailbox_id, a->undo, a->n_undo,
	        undo_expunged, a) != 0)
		undo_finish(a, res->status != 0 ? res->status : ERR_INTERNAL);
}

static int
uid_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static void
undo_start(struct append_state *a)
{
	size_t i;

	a->undo = xmalloc((a->n ? a->n : 1) * sizeof(*a->undo));
	for (i = 0; i < a->n; i++)
		if (a->msgs[i].status == 0 && a->msgs[i].uid != 0)
			a->undo[a->n_undo++] = a->msgs[i].uid;
	if (a->n_undo == 0) {
		undo_finish(a, 0);
		return;
	}
	qsort(a->undo, a->n_undo, sizeof(*a->undo), uid_cmp);
	if (store_flags_update(a->s->st, a->mailbox_id, a->undo, a->n_undo,
	        STORE_FLAGS_ADD, "\\Deleted", 0, undo_flagged, a) != 0)
		undo_finish(a, ERR_INTERNAL);
}

static void
append_done(struct append_state *a)
{
	struct imap_session *s = a->s;
	uint32_t *uids;
	struct buf set;
	bool ok = true, sorted = true;
	size_t i;

	for (i = 0; i < a->n; i++)
		if (a->msgs[i].status != 0) {
			if (ok)
				a->fail_status = a->msgs[i].status;
			ok = false;
		}
	if (!ok) {
		undo_start(a);
		return;
	}
	uids = xmalloc((a->n ? a->n : 1) * sizeof(*uids));
	for (i = 0; i < a->n; i++) {
		uids[i] = a->msgs[i].uid;
		if (i > 0 && uids[i] <= uids[i - 1])
			sorted = false;
	}
	buf_init(&set, 16 * 1024 * 1024);
	if (sorted)
		(void)fetch_uidset_format(uids, a->n, &set);
	else
		for (i = 0; i < a->n; i++)
			(void)buf_printf(&set, "%s%u", i ? "," : "", uids[i]);
	xfree(&uids);
	s->append = NULL;
	if (a->uid_mismatch || set.len == 0)
		imap_cmd_finish(s, "OK", "APPEND completed");
	else
		imap_cmd_finish(s, "OK", "[APPENDUID %u %s] APPEND completed",
		    a->uidvalidity, set.p);
	buf_clear(&set);
	state_free(a);
}

struct commit_ctx {
	struct append_state *a;
	size_t i;
};

static void
commit_cb(void *ctx, const struct store_commit_result *res)
{
	struct commit_ctx *c = ctx;
	struct append_state *a = c->a;
	struct append_msg *m = &a->msgs[c->i];

	xfree(&c);
	if (res->status != 0) {
		log_warn(&a->s->log, "event=append error=%s", res->err.msg);
		m->status = res->status;
	} else {
		m->uid = res->uid;
		/* APPENDUID names the UIDVALIDITY the commit saw (the
		 * mailbox may have been re-created since the status read) */
		if (!a->have_validity) {
			a->uidvalidity = res->uidvalidity;
			a->have_validity = true;
		} else if (res->uidvalidity != a->uidvalidity)
			a->uid_mismatch = true;
	}
	if (--a->waiting == 0)
		append_done(a);
}

/* flags and date-time before each message (RFC 9051 §6.3.12). */
static bool
parse_msg_args(struct append_state *a, const struct imap_arg *args,
    const char **why)
{
	const struct imap_arg *x = args;
	size_t k = 0;

	while (x != NULL) {
		struct append_msg *m;
		const struct imap_arg *lit;

		if (k >= a->n) {
			*why = "More arguments than messages";
			return false;
		}
		m = &a->msgs[k];
		if (x->type == IMAP_ARG_LIST) {
			struct buf fl;
			bool ok;

			buf_init(&fl, 64 * 1024);
			ok = imap_flags_parse(x, false, true, &fl, why);
			if (ok && fl.len > 0)
				m->flags = xstrdup(fl.p);
			buf_clear(&fl);
			if (!ok)
				return false;
			x = x->next;
		}
		if (x != NULL && x->type == IMAP_ARG_QUOTED) {
			if (!fetch_parse_date(x->str, &m->internaldate)) {
				*why = "Invalid date-time";
				return false;
			}
			x = x->next;
		}
		lit = x;
		if (lit != NULL && imap_arg_atom_is(lit, "UTF8")) {
			/* RFC 6855 §4: UTF8 (~{n}...) */
			lit = lit->next;
			if (lit == NULL || lit->type != IMAP_ARG_LIST ||
			    lit->n != 1 ||
			    lit->list->type != IMAP_ARG_STREAMED) {
				*why = "Invalid UTF8 APPEND";
				return false;
			}
		} else if (lit == NULL || lit->type != IMAP_ARG_STREAMED) {
			*why = "Message literal expected";
			return false;
		}
		x = lit->next;
		k++;
	}
	if (k != a->n) {
		*why = "Missing message";
		return false;
	}
	return true;
}

void
cmd_append(struct imap_session *s, const struct imap_command *cmd)
{
	struct append_state *a = s->append;
	const char *why = "Invalid arguments";
	size_t i, n;

	if (a == NULL || a->n == 0) {
		imap_append_abort(s);
		imap_cmd_finish(s, "BAD", "APPEND needs a message literal");
		return;
	}
	if (cmd->args == NULL || !parse_msg_args(a, cmd->args->next, &why)) {
		imap_append_abort(s);
		imap_cmd_finish(s, "BAD", "%s", why);
		return;
	}
	for (i = 0; i < a->n; i++)
		if (a->msgs[i].status != 0) {
			int st = a->msgs[i].status;

			log_warn(&s->log, "event=append error=%s", a->err.msg);
			imap_append_abort(s);
			if (st == ERR_LIMIT || st == ERR_INPUT)
				imap_cmd_finish(s, "NO",
				    "[LIMIT] Message structure over limits");
			else
				finish_store_failed(s, st);
			return;
		}
	a->committing = true;
	a->waiting = a->n;
	n = a->n;
	for (i = 0; i < n; i++) {
		struct append_msg *m = &a->msgs[i];
		struct store_delivery d = {
			.user_id = s->user_id,
			.mailbox = a->mailbox,
			.flags = m->flags,
			.internaldate = m->internaldate,
		};
		struct commit_ctx *c = xmalloc(sizeof(*c));

		c->a = a;
		c->i = i;
		if (store_msg_commit(&m->m, &d, 1, commit_cb, c) != 0) {
			xfree(&c);
			m->status = ERR_INTERNAL;
			store_msg_free(&m->m);
			if (--a->waiting == 0) {
				append_done(a);
				return;
			}
		}
	}
}
