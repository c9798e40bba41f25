/* SPDX-License-Identifier: MIT */
/* The glue between store.h and the MIME ingest (ingest.h): writing a
 * message through ingest, reading one back through the skeleton reader,
 * and the skeleton half of `store verify`. Kept apart so that the rest of
 * the backend links (and its tests run) without the ingest code. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/mem.h"
#include "lib/str.h"
#include "store/ingest.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

struct store_reader {
	struct msg_reader *mr;
};

static void
release_ingest(struct store_msg *m)
{
	struct ingest *in = m->glue;

	ingest_free(&in);
	m->glue = NULL;
}

int
store_msg_new(struct store *st, struct store_msg **out, struct err *err)
{
	struct store_msg *m = store_msg_alloc(st);

	m->glue = ingest_new(m->stage);
	if (m->glue == NULL) {
		store_msg_destroy(m);
		return err_set(err, ERR_INTERNAL, "ingest_new failed");
	}
	m->release = release_ingest;
	*out = m;
	return 0;
}

int
store_msg_write(struct store_msg *m, const void *p, size_t n, struct err *err)
{
	int rc;

	if (m->failed || m->finished)
		return err_set(err, ERR_INTERNAL, "message not writable");
	if ((rc = ingest_push(m->glue, p, n, err)) != 0) {
		m->failed = true;
		return rc;
	}
	m->size += n;
	return 0;
}

int
store_msg_finish(struct store_msg *m, struct err *err)
{
	const struct ingest_summary *sum;
	const struct blob_id *parts;
	uint64_t size;
	int rc;

	if (m->failed || m->finished)
		return err_set(err, ERR_INTERNAL, "message not writable");
	if ((rc = ingest_finish(m->glue, &m->skeleton, &size, err)) != 0) {
		m->failed = true;
		return rc;
	}
	m->size = size;
	sum = ingest_summary(m->glue);
	(void)str_copy(m->from, sizeof(m->from), sum->from);
	(void)str_copy(m->subject, sizeof(m->subject), sum->subject);
	(void)str_copy(m->message_id, sizeof(m->message_id), sum->message_id);
	_Static_assert((int)INGEST_TEXT_N == (int)FTS_COL_N &&
	        (int)INGEST_TEXT_BODY == (int)FTS_COL_BODY &&
	        (int)INGEST_TEXT_HEADERS == (int)FTS_COL_HEADERS,
	    "index columns");
	ingest_text_take(m->glue, m->text);
	parts = ingest_parts(m->glue, &m->n_parts);
	if (m->n_parts > 0) {
		m->parts = xcalloc(m->n_parts, sizeof(*m->parts));
		memcpy(m->parts, parts, m->n_parts * sizeof(*m->parts));
	}
	release_ingest(m); /* the stage holds all the commit needs */
	m->release = NULL;
	m->finished = true;
	return 0;
}

uint64_t
store_msg_size(const struct store_msg *m)
{
	return m->size;
}

void
store_msg_free(struct store_msg **mp)
{
	store_msg_destroy(*mp);
	*mp = NULL;
}

/* Steps s (bound) to the skeleton row of one message (columns: hash,
 * then those of blob_reader_from_row) and opens the skeleton from it:
 * one statement, no second lookup by hash. ERR_NOTFOUND (no such
 * message), ERR_TEMP. Resets s. */
static int
skeleton_open(struct store *st, sqlite3_stmt *s, struct blob_reader **out,
    struct err *err)
{
	struct blob_id id;
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) == BLOB_ID_LEN) {
		memcpy(id.h, sqlite3_column_blob(s, 0), BLOB_ID_LEN);
		rc = blob_reader_from_row(st, s, 1, &id, out, err);
		(void)sqlite3_reset(s);
		return rc;
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_CORRUPT;
	(void)sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return err_set(err, ERR_NOTFOUND, "no such message");
	return db_fail(&st->rd, rc, "message", err);
}

