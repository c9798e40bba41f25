/* SPDX-License-Identifier: MIT */
/* Unit tests for the SMTP reply parser: every split of the input, multi-
 * line replies, EHLO keywords, the line and line-count limits at N and
 * N+1, and the hostile shapes (bad codes, mixed codes, bare LF/CR, NUL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/reply.h"

/* Feeds all of s in one call; returns the rc and the bytes used. */
static enum smtp_reply_rc
push_all(struct smtp_reply *r, const char *s, size_t len, size_t *used)
{
	return smtp_reply_push(r, slice_make(s, len), used);
}

static void
test_simple(void **state)
{
	static const char in[] = "250 2.1.0 Ok\r\n";
	struct smtp_reply r;
	size_t used;

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(push_all(&r, in, sizeof(in) - 1, &used),
	    SMTP_REPLY_DONE);
	assert_int_equal(used, sizeof(in) - 1);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enhanced, "2.1.0");
	assert_string_equal(r.text, "250 2.1.0 Ok");
	assert_int_equal(r.n_lines, 1);
}

static void
test_code_only(void **state)
{
	struct smtp_reply r;
	size_t used;

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(push_all(&r, "354\r\n", 5, &used), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.text, "354");
	assert_string_equal(r.enhanced, "");
}

static const char ehlo[] = "250-mx.example.test Hello\r\n"
                           "250-PIPELINING\r\n"
                           "250-SIZE 10240000\r\n"
                           "250-8bitmime\r\n"
                           "250-SMTPUTF8\r\n"
                           "250-STARTTLS\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n"
                           "250-DSN\r\n"
                           "250 CHUNKING\r\n";

static void
check_ehlo(const struct smtp_reply *r)
{
	assert_int_equal(r->code, 250);
	assert_int_equal(r->n_lines, 9);
	assert_true(r->ext_pipelining);
	assert_true(r->ext_size);
	assert_int_equal(r->ext_size_max, 10240000);
	assert_true(r->ext_8bitmime);
	assert_true(r->ext_smtputf8);
	assert_true(r->ext_starttls);
	assert_true(r->ext_enhancedstatuscodes);
	assert_true(r->ext_dsn);
	assert_true(r->ext_chunking);
	assert_string_equal(r->enhanced, "");
	assert_true(
	    strncmp(r->text,
	        "250 mx.example.test Hello / PIPELINING / SIZE 10240000",
	        54) == 0);
}

static void
test_ehlo(void **state)
{
	struct smtp_reply r;
	size_t used;

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(push_all(&r, ehlo, sizeof(ehlo) - 1, &used),
	    SMTP_REPLY_DONE);
	assert_int_equal(used, sizeof(ehlo) - 1);
	check_ehlo(&r);
}

/* Every split point into two pushes gives the same reply. */
static void
test_split_everywhere(void **state)
{
	const size_t len = sizeof(ehlo) - 1;
	struct smtp_reply r;
	size_t cut, used, used2;
	enum smtp_reply_rc rc;

	(void)state;
	for (cut = 0; cut <= len; cut++) {
		smtp_reply_init(&r);
		rc = push_all(&r, ehlo, cut, &used);
		if (cut < len) {
			assert_int_equal(rc, SMTP_REPLY_MORE);
			assert_int_equal(used, cut);
			rc = push_all(&r, ehlo + cut, len - cut, &used2);
			assert_int_equal(used2, len - cut);
		}
		assert_int_equal(rc, SMTP_REPLY_DONE);
		check_ehlo(&r);
	}
}

/* One byte at a time. */
static void
test_byte_by_byte(void **state)
{
	const size_t len = sizeof(ehlo) - 1;
	struct smtp_reply r;
	enum smtp_reply_rc rc = SMTP_REPLY_MORE;
	size_t i, used;

	(void)state;
	smtp_reply_init(&r);
	for (i = 0; i < len; i++) {
		rc = push_all(&r, ehlo + i, 1, &used);
		assert_int_equal(used, 1);
		assert_int_equal(rc,
		    i + 1 < len ? SMTP_REPLY_MORE : SMTP_REPLY_DONE);
	}
	check_ehlo(&r);
}

