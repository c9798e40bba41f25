/* SPDX-License-Identifier: MIT */
/* Unit tests for the blob writer/reader: small and large round trips,
 * ids, compression, dedup within a stage and against the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>

#include "store/sqlite/test_util.h"

struct fx {
	char base[256], dir[300], tmp[320];
	struct store *st;
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct store_opts o = { 0 };
	struct err e;

	tu_tmpdir(f->base, f->dir);
	(void)str_fmt(f->tmp, sizeof(f->tmp), "%s/tmp", f->dir);
	o.dir = f->dir;
	o.batch_max = 8;
	if (store_open(&o, &f->st, &e) != 0)
		return -1;
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

/* Writes data in uneven chunks; returns the id. */
static struct blob_id
write_chunked(struct blob_stage *stage, const unsigned char *p, size_t n)
{
	struct blob_writer *w;
	struct blob_id id;
	uint64_t size;
	struct err e;
	size_t off = 0, k = 1;

	assert_int_equal(blob_writer_begin(stage, &w, &e), 0);
	while (off < n) {
		size_t c = k < n - off ? k : n - off;

		assert_int_equal(blob_writer_write(w, p + off, c, &e), 0);
		off += c;
		k = k * 3 + 7; /* 1, 10, 37, ... up to large chunks */
		if (k > 1000000)
			k = 4093;
	}
	assert_int_equal(blob_writer_end(&w, &id, &size, &e), 0);
	assert_null(w);
	assert_int_equal(size, n);
	return id;
}

static void
read_back(struct store *st, struct blob_stage *stage, const struct blob_id *id,
    const unsigned char *p, size_t n)
{
	struct blob_reader *r;
	unsigned char *got = xmalloc(n + 1);
	size_t off = 0, k;
	struct err e;

	assert_int_equal(blob_reader_open(st, stage, id, &r, &e), 0);
	assert_int_equal(blob_reader_size(r), n);
	for (;;) {
		assert_int_equal(blob_reader_read(r, got + off,
		                     n + 1 - off < 7000 ? n + 1 - off : 7000,
		                     &k, &e),
		    0);
		if (k == 0)
			break;
		off += k;
		assert_true(off <= n);
	}
	assert_int_equal(off, n);
	assert_memory_equal(got, p, n);
	blob_reader_close(&r);
	assert_null(r);
	free(got);
}

static void
fill_text(unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) /* compressible, not trivially */
		p[i] = (unsigned char)("The quick brown fox jumps over the "
		                       "lazy dog.\r\n"[(i * 7 + i / 97) % 46]);
}

static void
test_small_round_trip(void **state)
{
	struct fx *f = *state;
	struct blob_stage *stage = blob_stage_new(f->st);
	unsigned char text[5000], hash[BLOB_ID_LEN];
	struct blob_id id, empty;
	struct staged_blob *b;
	char hex[BLOB_HEX_LEN + 1];
	size_t n;

	fill_text(text, sizeof(text));
	id = write_chunked(stage, text, sizeof(text));
	crypto_generichash(hash, sizeof(hash), text, sizeof(text), NULL, 0);
	assert_memory_equal(id.h, hash, BLOB_ID_LEN);
	blob_id_hex(&id, hex);
	assert_int_equal(strlen(hex), BLOB_HEX_LEN);
	b = blob_stage_find(stage, &id);
	assert_non_null(b);
	assert_true(b->is_new);
	assert_false(b->in_file);
	assert_int_equal(b->compression, BLOB_COMP_ZSTD);
	assert_true(b->stored_size < sizeof(text) / 2);
	read_back(f->st, stage, &id, text, sizeof(text));

	empty = write_chunked(stage, (const unsigned char *)"", 0);
	read_back(f->st, stage, &empty, (const unsigned char *)"", 0);
	(void)blob_stage_blobs(stage, &n);
	assert_int_equal(n, 2);
	assert_int_equal(tu_count_files(f->tmp), 0); /* all in memory */
	blob_stage_free(&stage);
	assert_null(stage);
}

