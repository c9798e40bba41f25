/* SPDX-License-Identifier: MIT */
/* Unit tests for the DATA scanner: end of data, dot-unstuffing, bare CR/LF
 * and every SMTP-smuggling variant, each fed split at every byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/data.h"

struct result {
	char out[1024];
	size_t out_len;
	size_t used; /* input consumed through the end, or all */
	int ends;    /* times an end was reported */
	bool bare;
	unsigned received;
};

/* Feeds in[0..n) in pieces cut at `cuts` (sorted offsets), stopping at
 * the first end like the session does. */
static void
feed(const char *in, size_t n, const size_t *cuts, size_t ncuts, bool dot_mode,
    struct result *r)
{
	struct smtp_data d;
	char tmp[SMTP_DATA_OUT_MAX(512)];
	size_t from = 0, to, k, ol, used;

	memset(r, 0, sizeof(*r));
	smtp_data_init(&d, dot_mode);
	for (k = 0; k <= ncuts && r->ends == 0; k++) {
		to = k < ncuts ? cuts[k] : n;
		assert_true(to - from <= 512);
		if (smtp_data_push(&d, (struct slice){ in + from, to - from },
		        tmp, &ol, &used)) {
			r->ends++;
		} else {
			assert_int_equal(used, to - from);
		}
		assert_true(ol <= SMTP_DATA_OUT_MAX(to - from));
		assert_true(r->out_len + ol <= sizeof(r->out));
		memcpy(r->out + r->out_len, tmp, ol);
		r->out_len += ol;
		r->used = from + used;
		from = to;
	}
	if (!dot_mode) {
		smtp_data_finish(&d, tmp, &ol);
		memcpy(r->out + r->out_len, tmp, ol);
		r->out_len += ol;
	}
	r->bare = d.bare_seen;
	r->received = d.received;
}

/* The whole input, then every 2-way split, then byte by byte: all must
 * agree with `want`. */
static void
check(const char *in, size_t n, bool dot_mode, const char *want,
    size_t want_len, bool want_end, size_t want_used, bool want_bare)
{
	struct result r;
	size_t cuts[512], k;

	assert_true(n < 512);
	for (k = 0; k <= n + 1; k++) {
		if (k == 0) {
			feed(in, n, NULL, 0, dot_mode, &r);
		} else if (k <= n) {
			cuts[0] = k;
			feed(in, n, cuts, 1, dot_mode, &r);
		} else {
			for (size_t j = 0; j < n; j++)
				cuts[j] = j + 1;
			feed(in, n, cuts, n, dot_mode, &r);
		}
		assert_int_equal(r.ends, want_end ? 1 : 0);
		if (want_end)
			assert_int_equal(r.used, want_used);
		assert_int_equal(r.out_len, want_len);
		assert_memory_equal(r.out, want, want_len);
		assert_int_equal(r.bare, want_bare);
	}
}

#define CHECK(in, dot, want, end, used, bare)                                  \
	check((in), sizeof(in) - 1, (dot), (want), sizeof(want) - 1, (end),    \
	    (used), (bare))

static void
test_data_plain(void **state)
{
	(void)state;
	CHECK("Subject: x\r\n\r\nhello\r\n.\r\n", true,
	    "Subject: x\r\n\r\nhello\r\n", true, 24, false);
	/* Bytes after the terminator (pipelined commands) are not eaten. */
	CHECK("a\r\n.\r\nQUIT\r\n", true, "a\r\n", true, 6, false);
	/* An empty message: the terminator straight after the 354. */
	CHECK(".\r\n", true, "", true, 3, false);
	CHECK("\r\n.\r\n", true, "\r\n", true, 5, false);
	/* Not yet ended. */
	CHECK("a\r\n.\r", true, "a\r\n", false, 0, false);
	CHECK("a\r\n", true, "a\r\n", false, 0, false);
}

