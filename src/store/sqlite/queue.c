/* SPDX-License-Identifier: MIT */
/* The outbound queue of the embedded store: queue rows written with their
 * message by the commit thread (store_msg_commit_out), delivery outcomes
 * recorded through the same group commit (store_queue_update), the
 * scheduler's and the CLI's reads, and the admin changes (hold, retry,
 * remove), each its own transaction on the owner connection. */
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/str.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

/* The longest sender or recipient kept. RFC 5321 §4.5.3.1.3 caps a path
 * at 256 octets; SMTPUTF8 addresses (RFC 6531) can take more bytes for
 * as many characters. The callers' command line limit (2 KiB) is the
 * real bound; this one keeps a row's size sane whoever calls. */
#define QUEUE_ADDR_MAX 1024

/* --- the envelope copy (owner thread -> commit thread) ------------------ */

static bool
addr_chars_ok(const char *a)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a < 0x20 || *a == 0x7f)
			return false;
	return true;
}

void
out_env_free(struct out_env **ep)
{
	struct out_env *e = *ep;
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->n_rcpts; i++) {
		free(e->rcpts[i].rcpt);
		free(e->rcpts[i].domain);
		free(e->rcpts[i].orcpt);
	}
	free(e->rcpts);
	free(e->sender);
	free(e->envid);
	free(e->done_ids);
	free(e->notified_ids);
	free(e);
	*ep = NULL;
}

static int64_t *
ids_copy(const int64_t *v, size_t n)
{
	int64_t *c;

	if (n == 0)
		return NULL;
	c = xcalloc(n, sizeof(*c));
	memcpy(c, v, n * sizeof(*c));
	return c;
}

struct out_env *
out_env_copy(const struct store_envelope *env)
{
	struct out_env *e;
	const char *at;
	size_t i;

	if (env->sender == NULL || strlen(env->sender) > QUEUE_ADDR_MAX ||
	    !addr_chars_ok(env->sender) ||
	    (env->envid != NULL && strlen(env->envid) > STORE_ENVID_MAX) ||
	    (env->ret != STORE_RET_DEFAULT && env->ret != STORE_RET_HDRS &&
	        env->ret != STORE_RET_FULL) ||
	    (env->n_rcpts > 0 && env->rcpts == NULL) ||
	    (env->n_done > 0 && env->done_ids == NULL) ||
	    (env->n_notified > 0 && env->notified_ids == NULL))
		return NULL;
	for (i = 0; i < env->n_rcpts; i++) {
		const struct store_outbound *r = &env->rcpts[i];

		if (r->rcpt == NULL || strlen(r->rcpt) > QUEUE_ADDR_MAX ||
		    !addr_chars_ok(r->rcpt) ||
		    (at = strrchr(r->rcpt, '@')) == NULL || at == r->rcpt ||
		    at[1] == '\0' ||
		    (r->orcpt != NULL && strlen(r->orcpt) > STORE_ORCPT_MAX) ||
		    (r->notify &
		        ~(STORE_NOTIFY_SUCCESS | STORE_NOTIFY_FAILURE |
		            STORE_NOTIFY_DELAY | STORE_NOTIFY_NEVER)) != 0)
			return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->sender = xstrdup(env->sender);
	e->envid = env->envid != NULL ? xstrdup(env->envid) : NULL;
	e->ret = (int)env->ret;
	e->smtputf8 = env->smtputf8;
	e->body_8bit = env->body_8bit;
	e->user_id = env->user_id;
	e->now = env->now;
	e->rcpts = xcalloc(env->n_rcpts ? env->n_rcpts : 1, sizeof(*e->rcpts));
	for (i = 0; i < env->n_rcpts; i++) {
		const struct store_outbound *r = &env->rcpts[i];

		e->rcpts[i].rcpt = xstrdup(r->rcpt);
		e->rcpts[i].domain = xstrdup(strrchr(r->rcpt, '@') + 1);
		str_lower(e->rcpts[i].domain);
		e->rcpts[i].orcpt = r->orcpt != NULL ? xstrdup(r->orcpt) : NULL;
		e->rcpts[i].notify = r->notify;
	}
	e->n_rcpts = env->n_rcpts;
	e->done_ids = ids_copy(env->done_ids, env->n_done);
	e->n_done = env->n_done;
	e->notified_ids = ids_copy(env->notified_ids, env->n_notified);
	e->n_notified = env->n_notified;
	return e;
}

/* --- the commit thread ------------------------------------------------ */

static int
step_wr(struct store *st, sqlite3_stmt *s, const char *what, struct err *err)
{
	int rc = sqlite3_step(s);

	(void)sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_fail(&st->wr, rc, what, err);
	return 0;
}

static int
ids_apply(struct store *st, enum sql_id id, const int64_t *v, size_t n,
    const char *what, struct err *err)
{
	sqlite3_stmt *s;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((s = db_stmt(&st->wr, id, err)) == NULL)
			return err->code;
		(void)sqlite3_bind_int64(s, 1, v[i]);
		if (step_wr(st, s, what, err) != 0)
			return err->code;
	}
	return 0;
}