static int
reader_new(struct store *st, struct blob_reader *skel,
    struct store_reader **out, struct err *err)
{
	struct store_reader *r = xcalloc(1, sizeof(*r));
	int rc;

	if ((rc = msg_reader_open_blob(st, NULL, skel, &r->mr, err)) != 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int
store_reader_open(struct store *st, int64_t user_id, const char *mailbox,
    uint32_t uid, struct store_reader **out, struct err *err)
{
	struct blob_reader *skel;
	sqlite3_stmt *s;
	int rc;

	if ((s = db_stmt(&st->rd, SQL_ENTRY_SKELETON, err)) == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, user_id);
	(void)sqlite3_bind_text(s, 2,
	    strcasecmp(mailbox, "INBOX") == 0 ? "INBOX" : mailbox, -1,
	    SQLITE_STATIC);
	(void)sqlite3_bind_int64(s, 3, uid);
	if ((rc = skeleton_open(st, s, &skel, err)) != 0)
		return rc == ERR_NOTFOUND
		    ? err_set(err, ERR_NOTFOUND, "no message %s/%u", mailbox,
		          (unsigned)uid)
		    : rc;
	return reader_new(st, skel, out, err);
}

int
store_reader_read(struct store_reader *r, void *p, size_t n, size_t *n_out,
    struct err *err)
{
	return msg_reader_read(r->mr, p, n, n_out, err);
}

/* Opens the skeleton of message_id. ERR_NOTFOUND, ERR_TEMP. */
static int
message_skeleton_open(struct store *st, int64_t message_id,
    struct blob_reader **out, struct err *err)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = db_stmt(&st->rd, SQL_MSG_SKELETON, err)) == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, message_id);
	if ((rc = skeleton_open(st, s, out, err)) == ERR_NOTFOUND)
		return err_set(err, ERR_NOTFOUND, "no message %lld",
		    (long long)message_id);
	return rc;
}

int
store_reader_open_message(struct store *st, int64_t message_id,
    struct store_reader **out, struct err *err)
{
	struct blob_reader *skel;
	int rc;

	if ((rc = message_skeleton_open(st, message_id, &skel, err)) != 0)
		return rc;
	return reader_new(st, skel, out, err);
}

int
store_reader_skip(struct store_reader *r, uint64_t n, struct err *err)
{
	return msg_reader_skip(r->mr, n, err);
}

int
store_msg_header_block(struct store *st, int64_t message_id, char *p,
    size_t cap, size_t *n_out, struct err *err)
{
	struct blob_reader *skel;
	int rc;

	*n_out = 0;
	if ((rc = message_skeleton_open(st, message_id, &skel, err)) != 0)
		return rc;
	return msg_header_block_blob(st, skel, p, cap, n_out, err);
}

void
store_reader_close(struct store_reader **rp)
{
	if (*rp == NULL)
		return;
	msg_reader_close(&(*rp)->mr);
	free(*rp);
	*rp = NULL;
}

/* --- verify: each skeleton's references against the part refs ------- */

struct refset {
	struct blob_id *v;
	size_t n, cap;
};

static void
refset_add(void *ctx, const struct blob_id *id)
{
	struct refset *s = ctx;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = *id;
}

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, BLOB_ID_LEN);
}

static size_t
uniq(struct refset *s)
{
	size_t i, k = 0;

	if (s->n > 0)
		qsort(s->v, s->n, sizeof(*s->v), id_cmp);
	for (i = 0; i < s->n; i++)
		if (k == 0 || memcmp(&s->v[k - 1], &s->v[i], BLOB_ID_LEN) != 0)
			s->v[k++] = s->v[i];
	return s->n = k;
}

static void
report(void (*cb)(void *, const char *), void *ctx, uint64_t *n, int64_t msg,
    const struct blob_id *id, const char *what)
{
	char hex[BLOB_HEX_LEN + 1], line[256];

	blob_id_hex(id, hex);
	(void)str_fmt(line, sizeof(line), "message %lld: blob %s %s",
	    (long long)msg, hex, what);
	(*n)++;
	if (cb != NULL)
		cb(ctx, line);
}

