/* SPDX-License-Identifier: MIT */
/* End-to-end tests of store.h through the MIME ingest: write, commit,
 * read back byte for byte, de-duplication, verify, abandon. */
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
	int64_t a, b;
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
	if (store_open(&o, &f->st, &e) != 0 ||
	    store_domain_add(f->st, "example.test", &e) != 0 ||
	    store_user_add(f->st, "a@example.test", "h", &f->a, &e) != 0 ||
	    store_user_add(f->st, "b@example.test", "h", &f->b, &e) != 0)
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

static void
on_done(void *ctx, const struct store_commit_result *res)
{
	*(int *)ctx = res->status == 0 ? 1 : res->status;
}

/* A multipart message carrying `att` (base64, 76-column lines). */
static char *
make_message(const char *subject, const unsigned char *att, size_t n,
    size_t *len_out)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	                          "qrstuvwxyz0123456789+/";
	size_t cap = n * 2 + 4096, len = 0, i, col = 0;
	char *p = xmalloc(cap);
	int r;

	r = snprintf(p, cap,
	    "Return-Path: <s@example.org>\r\n"
	    "From: Sender <s@example.org>\r\n"
	    "To: a@example.test\r\n"
	    "Subject: %s\r\n"
	    "Message-ID: <%s@example.org>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	    "\r\n"
	    "preamble\r\n"
	    "--b1\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "Hello, %s.\r\n"
	    "--b1\r\n"
	    "Content-Type: application/pdf\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n",
	    subject, subject, subject);
	len = (size_t)r;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)att[i] << 16 |
		    (uint32_t)att[i + 1] << 8 | att[i + 2];

		p[len++] = b64[v >> 18];
		p[len++] = b64[(v >> 12) & 63];
		p[len++] = b64[(v >> 6) & 63];
		p[len++] = b64[v & 63];
		if ((col += 4) == 76) {
			p[len++] = '\r';
			p[len++] = '\n';
			col = 0;
		}
	}
	r = snprintf(p + len, cap - len, "\r\n--b1--\r\nepilogue\r\n");
	len += (size_t)r;
	*len_out = len;
	return p;
}

static void
deliver(struct fx *f, const char *msg, size_t len, int64_t user)
{
	struct store_delivery d = { user, "INBOX" };
	struct store_msg *m;
	size_t off = 0, k = 1;
	int done = 0;
	struct err e;

	assert_int_equal(store_msg_new(f->st, &m, &e), 0);
	while (off < len) { /* uneven pushes */
		size_t c = k < len - off ? k : len - off;

		assert_int_equal(store_msg_write(m, msg + off, c, &e), 0);
		off += c;
		k = k * 2 + 1;
		if (k > 70000)
			k = 1000;
	}
	assert_int_equal(store_msg_finish(m, &e), 0);
	assert_int_equal(store_msg_size(m), len);
	assert_int_equal(store_msg_commit(&m, &d, 1, on_done, &done), 0);
	assert_int_equal(done, 1);
}

static void
read_entry(struct fx *f, int64_t user, uint32_t uid, const char *want,
    size_t len)
{
	struct store_reader *r;
	char *got = xmalloc(len + 1);
	size_t off = 0, k;
	struct err e;

	assert_int_equal(store_reader_open(f->st, user, "INBOX", uid, &r, &e),
	    0);
	for (;;) {
		assert_int_equal(store_reader_read(r, got + off,
		                     len + 1 - off < 5000 ? len + 1 - off
		                                          : 5000,
		                     &k, &e),
		    0);
		if (k == 0)
			break;
		off += k;
	}
	assert_int_equal(off, len);
	assert_memory_equal(got, want, len);
	store_reader_close(&r);
	assert_null(r);
	free(got);
}

static void
test_round_trip_and_dedup(void **state)
{
	struct fx *f = *state;
	size_t n = 2 * 1024 * 1024 + 1, l1, l2;
	unsigned char *pdf = xmalloc(n);
	char *m1, *m2;
	struct store_stats s1, s2;
	struct store_reader *r;
	struct err e;

	randombytes_buf(pdf, n);
	m1 = make_message("first", pdf, n, &l1);
	m2 = make_message("second", pdf, n, &l2);
	deliver(f, m1, l1, f->a);
	assert_int_equal(store_stats_get(f->st, &s1, &e), 0);
	deliver(f, m2, l2, f->b);
	assert_int_equal(store_stats_get(f->st, &s2, &e), 0);
	read_entry(f, f->a, 1, m1, l1);
	read_entry(f, f->b, 1, m2, l2);
	assert_int_equal(s2.messages, 2);
	assert_int_equal(s2.logical_bytes, l1 + l2);
	/* The second copy of the attachment costs (nearly) nothing. */
	assert_true(s2.physical_bytes - s1.physical_bytes < n / 10);
	assert_int_equal(store_verify(f->st, NULL, NULL, &e), 0);
	assert_int_equal(store_reader_open(f->st, f->a, "INBOX", 9, &r, &e),
	    ERR_NOTFOUND);
	free(m1);
	free(m2);
	free(pdf);
}

static void
test_abandon(void **state)
{
	struct fx *f = *state;
	size_t n = 600 * 1024, len;
	unsigned char *pdf = xmalloc(n);
	char *msg;
	struct store_msg *m;
	struct store_stats s;
	struct err e;

	randombytes_buf(pdf, n);
	msg = make_message("abandoned", pdf, n, &len);
	assert_int_equal(store_msg_new(f->st, &m, &e), 0);
	assert_int_equal(store_msg_write(m, msg, len, &e), 0);
	assert_int_equal(store_msg_finish(m, &e), 0);
	store_msg_free(&m);
	assert_null(m);
	store_msg_free(&m); /* accepts NULL */
	assert_int_equal(tu_count_files(f->tmp), 0);
	assert_int_equal(store_stats_get(f->st, &s, &e), 0);
	assert_int_equal(s.unique_parts, 0);
	free(msg);
	free(pdf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_and_dedup,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_abandon, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
