/* SPDX-License-Identifier: MIT */
/* Unit tests for the MAIL/RCPT parser: paths, quoting, parameters and
 * the mailbox length limit at N and N+1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/parse.h"

struct mail_case {
	const char *in;
	enum smtp_parse_rc rc;
	const char *addr; /* when OK */
};

static void
test_parse_mail_table(void **state)
{
	static const struct mail_case cases[] = {
		{ "FROM:<a@example.test>", SMTP_PARSE_OK, "a@example.test" },
		{ "from:<A.B@Example.TEST>", SMTP_PARSE_OK,
		    "A.B@Example.TEST" },
		{ "FROM: <a@example.test>", SMTP_PARSE_OK, "a@example.test" },
		{ "FROM:<>", SMTP_PARSE_OK, "" },
		{ "FROM:<@r1.test,@r2.test:a@b.test>", SMTP_PARSE_OK,
		    "a@b.test" },
		{ "FROM:<\"john\"@b.test>", SMTP_PARSE_OK, "john@b.test" },
		{ "FROM:<\"jo hn\"@b.test>", SMTP_PARSE_OK,
		    "\"jo hn\"@b.test" },
		{ "FROM:<\"a\\\"b\"@b.test>", SMTP_PARSE_OK,
		    "\"a\\\"b\"@b.test" },
		{ "FROM:<a@[192.0.2.1]>", SMTP_PARSE_OK, "a@[192.0.2.1]" },
		{ "FROM:<a+tag@sub-1.b.test>", SMTP_PARSE_OK,
		    "a+tag@sub-1.b.test" },
		{ "FROM:a@b.test", SMTP_PARSE_SYNTAX, NULL },
		{ "TO:<a@b.test>", SMTP_PARSE_SYNTAX, NULL },
		{ "FROM:", SMTP_PARSE_SYNTAX, NULL },
		{ "FROM:<a@b.test", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a@>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<@b.test>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a..b@c.test>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<.a@c.test>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a.@c.test>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a@-c.test>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a@c-.test>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a@c..test>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a@c.test.>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a b@c.test>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<\"unterminated@c.test>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a@[]>", SMTP_PARSE_BAD_ADDR, NULL },
		{ "FROM:<a@b.test>x", SMTP_PARSE_SYNTAX, NULL },
		{ "FROM:<\xc3\xa9@b.test>", SMTP_PARSE_NEED_UTF8, NULL },
		{ "FROM:<\xc3\xa9@b.test> SMTPUTF8", SMTP_PARSE_OK,
		    "\xc3\xa9@b.test" },
		{ "FROM:<a@b.test> SIZE=1000 BODY=8BITMIME", SMTP_PARSE_OK,
		    "a@b.test" },
		{ "FROM:<a@b.test>  size=1000  body=7bit ", SMTP_PARSE_OK,
		    "a@b.test" },
		{ "FROM:<a@b.test> SIZE=", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> SIZE=x", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> SIZE=1 SIZE=2", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> SIZE=123456789012345678901",
		    SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> BODY=BINARYMIME", SMTP_PARSE_BAD_PARAM,
		    NULL },
		{ "FROM:<a@b.test> SMTPUTF8=yes", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> RET=FULL", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> =x", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> SIZE=1\x01", SMTP_PARSE_BAD_PARAM, NULL },
	};
	struct smtp_mail_args m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum smtp_parse_rc rc =
		    smtp_parse_mail(slice_cstr(cases[i].in), &m);

		if (rc != cases[i].rc)
			fail_msg("case %zu '%s': rc %d, want %d", i,
			    cases[i].in, rc, cases[i].rc);
		if (rc == SMTP_PARSE_OK)
			assert_string_equal(m.path.addr, cases[i].addr);
	}
}

static void
test_parse_mail_params(void **state)
{
	struct smtp_mail_args m;

	(void)state;
	assert_int_equal(smtp_parse_mail(SLICE_LIT("FROM:<a@b.test> SIZE=0 "
	                                           "BODY=8BITMIME SMTPUTF8"),
	                     &m),
	    SMTP_PARSE_OK);
	assert_true(m.has_size);
	assert_int_equal(m.size, 0);
	assert_int_equal(m.body, SMTP_BODY_8BITMIME);
	assert_true(m.smtputf8);
	assert_int_equal(
	    smtp_parse_mail(SLICE_LIT("FROM:<> SIZE=18446744073709551615"), &m),
	    SMTP_PARSE_OK);
	assert_true(m.size == UINT64_MAX);
	assert_int_equal(m.path.len, 0);
	assert_int_equal(
	    smtp_parse_mail(SLICE_LIT("FROM:<> SIZE=18446744073709551616"), &m),
	    SMTP_PARSE_BAD_PARAM);
}

