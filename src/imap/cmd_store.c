/* SPDX-License-Identifier: MIT */
/* STORE, COPY, MOVE and EXPUNGE with their UID forms (RFC 9051 §6.4,
 * RFC 4315 UIDPLUS, RFC 6851 MOVE, RFC 7162 CONDSTORE UNCHANGEDSINCE).
 * Every change is asynchronous through the store; the tagged reply is
 * written only from the store's callback, once the change is durable. */
#include <string.h>

#include "imap/fetch_int.h"
#include "imap/imap_int.h"
#include "lib/mem.h"
#include "lib/str.h"

#include "lib/banned.h"

/* Flags string of one STORE or APPEND (keywords are short atoms). */
#define FLAGS_MAX (64 * 1024)

/* --- flags ------------------------------------------------------------ */

static bool
is_atom_char(unsigned char c)
{
	/* ATOM-CHAR: any CHAR except atom-specials (RFC 9051 §9), and
	 * not ']' (resp-specials) for a keyword */
	return c > ' ' && c < 0x7f && c != '(' && c != ')' && c != '{' &&
	    c != '%' && c != '*' && c != '"' && c != '\\' && c != ']';
}

static bool
flag_add(struct slice f, bool drop_recent, struct buf *out, const char **why)
{
	static const char *const sys[] = { "\\Seen", "\\Answered", "\\Flagged",
		"\\Deleted", "\\Draft" };
	size_t i;

	if (f.len == 0) {
		*why = "Empty flag";
		return false;
	}
	if (f.p[0] == '\\') {
		for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
			if (slice_eq_ci(f, slice_cstr(sys[i]))) {
				if (out->len > 0)
					(void)buf_append(out, " ", 1);
				return buf_append(out, sys[i],
				           strlen(sys[i])) == 0;
			}
		if (slice_eq_ci(f, SLICE_LIT("\\Recent"))) {
			if (drop_recent)
				return true;
			*why = "\\Recent can't be stored";
			return false;
		}
		*why = "Unknown system flag";
		return false;
	}
	for (i = 0; i < f.len; i++)
		if (!is_atom_char((unsigned char)f.p[i])) {
			*why = "Invalid keyword";
			return false;
		}
	if (out->len > 0)
		(void)buf_append(out, " ", 1);
	if (buf_append(out, f.p, f.len) != 0) {
		*why = "Too many flags";
		return false;
	}
	return true;
}

bool
imap_flags_parse(const struct imap_arg *first, bool atoms_ok, bool drop_recent,
    struct buf *out, const char **why)
{
	const struct imap_arg *x;

	*why = "Invalid flags";
	if (first == NULL)
		return false;
	if (first->type == IMAP_ARG_LIST) {
		if (atoms_ok && first->next != NULL)
			return false; /* STORE: the list is the last argument */
		for (x = first->list; x != NULL; x = x->next)
			if (x->type != IMAP_ARG_ATOM ||
			    !flag_add(x->str, drop_recent, out, why))
				return false;
		return true;
	}
	if (!atoms_ok)
		return false;
	for (x = first; x != NULL; x = x->next)
		if (x->type != IMAP_ARG_ATOM ||
		    !flag_add(x->str, drop_recent, out, why))
			return false;
	return true;
}

/* --- STORE ------------------------------------------------------------ */

struct store_cmd {
	struct imap_session *s;
	bool uid, silent, condstore;
	uint32_t *uids; /* requested, ascending (arena) */
	size_t n;
	bool all_fail; /* UNCHANGEDSINCE 0 */
};

static bool
has_uid(const uint32_t *v, size_t n, uint32_t u)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] < u)
			lo = mid + 1;
		else if (v[mid] > u)
			hi = mid;
		else
			return true;
	}
	return false;
}

/* MODIFIED's set: sequence numbers for STORE, UIDs for UID STORE. */
static void
modified_set(struct store_cmd *c, const uint32_t *failed, size_t n,
    struct buf *out)
{
	uint32_t *v;
	size_t i, k = 0;

	if (c->uid) {
		(void)fetch_uidset_format(failed, n, out);
		return;
	}
	v = arena_alloc(c->s->cmd_arena, (n ? n : 1) * sizeof(*v));
	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		uint32_t seq = imap_view_seq(c->s->view, failed[i]);

		if (seq != 0)
			v[k++] = seq;
	}
	(void)fetch_uidset_format(v, k, out); /* ascending: UIDs were */
}

