/* SPDX-License-Identifier: MIT */
/* The blob half of `store verify`: every blob re-read and re-hashed, its
 * file or inline row present with the recorded size, and its refcount
 * equal to the references that exist. Runs in one read transaction, so it
 * sees a consistent snapshot while `serve` keeps committing. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/str.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

static void problem(void (*cb)(void *, const char *), void *ctx, uint64_t *n,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
problem(void (*cb)(void *, const char *), void *ctx, uint64_t *n,
    const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(*n)++;
	if (cb != NULL)
		cb(ctx, line);
}

/* Reads the whole blob; the reader checks size and hash at the end. */
static int
rehash(struct store *st, const struct blob_id *id, struct err *e)
{
	unsigned char buf[4096];
	struct blob_reader *r;
	size_t got;
	int rc;

	if ((rc = blob_reader_open(st, NULL, id, &r, e)) != 0)
		return rc;
	do
		rc = blob_reader_read(r, buf, sizeof(buf), &got, e);
	while (rc == 0 && got > 0);
	blob_reader_close(&r);
	return rc;
}

static int
check_sql(struct store *st, const char *pragma,
    void (*cb)(void *, const char *), void *ctx, uint64_t *problems,
    struct err *err)
{
	sqlite3_stmt *s;
	const char *t;
	int rc;

	rc = sqlite3_prepare_v2(st->rd.db, pragma, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return db_fail(&st->rd, rc, pragma, err);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		t = (const char *)sqlite3_column_text(s, 0);
		if (t != NULL && strcmp(t, "ok") == 0)
			continue;
		problem(cb, ctx, problems, "database: %s: %s%s%s", pragma,
		    t != NULL ? t : "?",
		    sqlite3_column_count(s) > 2 ? " row " : "",
		    sqlite3_column_count(s) > 2
		        ? (const char *)sqlite3_column_text(s, 1)
		        : "");
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, pragma, err);
}

/* The IMAP tables (schema v2, v3) and the outbound queue (v4): index
 * rows belong to existing messages, and every message in a mailbox has
 * one or an index queue row (not both); every message has mailbox
 * entries or outbound queue rows, and queue rows a message; an
 * expunged UID is not in use; UIDs and modseqs stay below their
 * mailbox's uidnext and highestmodseq. */
static int
check_imap(struct store *st, void (*cb)(void *, const char *), void *ctx,
    uint64_t *problems, struct err *err)
{
	static const struct {
		const char *sql, *what;
	} checks[] = {
		{ "SELECT count(*) FROM fts WHERE rowid NOT IN"
		  " (SELECT id FROM messages)",
		    "index rows without a message" },
		{ "SELECT count(*) FROM messages WHERE id NOT IN"
		  " (SELECT rowid FROM fts) AND id NOT IN"
		  " (SELECT message FROM fts_queue) AND id IN"
		  " (SELECT message FROM entries)",
		    "messages without an index row" },
		/* A message only queued for remote recipients has no entry
		 * (and is not indexed); one with neither should be gone. */
		{ "SELECT count(*) FROM messages m WHERE NOT EXISTS"
		  " (SELECT 1 FROM entries WHERE message = m.id) AND NOT EXISTS"
		  " (SELECT 1 FROM queue WHERE message = m.id)",
		    "messages without mailbox entries or queue rows" },
		{ "SELECT count(*) FROM queue WHERE message NOT IN"
		  " (SELECT id FROM messages)",
		    "queue rows without a message" },
		{ "SELECT count(*) FROM fts_queue WHERE message IN"
		  " (SELECT rowid FROM fts)",
		    "messages both indexed and queued for the index" },
		{ "SELECT count(*) FROM expunged x JOIN entries e"
		  " ON e.mailbox = x.mailbox AND e.uid = x.uid",
		    "expunged UIDs still in use" },
		{ "SELECT count(*) FROM entries e JOIN mailboxes m"
		  " ON m.id = e.mailbox WHERE e.uid >= m.uidnext"
		  " OR e.modseq > m.highestmodseq",
		    "entries past their mailbox's uidnext or highestmodseq" },
	};
	int64_t n;
	size_t i;

	for (i = 0; i < sizeof(checks) / sizeof(*checks); i++) {
		if (db_int(&st->rd, checks[i].sql, &n, err) != 0)
			return err->code;
		if (n > 0)
			problem(cb, ctx, problems, "database: %lld %s",
			    (long long)n, checks[i].what);
	}
	return 0;
}