int
queue_commit_env(struct store *st, const struct out_env *env, int64_t msg_id,
    struct err *err)
{
	const struct out_rcpt *r;
	sqlite3_stmt *s;
	size_t i;

	for (i = 0; i < env->n_rcpts; i++) {
		r = &env->rcpts[i];
		if ((s = db_stmt(&st->wr, SQL_QUEUE_INSERT, err)) == NULL)
			return err->code;
		(void)sqlite3_bind_int64(s, 1, msg_id);
		(void)sqlite3_bind_text(s, 2, env->sender, -1, SQLITE_STATIC);
		(void)sqlite3_bind_text(s, 3, r->rcpt, -1, SQLITE_STATIC);
		(void)sqlite3_bind_text(s, 4, r->domain, -1, SQLITE_STATIC);
		if (r->orcpt != NULL)
			(void)sqlite3_bind_text(s, 5, r->orcpt, -1,
			    SQLITE_STATIC);
		if (env->envid != NULL)
			(void)sqlite3_bind_text(s, 6, env->envid, -1,
			    SQLITE_STATIC);
		(void)sqlite3_bind_int(s, 7, (int)r->notify);
		(void)sqlite3_bind_int(s, 8, env->ret);
		(void)sqlite3_bind_int(s, 9, env->smtputf8);
		(void)sqlite3_bind_int(s, 10, env->body_8bit);
		(void)sqlite3_bind_int64(s, 11, env->user_id);
		(void)sqlite3_bind_int64(s, 12, env->now);
		if (step_wr(st, s, "queue insert", err) != 0)
			return err->code;
	}
	/* Deleting the last row of an earlier message deletes that message
	 * unless mailbox entries still refer to it (trigger queue_gone). */
	if (ids_apply(st, SQL_QUEUE_DONE, env->done_ids, env->n_done,
	        "queue done", err) != 0 ||
	    ids_apply(st, SQL_QUEUE_NOTIFIED, env->notified_ids,
	        env->n_notified, "queue notified", err) != 0)
		return err->code;
	return 0;
}

/* --- store_queue_update: an op of the group commit ---------------------- */

struct queue_op {
	struct store_op base; /* first: cast between the two */
	struct store_queue_update *u;
	size_t n;
	store_op_cb cb;
	void *ctx;
};

static int
run_update(struct store *st, struct store_op *base, struct err *err)
{
	struct queue_op *op = (struct queue_op *)base;
	const struct store_queue_update *u;
	sqlite3_stmt *s;
	size_t i;

	for (i = 0; i < op->n; i++) {
		u = &op->u[i];
		s = db_stmt(&st->wr,
		    u->done ? SQL_QUEUE_DONE : SQL_QUEUE_UPDATE, err);
		if (s == NULL)
			return err->code;
		/* A row removed meanwhile (admin) changes nothing: fine. */
		(void)sqlite3_bind_int64(s, 1, u->id);
		if (!u->done) {
			(void)sqlite3_bind_int64(s, 2, u->last_attempt);
			(void)sqlite3_bind_int64(s, 3, u->next_attempt);
			(void)sqlite3_bind_text(s, 4, u->last_reply, -1,
			    SQLITE_STATIC);
		}
		if (step_wr(st, s, "queue update", err) != 0)
			return err->code;
	}
	return 0;
}

static void
update_done(struct store_op *base, int status, const struct err *err)
{
	struct queue_op *op = (struct queue_op *)base;
	struct store_op_result r;
	size_t i;

	memset(&r, 0, sizeof(r));
	r.status = status;
	if (status != 0)
		r.err = *err;
	op->cb(op->ctx, &r);
	for (i = 0; i < op->n; i++)
		free((char *)op->u[i].last_reply);
	free(op->u);
	free(op);
}

