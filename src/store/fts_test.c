/* SPDX-License-Identifier: MIT */
/* End-to-end tests through the MIME ingest of what IMAP reads: the
 * full-text index (decoded headers, text parts, HTML stripped, case
 * folding, short needles, rows gone with their message), the header
 * block, and reading by message id with skips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <uv.h>

#include "store/ingest.h"
#include "store/sqlite/test_util.h"

struct fx {
	char base[256], dir[300];
	struct store *st;
	int64_t a;
	int64_t inbox;
	int64_t msg_ids[8];
};

static const char msg1[] =
    "Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.org>\r\n"
    "To: bob@example.test\r\n"
    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus\r\n"
    " Berlin\r\n"
    "\r\n"
    "The quick brown FOX jumps\r\n";

static const char msg2[] =
    "From: alice@example.org\r\n"
    "To: bob@example.test\r\n"
    "Subject: alternatives\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "Y2Fm6SBjcuhtZQ==\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "<p>Hello <b>World</b></p><script>secretscript</script>=\r\n"
    "<p>x&amp;y</p>\r\n"
    "--b1\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "bmVlZGxlaW5hdHRhY2htZW50\r\n"
    "--b1--\r\n";

static const char msg3[] = "From: dave@example.org\r\n"
                           "Cc: Carol <carol@example.test>\r\n"
                           "Subject: other\r\n"
                           "\r\n"
                           "nothing here\r\n";

static void
on_done(void *ctx, const struct store_commit_result *res)
{
	assert_int_equal(res->status, 0);
	*(int64_t *)ctx = res->message_id;
}

static int64_t
put(struct fx *f, const char *text)
{
	struct store_delivery d = { f->a, "INBOX", NULL, 0 };
	struct store_msg *m;
	int64_t id = 0;
	struct err e;
	size_t i, n = strlen(text);

	assert_int_equal(store_msg_new(f->st, &m, &e), 0);
	for (i = 0; i < n; i += 7) /* split everywhere-ish */
		assert_int_equal(store_msg_write(m, text + i,
		                     n - i < 7 ? n - i : 7, &e),
		    0);
	assert_int_equal(store_msg_finish(m, &e), 0);
	assert_int_equal(store_msg_commit(&m, &d, 1, on_done, &id), 0);
	assert_true(id > 0);
	return id;
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct store_opts o = { 0 };
	struct store_mailbox_status s;
	struct err e;

	tu_tmpdir(f->base, f->dir);
	o.dir = f->dir;
	o.batch_max = 8;
	if (store_open(&o, &f->st, &e) != 0 ||
	    store_domain_add(f->st, "example.test", &e) != 0 ||
	    store_user_add(f->st, "a@example.test", "h", &f->a, &e) != 0 ||
	    store_mailbox_status(f->st, f->a, "INBOX", &s, &e) != 0)
		return -1;
	f->inbox = s.id;
	f->msg_ids[1] = put(f, msg1);
	f->msg_ids[2] = put(f, msg2);
	f->msg_ids[3] = put(f, msg3);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(&f->st);
	tu_rmtree(f->base);
	free(f);
	return 0;
}

struct hits {
	uint32_t v[16];
	size_t n;
};

static void
on_hit(void *ctx, uint32_t uid)
{
	struct hits *h = ctx;

	h->v[h->n++] = uid;
}

/* The UIDs as a string, "1 3", for compact assertions. */
static const char *
search(struct fx *f, int64_t mbox, enum store_fts_field field,
    const char *needle)
{
	static char out[64];
	struct hits h = { 0 };
	struct err e;
	size_t i, n = 0;

	assert_int_equal(store_fts_search(f->st, mbox, field, needle, on_hit,
	                     &h, &e),
	    0);
	out[0] = '\0';
	for (i = 0; i < h.n; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%u",
		    i ? " " : "", (unsigned)h.v[i]);
	return out;
}

static void
test_fts_headers(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, f->inbox, STORE_FTS_SUBJECT, "grüße"),
	    "1");
	assert_string_equal(search(f, f->inbox, STORE_FTS_SUBJECT, "GRÜßE"),
	    "1");
	assert_string_equal(search(f, f->inbox, STORE_FTS_SUBJECT,
	                        "aus Berlin"),
	    "1");
	assert_string_equal(search(f, f->inbox, STORE_FTS_FROM, "MÜLLER"), "1");
	assert_string_equal(search(f, f->inbox, STORE_FTS_FROM, "example.org"),
	    "1 2 3");
	assert_string_equal(search(f, f->inbox, STORE_FTS_TO, "bob@"), "1 2");
	assert_string_equal(search(f, f->inbox, STORE_FTS_CC, "carol"), "3");
	assert_string_equal(search(f, f->inbox, STORE_FTS_TO, "carol"), "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BCC, "carol"), "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_TEXT, "CAROL"), "3");
	assert_string_equal(search(f, f->inbox, STORE_FTS_TEXT, "received"),
	    "1");
	assert_string_equal(search(f, f->inbox, STORE_FTS_TEXT, "nothing"),
	    "3");
}