/* Compares two sorted sets and reports what is in one only. */
static void
compare(void (*cb)(void *, const char *), void *ctx, uint64_t *n, int64_t msg,
    const struct refset *skel, const struct refset *parts)
{
	size_t i = 0, k = 0;
	int c;

	while (i < skel->n || k < parts->n) {
		if (i == skel->n)
			c = 1;
		else if (k == parts->n)
			c = -1;
		else
			c = memcmp(&skel->v[i], &parts->v[k], BLOB_ID_LEN);
		if (c < 0)
			report(cb, ctx, n, msg, &skel->v[i++],
			    "in the skeleton has no part reference");
		else if (c > 0)
			report(cb, ctx, n, msg, &parts->v[k++],
			    "is referenced but not in the skeleton");
		else
			i++, k++;
	}
}

static int
verify_skeletons(struct store *st, void (*cb)(void *, const char *), void *ctx,
    uint64_t *problems, struct err *err)
{
	struct refset skel = { 0 }, parts = { 0 };
	sqlite3_stmt *s = NULL, *p = NULL;
	struct blob_id id;
	struct err e;
	int64_t msg;
	int rc;

	rc = sqlite3_prepare_v2(st->rd.db,
	    "SELECT m.id, b.hash FROM messages m JOIN blobs b"
	    " ON b.id = m.skeleton ORDER BY m.id",
	    -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(st->rd.db,
		    "SELECT b.hash FROM message_parts p JOIN blobs b"
		    " ON b.id = p.blob WHERE p.message = ?1",
		    -1, &p, NULL);
	if (rc != SQLITE_OK) {
		rc = db_fail(&st->rd, rc, "verify messages", err);
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		msg = sqlite3_column_int64(s, 0);
		if (sqlite3_column_bytes(s, 1) != BLOB_ID_LEN)
			continue; /* reported by the blob pass */
		memcpy(id.h, sqlite3_column_blob(s, 1), BLOB_ID_LEN);
		skel.n = parts.n = 0;
		if (msg_skeleton_refs(st, &id, refset_add, &skel, &e) != 0) {
			char hex[BLOB_HEX_LEN + 1], line[512];

			blob_id_hex(&id, hex);
			(void)str_fmt(line, sizeof(line),
			    "message %lld: skeleton %s unreadable: %s",
			    (long long)msg, hex, e.msg);
			(*problems)++;
			if (cb != NULL)
				cb(ctx, line);
			continue;
		}
		(void)sqlite3_reset(p);
		(void)sqlite3_bind_int64(p, 1, msg);
		while (sqlite3_step(p) == SQLITE_ROW)
			if (sqlite3_column_bytes(p, 0) == BLOB_ID_LEN) {
				memcpy(id.h, sqlite3_column_blob(p, 0),
				    BLOB_ID_LEN);
				refset_add(&parts, &id);
			}
		(void)uniq(&skel);
		(void)uniq(&parts);
		compare(cb, ctx, problems, msg, &skel, &parts);
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "verify", err);
out:
	sqlite3_finalize(s);
	sqlite3_finalize(p);
	free(skel.v);
	free(parts.v);
	return rc;
}

int
store_verify(struct store *st, void (*cb)(void *ctx, const char *problem),
    void *ctx, struct err *err)
{
	uint64_t problems = 0;
	int rc;

	if ((rc = store_verify_blobs(st, cb, ctx, &problems, err)) != 0)
		return rc;
	if (db_exec(&st->rd, "BEGIN", err) != 0)
		return err->code;
	rc = verify_skeletons(st, cb, ctx, &problems, err);
	(void)sqlite3_exec(st->rd.db, "COMMIT", NULL, NULL, NULL);
	if (rc != 0)
		return rc;
	if (problems > 0)
		return err_set(err, ERR_INPUT, "%llu problems",
		    (unsigned long long)problems);
	return 0;
}