static void
store_report(struct store_cmd *c, const struct store_op_result *res)
{
	struct imap_session *s = c->s;
	struct imap_view *v = s->view;
	const uint32_t *failed = res != NULL ? res->failed_uids : NULL;
	size_t n_failed = res != NULL ? res->n_failed_uids : 0;
	uint32_t *quiet;
	struct seqset qs;
	struct buf line;
	size_t i, nq = 0;

	/* the touched messages are reported here, not by the sync */
	quiet = arena_alloc(s->cmd_arena, (c->n ? c->n : 1) * sizeof(*quiet));
	for (i = 0; quiet != NULL && i < c->n; i++)
		if (!c->all_fail && !has_uid(failed, n_failed, c->uids[i]))
			quiet[nq++] = c->uids[i];
	fetch_uidset_build(s->cmd_arena, quiet, nq, &qs);
	(void)imap_view_sync(s, false, &qs);

	buf_init(&line, 64 * 1024);
	for (i = 0; i < nq; i++) {
		uint32_t seq = imap_view_seq(v, quiet[i]);
		const struct imap_msg *m;
		bool changed;

		if (seq == 0)
			continue;
		m = &v->msgs[seq - 1];
		changed =
		    res != NULL && has_uid(res->uids, res->n_uids, m->uid);
		if (c->silent && !(c->condstore && changed))
			continue;
		buf_reset(&line);
		(void)buf_printf(&line, "* %u FETCH (", seq);
		if (c->uid)
			(void)buf_printf(&line, "UID %u ", m->uid);
		if (!c->silent) {
			(void)buf_append(&line, "FLAGS ", 6);
			imap_msg_flags(v, m, &line);
			(void)buf_append(&line, " ", 1);
		}
		if (c->condstore)
			(void)buf_printf(&line, "MODSEQ (%llu) ",
			    (unsigned long long)m->modseq);
		line.len--; /* the last space */
		(void)buf_append(&line, ")\r\n", 3);
		imap_write(s, line.p, line.len);
	}
	if (c->all_fail || n_failed > 0) {
		buf_reset(&line);
		if (c->all_fail) {
			if (c->uid)
				(void)fetch_uidset_format(c->uids, c->n, &line);
			else
				modified_set(c, c->uids, c->n, &line);
		} else
			modified_set(c, failed, n_failed, &line);
		imap_cmd_finish(s, "OK",
		    "[MODIFIED %s] Conditional STORE failed",
		    line.len ? line.p : "");
		buf_clear(&line);
		return;
	}
	buf_clear(&line);
	imap_cmd_finish(s, "OK", "%s completed",
	    c->uid ? "UID STORE" : "STORE");
}

static void
store_cb(void *ctx, const struct store_op_result *res)
{
	struct store_cmd *c = ctx;

	if (res->status != 0) {
		log_warn(&c->s->log, "event=store error=%s", res->err.msg);
		imap_cmd_finish(c->s, "NO", "[UNAVAILABLE] Can't store flags");
		return;
	}
	store_report(c, res);
}

/* Resolves the set argument into ascending UIDs of the view. */
static bool
resolve_uids(struct imap_session *s, const struct imap_arg *set, bool uid,
    uint32_t **uids_out, size_t *n_out)
{
	uint32_t *idx, *u;
	size_t n, i;

	if (set == NULL ||
	    (set->type != IMAP_ARG_ATOM && set->type != IMAP_ARG_QUOTED))
		return false;
	if (!imap_view_resolve(s, set->str, uid, &idx, &n))
		return false;
	u = arena_alloc(s->cmd_arena, (n ? n : 1) * sizeof(*u));
	if (u == NULL)
		return false;
	for (i = 0; i < n; i++)
		u[i] = s->view->msgs[idx[i]].uid;
	*uids_out = u;
	*n_out = n;
	return true;
}