int
store_queue_update(struct store *st, const struct store_queue_update *u,
    size_t n, store_op_cb cb, void *ctx)
{
	struct queue_op *op;
	size_t i, len;

	if (cb == NULL || (n > 0 && u == NULL))
		return ERR_INPUT;
	op = xcalloc(1, sizeof(*op));
	op->base.run = run_update;
	op->base.done = update_done;
	op->u = xcalloc(n ? n : 1, sizeof(*op->u));
	op->n = n;
	for (i = 0; i < n; i++) {
		op->u[i] = u[i];
		/* At most STORE_REPLY_MAX bytes are kept; a longer reply is
		 * cut (the caller sanitizes it to one line). */
		len = u[i].last_reply != NULL ? strlen(u[i].last_reply) : 0;
		op->u[i].last_reply =
		    xstrndup(u[i].last_reply != NULL ? u[i].last_reply : "",
		        len > STORE_REPLY_MAX ? STORE_REPLY_MAX : len);
	}
	op->cb = cb;
	op->ctx = ctx;
	commit_op(st, &op->base);
	return 0;
}

/* --- reads (owner connection) ----------------------------------------- */

#define QUEUE_COLS                                                             \
	"q.id, q.message, coalesce(q.user, 0), q.sender, q.rcpt, q.domain,"    \
	" q.orcpt, q.envid, q.last_reply, q.notify, q.ret, q.smtputf8,"        \
	" q.body_8bit, q.held, q.delay_notified, q.attempts, q.created,"       \
	" q.next_attempt, q.last_attempt, coalesce(m.size, 0)"                 \
	" FROM queue q LEFT JOIN messages m ON m.id = q.message"

static void
row_entry(sqlite3_stmt *s, struct store_queue_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(s, 0);
	e->message_id = sqlite3_column_int64(s, 1);
	e->user_id = sqlite3_column_int64(s, 2);
	e->sender = (const char *)sqlite3_column_text(s, 3);
	e->rcpt = (const char *)sqlite3_column_text(s, 4);
	e->domain = (const char *)sqlite3_column_text(s, 5);
	e->orcpt = (const char *)sqlite3_column_text(s, 6);
	e->envid = (const char *)sqlite3_column_text(s, 7);
	e->last_reply = (const char *)sqlite3_column_text(s, 8);
	e->notify = (unsigned)sqlite3_column_int(s, 9);
	e->ret = (enum store_dsn_ret)sqlite3_column_int(s, 10);
	e->smtputf8 = sqlite3_column_int(s, 11) != 0;
	e->body_8bit = sqlite3_column_int(s, 12) != 0;
	e->held = sqlite3_column_int(s, 13) != 0;
	e->delay_notified = sqlite3_column_int(s, 14) != 0;
	e->attempts = (unsigned)sqlite3_column_int64(s, 15);
	e->created = sqlite3_column_int64(s, 16);
	e->next_attempt = sqlite3_column_int64(s, 17);
	e->last_attempt = sqlite3_column_int64(s, 18);
	e->size = (uint64_t)sqlite3_column_int64(s, 19);
	if (e->sender == NULL)
		e->sender = "";
	if (e->last_reply == NULL)
		e->last_reply = "";
}

/* Runs a prepared (and bound) read, calling cb per row; *n_out rows. */
static int
read_rows(struct store *st, sqlite3_stmt *s,
    void (*cb)(void *ctx, const struct store_queue_entry *e), void *ctx,
    size_t *n_out, struct err *err)
{
	struct store_queue_entry e;
	size_t n = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		row_entry(s, &e);
		n++;
		cb(ctx, &e);
	}
	sqlite3_finalize(s);
	if (n_out != NULL)
		*n_out = n;
	return rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "queue", err);
}

static sqlite3_stmt *
rq(struct store *st, const char *sql, struct err *err)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->rd.db, sql, -1, &s, NULL);

	if (rc != SQLITE_OK) {
		(void)db_fail(&st->rd, rc, "prepare", err);
		return NULL;
	}
	return s;
}

int
store_queue_due(struct store *st, int64_t now, size_t max,
    void (*cb)(void *ctx, const struct store_queue_entry *e), void *ctx,
    struct err *err)
{
	sqlite3_stmt *s;

	if (max == 0)
		return 0;
	/* The partial index queue_due finds the due rows; the sort is over
	 * those only. */
	s = rq(st,
	    "SELECT " QUEUE_COLS " WHERE q.held = 0 AND q.next_attempt <= ?1"
	    " ORDER BY q.domain, q.message, q.id LIMIT ?2",
	    err);
	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, now);
	(void)sqlite3_bind_int64(s, 2,
	    max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max);
	return read_rows(st, s, cb, ctx, NULL, err);
}

