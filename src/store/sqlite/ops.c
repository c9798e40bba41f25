/* SPDX-License-Identifier: MIT */
/* Entry mutations (flags, expunge, copy/move) as commit-thread ops: each
 * runs on the write connection inside the group-commit transaction, in
 * its own SAVEPOINT, so flag changes from many sessions share one WAL
 * sync; its callback runs on the loop thread once the batch is durable.
 * Modseq (RFC 7162): one new value per op and mailbox, taken only if the
 * op changes something, given to every entry it changed. */
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/str.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

enum op_kind { OP_FLAGS, OP_EXPUNGE, OP_COPY };

struct u32v {
	uint32_t *v;
	size_t n, cap;
};

struct op {
	struct store_op base; /* first: ops.c casts between the two */
	enum op_kind kind;
	int64_t mailbox, dst;
	uint32_t *uids; /* ascending; NULL (expunge): every entry */
	size_t n;
	enum store_flags_mode mode;
	char *flags; /* normalised */
	uint64_t unchangedsince;
	bool move;
	store_op_cb cb;
	void *ctx;
	/* Results (commit thread, read by done on the loop thread after
	 * the mutex hand-over). */
	uint64_t modseq;
	uint32_t uidvalidity;
	struct u32v changed, new_uids, failed;
};

static void
u32_push(struct u32v *a, uint32_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

static sqlite3_stmt *
wq(struct store *st, const char *sql, struct err *err)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->wr.db, sql, -1, &s, NULL);

	if (rc != SQLITE_OK) {
		(void)db_fail(&st->wr, rc, "prepare", err);
		return NULL;
	}
	return s;
}

/* The mailbox's user; ERR_NOTFOUND if it is gone. */
static int
mailbox_user(struct store *st, int64_t mbox, int64_t *user, struct err *err)
{
	sqlite3_stmt *s =
	    wq(st, "SELECT user FROM mailboxes WHERE id = ?1", err);
	int rc;

	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, mbox);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*user = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return err_set(err, ERR_NOTFOUND, "mailbox %lld is gone",
		    (long long)mbox);
	return rc == SQLITE_ROW ? 0 : db_fail(&st->wr, rc, "mailbox", err);
}

/* Takes the mailbox's next modseq; *uv_out its UIDVALIDITY. */
static int
bump_modseq(struct store *st, int64_t mbox, uint64_t *out, uint32_t *uv_out,
    struct err *err)
{
	sqlite3_stmt *s = wq(st,
	    "UPDATE mailboxes SET highestmodseq = highestmodseq + 1"
	    " WHERE id = ?1 RETURNING highestmodseq, uidvalidity",
	    err);
	int rc;

	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, mbox);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(s, 0);
		if (uv_out != NULL)
			*uv_out = (uint32_t)sqlite3_column_int64(s, 1);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_fail(&st->wr, rc, "modseq", err);
	return 0;
}

/* Removes entries and records their expunge with modseq. */
static int
expunge_uids(struct store *st, int64_t mbox, const uint32_t *uids, size_t n,
    uint64_t modseq, struct err *err)
{
	sqlite3_stmt *d =
	    wq(st, "DELETE FROM entries WHERE mailbox = ?1 AND uid = ?2", err);
	sqlite3_stmt *x = d == NULL ? NULL
	                            : wq(st,
	                                  "INSERT INTO expunged(mailbox, uid,"
	                                  " modseq) VALUES(?1, ?2, ?3)",
	                                  err);
	size_t i;
	int rc = SQLITE_DONE;

	for (i = 0; x != NULL && i < n && rc == SQLITE_DONE; i++) {
		(void)sqlite3_reset(d);
		(void)sqlite3_bind_int64(d, 1, mbox);
		(void)sqlite3_bind_int64(d, 2, uids[i]);
		if ((rc = sqlite3_step(d)) != SQLITE_DONE)
			break;
		(void)sqlite3_reset(x);
		(void)sqlite3_bind_int64(x, 1, mbox);
		(void)sqlite3_bind_int64(x, 2, uids[i]);
		(void)sqlite3_bind_int64(x, 3, (int64_t)modseq);
		rc = sqlite3_step(x);
	}
	/* The message is read before finalize, which resets it. */
	if (x != NULL && rc != SQLITE_DONE)
		(void)db_fail(&st->wr, rc, "expunge", err);
	sqlite3_finalize(d);
	sqlite3_finalize(x);
	if (x == NULL || rc != SQLITE_DONE)
		return err->code;
	return 0;
}

/* --- flags ------------------------------------------------------------- */