void
cmd_store(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *a = cmd->args, *act;
	struct imap_view *v = s->view;
	enum store_flags_mode mode;
	uint64_t unchangedsince = 0;
	bool has_unchanged = false;
	struct store_cmd *c;
	struct slice name;
	const char *why;
	struct buf flags;
	int rc;

	if (v == NULL) {
		imap_cmd_finish(s, "BAD", "No mailbox selected");
		return;
	}
	c = arena_calloc(s->cmd_arena, sizeof(*c));
	if (c == NULL || a == NULL || a->next == NULL) {
		imap_cmd_finish(s, "BAD", "Missing arguments");
		return;
	}
	c->s = s;
	c->uid = cmd->uid;
	act = a->next;
	if (act->type == IMAP_ARG_LIST) {
		/* (UNCHANGEDSINCE n), RFC 7162 §3.1.3 */
		const struct imap_arg *m = act->list;

		if (act->n != 2 || !imap_arg_atom_is(m, "UNCHANGEDSINCE") ||
		    !imap_arg_number(m->next, INT64_MAX, &unchangedsince)) {
			imap_cmd_finish(s, "BAD", "Invalid STORE modifier");
			return;
		}
		has_unchanged = true;
		act = act->next;
	}
	if (act == NULL || act->type != IMAP_ARG_ATOM || act->next == NULL) {
		imap_cmd_finish(s, "BAD", "Missing arguments");
		return;
	}
	name = act->str;
	if (name.len > 0 && (name.p[0] == '+' || name.p[0] == '-')) {
		mode = name.p[0] == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		name = slice_skip(name, 1);
	} else
		mode = STORE_FLAGS_SET;
	if (slice_eq_ci(name, SLICE_LIT("FLAGS.SILENT")))
		c->silent = true;
	else if (!slice_eq_ci(name, SLICE_LIT("FLAGS"))) {
		imap_cmd_finish(s, "BAD", "Invalid STORE item");
		return;
	}
	buf_init(&flags, FLAGS_MAX);
	if (!imap_flags_parse(act->next, true, false, &flags, &why)) {
		buf_clear(&flags);
		imap_cmd_finish(s, "BAD", "%s", why);
		return;
	}
	if (!resolve_uids(s, a, cmd->uid, &c->uids, &c->n)) {
		buf_clear(&flags);
		imap_cmd_finish(s, "BAD", "Invalid sequence set");
		return;
	}
	if (v->readonly) {
		buf_clear(&flags);
		imap_cmd_finish(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (has_unchanged)
		imap_condstore_enable(s);
	c->condstore = has_unchanged || (s->enabled & IMAP_ENABLED_CONDSTORE);
	if (c->n == 0) {
		buf_clear(&flags);
		imap_cmd_finish(s, "OK", "%s completed (no messages)",
		    c->uid ? "UID STORE" : "STORE");
		return;
	}
	if (has_unchanged && unchangedsince == 0) {
		/* every modseq is > 0: nothing may change */
		buf_clear(&flags);
		c->all_fail = true;
		store_report(c, NULL);
		return;
	}
	rc = store_flags_update(s->st, v->mailbox_id, c->uids, c->n, mode,
	    flags.p != NULL ? flags.p : "", unchangedsince, store_cb, c);
	buf_clear(&flags);
	if (rc != 0)
		imap_cmd_finish(s, "BAD", "Invalid flags");
}

/* --- COPY / MOVE ------------------------------------------------------ */

struct copy_cmd {
	struct imap_session *s;
	bool move, uid;
};

static void
copy_cb(void *ctx, const struct store_op_result *res)
{
	struct copy_cmd *c = ctx;
	struct imap_session *s = c->s;
	const char *what = c->move ? "MOVE" : "COPY";
	struct buf src, dst;

	if (res->status == ERR_NOTFOUND) {
		imap_cmd_finish(s, "NO", "[TRYCREATE] Mailbox doesn't exist");
		return;
	}
	if (res->status != 0) {
		log_warn(&s->log, "event=copy error=%s", res->err.msg);
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] %s failed", what);
		return;
	}
	buf_init(&src, 16 * 1024 * 1024);
	buf_init(&dst, 16 * 1024 * 1024);
	if (res->n_uids > 0 && res->n_new_uids == res->n_uids &&
	    fetch_uidset_format(res->uids, res->n_uids, &src) == 0 &&
	    fetch_uidset_format(res->new_uids, res->n_new_uids, &dst) == 0) {
		if (c->move) {
			/* RFC 6851 §4.3: COPYUID in an untagged OK, then the
			 * expunges (imap_cmd_finish's sync), then the tag */
			imap_printf(s, "* OK [COPYUID %u %s %s] %s\r\n",
			    res->uidvalidity, src.p, dst.p,
			    c->move ? "Moved" : "Copied");
			buf_clear(&src);
			buf_clear(&dst);
			imap_cmd_finish(s, "OK", "%s%s completed",
			    c->uid ? "UID " : "", what);
		} else {
			imap_cmd_finish(s, "OK",
			    "[COPYUID %u %s %s] %s%s "
			    "completed",
			    res->uidvalidity, src.p, dst.p,
			    c->uid ? "UID " : "", what);
			buf_clear(&src);
			buf_clear(&dst);
		}
		return;
	}
	buf_clear(&src);
	buf_clear(&dst);
	imap_cmd_finish(s, "OK", "%s%s completed", c->uid ? "UID " : "", what);
}

static void
copy_or_move(struct imap_session *s, const struct imap_command *cmd, bool move)
{
	const struct imap_arg *a = cmd->args;
	struct imap_view *v = s->view;
	struct store_mailbox_status st;
	struct err err = { 0 };
	struct copy_cmd *c;
	const char *dst;
	uint32_t *uids;
	size_t n;
	int rc;

	if (v == NULL) {
		imap_cmd_finish(s, "BAD", "No mailbox selected");
		return;
	}
	if (a == NULL || a->next == NULL || a->next->next != NULL) {
		imap_cmd_finish(s, "BAD", "Missing arguments");
		return;
	}
	if ((dst = imap_arg_mailbox(s, a->next)) == NULL) {
		imap_cmd_finish(s, "BAD", "Invalid mailbox name");
		return;
	}
	if (!resolve_uids(s, a, cmd->uid, &uids, &n)) {
		imap_cmd_finish(s, "BAD", "Invalid sequence set");
		return;
	}
	if (move && v->readonly) {
		imap_cmd_finish(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	rc = store_mailbox_peek(s->st, s->user_id, dst, &st, &err);
	if (rc == ERR_NOTFOUND) {
		imap_cmd_finish(s, "NO", "[TRYCREATE] Mailbox doesn't exist");
		return;
	}
	if (rc != 0) {
		log_warn(&s->log, "event=copy error=%s", err.msg);
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] Can't open mailbox");
		return;
	}
	if (n == 0) {
		imap_cmd_finish(s, "OK", "%s%s completed (no messages)",
		    cmd->uid ? "UID " : "", move ? "MOVE" : "COPY");
		return;
	}
	if (move && st.id == v->mailbox_id) {
		/* moving into itself changes nothing (RFC 6851 leaves it
		 * open; Dovecot refuses too) */
		imap_cmd_finish(s, "NO",
		    "[CANNOT] Can't move into the same mailbox");
		return;
	}
	c = arena_calloc(s->cmd_arena, sizeof(*c));
	if (c == NULL) {
		imap_cmd_finish(s, "NO", "[LIMIT] Out of command memory");
		return;
	}
	c->s = s;
	c->move = move;
	c->uid = cmd->uid;
	if (store_copy(s->st, v->mailbox_id, uids, n, st.id, move, copy_cb,
	        c) != 0)
		imap_cmd_finish(s, "NO", "[SERVERBUG] Can't copy");
}

void
cmd_copy(struct imap_session *s, const struct imap_command *cmd)
{
	copy_or_move(s, cmd, false);
}

void
cmd_move(struct imap_session *s, const struct imap_command *cmd)
{
	copy_or_move(s, cmd, true);
}

/* --- EXPUNGE ---------------------------------------------------------- */

static void
expunge_cb(void *ctx, const struct store_op_result *res)
{
	struct imap_session *s = ctx;

	if (res->status != 0) {
		log_warn(&s->log, "event=expunge error=%s", res->err.msg);
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] Can't expunge");
		return;
	}
	/* the EXPUNGE / VANISHED responses come from the sync in finish */
	imap_cmd_finish(s, "OK", "%s completed",
	    s->cmd != NULL && s->cmd->uid ? "UID EXPUNGE" : "EXPUNGE");
}

void
cmd_expunge(struct imap_session *s, const struct imap_command *cmd)
{
	struct imap_view *v = s->view;
	uint32_t *uids = NULL;
	size_t n = 0;

	if (v == NULL) {
		imap_cmd_finish(s, "BAD", "No mailbox selected");
		return;
	}
	if (cmd->uid) {
		if (cmd->args == NULL || cmd->args->next != NULL ||
		    !resolve_uids(s, cmd->args, true, &uids, &n)) {
			imap_cmd_finish(s, "BAD", "Invalid UID set");
			return;
		}
	} else if (cmd->args != NULL) {
		imap_cmd_finish(s, "BAD", "EXPUNGE takes no arguments");
		return;
	}
	if (v->readonly) {
		imap_cmd_finish(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (cmd->uid && n == 0) {
		imap_cmd_finish(s, "OK", "UID EXPUNGE completed");
		return;
	}
	if (store_expunge(s->st, v->mailbox_id, uids, n, expunge_cb, s) != 0)
		imap_cmd_finish(s, "NO", "[SERVERBUG] Can't expunge");
}
