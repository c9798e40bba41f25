/* SPDX-License-Identifier: MIT */
/* Unit tests for group commit (with a real libuv loop), UID allocation,
 * failure isolation, crash recovery, blob GC and verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>

#include "store/sqlite/test_util.h"

#define N_CONCURRENT 24

struct fx {
	char base[256], dir[300], tmp[320], blobs[320];
	struct store *st;
	uv_loop_t loop;
	bool with_loop;
	int64_t a, b, c; /* user ids */
};

static int
open_store(struct fx *f)
{
	struct store_opts o = { 0 };
	struct err e;

	o.dir = f->dir;
	o.batch_max = 64;
	o.loop = f->with_loop ? &f->loop : NULL;
	o.gc_grace_seconds = 3600;
	if (store_open(&o, &f->st, &e) != 0) {
		fprintf(stderr, "store_open: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static void
close_store(struct fx *f)
{
	store_close(&f->st);
	if (f->with_loop) /* lets the async handle's close callback run */
		assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
}

static int
setup_common(void **state, bool with_loop)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct err e;

	tu_tmpdir(f->base, f->dir);
	(void)str_fmt(f->tmp, sizeof(f->tmp), "%s/tmp", f->dir);
	(void)str_fmt(f->blobs, sizeof(f->blobs), "%s/blobs", f->dir);
	f->with_loop = with_loop;
	if (with_loop && uv_loop_init(&f->loop) != 0)
		return -1;
	if (open_store(f) != 0)
		return -1;
	if (store_domain_add(f->st, "example.test", &e) != 0 ||
	    store_user_add(f->st, "a@example.test", "h", &f->a, &e) != 0 ||
	    store_user_add(f->st, "b@example.test", "h", &f->b, &e) != 0 ||
	    store_user_add(f->st, "c@example.test", "h", &f->c, &e) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
setup_loop(void **state)
{
	return setup_common(state, true);
}

static int
setup_inline(void **state)
{
	return setup_common(state, false);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	close_store(f);
	if (f->with_loop)
		assert_int_equal(uv_loop_close(&f->loop), 0);
	tu_rmtree(f->base);
	free(f);
	return 0;
}

struct result {
	int calls, status;
	int64_t message_id;
};

static void
on_done(void *ctx, const struct store_commit_result *res)
{
	struct result *r = ctx;

	r->calls++;
	r->status = res->status;
	r->message_id = res->message_id;
}

struct uids {
	uint32_t v[256];
	uint64_t modseq[256];
	size_t n;
};

static void
on_entry(void *ctx, const struct store_entry *e)
{
	struct uids *u = ctx;

	u->v[u->n] = e->uid;
	u->modseq[u->n++] = e->modseq;
}

static struct store_stats
stats(struct fx *f)
{
	struct store_stats s;
	struct err e;

	assert_int_equal(store_stats_get(f->st, &s, &e), 0);
	return s;
}

/* A message with one small and (if big) one large, file-stored part. */
static struct store_msg *
make_msg(struct fx *f, const char *tag, bool big)
{
	static unsigned char large[300 * 1024];
	char small[128];
	const void *parts[2] = { small, large };
	size_t lens[2];

	(void)str_fmt(small, sizeof(small), "body of %s", tag);
	lens[0] = strlen(small);
	memset(large, 0, 64);
	memcpy(large, tag, strlen(tag) < 64 ? strlen(tag) : 64);
	lens[1] = sizeof(large);
	return tu_msg(f->st, tag, parts, lens, big ? 2 : 1);
}

static void
test_inline_commit_multi_delivery(void **state)
{
	struct fx *f = *state;
	struct store_delivery d[4] = { { f->a, "INBOX" }, { f->b, "inbox" },
		{ f->c, "Archive" }, { f->a, "INBOX" } };
	struct result r = { 0 };
	struct uids u = { 0 };
	struct store_stats s;
	struct store_msg *m = make_msg(f, "multi", true);
	struct err e;

	/* Refused without deliveries: the caller keeps the message. */
	assert_int_equal(store_msg_commit(&m, d, 0, on_done, &r), ERR_INPUT);
	assert_non_null(m);
	assert_int_equal(store_msg_commit(&m, d, 4, on_done, &r), 0);
	assert_null(m);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 0);
	s = stats(f);
	assert_int_equal(s.messages, 1); /* stored once */
	assert_int_equal(s.entries, 3);  /* the duplicate delivery is one */
	assert_int_equal(s.unique_parts, 3);
	assert_int_equal(s.file_blobs, 1);
	assert_int_equal(s.commit_messages, 1);
	assert_int_equal(tu_count_files(f->blobs), 1);
	assert_int_equal(tu_count_files(f->tmp), 0);
	assert_int_equal(store_entry_list(f->st, f->c, "Archive", on_entry, &u,
	                     &e),
	    0);
	assert_int_equal(u.n, 1);
	assert_int_equal(u.v[0], 1);
	assert_int_equal(store_entry_list(f->st, f->c, "Nope", on_entry, &u,
	                     &e),
	    ERR_NOTFOUND);
}

static void
test_group_commit_fewer_fsyncs(void **state)
{
	struct fx *f = *state;
	struct store_delivery d = { f->a, "INBOX" };
	struct result r[N_CONCURRENT] = { 0 };
	struct uids u = { 0 };
	struct store_stats s;
	struct store_msg *m;
	char tag[32];
	size_t i;
	struct err e;

	for (i = 0; i < N_CONCURRENT; i++) {
		(void)str_fmt(tag, sizeof(tag), "msg %zu", i);
		m = make_msg(f, tag, false);
		assert_int_equal(store_msg_commit(&m, &d, 1, on_done, &r[i]),
		    0);
	}
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	for (i = 0; i < N_CONCURRENT; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, 0);
	}
	s = stats(f);
	assert_int_equal(s.commit_messages, N_CONCURRENT);
	assert_true(s.commit_batches < N_CONCURRENT);
	assert_true(s.fsyncs < N_CONCURRENT);
	print_message("%d messages: %llu batches, %llu fsyncs\n", N_CONCURRENT,
	    (unsigned long long)s.commit_batches, (unsigned long long)s.fsyncs);
	assert_int_equal(store_entry_list(f->st, f->a, "INBOX", on_entry, &u,
	                     &e),
	    0);
	assert_int_equal(u.n, N_CONCURRENT);
	for (i = 0; i < u.n; i++)
		assert_int_equal(u.v[i], i + 1);
}

static void
test_group_commit_files(void **state)
{
	struct fx *f = *state;
	struct store_delivery d = { f->b, "INBOX" };
	struct result r[N_CONCURRENT] = { 0 };
	struct store_msg *ms[N_CONCURRENT];
	struct store_stats s;
	char tag[32];
	size_t i;

	/* Staged first, then committed together, like sessions finishing
	 * DATA at the same moment. */
	for (i = 0; i < N_CONCURRENT; i++) {
		(void)str_fmt(tag, sizeof(tag), "big %zu", i);
		ms[i] = make_msg(f, tag, true);
	}
	for (i = 0; i < N_CONCURRENT; i++)
		assert_int_equal(store_msg_commit(&ms[i], &d, 1, on_done,
		                     &r[i]),
		    0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	for (i = 0; i < N_CONCURRENT; i++)
		assert_int_equal(r[i].status, 0);
	s = stats(f);
	assert_int_equal(s.file_blobs, N_CONCURRENT);
	/* Per file: its fsync, its blobs/xx/yy folder's and, when that
	 * folder is new, blobs/xx's; the WAL sync is shared by the batch. */
	assert_true(s.fsyncs <= 3 * N_CONCURRENT + s.commit_batches);
	assert_true(s.commit_batches < N_CONCURRENT);
	print_message("%d file messages: %llu batches, %llu fsyncs\n",
	    N_CONCURRENT, (unsigned long long)s.commit_batches,
	    (unsigned long long)s.fsyncs);
	assert_int_equal(tu_count_files(f->blobs), N_CONCURRENT);
	assert_int_equal(tu_count_files(f->tmp), 0);
}

static void
test_uids_ascending_across_batches(void **state)
{
	struct fx *f = *state;
	struct store_delivery d = { f->c, "Sent" };
	struct result r = { 0 };
	struct uids u = { 0 };
	struct store_msg *m;
	char tag[32];
	size_t i, k;
	struct err e;

	for (k = 0; k < 4; k++) {
		for (i = 0; i < 5; i++) {
			(void)str_fmt(tag, sizeof(tag), "round %zu/%zu", k, i);
			m = make_msg(f, tag, i == 0);
			assert_int_equal(store_msg_commit(&m, &d, 1, on_done,
			                     &r),
			    0);
		}
		assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	}
	assert_int_equal(r.calls, 20);
	assert_int_equal(store_entry_list(f->st, f->c, "Sent", on_entry, &u,
	                     &e),
	    0);
	assert_int_equal(u.n, 20);
	for (i = 1; i < u.n; i++) {
		assert_true(u.v[i] > u.v[i - 1]);
		assert_true(u.modseq[i] > u.modseq[i - 1]);
	}
	/* Pending commits finish (callbacks run) inside store_close. */
	for (i = 0; i < 3; i++) {
		m = make_msg(f, "late", false);
		assert_int_equal(store_msg_commit(&m, &d, 1, on_done, &r), 0);
	}
	close_store(f);
	assert_int_equal(r.calls, 23);
	assert_int_equal(open_store(f), 0);
	u.n = 0;
	assert_int_equal(store_entry_list(f->st, f->c, "Sent", on_entry, &u,
	                     &e),
	    0);
	assert_int_equal(u.n, 23);
	assert_int_equal(u.v[22], 23);
}

static void
test_failure_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct store_delivery bad[2] = { { f->a, "INBOX" },
		{ f->b, "No Such Box" } };
	struct store_delivery good = { f->a, "INBOX" };
	struct result r1 = { 0 }, r2 = { 0 };
	struct uids u = { 0 };
	struct store_stats s;
	struct store_msg *m1 = make_msg(f, "doomed", true);
	struct store_msg *m2 = make_msg(f, "fine", false);
	struct err e;

	/* Same batch: the bad one fails alone. */
	assert_int_equal(store_msg_commit(&m1, bad, 2, on_done, &r1), 0);
	assert_int_equal(store_msg_commit(&m2, &good, 1, on_done, &r2), 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(r1.status, ERR_TEMP);
	assert_int_equal(r2.status, 0);
	s = stats(f);
	assert_int_equal(s.messages, 1);
	assert_int_equal(s.entries, 1);
	assert_int_equal(s.unique_parts, 2); /* the good one's skeleton+part */
	assert_int_equal(s.file_blobs, 0);
	assert_int_equal(tu_count_files(f->blobs), 0); /* placed, then gone */
	assert_int_equal(tu_count_files(f->tmp), 0);
	assert_int_equal(store_entry_list(f->st, f->a, "INBOX", on_entry, &u,
	                     &e),
	    0);
	assert_int_equal(u.n, 1);
	assert_int_equal(u.v[0], 1); /* the failed one used no UID */
}

static void
set_unclean(struct fx *f)
{
	char path[400];
	sqlite3 *db;

	(void)str_fmt(path, sizeof(path), "%s/meta.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                     "UPDATE state SET value = 1 WHERE key = 'opens'",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
}

static void
write_file(const char *path, const char *data)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(data, fp);
	fclose(fp);
}

static void
test_recovery(void **state)
{
	struct fx *f = *state;
	struct store_delivery d = { f->a, "INBOX" };
	struct result r = { 0 };
	struct store_msg *m = make_msg(f, "kept", true);
	struct blob_id orphan;
	char rel[BLOB_HEX_LEN + 8], path[512];
	struct err e;

	assert_int_equal(store_msg_commit(&m, &d, 1, on_done, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(tu_count_files(f->blobs), 1);
	close_store(f);

	/* A crash: staged leftovers, a blob renamed but never committed,
	 * and no clean-shutdown mark. */
	(void)str_fmt(path, sizeof(path), "%s/999.1.blob", f->tmp);
	write_file(path, "half a blob");
	crypto_generichash(orphan.h, BLOB_ID_LEN,
	    (const unsigned char *)"orphan", 6, NULL, 0);
	blob_rel_path(&orphan, rel);
	(void)str_fmt(path, sizeof(path), "%s/%.5s", f->blobs, rel);
	assert_int_equal(mkdir(path, 0700), 0);
	(void)str_fmt(path, sizeof(path), "%s/%s", f->blobs, rel);
	write_file(path, "orphan");
	set_unclean(f);

	assert_int_equal(open_store(f), 0);
	assert_int_equal(tu_count_files(f->tmp), 0);
	assert_int_equal(tu_count_files(f->blobs), 1); /* the committed one */
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(store_verify_blobs(f->st, NULL, NULL, &(uint64_t){ 0 },
	                     &e),
	    0);

	/* While another handle is open, nothing is "recovered". */
	{
		struct store_opts o = { .dir = f->dir, .batch_max = 1 };
		struct store *other;

		(void)str_fmt(path, sizeof(path), "%s/1.2.blob", f->tmp);
		write_file(path, "in flight");
		set_unclean(f);
		assert_int_equal(store_open(&o, &other, &e), 0);
		assert_int_equal(access(path, F_OK), 0);
		store_close(&other);
		(void)unlink(path);
	}
}

static void
test_gc_grace(void **state)
{
	struct fx *f = *state;
	struct store_delivery d = { f->a, "INBOX" };
	struct result r = { 0 };
	struct store_msg *m = make_msg(f, "to be collected", true);
	struct store_stats s;
	uint64_t removed = 99;
	struct err e;

	assert_int_equal(store_msg_commit(&m, &d, 1, on_done, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(store_gc(f->st, 0, &removed, &e), 0);
	assert_int_equal(removed, 0); /* referenced */
	assert_int_equal(store_user_remove(f->st, "a@example.test", &e), 0);
	s = stats(f);
	assert_int_equal(s.messages, 0);
	assert_int_equal(s.unreferenced_blobs, 3);
	assert_int_equal(store_gc(f->st, 3600, &removed, &e), 0);
	assert_int_equal(removed, 0); /* still within the grace period */
	assert_int_equal(tu_count_files(f->blobs), 1);
	assert_int_equal(store_gc(f->st, 0, &removed, &e), 0);
	assert_int_equal(removed, 3);
	s = stats(f);
	assert_int_equal(s.unique_parts, 0);
	assert_int_equal(s.physical_bytes, 0);
	assert_int_equal(tu_count_files(f->blobs), 0);
}

/* A blob the writer found in the store, collected before the commit:
 * that message fails with ERR_TEMP and nothing of it is visible. */
static void
test_vanished_blob(void **state)
{
	struct fx *f = *state;
	struct store_delivery da = { f->a, "INBOX" }, db = { f->b, "INBOX" };
	struct result r = { 0 };
	struct store_msg *m = make_msg(f, "first", true);
	struct staged_blob *sb;
	struct store_stats s;
	uint64_t removed;
	struct err e;

	assert_int_equal(store_msg_commit(&m, &da, 1, on_done, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(store_user_remove(f->st, "a@example.test", &e), 0);
	m = make_msg(f, "first", true); /* same blobs: all referenced */
	sb = blob_stage_find(m->stage, &m->parts[1]);
	assert_false(sb->is_new);
	assert_int_equal(store_gc(f->st, 0, &removed, &e), 0);
	assert_int_equal(removed, 3);
	assert_int_equal(store_msg_commit(&m, &db, 1, on_done, &r), 0);
	assert_int_equal(r.status, ERR_TEMP);
	s = stats(f);
	assert_int_equal(s.messages, 0);
	assert_int_equal(s.entries, 0);
}

struct problems {
	size_t n;
	char last[512];
};

static void
on_problem(void *ctx, const char *p)
{
	struct problems *pr = ctx;

	pr->n++;
	(void)str_copy(pr->last, sizeof(pr->last), p);
}

static void
test_verify(void **state)
{
	struct fx *f = *state;
	struct store_delivery d = { f->a, "INBOX" };
	struct result r = { 0 };
	struct store_msg *m = make_msg(f, "verified", true);
	struct problems pr = { 0 };
	char rel[BLOB_HEX_LEN + 8], path[512], db_path[400];
	struct blob_id big;
	uint64_t n = 0;
	sqlite3 *db;
	int fd;
	struct err e;

	big = m->parts[1];
	assert_int_equal(store_msg_commit(&m, &d, 1, on_done, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(store_verify_blobs(f->st, on_problem, &pr, &n, &e), 0);
	assert_int_equal(n, 0);

	/* Flip one byte of the file blob (same size). */
	blob_rel_path(&big, rel);
	(void)str_fmt(path, sizeof(path), "%s/%s", f->blobs, rel);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xff\xff\xff\xff", 4, 100), 4);
	close(fd);
	assert_int_equal(store_verify_blobs(f->st, on_problem, &pr, &n, &e), 0);
	assert_true(n >= 1);
	print_message("corrupt: %s\n", pr.last);

	/* Corrupt an inline blob in the database. */
	(void)str_fmt(db_path, sizeof(db_path), "%s/meta.db", f->dir);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
	        "UPDATE blob_inline SET data = x'00112233'"
	        " WHERE rowid = (SELECT min(rowid) FROM blob_inline)",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	n = 0;
	pr.n = 0;
	assert_int_equal(store_verify_blobs(f->st, on_problem, &pr, &n, &e), 0);
	assert_true(n >= 2); /* the file and the inline one */

	/* A missing blob file. */
	assert_int_equal(unlink(path), 0);
	n = 0;
	pr.n = 0;
	assert_int_equal(store_verify_blobs(f->st, on_problem, &pr, &n, &e), 0);
	assert_true(n >= 2);
	assert_non_null(strstr(pr.last, "No such file"));
	print_message("problems: %zu, e.g. %s\n", pr.n, pr.last);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_inline_commit_multi_delivery, setup_inline, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_fewer_fsyncs,
		    setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_files,
		    setup_loop, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uids_ascending_across_batches, setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_failure_leaves_nothing,
		    setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_recovery, setup_inline,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gc_grace, setup_inline,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vanished_blob,
		    setup_inline, teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup_inline,
		    teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