static void
test_fts_body(void **state)
{
	struct fx *f = *state;

	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY,
	                        "quick brown fox"),
	    "1");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "fox"), "1");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "CAFÉ"), "2");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "crème"), "2");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "hello world"),
	    "2");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "x&y"), "2");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "<p>"), "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "secretscript"),
	    "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY,
	                        "needleinattachment"),
	    "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "preamble"),
	    "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "alice"), "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_TEXT, "alice"), "2");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "absent"), "");
	/* Short needles scan (LIKE: ASCII case folding). */
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "Fo"), "1");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "z"), "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "%"), "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "_"), "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "&"), "2");
	assert_string_equal(search(f, f->inbox, STORE_FTS_TEXT, "yo"), "");
	/* FTS5 syntax in a needle is just text. */
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY,
	                        "\"quick\" OR x"),
	    "");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "a\"b*c"), "");
}

static void
on_op(void *ctx, const struct store_op_result *r)
{
	assert_int_equal(r->status, 0);
	(*(int *)ctx)++;
}

static void
test_fts_follows_entries(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status trash;
	uint32_t uids[] = { 1, 2 };
	int64_t n = 0;
	struct err e;
	int calls = 0;

	assert_int_equal(store_mailbox_status(f->st, f->a, "Trash", &trash, &e),
	    0);
	assert_int_equal(store_copy(f->st, f->inbox, uids, 2, trash.id, false,
	                     on_op, &calls),
	    0);
	assert_string_equal(search(f, trash.id, STORE_FTS_BODY, "fox"), "1");
	assert_string_equal(search(f, trash.id, STORE_FTS_FROM, "example"),
	    "1 2");
	assert_int_equal(store_flags_update(f->st, f->inbox, uids, 2,
	                     STORE_FLAGS_ADD, "\\Deleted", 0, on_op, &calls),
	    0);
	assert_int_equal(store_expunge(f->st, f->inbox, NULL, 0, on_op, &calls),
	    0);
	assert_int_equal(calls, 3);
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "fox"), "");
	/* Still in Trash: the message row and its index row remain. */
	assert_string_equal(search(f, trash.id, STORE_FTS_BODY, "fox"), "1");
	assert_int_equal(db_int(&f->st->rd, "SELECT count(*) FROM fts", &n, &e),
	    0);
	assert_int_equal(n, 3);
	assert_int_equal(store_mailbox_delete(f->st, f->a, "Trash", &e), 0);
	assert_int_equal(db_int(&f->st->rd, "SELECT count(*) FROM fts", &n, &e),
	    0);
	assert_int_equal(n, 1);
	assert_int_equal(store_verify(f->st, NULL, NULL, &e), 0);
}

static int64_t
count(struct fx *f, const char *sql)
{
	int64_t n = -1;
	struct err e;

	assert_int_equal(db_int(&f->st->rd, sql, &n, &e), 0);
	return n;
}

/* A message is searchable while its text waits in the queue (LIKE:
 * ASCII case folding) and after the indexer moved it (Unicode folding);
 * the queue drains. */