int
store_queue_next_due(struct store *st, int64_t *when_out, struct err *err)
{
	sqlite3_stmt *s = db_stmt(&st->rd, SQL_QUEUE_NEXT_DUE, err);
	int rc;

	*when_out = INT64_MAX;
	if (s == NULL)
		return err->code;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*when_out = sqlite3_column_int64(s, 0);
	/* Reset at once: a statement left on its row keeps a snapshot,
	 * and the CLI's changes would go unseen. */
	(void)sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(&st->rd, rc, "queue next due", err);
	return 0;
}

int
store_queue_list(struct store *st,
    void (*cb)(void *ctx, const struct store_queue_entry *e), void *ctx,
    struct err *err)
{
	sqlite3_stmt *s = rq(st, "SELECT " QUEUE_COLS " ORDER BY q.id", err);

	if (s == NULL)
		return err->code;
	return read_rows(st, s, cb, ctx, NULL, err);
}

int
store_queue_get(struct store *st, int64_t id,
    void (*cb)(void *ctx, const struct store_queue_entry *e), void *ctx,
    struct err *err)
{
	sqlite3_stmt *s = rq(st, "SELECT " QUEUE_COLS " WHERE q.id = ?1", err);
	size_t n;
	int rc;

	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, id);
	if ((rc = read_rows(st, s, cb, ctx, &n, err)) != 0)
		return rc;
	if (n == 0)
		return err_set(err, ERR_NOTFOUND, "no queue entry %lld",
		    (long long)id);
	return 0;
}

/* --- admin changes (owner connection, one transaction each) ------------ */

/* Runs sql (?1 = id, 0: every row; ?2 = arg) in its own transaction.
 * BEGIN IMMEDIATE: a concurrent `serve` batch makes it wait
 * (busy_timeout), not fail. ERR_NOTFOUND if id != 0 names no row. */
static int
admin(struct store *st, const char *sql, int64_t id, int64_t arg, size_t *n_out,
    struct err *err)
{
	sqlite3_stmt *s = NULL;
	int64_t exists = 0;
	size_t n = 0;
	int rc;

	if (n_out != NULL)
		*n_out = 0;
	if (db_exec(&st->rd, "BEGIN IMMEDIATE", err) != 0)
		return err->code;
	if ((s = rq(st, sql, err)) == NULL)
		goto fail;
	(void)sqlite3_bind_int64(s, 1, id);
	(void)sqlite3_bind_int64(s, 2, arg);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		(void)db_fail(&st->rd, rc, "queue admin", err);
		goto fail;
	}
	n = (size_t)sqlite3_changes(st->rd.db);
	if (id != 0 && n == 0) {
		/* Nothing changed: no such row, or it already was so. */
		if ((s = rq(st, "SELECT count(*) FROM queue WHERE id = ?1",
		         err)) == NULL)
			goto fail;
		(void)sqlite3_bind_int64(s, 1, id);
		rc = sqlite3_step(s);
		exists = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		sqlite3_finalize(s);
		if (rc != SQLITE_ROW) {
			(void)db_fail(&st->rd, rc, "queue admin", err);
			goto fail;
		}
		if (exists == 0) {
			err_set(err, ERR_NOTFOUND, "no queue entry %lld",
			    (long long)id);
			goto fail;
		}
	}
	if (db_commit(&st->rd, err) != 0)
		goto fail;
	if (n_out != NULL)
		*n_out = n;
	return 0;
fail:
	(void)sqlite3_exec(st->rd.db, "ROLLBACK", NULL, NULL, NULL);
	return err->code;
}

/* One row (id = ?1, by its key) or every row (?1 = 0, a scan). */
#define ROWS(where_one, where_all, id) ((id) != 0 ? (where_one) : (where_all))

int
store_queue_hold(struct store *st, int64_t id, bool held, size_t *n_out,
    struct err *err)
{
	return admin(st,
	    ROWS("UPDATE queue SET held = ?2 WHERE id = ?1 AND held != ?2",
	        "UPDATE queue SET held = ?2 WHERE held != ?2", id),
	    id, held ? 1 : 0, n_out, err);
}

int
store_queue_retry(struct store *st, int64_t id, int64_t now, size_t *n_out,
    struct err *err)
{
	return admin(st,
	    ROWS("UPDATE queue SET next_attempt = ?2 WHERE id = ?1",
	        "UPDATE queue SET next_attempt = ?2", id),
	    id, now, n_out, err);
}

int
store_queue_remove(struct store *st, int64_t id, size_t *n_out, struct err *err)
{
	/* Messages left with neither rows nor entries go (queue_gone). */
	return admin(st,
	    ROWS("DELETE FROM queue WHERE id = ?1", "DELETE FROM queue", id),
	    id, 0, n_out, err);
}