static int
run_flags(struct store *st, struct store_op *base, struct err *err)
{
	struct op *op = (struct op *)base;
	sqlite3_stmt *sel = NULL, *upd = NULL;
	struct buf nf = { 0 };
	size_t i;
	int rc;

	if ((rc = mailbox_user(st, op->mailbox, &op->base.user_id, err)) != 0)
		return rc;
	sel = wq(st,
	    "SELECT flags, modseq FROM entries WHERE mailbox = ?1"
	    " AND uid = ?2",
	    err);
	upd = sel == NULL ? NULL
	                  : wq(st,
	                        "UPDATE entries SET flags = ?3, modseq = ?4"
	                        " WHERE mailbox = ?1 AND uid = ?2",
	                        err);
	if (upd == NULL) {
		rc = err->code;
		goto out;
	}
	for (i = 0; i < op->n; i++) {
		(void)sqlite3_reset(sel);
		(void)sqlite3_bind_int64(sel, 1, op->mailbox);
		(void)sqlite3_bind_int64(sel, 2, op->uids[i]);
		rc = sqlite3_step(sel);
		if (rc == SQLITE_DONE)
			continue; /* expunged meanwhile */
		if (rc != SQLITE_ROW) {
			rc = db_fail(&st->wr, rc, "flags", err);
			goto out;
		}
		if (op->unchangedsince != 0 &&
		    (uint64_t)sqlite3_column_int64(sel, 1) >
		        op->unchangedsince) {
			u32_push(&op->failed, op->uids[i]);
			continue;
		}
		if (!flags_apply((const char *)sqlite3_column_text(sel, 0),
		        op->mode, op->flags, &nf)) {
			buf_clear(&nf);
			continue;
		}
		if (op->modseq == 0 &&
		    (rc = bump_modseq(st, op->mailbox, &op->modseq, NULL,
		         err)) != 0)
			goto out;
		(void)sqlite3_reset(upd);
		(void)sqlite3_bind_int64(upd, 1, op->mailbox);
		(void)sqlite3_bind_int64(upd, 2, op->uids[i]);
		(void)sqlite3_bind_text(upd, 3, nf.p, (int)nf.len,
		    SQLITE_STATIC);
		(void)sqlite3_bind_int64(upd, 4, (int64_t)op->modseq);
		rc = sqlite3_step(upd);
		buf_clear(&nf);
		if (rc != SQLITE_DONE) {
			rc = db_fail(&st->wr, rc, "flags update", err);
			goto out;
		}
		u32_push(&op->changed, op->uids[i]);
	}
	if (op->changed.n > 0)
		op->base.mailbox_ids[0] = op->mailbox;
	rc = 0;
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rc;
}

/* --- expunge ----------------------------------------------------------- */

static int
run_expunge(struct store *st, struct store_op *base, struct err *err)
{
	struct op *op = (struct op *)base;
	sqlite3_stmt *s;
	size_t i = 0;
	int rc;

	if ((rc = mailbox_user(st, op->mailbox, &op->base.user_id, err)) != 0)
		return rc;
	/* Flags are normalised, so an exact token test finds \Deleted. */
	s = wq(st,
	    op->uids == NULL
	        ? "SELECT uid FROM entries WHERE mailbox = ?1"
	          " AND instr(' ' || flags || ' ', ' \\Deleted ') > 0"
	          " ORDER BY uid"
	        : "SELECT uid FROM entries WHERE mailbox = ?1 AND uid = ?2"
	          " AND instr(' ' || flags || ' ', ' \\Deleted ') > 0",
	    err);
	if (s == NULL)
		return err->code;
	do {
		(void)sqlite3_reset(s);
		(void)sqlite3_bind_int64(s, 1, op->mailbox);
		if (op->uids != NULL)
			(void)sqlite3_bind_int64(s, 2, op->uids[i]);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			u32_push(&op->changed,
			    (uint32_t)sqlite3_column_int64(s, 0));
	} while (rc == SQLITE_DONE && op->uids != NULL && ++i < op->n);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_fail(&st->wr, rc, "expunge", err);
	if (op->changed.n == 0)
		return 0;
	if ((rc = bump_modseq(st, op->mailbox, &op->modseq, NULL, err)) != 0)
		return rc;
	op->base.mailbox_ids[0] = op->mailbox;
	return expunge_uids(st, op->mailbox, op->changed.v, op->changed.n,
	    op->modseq, err);
}

/* --- copy and move ----------------------------------------------------- */