static void
test_fts_queued(void **state)
{
	struct fx *f = *state;
	struct store_stats stats;
	struct err e;

	assert_int_equal(count(f, "SELECT count(*) FROM fts_queue"), 0);
	atomic_store(&f->st->fts_hold, true);
	(void)put(f, msg1);
	assert_int_equal(count(f, "SELECT count(*) FROM fts_queue"), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM fts"), 3);
	assert_int_equal(store_stats_get(f->st, &stats, &e), 0);
	assert_int_equal(stats.fts_pending, 1);
	for (int pass = 0; pass < 2; pass++) {
		assert_string_equal(search(f, f->inbox, STORE_FTS_BODY,
		                        "BROWN fox"),
		    "1 4");
		assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "Fo"),
		    "1 4");
		assert_string_equal(search(f, f->inbox, STORE_FTS_SUBJECT,
		                        "grüße"),
		    "1 4");
		assert_string_equal(search(f, f->inbox, STORE_FTS_SUBJECT,
		                        "GRÜßE"),
		    "1 4"); /* folded as the index folds, queued or not */
		assert_string_equal(search(f, f->inbox, STORE_FTS_FROM,
		                        "MÜLLER"),
		    "1 4");
		assert_string_equal(search(f, f->inbox, STORE_FTS_TEXT,
		                        "üßE AUS"),
		    "1 4");
		assert_string_equal(search(f, f->inbox, STORE_FTS_SUBJECT,
		                        "Grü"),
		    "1 4");
		assert_string_equal(search(f, f->inbox, STORE_FTS_SUBJECT,
		                        "rüs"),
		    "");
		/* Under 3 characters, LIKE both ways (ASCII folding). */
		assert_string_equal(search(f, f->inbox, STORE_FTS_SUBJECT,
		                        "ÜS"),
		    "");
		assert_string_equal(search(f, f->inbox, STORE_FTS_TEXT,
		                        "RECEIVED"),
		    "1 4");
		assert_string_equal(search(f, f->inbox, STORE_FTS_TO, "bob@"),
		    "1 2 4");
		assert_string_equal(search(f, f->inbox, STORE_FTS_CC, "bob@"),
		    "");
		assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "fox_"),
		    "");
		assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "%"),
		    "");
		if (pass == 0) {
			atomic_store(&f->st->fts_hold, false);
			fts_index_drain(f->st);
			assert_int_equal(count(f,
			                     "SELECT count(*) FROM fts_queue"),
			    0);
			assert_int_equal(count(f, "SELECT count(*) FROM fts"),
			    4);
		}
	}
	assert_int_equal(store_stats_get(f->st, &stats, &e), 0);
	assert_int_equal(stats.fts_pending, 0);
	assert_int_equal(store_verify(f->st, NULL, NULL, &e), 0);
}

/* A message expunged while its text is queued leaves no row behind. */
static void
test_fts_queued_expunged(void **state)
{
	struct fx *f = *state;
	uint32_t uid[] = { 4 };
	struct err e;
	int calls = 0;

	atomic_store(&f->st->fts_hold, true);
	(void)put(f, msg2);
	assert_int_equal(count(f, "SELECT count(*) FROM fts_queue"), 1);
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "hello"),
	    "2 4");
	assert_int_equal(store_flags_update(f->st, f->inbox, uid, 1,
	                     STORE_FLAGS_ADD, "\\Deleted", 0, on_op, &calls),
	    0);
	assert_int_equal(store_expunge(f->st, f->inbox, NULL, 0, on_op, &calls),
	    0);
	assert_int_equal(calls, 2);
	assert_int_equal(count(f, "SELECT count(*) FROM fts_queue"), 0);
	assert_int_equal(count(f, "SELECT count(*) FROM messages"), 3);
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "hello"), "2");
	atomic_store(&f->st->fts_hold, false);
	fts_index_drain(f->st);
	assert_int_equal(count(f, "SELECT count(*) FROM fts"), 3);
	assert_int_equal(store_verify(f->st, NULL, NULL, &e), 0);
}

static void
test_fts_body_capped(void **state)
{
	struct fx *f = *state;
	struct buf m;
	struct store_mailbox_status s;
	struct err e;
	int64_t n = 0;

	/* 3 MiB of UTF-8 text: the index keeps the first 1 MiB. */
	buf_init(&m, 4 * 1024 * 1024);
	assert_int_equal(buf_printf(&m,
	                     "Subject: big\r\n"
	                     "Content-Type: text/plain; "
	                     "charset=utf-8\r\n\r\nSTARTMARK\r\n"),
	    0);
	while (m.len < 3 * 1024 * 1024)
		assert_int_equal(buf_printf(&m,
		                     "fill \xc3\xa9t\xc3\xa9 "
		                     "line\r\n"),
		    0);
	assert_int_equal(buf_printf(&m, "ENDMARK\r\n"), 0);
	(void)put(f, m.p);
	buf_clear(&m);
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "startmark"),
	    "4");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "endmark"), "");
	/* Still UTF-8 (the cut fell inside a sequence or not). */
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "ÉTÉ LINE"),
	    "4");
	assert_int_equal(db_int(&f->st->rd,
	                     "SELECT max(length(CAST(body AS BLOB)))"
	                     " FROM fts",
	                     &n, &e),
	    0);
	assert_true(n <= INGEST_TEXT_BODY_MAX);
	assert_true(n > INGEST_TEXT_BODY_MAX - 16);
	assert_int_equal(store_mailbox_status(f->st, f->a, "INBOX", &s, &e), 0);
	assert_int_equal(s.messages, 4);
}