static void
test_data_dot_unstuffing(void **state)
{
	(void)state;
	CHECK("..\r\n.\r\n", true, ".\r\n", true, 7, false);
	CHECK("..a\r\n...\r\nb.\r\n.\r\n", true, ".a\r\n..\r\nb.\r\n", true, 17,
	    false);
	/* RFC 5321 §4.5.2: a leading dot with more on the line goes. */
	CHECK(".x\r\n.\r\n", true, "x\r\n", true, 7, false);
	/* A dot not at the start of a line stays. */
	CHECK("a.\r\n.\r\n", true, "a.\r\n", true, 7, false);
}

/* Each smuggling variant: never an end, the bare CR/LF normalised, and
 * the real terminator afterwards ends it once. */
static void
test_data_smuggling(void **state)
{
	(void)state;
	CHECK("a\n.\nMAIL FROM:<x>\r\n.\r\n", true,
	    "a\r\n.\r\nMAIL FROM:<x>\r\n", true, 22, true); /* LF.LF */
	CHECK("a\r.\rMAIL\r\n.\r\n", true, "a\r\n.\r\nMAIL\r\n", true, 13,
	    true); /* CR.CR */
	CHECK("a\n.\r\nMAIL\r\n.\r\n", true, "a\r\n.\r\nMAIL\r\n", true, 14,
	    true); /* LF.CRLF */
	CHECK("a\r\n.\nMAIL\r\n.\r\n", true, "a\r\n.\r\nMAIL\r\n", true, 14,
	    true); /* CRLF.LF */
	CHECK("a\r.\r\nMAIL\r\n.\r\n", true, "a\r\n.\r\nMAIL\r\n", true, 14,
	    true); /* CR.CRLF */
	CHECK("a\r\n.\rMAIL\r\n.\r\n", true, "a\r\n.\r\nMAIL\r\n", true, 14,
	    true); /* CRLF.CR */
	CHECK("a\r\n.\r\r\nMAIL\r\n.\r\n", true, "a\r\n.\r\n\r\nMAIL\r\n", true,
	    16, true); /* CRLF.CRCRLF */
	CHECK("a\n\r\n.\r\n", true, "a\r\n\r\n", true, 7, true);
	CHECK("\n.\n", true, "\r\n.\r\n", false, 0, true);
	CHECK("\r.\r", true, "\r\n", false, 0, true);
	/* The whole-message variants without a real terminator. */
	CHECK("x\n.\n", true, "x\r\n.\r\n", false, 0, true);
	CHECK("x\r\n.\n", true, "x\r\n.\r\n", false, 0, true);
	CHECK("x\n.\r\n", true, "x\r\n.\r\n", false, 0, true);
	/* After a smuggled dot line, a real CRLF "." CRLF still ends it. */
	CHECK("x\n.\r\n.\r\n", true, "x\r\n.\r\n", true, 8, true);
}

static void
test_data_bare_in_lines(void **state)
{
	(void)state;
	CHECK("a\nb\rc\r\n.\r\n", true, "a\r\nb\r\nc\r\n", true, 10, true);
	CHECK("a\r\r\n.\r\n", true, "a\r\n\r\n", true, 7, true);
}

static void
test_data_bdat_mode(void **state)
{
	(void)state;
	/* No terminator, no unstuffing; bare CR/LF still normalised. */
	CHECK("a\r\n.\r\n..b\r\n", false, "a\r\n.\r\n..b\r\n", false, 0, false);
	CHECK("a\nb", false, "a\r\nb", false, 0, true);
	CHECK("a\r", false, "a\r\n", false, 0, true); /* flushed at LAST */
}

static void
test_data_received_count(void **state)
{
	static const char in[] = "Received: a\r\n\tfolded received:\r\n"
	                         "RECEIVED: b\r\nX-Received: c\r\n"
	                         "received: d\r\n\r\nReceived: body\r\n.\r\n";
	struct result r;

	(void)state;
	feed(in, sizeof(in) - 1, NULL, 0, true, &r);
	assert_int_equal(r.received, 3);
	assert_int_equal(r.ends, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_plain),
		cmocka_unit_test(test_data_dot_unstuffing),
		cmocka_unit_test(test_data_smuggling),
		cmocka_unit_test(test_data_bare_in_lines),
		cmocka_unit_test(test_data_bdat_mode),
		cmocka_unit_test(test_data_received_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