static int
run_copy(struct store *st, struct store_op *base, struct err *err)
{
	struct op *op = (struct op *)base;
	sqlite3_stmt *sel, *next = NULL, *ins = NULL;
	int64_t dst_user = 0;
	uint64_t dst_modseq = 0;
	uint32_t uid;
	size_t i;
	int rc;

	if ((rc = mailbox_user(st, op->mailbox, &op->base.user_id, err)) != 0 ||
	    (rc = mailbox_user(st, op->dst, &dst_user, err)) != 0)
		return rc;
	if (dst_user != op->base.user_id)
		return err_set(err, ERR_NOTFOUND,
		    "mailbox %lld is another user's", (long long)op->dst);
	/* The destination's UIDVALIDITY even when nothing is copied. */
	if ((sel = wq(st, "SELECT uidvalidity FROM mailboxes WHERE id = ?1",
	         err)) == NULL)
		return err->code;
	(void)sqlite3_bind_int64(sel, 1, op->dst);
	if (sqlite3_step(sel) == SQLITE_ROW)
		op->uidvalidity = (uint32_t)sqlite3_column_int64(sel, 0);
	sqlite3_finalize(sel);
	sel = wq(st,
	    "SELECT message, flags FROM entries WHERE mailbox = ?1"
	    " AND uid = ?2",
	    err);
	if (sel != NULL)
		next = wq(st,
		    "UPDATE mailboxes SET uidnext = uidnext + 1 WHERE id = ?1"
		    " AND uidnext < 4294967295 RETURNING uidnext - 1",
		    err);
	if (next != NULL)
		ins = wq(st,
		    "INSERT INTO entries(mailbox, uid, message, flags, modseq)"
		    " VALUES(?1, ?2, ?3, ?4, ?5)",
		    err);
	if (ins == NULL) {
		rc = err->code;
		goto out;
	}
	for (i = 0; i < op->n; i++) {
		(void)sqlite3_reset(sel);
		(void)sqlite3_bind_int64(sel, 1, op->mailbox);
		(void)sqlite3_bind_int64(sel, 2, op->uids[i]);
		rc = sqlite3_step(sel);
		if (rc == SQLITE_DONE)
			continue;
		if (rc != SQLITE_ROW) {
			rc = db_fail(&st->wr, rc, "copy", err);
			goto out;
		}
		if (dst_modseq == 0 &&
		    (rc = bump_modseq(st, op->dst, &dst_modseq,
		         &op->uidvalidity, err)) != 0)
			goto out;
		(void)sqlite3_reset(next);
		(void)sqlite3_bind_int64(next, 1, op->dst);
		rc = sqlite3_step(next);
		uid = rc == SQLITE_ROW ? (uint32_t)sqlite3_column_int64(next, 0)
		                       : 0;
		if (rc == SQLITE_ROW)
			rc = sqlite3_step(next);
		(void)sqlite3_reset(next);
		if (rc == SQLITE_DONE && uid == 0) {
			rc = err_set(err, ERR_TEMP, "mailbox %lld: UIDs spent",
			    (long long)op->dst);
			goto out;
		}
		if (rc != SQLITE_DONE) {
			rc = db_fail(&st->wr, rc, "uidnext", err);
			goto out;
		}
		(void)sqlite3_reset(ins);
		(void)sqlite3_bind_int64(ins, 1, op->dst);
		(void)sqlite3_bind_int64(ins, 2, uid);
		(void)sqlite3_bind_int64(ins, 3, sqlite3_column_int64(sel, 0));
		(void)sqlite3_bind_text(ins, 4,
		    (const char *)sqlite3_column_text(sel, 1), -1,
		    SQLITE_TRANSIENT);
		(void)sqlite3_bind_int64(ins, 5, (int64_t)dst_modseq);
		if ((rc = sqlite3_step(ins)) != SQLITE_DONE) {
			rc = db_fail(&st->wr, rc, "copy insert", err);
			goto out;
		}
		u32_push(&op->changed, op->uids[i]);
		u32_push(&op->new_uids, uid);
	}
	rc = 0;
	if (op->changed.n == 0)
		goto out;
	op->base.mailbox_ids[0] = op->dst;
	op->modseq = dst_modseq;
	if (op->move) {
		/* The copies exist first, so no message loses its last
		 * entry (trigger entries_gone) on the way. */
		if ((rc = bump_modseq(st, op->mailbox, &op->modseq, NULL,
		         err)) != 0 ||
		    (rc = expunge_uids(st, op->mailbox, op->changed.v,
		         op->changed.n, op->modseq, err)) != 0)
			goto out;
		op->base.mailbox_ids[1] = op->mailbox;
	}
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(next);
	sqlite3_finalize(ins);
	return rc;
}