static void
test_fts_charsets(void **state)
{
	struct fx *f = *state;

	(void)put(f,
	    "Subject: =?ISO-8859-1?Q?caf=E9?= =?KOI8-R?B?8NLJ18XU?=\r\n"
	    "Content-Type: text/plain; charset=koi8-r\r\n"
	    "\r\n"
	    "\xf0\xd2\xc9\xd7\xc5\xd4 \xcd\xc9\xd2\r\n");
	assert_string_equal(search(f, f->inbox, STORE_FTS_SUBJECT,
	                        "CAFÉПРИВЕТ"),
	    "4");
	assert_string_equal(search(f, f->inbox, STORE_FTS_BODY, "привет мир"),
	    "4");
	assert_string_equal(search(f, f->inbox, STORE_FTS_TEXT, "ПРИВЕТ МИР"),
	    "4");
}

static void
test_header_block(void **state)
{
	struct fx *f = *state;
	static const char *const msgs[] = { NULL, msg1, msg2, msg3 };
	char buf[4096];
	size_t n, want;
	struct err e;
	int i;

	for (i = 1; i <= 3; i++) {
		want = (size_t)(strstr(msgs[i], "\r\n\r\n") - msgs[i]) + 4;
		assert_int_equal(store_msg_header_block(f->st, f->msg_ids[i],
		                     buf, sizeof(buf), &n, &e),
		    0);
		assert_int_equal(n, want);
		assert_memory_equal(buf, msgs[i], want);
		/* A short buffer gets the start. */
		assert_int_equal(store_msg_header_block(f->st, f->msg_ids[i],
		                     buf, 10, &n, &e),
		    0);
		assert_int_equal(n, 10);
		assert_memory_equal(buf, msgs[i], 10);
	}
	assert_int_equal(store_msg_header_block(f->st, 999999, buf, sizeof(buf),
	                     &n, &e),
	    ERR_NOTFOUND);
}

static void
test_header_block_empty_header(void **state)
{
	struct fx *f = *state;
	char buf[64];
	size_t n;
	struct err e;
	int64_t id = put(f, "\r\nbody only\r\n");

	assert_int_equal(store_msg_header_block(f->st, id, buf, sizeof(buf), &n,
	                     &e),
	    0);
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "\r\n", 2);
}

static void
test_header_block_bare_lf(void **state)
{
	struct fx *f = *state;
	static const char m[] = "Subject: lf\n\nbody\n";
	char buf[64];
	size_t n;
	struct err e;
	int64_t id = put(f, m);

	assert_int_equal(store_msg_header_block(f->st, id, buf, sizeof(buf), &n,
	                     &e),
	    0);
	assert_int_equal(n, 13);
	assert_memory_equal(buf, m, 13);
}

static void
test_reader_by_id_and_skip(void **state)
{
	struct fx *f = *state;
	size_t len = strlen(msg2), skip, got, total;
	struct store_reader *r;
	char buf[8192];
	struct err e;

	for (skip = 0; skip <= len + 3; skip++) {
		assert_int_equal(store_reader_open_message(f->st, f->msg_ids[2],
		                     &r, &e),
		    0);
		assert_int_equal(store_reader_skip(r, skip, &e), 0);
		total = 0;
		do {
			assert_int_equal(store_reader_read(r, buf + total,
			                     sizeof(buf) - total, &got, &e),
			    0);
			total += got;
		} while (got > 0);
		store_reader_close(&r);
		assert_int_equal(total, skip < len ? len - skip : 0);
		if (total > 0)
			assert_memory_equal(buf, msg2 + skip, total);
	}
	assert_int_equal(store_reader_open_message(f->st, 999999, &r, &e),
	    ERR_NOTFOUND);
}

struct batch_res {
	int status[4];
	uint32_t uid[4];
	int64_t id[4];
	int done;
};

static void
on_batch_done(void *ctx, const struct store_commit_result *res)
{
	struct batch_res *b = ctx;

	b->status[b->done] = res->status;
	b->uid[b->done] = res->uid;
	b->id[b->done++] = res->message_id;
}

static void
on_batch_op(void *ctx, const struct store_op_result *r)
{
	struct batch_res *b = ctx;

	assert_int_equal(r->status, 0);
	b->done++;
}

