/* SPDX-License-Identifier: MIT */
/* The deferred full-text index: a commit queues each stored message's
 * text in fts_queue (a plain row), and the commit thread moves queued
 * rows into the FTS5 table in short slices when no commit is waiting,
 * so that a 250 never waits for FTS5 (most of what a stored message
 * costs). store_fts_search reads the queue too, so SEARCH answers are
 * complete while the index lags. */
#include <stdlib.h>
#include <time.h>

#include "store/sqlite/store_int.h"

#include "lib/banned.h"

int64_t
fts_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A slice is one transaction. Its rows are inserted into fts one by one
 * (single-row VALUES inserts: FTS5 keeps their terms in memory), then
 * the queue rows are deleted with one statement. That DELETE may open a
 * statement savepoint, at which FTS5 writes its pending terms out as a
 * segment; coming last, a slice is one index segment.
 *
 * The slice commits with synchronous=NORMAL: its WAL frames are written
 * but not synced. A crash may lose the slice, never tear it (the WAL is
 * replayed only up to its last whole transaction), and a lost slice
 * leaves its rows in the queue, to be indexed again. The next message
 * commit (synchronous=FULL) syncs the WAL file, earlier frames with it,
 * so this saves a sync per slice without weakening any 250. */
int
fts_index_slice(struct store *st, int64_t budget_ns, bool *more_out,
    struct err *err)
{
	int64_t start = fts_now_ns(), last = 0, n = 0;
	sqlite3_stmt *scan = NULL, *ins;
	const unsigned char *t;
	int rc = 0, src, k;

	*more_out = false;
	if (db_exec(&st->wr, "PRAGMA synchronous=NORMAL", err) != 0)
		return err->code;
	if ((rc = db_exec(&st->wr, "BEGIN IMMEDIATE", err)) != 0)
		goto out;
	if ((scan = db_stmt(&st->wr, SQL_FTS_QUEUE_SCAN, err)) == NULL) {
		rc = err->code;
		goto rollback;
	}
	while ((src = sqlite3_step(scan)) == SQLITE_ROW) {
		if ((ins = db_stmt(&st->wr, SQL_FTS_INSERT, err)) == NULL) {
			rc = err->code;
			goto rollback;
		}
		last = sqlite3_column_int64(scan, 0);
		(void)sqlite3_bind_int64(ins, 1, last);
		for (k = 1; k <= FTS_COL_N; k++) {
			t = sqlite3_column_text(scan, k);
			(void)sqlite3_bind_text(ins, k + 1,
			    t != NULL ? (const char *)t : "",
			    sqlite3_column_bytes(scan, k), SQLITE_STATIC);
		}
		src = sqlite3_step(ins);
		(void)sqlite3_reset(ins);
		if (src != SQLITE_DONE) {
			rc = db_fail(&st->wr, src, "fts index", err);
			goto rollback;
		}
		n++;
		if (fts_now_ns() - start >= budget_ns) {
			*more_out = true;
			break;
		}
	}
	(void)sqlite3_reset(scan);
	if (src != SQLITE_ROW && src != SQLITE_DONE) {
		rc = db_fail(&st->wr, src, "fts queue", err);
		goto rollback;
	}
	if (n == 0) {
		(void)sqlite3_exec(st->wr.db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	/* No commit runs between the scan and here (this thread holds the
	 * write lock), and the scan went in message order from the start:
	 * every row up to `last` has just been indexed. */
	if ((ins = db_stmt(&st->wr, SQL_FTS_QUEUE_DROP, err)) == NULL) {
		rc = err->code;
		goto rollback;
	}
	(void)sqlite3_bind_int64(ins, 1, last);
	src = sqlite3_step(ins);
	(void)sqlite3_reset(ins);
	if (src != SQLITE_DONE) {
		rc = db_fail(&st->wr, src, "fts queue drop", err);
		goto rollback;
	}
	if ((rc = db_commit(&st->wr, err)) != 0)
		goto rollback;
	atomic_fetch_add(&st->n_indexed, (uint64_t)n);
	goto out;
rollback:
	if (scan != NULL)
		(void)sqlite3_reset(scan);
	(void)sqlite3_exec(st->wr.db, "ROLLBACK", NULL, NULL, NULL);
	*more_out = false;
out:
	/* Back to FULL before any message commit: should this fail, the
	 * connection would acknowledge mail without a sync, so it is not
	 * left to chance. */
	if (sqlite3_exec(st->wr.db, "PRAGMA synchronous=FULL", NULL, NULL,
	        NULL) != SQLITE_OK)
		abort(); /* a broken invariant, not an input error */
	return rc;
}

void
fts_index_drain(struct store *st)
{
	struct err e;
	bool more = st->fts_backlog && !st->fts_hold;

	while (more)
		if (fts_index_slice(st, 50 * 1000000, &more, &e) != 0) {
			log_warn(&st->log,
			    "event=fts_index status=%s msg=\"%s\"",
			    err_name(e.code), e.msg);
			break;
		}
	if (!st->fts_hold)
		st->fts_backlog = false;
}