int
store_verify_blobs(struct store *st, void (*cb)(void *ctx, const char *problem),
    void *ctx, uint64_t *problems, struct err *err)
{
	char hex[BLOB_HEX_LEN + 1], rel[BLOB_HEX_LEN + 8];
	struct blob_id id;
	struct stat sb;
	struct err e;
	sqlite3_stmt *s;
	int64_t stored, refcount, refs, inline_len;
	int rc, loc;

	if (db_exec(&st->rd, "BEGIN", err) != 0)
		return err->code;
	if ((rc = check_sql(st, "PRAGMA quick_check", cb, ctx, problems,
	         err)) != 0 ||
	    (rc = check_sql(st, "PRAGMA foreign_key_check", cb, ctx, problems,
	         err)) != 0)
		goto out;
	if ((rc = check_imap(st, cb, ctx, problems, err)) != 0)
		goto out;
	rc = sqlite3_prepare_v2(st->rd.db,
	    "SELECT b.hash, b.stored_size, b.location, b.refcount,"
	    " b.unreferenced_since IS NULL,"
	    " (SELECT count(*) FROM messages WHERE skeleton = b.id) +"
	    " (SELECT count(*) FROM message_parts WHERE blob = b.id),"
	    " (SELECT length(data) FROM blob_inline WHERE blob = b.id)"
	    " FROM blobs b ORDER BY b.id",
	    -1, &s, NULL);
	if (rc != SQLITE_OK) {
		rc = db_fail(&st->rd, rc, "verify", err);
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(s, 0) != BLOB_ID_LEN) {
			problem(cb, ctx, problems, "blob row with a bad id");
			continue;
		}
		memcpy(id.h, sqlite3_column_blob(s, 0), BLOB_ID_LEN);
		blob_id_hex(&id, hex);
		stored = sqlite3_column_int64(s, 1);
		loc = sqlite3_column_int(s, 2);
		refcount = sqlite3_column_int64(s, 3);
		refs = sqlite3_column_int64(s, 5);
		if (refcount != refs)
			problem(cb, ctx, problems,
			    "blob %s: refcount %lld but %lld references", hex,
			    (long long)refcount, (long long)refs);
		if (refcount == 0 && sqlite3_column_int(s, 4))
			problem(cb, ctx, problems,
			    "blob %s: unreferenced without a date", hex);
		if (loc == BLOB_LOC_FILE) {
			blob_rel_path(&id, rel);
			if (fstatat(st->blobs_fd, rel, &sb, 0) == -1) {
				problem(cb, ctx, problems,
				    "blob %s: file blobs/%s: %s", hex, rel,
				    strerror(errno));
				continue;
			}
			if ((int64_t)sb.st_size != stored)
				problem(cb, ctx, problems,
				    "blob %s: file is %lld bytes, recorded "
				    "%lld",
				    hex, (long long)sb.st_size,
				    (long long)stored);
		} else {
			if (sqlite3_column_type(s, 6) == SQLITE_NULL) {
				problem(cb, ctx, problems,
				    "blob %s: inline data missing", hex);
				continue;
			}
			inline_len = sqlite3_column_int64(s, 6);
			if (inline_len != stored)
				problem(cb, ctx, problems,
				    "blob %s: inline data is %lld bytes, "
				    "recorded %lld",
				    hex, (long long)inline_len,
				    (long long)stored);
		}
		if (rehash(st, &id, &e) != 0)
			problem(cb, ctx, problems, "blob %s: %s", hex, e.msg);
	}
	sqlite3_finalize(s);
	rc = rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "verify", err);
out:
	(void)sqlite3_exec(st->rd.db, "COMMIT", NULL, NULL, NULL);
	return rc;
}