static void
queue_msg(struct store *st, int64_t user, const char *mailbox,
    const char *flags, const char *text, struct batch_res *b)
{
	struct store_delivery d = { user, mailbox, flags, 0 };
	struct store_msg *m;
	struct err e;

	assert_int_equal(store_msg_new(st, &m, &e), 0);
	assert_int_equal(store_msg_write(m, text, strlen(text), &e), 0);
	assert_int_equal(store_msg_finish(m, &e), 0);
	assert_int_equal(store_msg_commit(&m, &d, 1, on_batch_done, b), 0);
}

/* A group commit indexes its messages' text after every other statement
 * of the batch: a message whose delivery failed gets no index row, nor
 * one that an op later in the same batch expunged again (APPEND with
 * \Deleted, then EXPUNGE), and store_verify finds no stray row. The
 * batch is held together by taking the write lock first. */
static void
test_fts_batch(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { 0 };
	struct store_mailbox_status s;
	struct batch_res first = { 0 }, b = { 0 }, ex = { 0 };
	struct store *st, *orig = f->st;
	char base[256], dir[300], want[16];
	uv_loop_t loop;
	int64_t user, n = 0;
	struct err e;

	assert_int_equal(uv_loop_init(&loop), 0);
	tu_tmpdir(base, dir);
	o.dir = dir;
	o.loop = &loop;
	o.batch_max = 8;
	assert_int_equal(store_open(&o, &st, &e), 0);
	assert_int_equal(store_domain_add(st, "example.test", &e), 0);
	assert_int_equal(store_user_add(st, "b@example.test", "h", &user, &e),
	    0);
	assert_int_equal(store_mailbox_status(st, user, "INBOX", &s, &e), 0);
	assert_int_equal(db_exec(&st->rd, "BEGIN IMMEDIATE", &e), 0);
	/* Taken by the commit thread at once; it waits for the lock while
	 * the rest queues up behind it. */
	queue_msg(st, user, "INBOX", NULL, msg3, &first);
	queue_msg(st, user, "INBOX", "\\Deleted", msg1, &b);
	queue_msg(st, user, "INBOX", NULL, msg2, &b);
	queue_msg(st, user, "NoSuchMailbox", NULL, msg1, &b);
	assert_int_equal(store_expunge(st, s.id, NULL, 0, on_batch_op, &ex), 0);
	assert_int_equal(db_exec(&st->rd, "COMMIT", &e), 0);
	while (first.done + b.done + ex.done < 5)
		(void)uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(first.status[0], 0);
	assert_int_equal(b.status[0], 0);
	assert_int_equal(b.status[1], 0);
	assert_int_equal(b.status[2], ERR_TEMP);
	assert_int_equal(db_int(&st->rd,
	                     "SELECT count(*) FROM fts WHERE rowid NOT IN"
	                     " (SELECT id FROM messages)",
	                     &n, &e),
	    0);
	assert_int_equal(n, 0);
	assert_int_equal(db_int(&st->rd,
	                     "SELECT (SELECT count(*) FROM fts) +"
	                     " (SELECT count(*) FROM fts_queue)",
	                     &n, &e),
	    0);
	assert_int_equal(n, 2); /* msg3 and msg2, indexed or queued */
	f->st = st;             /* search() reads f->st */
	(void)snprintf(want, sizeof(want), "%u", (unsigned)b.uid[1]);
	assert_string_equal(search(f, s.id, STORE_FTS_TEXT, "hello"), want);
	assert_string_equal(search(f, s.id, STORE_FTS_BODY, "fox"), "");
	/* The commit thread indexes the queue once idle. */
	for (int i = 0; i < 500; i++) {
		assert_int_equal(db_int(&st->rd,
		                     "SELECT count(*) FROM fts_queue", &n, &e),
		    0);
		if (n == 0)
			break;
		(void)usleep(10000);
	}
	assert_int_equal(n, 0);
	assert_int_equal(db_int(&st->rd, "SELECT count(*) FROM fts", &n, &e),
	    0);
	assert_int_equal(n, 2);
	assert_string_equal(search(f, s.id, STORE_FTS_TEXT, "hello"), want);
	f->st = orig;
	assert_int_equal(store_verify(st, NULL, NULL, &e), 0);
	store_close(&st);
	(void)uv_run(&loop, UV_RUN_DEFAULT); /* the store's async handle */
	assert_int_equal(uv_loop_close(&loop), 0);
	tu_rmtree(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fts_headers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fts_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fts_follows_entries, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fts_body_capped, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fts_charsets, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_header_block, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_header_block_empty_header,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_block_bare_lf,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_by_id_and_skip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fts_queued, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fts_queued_expunged, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fts_batch, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