static void
test_parse_rcpt(void **state)
{
	struct smtp_rcpt_args r;

	(void)state;
	assert_int_equal(smtp_parse_rcpt(SLICE_LIT("TO:<u@example.test>"),
	                     false, &r),
	    SMTP_PARSE_OK);
	assert_string_equal(r.path.addr, "u@example.test");
	assert_int_equal(r.path.at, 1);
	assert_false(r.postmaster);
	assert_int_equal(smtp_parse_rcpt(SLICE_LIT("To:<PostMaster>"), false,
	                     &r),
	    SMTP_PARSE_OK);
	assert_true(r.postmaster);
	assert_int_equal(smtp_parse_rcpt(SLICE_LIT("TO:<bob>"), false, &r),
	    SMTP_PARSE_BAD_ADDR);
	assert_int_equal(smtp_parse_rcpt(SLICE_LIT("TO:<>"), false, &r),
	    SMTP_PARSE_BAD_ADDR);
	assert_int_equal(smtp_parse_rcpt(SLICE_LIT(
	                                     "TO:<u@b.test> NOTIFY=NEVER"),
	                     false, &r),
	    SMTP_PARSE_BAD_PARAM);
	assert_int_equal(smtp_parse_rcpt(SLICE_LIT("TO:<\xc3\xa9@b.test>"),
	                     false, &r),
	    SMTP_PARSE_NEED_UTF8);
	assert_int_equal(smtp_parse_rcpt(SLICE_LIT("TO:<\xc3\xa9@b.test>"),
	                     true, &r),
	    SMTP_PARSE_OK);
	assert_int_equal(smtp_parse_rcpt(SLICE_LIT("FROM:<u@b.test>"), false,
	                     &r),
	    SMTP_PARSE_SYNTAX);
}

/* A mailbox of exactly SMTP_MAILBOX_MAX bytes passes; one more fails,
 * for the local part, the domain, and a quoted local part. */
static void
test_parse_mailbox_limit(void **state)
{
	char line[SMTP_MAILBOX_MAX + 64];
	struct smtp_rcpt_args r;
	size_t local;

	(void)state;
	for (local = SMTP_MAILBOX_MAX - 7; local <= SMTP_MAILBOX_MAX - 6;
	     local++) {
		/* "TO:<" + local 'a's + "@b.test" (7 bytes) + ">" */
		memcpy(line, "TO:<", 4);
		memset(line + 4, 'a', local);
		memcpy(line + 4 + local, "@b.test>", 9);
		assert_int_equal(smtp_parse_rcpt(slice_cstr(line), false, &r),
		    local + 7 <= SMTP_MAILBOX_MAX ? SMTP_PARSE_OK
		                                  : SMTP_PARSE_TOO_LONG);
	}
	for (local = SMTP_MAILBOX_MAX - 2; local <= SMTP_MAILBOX_MAX - 1;
	     local++) {
		/* "TO:<a@" + domain of `local` bytes ending ".t" + ">" */
		memcpy(line, "TO:<a@", 6);
		memset(line + 6, 'd', local - 2);
		memcpy(line + 6 + local - 2, ".t>", 4);
		assert_int_equal(smtp_parse_rcpt(slice_cstr(line), false, &r),
		    local + 2 <= SMTP_MAILBOX_MAX ? SMTP_PARSE_OK
		                                  : SMTP_PARSE_TOO_LONG);
	}
	/* Quoted with a space, kept quoted: 2 quotes + content + "@b.test". */
	for (local = SMTP_MAILBOX_MAX - 9; local <= SMTP_MAILBOX_MAX - 8;
	     local++) {
		memcpy(line, "TO:<\"", 5);
		memset(line + 5, ' ', local);
		memcpy(line + 5 + local, "\"@b.test>", 10);
		assert_int_equal(smtp_parse_rcpt(slice_cstr(line), false, &r),
		    local + 9 <= SMTP_MAILBOX_MAX ? SMTP_PARSE_OK
		                                  : SMTP_PARSE_TOO_LONG);
	}
}

static void
test_parse_verb(void **state)
{
	struct slice verb, rest;

	(void)state;
	smtp_parse_verb(SLICE_LIT("MAIL FROM:<>"), &verb, &rest);
	assert_true(slice_eq(verb, SLICE_LIT("MAIL")));
	assert_true(slice_eq(rest, SLICE_LIT("FROM:<>")));
	smtp_parse_verb(SLICE_LIT("QUIT"), &verb, &rest);
	assert_true(slice_eq(verb, SLICE_LIT("QUIT")));
	assert_int_equal(rest.len, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_mail_table),
		cmocka_unit_test(test_parse_mail_params),
		cmocka_unit_test(test_parse_rcpt),
		cmocka_unit_test(test_parse_mailbox_limit),
		cmocka_unit_test(test_parse_verb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