static void
test_large_round_trip(void **state)
{
	struct fx *f = *state;
	struct blob_stage *stage = blob_stage_new(f->st);
	size_t n = 5 * 1024 * 1024 + 12345;
	unsigned char *rnd = xmalloc(n), *text = xmalloc(n);
	struct blob_id a, b;
	struct staged_blob *sa, *sb;

	randombytes_buf(rnd, n);
	fill_text(text, n);
	a = write_chunked(stage, rnd, n);
	b = write_chunked(stage, text, n);
	sa = blob_stage_find(stage, &a);
	sb = blob_stage_find(stage, &b);
	assert_true(sa->in_file && sb->in_file);
	/* Incompressible content costs zstd only its block headers. */
	assert_true(sa->stored_size < n + n / 1000);
	assert_true(sb->stored_size < n / 4);
	assert_int_equal(tu_count_files(f->tmp), 2);
	read_back(f->st, stage, &a, rnd, n);
	read_back(f->st, stage, &b, text, n);
	blob_stage_free(&stage);
	assert_int_equal(tu_count_files(f->tmp), 0); /* staged files go */
	free(rnd);
	free(text);
}

static void
test_dedup_in_stage_and_abort(void **state)
{
	struct fx *f = *state;
	struct blob_stage *stage = blob_stage_new(f->st);
	size_t n = 300 * 1024, k;
	unsigned char *big = xmalloc(n);
	struct blob_writer *w;
	struct blob_id a, b;
	struct err e;

	randombytes_buf(big, n);
	a = write_chunked(stage, big, n);
	b = write_chunked(stage, big, n);
	assert_memory_equal(a.h, b.h, BLOB_ID_LEN);
	(void)blob_stage_blobs(stage, &k);
	assert_int_equal(k, 1);
	assert_int_equal(tu_count_files(f->tmp), 1);
	/* Many distinct small blobs: the index grows, every one found. */
	for (k = 0; k < 200; k++) {
		char s[32];

		(void)str_fmt(s, sizeof(s), "part %zu", k);
		a = tu_blob(stage, s, strlen(s));
		assert_non_null(blob_stage_find(stage, &a));
	}
	(void)blob_stage_blobs(stage, &k);
	assert_int_equal(k, 201);
	/* An aborted writer leaves nothing behind. */
	assert_int_equal(blob_writer_begin(stage, &w, &e), 0);
	assert_int_equal(blob_writer_write(w, big, n, &e), 0);
	assert_int_equal(tu_count_files(f->tmp), 2);
	blob_writer_abort(&w);
	assert_null(w);
	assert_int_equal(tu_count_files(f->tmp), 1);
	blob_stage_free(&stage);
	free(big);
}

static void
on_done(void *ctx, const struct store_commit_result *res)
{
	*(int *)ctx = res->status == 0 ? 1 : -1;
}

static void
test_dedup_against_store(void **state)
{
	struct fx *f = *state;
	const char *part = "the same attachment in two messages";
	const void *parts[] = { part };
	size_t lens[] = { strlen(part) };
	struct store_delivery d = { 0, "INBOX" };
	struct store_msg *m;
	struct blob_stage *stage;
	struct staged_blob *sb;
	struct blob_id id;
	int done = 0;
	struct err e;

	assert_int_equal(store_domain_add(f->st, "example.test", &e), 0);
	assert_int_equal(store_user_add(f->st, "a@example.test", "h",
	                     &d.user_id, &e),
	    0);
	m = tu_msg(f->st, "one", parts, lens, 1);
	assert_int_equal(store_msg_commit(&m, &d, 1, on_done, &done), 0);
	assert_null(m);
	assert_int_equal(done, 1); /* no loop: inline */

	stage = blob_stage_new(f->st);
	id = tu_blob(stage, part, strlen(part));
	sb = blob_stage_find(stage, &id);
	assert_non_null(sb);
	assert_false(sb->is_new); /* referenced, not copied */
	read_back(f->st, NULL, &id, (const unsigned char *)part, strlen(part));
	read_back(f->st, stage, &id, (const unsigned char *)part, strlen(part));
	blob_stage_free(&stage);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_small_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_large_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dedup_in_stage_and_abort,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup_against_store, setup,
		    teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