/* Pipelined replies come out one per call; the EHLO flags reset. */
static void
test_pipelined(void **state)
{
	static const char in[] = "250 2.1.0 Ok\r\n"
	                         "550-5.1.1 No such\r\n"
	                         "550 5.1.1 user\r\n"
	                         "354 go ahead\r\n";
	struct smtp_reply r;
	struct slice s = slice_make(in, sizeof(in) - 1);
	size_t used;

	(void)state;
	smtp_reply_init(&r);
	r.ext_pipelining = true;
	assert_int_equal(smtp_reply_push(&r, s, &used), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 250);
	assert_false(r.ext_pipelining);
	assert_int_equal(used, 14);
	s = slice_skip(s, used);
	assert_int_equal(smtp_reply_push(&r, s, &used), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enhanced, "5.1.1");
	assert_string_equal(r.text, "550 5.1.1 No such / 5.1.1 user");
	assert_int_equal(r.n_lines, 2);
	s = slice_skip(s, used);
	assert_int_equal(smtp_reply_push(&r, s, &used), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 354);
	assert_int_equal(used, s.len);
	/* Nothing left: MORE, and the last result stays readable. */
	assert_int_equal(smtp_reply_push(&r, slice_make("", 0), &used),
	    SMTP_REPLY_MORE);
	assert_int_equal(r.code, 354);
}

static void
test_size_values(void **state)
{
	static const struct {
		const char *in;
		unsigned long long max;
	} cases[] = {
		{ "250-x\r\n250 SIZE\r\n", 0 },
		{ "250-x\r\n250 SIZE 0\r\n", 0 },
		{ "250-x\r\n250 SIZE 52428800\r\n", 52428800 },
		{ "250-x\r\n250 size 1\r\n", 1 },
		{ "250-x\r\n250 SIZE 12ab\r\n", 0 },
		{ "250-x\r\n250 SIZE 99999999999999999999999\r\n", 0 },
		{ "250-x\r\n250 SIZE 9999999999999999999\r\n",
		    9999999999999999999ULL },
	};
	struct smtp_reply r;
	size_t i, used;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smtp_reply_init(&r);
		assert_int_equal(push_all(&r, cases[i].in, strlen(cases[i].in),
		                     &used),
		    SMTP_REPLY_DONE);
		assert_true(r.ext_size);
		assert_true(r.ext_size_max == cases[i].max);
	}
	/* The first line is the greeting domain, not a keyword. */
	smtp_reply_init(&r);
	assert_int_equal(push_all(&r, "250 SIZE 5\r\n", 12, &used),
	    SMTP_REPLY_DONE);
	assert_false(r.ext_size);
}

/* A line of exactly SMTP_REPLY_LINE_MAX bytes passes, one more fails. */
static void
test_line_limit(void **state)
{
	char *buf = malloc(SMTP_REPLY_LINE_MAX + 16);
	struct smtp_reply r;
	size_t used;

	(void)state;
	memset(buf, 'x', SMTP_REPLY_LINE_MAX + 16);
	memcpy(buf, "250 ", 4);
	memcpy(buf + SMTP_REPLY_LINE_MAX, "\r\n", 2);
	smtp_reply_init(&r);
	assert_int_equal(push_all(&r, buf, SMTP_REPLY_LINE_MAX + 2, &used),
	    SMTP_REPLY_DONE);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX);

	memset(buf, 'x', SMTP_REPLY_LINE_MAX + 16);
	memcpy(buf, "250 ", 4);
	memcpy(buf + SMTP_REPLY_LINE_MAX + 1, "\r\n", 2);
	smtp_reply_init(&r);
	assert_int_equal(push_all(&r, buf, SMTP_REPLY_LINE_MAX + 3, &used),
	    SMTP_REPLY_TOO_LONG);
	/* Sticky: the session is over. */
	assert_int_equal(push_all(&r, "250 ok\r\n", 8, &used), SMTP_REPLY_BAD);

	/* An endless line without LF, fed in pieces, fails as soon as it
	 * passes the limit. */
	smtp_reply_init(&r);
	memset(buf, 'x', SMTP_REPLY_LINE_MAX + 16);
	memcpy(buf, "250 ", 4);
	assert_int_equal(push_all(&r, buf, SMTP_REPLY_LINE_MAX, &used),
	    SMTP_REPLY_MORE);
	assert_int_equal(push_all(&r, buf, 1, &used), SMTP_REPLY_TOO_LONG);
	free(buf);
}