/* --- the common part --------------------------------------------------- */

static void
op_done(struct store_op *base, int status, const struct err *err)
{
	struct op *op = (struct op *)base;
	struct store_op_result r;

	memset(&r, 0, sizeof(r));
	r.status = status;
	if (status != 0) {
		r.err = *err;
	} else {
		r.modseq = op->modseq;
		r.uids = op->changed.v;
		r.n_uids = op->changed.n;
		r.new_uids = op->new_uids.v;
		r.n_new_uids = op->new_uids.n;
		r.uidvalidity = op->uidvalidity;
		r.failed_uids = op->failed.v;
		r.n_failed_uids = op->failed.n;
	}
	op->cb(op->ctx, &r);
	free(op->uids);
	free(op->flags);
	free(op->changed.v);
	free(op->new_uids.v);
	free(op->failed.v);
	free(op);
}

static struct op *
op_new(enum op_kind kind, int64_t mailbox, const uint32_t *uids, size_t n,
    store_op_cb cb, void *ctx)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->kind = kind;
	op->mailbox = mailbox;
	op->base.done = op_done;
	op->base.run = kind == OP_FLAGS ? run_flags
	    : kind == OP_EXPUNGE        ? run_expunge
	                                : run_copy;
	if (uids != NULL) {
		op->uids = xcalloc(n ? n : 1, sizeof(*uids));
		if (n > 0)
			memcpy(op->uids, uids, n * sizeof(*uids));
		op->n = n;
	}
	op->cb = cb;
	op->ctx = ctx;
	return op;
}

int
store_flags_update(struct store *st, int64_t mailbox_id, const uint32_t *uids,
    size_t n, enum store_flags_mode mode, const char *flags,
    uint64_t unchangedsince, store_op_cb cb, void *ctx)
{
	struct buf fl;
	struct op *op;

	if (cb == NULL || (uids == NULL && n > 0) ||
	    (mode != STORE_FLAGS_SET && mode != STORE_FLAGS_ADD &&
	        mode != STORE_FLAGS_REMOVE))
		return ERR_INPUT;
	if (flags_normalize(flags, &fl) != 0) {
		buf_clear(&fl);
		return ERR_INPUT;
	}
	op = op_new(OP_FLAGS, mailbox_id, uids, n, cb, ctx);
	if (op->uids == NULL)
		op->uids = xcalloc(1, sizeof(*op->uids));
	op->mode = mode;
	op->flags = xstrdup(fl.p);
	op->unchangedsince = unchangedsince;
	buf_clear(&fl);
	commit_op(st, &op->base);
	return 0;
}

int
store_expunge(struct store *st, int64_t mailbox_id, const uint32_t *uids,
    size_t n, store_op_cb cb, void *ctx)
{
	if (cb == NULL)
		return ERR_INPUT;
	commit_op(st, &op_new(OP_EXPUNGE, mailbox_id, uids, n, cb, ctx)->base);
	return 0;
}

int
store_copy(struct store *st, int64_t src_mailbox_id, const uint32_t *uids,
    size_t n, int64_t dst_mailbox_id, bool move, store_op_cb cb, void *ctx)
{
	struct op *op;

	if (cb == NULL || (uids == NULL && n > 0))
		return ERR_INPUT;
	op = op_new(OP_COPY, src_mailbox_id, uids, n, cb, ctx);
	op->dst = dst_mailbox_id;
	op->move = move;
	commit_op(st, &op->base);
	return 0;
}

int
expunged_prune(struct dbconn *c, unsigned keep, struct err *err)
{
	char sql[640];

	/* The floor is the modseq of the newest row beyond `keep`; every
	 * row at or below it goes, and store_expunged_since reports history
	 * from before it as incomplete. */
	(void)str_fmt(sql, sizeof(sql),
	    "BEGIN IMMEDIATE;"
	    "UPDATE mailboxes SET expunged_floor = max(expunged_floor,"
	    " (SELECT modseq FROM expunged WHERE mailbox = mailboxes.id"
	    " ORDER BY modseq DESC LIMIT 1 OFFSET %u))"
	    " WHERE id IN (SELECT mailbox FROM expunged GROUP BY mailbox"
	    " HAVING count(*) > %u);"
	    "DELETE FROM expunged WHERE modseq <= (SELECT expunged_floor"
	    " FROM mailboxes WHERE id = expunged.mailbox);",
	    keep, keep);
	if (db_exec(c, sql, err) != 0 || db_commit(c, err) != 0) {
		(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return err->code;
	}
	return 0;
}