static void
test_lines_limit(void **state)
{
	struct smtp_reply r;
	size_t i, used;
	enum smtp_reply_rc rc;

	(void)state;
	/* SMTP_REPLY_LINES_MAX lines: fine. */
	smtp_reply_init(&r);
	for (i = 0; i + 1 < SMTP_REPLY_LINES_MAX; i++)
		assert_int_equal(push_all(&r, "250-X-KW\r\n", 10, &used),
		    SMTP_REPLY_MORE);
	assert_int_equal(push_all(&r, "250 END\r\n", 9, &used),
	    SMTP_REPLY_DONE);
	assert_int_equal(r.n_lines, SMTP_REPLY_LINES_MAX);
	/* One more line: too long, on the line past the limit. */
	smtp_reply_init(&r);
	for (i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		assert_int_equal(push_all(&r, "250-X-KW\r\n", 10, &used),
		    SMTP_REPLY_MORE);
	rc = push_all(&r, "250 END\r\n", 9, &used);
	assert_int_equal(rc, SMTP_REPLY_TOO_LONG);
}

static void
test_bad(void **state)
{
	static const char *const bad[] = {
		"25 ok\r\n",
		"2500 ok\r\n",
		"abc ok\r\n",
		"199 too low\r\n",
		"600 too high\r\n",
		"099 zero\r\n",
		"250_ok\r\n",
		"\r\n",
		"250 ok\n",           /* bare LF */
		"250-a\r\n550 b\r\n", /* codes differ */
		"250-a\r\n251 b\r\n", /* codes differ */
		"250 o\rk\r\n",       /* bare CR */
		"250 ok\r\r\n",       /* CR CR LF */
		"\n",
	};
	struct smtp_reply r;
	size_t i, used;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smtp_reply_init(&r);
		assert_int_equal(push_all(&r, bad[i], strlen(bad[i]), &used),
		    SMTP_REPLY_BAD);
	}
	/* NUL anywhere. */
	smtp_reply_init(&r);
	assert_int_equal(push_all(&r, "250 o\0k\r\n", 9, &used),
	    SMTP_REPLY_BAD);
}

static void
test_text_sanitized(void **state)
{
	static const char in[] = "451 4.3.0 caf\xc3\xa9\ttab\r\n";
	struct smtp_reply r;
	size_t used;

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(push_all(&r, in, sizeof(in) - 1, &used),
	    SMTP_REPLY_DONE);
	assert_string_equal(r.text, "451 4.3.0 caf???tab");
	assert_string_equal(r.enhanced, "4.3.0");
}

static void
test_enhanced_shapes(void **state)
{
	static const struct {
		const char *in, *enh;
	} cases[] = {
		{ "550 5.7.1\r\n", "5.7.1" },
		{ "550 5.7.1 denied\r\n", "5.7.1" },
		{ "550 5.123.456 x\r\n", "5.123.456" },
		{ "550 5.1234.1 x\r\n", "" },
		{ "550 3.1.1 x\r\n", "" },
		{ "550 5.1.1x\r\n", "" },
		{ "550 5..1 x\r\n", "" },
		{ "550 denied\r\n", "" },
	};
	struct smtp_reply r;
	size_t i, used;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smtp_reply_init(&r);
		assert_int_equal(push_all(&r, cases[i].in, strlen(cases[i].in),
		                     &used),
		    SMTP_REPLY_DONE);
		assert_string_equal(r.enhanced, cases[i].enh);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_code_only),
		cmocka_unit_test(test_ehlo),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_size_values),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_lines_limit),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_text_sanitized),
		cmocka_unit_test(test_enhanced_shapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
