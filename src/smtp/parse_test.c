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
		{ "FROM:<a@b.test> RET=FULL", SMTP_PARSE_OK, "a@b.test" },
		{ "FROM:<a@b.test> RET=hdrs ENVID=x+2By AUTH=<>", SMTP_PARSE_OK,
		    "a@b.test" },
		{ "FROM:<a@b.test> RET=FULL RET=HDRS", SMTP_PARSE_BAD_PARAM,
		    NULL },
		{ "FROM:<a@b.test> RET=ALL", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> RET", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> ENVID=a ENVID=b", SMTP_PARSE_BAD_PARAM,
		    NULL },
		{ "FROM:<a@b.test> ENVID=a+0D+0Ab", SMTP_PARSE_BAD_PARAM,
		    NULL },
		{ "FROM:<a@b.test> ENVID=a+2b", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> ENVID=a+2", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> ENVID=+C3+A9", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> ENVID", SMTP_PARSE_BAD_PARAM, NULL },
		{ "FROM:<a@b.test> AUTH=a AUTH=b", SMTP_PARSE_BAD_PARAM, NULL },
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
	    SMTP_PARSE_OK);
	assert_int_equal(r.notify, SMTP_NOTIFY_NEVER);
	assert_false(r.has_orcpt);
	assert_int_equal(smtp_parse_rcpt(SLICE_LIT("TO:<u@b.test> FOO=1"),
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

struct rcpt_case {
	const char *in;
	enum smtp_parse_rc rc;
	unsigned notify;
	const char *orcpt; /* when OK; NULL: none */
};

static void
test_parse_rcpt_dsn(void **state)
{
	static const struct rcpt_case cases[] = {
		{ "TO:<u@b.test> NOTIFY=SUCCESS,FAILURE,DELAY", SMTP_PARSE_OK,
		    SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
		        SMTP_NOTIFY_DELAY,
		    NULL },
		{ "TO:<u@b.test> notify=delay,success", SMTP_PARSE_OK,
		    SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY, NULL },
		{ "TO:<u@b.test> NOTIFY=FAILURE ORCPT=rfc822;u+40b.test",
		    SMTP_PARSE_OK, SMTP_NOTIFY_FAILURE, "rfc822;u@b.test" },
		{ "TO:<u@b.test> ORCPT=utf-8;x NOTIFY=NEVER", SMTP_PARSE_OK,
		    SMTP_NOTIFY_NEVER, "utf-8;x" },
		{ "TO:<u@b.test> ORCPT=rfc822;+C3+A9@b.test", SMTP_PARSE_OK, 0,
		    "rfc822;\xc3\xa9@b.test" },
		{ "TO:<u@b.test> NOTIFY=NEVER,SUCCESS", SMTP_PARSE_BAD_PARAM, 0,
		    NULL },
		{ "TO:<u@b.test> NOTIFY=SUCCESS,SUCCESS", SMTP_PARSE_BAD_PARAM,
		    0, NULL },
		{ "TO:<u@b.test> NOTIFY=SUCCESS,", SMTP_PARSE_BAD_PARAM, 0,
		    NULL },
		{ "TO:<u@b.test> NOTIFY=,SUCCESS", SMTP_PARSE_BAD_PARAM, 0,
		    NULL },
		{ "TO:<u@b.test> NOTIFY=ALWAYS", SMTP_PARSE_BAD_PARAM, 0,
		    NULL },
		{ "TO:<u@b.test> NOTIFY", SMTP_PARSE_BAD_PARAM, 0, NULL },
		{ "TO:<u@b.test> NOTIFY=NEVER NOTIFY=NEVER",
		    SMTP_PARSE_BAD_PARAM, 0, NULL },
		{ "TO:<u@b.test> ORCPT=rfc822;a ORCPT=rfc822;a",
		    SMTP_PARSE_BAD_PARAM, 0, NULL },
		{ "TO:<u@b.test> ORCPT=rfc822", SMTP_PARSE_BAD_PARAM, 0, NULL },
		{ "TO:<u@b.test> ORCPT=;a@b", SMTP_PARSE_BAD_PARAM, 0, NULL },
		{ "TO:<u@b.test> ORCPT=rfc822;", SMTP_PARSE_BAD_PARAM, 0,
		    NULL },
		{ "TO:<u@b.test> ORCPT=rfc822;a+0Ab", SMTP_PARSE_BAD_PARAM, 0,
		    NULL },
		{ "TO:<u@b.test> ORCPT=rfc822;a+zz", SMTP_PARSE_BAD_PARAM, 0,
		    NULL },
		{ "TO:<u@b.test> ORCPT=rf(c;a", SMTP_PARSE_BAD_PARAM, 0, NULL },
	};
	struct smtp_rcpt_args r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum smtp_parse_rc rc =
		    smtp_parse_rcpt(slice_cstr(cases[i].in), false, &r);

		if (rc != cases[i].rc)
			fail_msg("case %zu '%s': rc %d, want %d", i,
			    cases[i].in, rc, cases[i].rc);
		if (rc != SMTP_PARSE_OK)
			continue;
		assert_int_equal(r.notify, cases[i].notify);
		assert_int_equal(r.has_orcpt, cases[i].orcpt != NULL);
		if (cases[i].orcpt != NULL)
			assert_string_equal(r.orcpt, cases[i].orcpt);
	}
}

static void
test_parse_mail_dsn(void **state)
{
	struct smtp_mail_args m;

	(void)state;
	assert_int_equal(smtp_parse_mail(SLICE_LIT("FROM:<a@b.test> RET=FULL "
	                                           "ENVID=QQ+2B+3Dz AUTH=x@y"),
	                     &m),
	    SMTP_PARSE_OK);
	assert_int_equal(m.ret, SMTP_RET_FULL);
	assert_true(m.has_envid);
	assert_string_equal(m.envid, "QQ+=z");
	assert_true(m.has_auth);
	assert_int_equal(smtp_parse_mail(SLICE_LIT("FROM:<a@b.test>"), &m),
	    SMTP_PARSE_OK);
	assert_int_equal(m.ret, SMTP_RET_NONE);
	assert_false(m.has_envid);
	assert_string_equal(m.envid, "");
}

/* ENVID and ORCPT values at their limit (counted as sent) and one past. */
static void
test_parse_dsn_limits(void **state)
{
	char line[SMTP_ORCPT_MAX + 64];
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	size_t n, pre;

	(void)state;
	for (n = SMTP_ENVID_MAX - 1; n <= SMTP_ENVID_MAX + 1; n++) {
		pre = strlen("FROM:<a@b.test> ENVID=");
		memcpy(line, "FROM:<a@b.test> ENVID=", pre);
		memset(line + pre, 'e', n);
		line[pre + n] = '\0';
		assert_int_equal(smtp_parse_mail(slice_cstr(line), &m),
		    n <= SMTP_ENVID_MAX ? SMTP_PARSE_OK : SMTP_PARSE_BAD_PARAM);
		if (n <= SMTP_ENVID_MAX)
			assert_int_equal(strlen(m.envid), n);
	}
	/* Encoded over the limit, decoded under it: still refused. */
	pre = strlen("FROM:<a@b.test> ENVID=");
	memcpy(line, "FROM:<a@b.test> ENVID=", pre);
	for (n = 0; n < 34; n++)
		memcpy(line + pre + 3 * n, "+41", 3);
	line[pre + 3 * n] = '\0'; /* 102 characters for 34 */
	assert_int_equal(smtp_parse_mail(slice_cstr(line), &m),
	    SMTP_PARSE_BAD_PARAM);
	for (n = SMTP_ORCPT_MAX - 1; n <= SMTP_ORCPT_MAX + 1; n++) {
		/* "rfc822;" + (n - 7) bytes = n characters of value */
		pre = strlen("TO:<u@b.test> ORCPT=rfc822;");
		memcpy(line, "TO:<u@b.test> ORCPT=rfc822;", pre);
		memset(line + pre, 'o', n - 7);
		line[pre + n - 7] = '\0';
		assert_int_equal(smtp_parse_rcpt(slice_cstr(line), false, &r),
		    n <= SMTP_ORCPT_MAX ? SMTP_PARSE_OK : SMTP_PARSE_BAD_PARAM);
		if (n <= SMTP_ORCPT_MAX)
			assert_int_equal(strlen(r.orcpt), n);
	}
}

static void
test_xtext(void **state)
{
	char out[8];
	size_t n;

	(void)state;
	assert_true(smtp_xtext_decode(SLICE_LIT("a+2Bb"), out, 7, &n));
	assert_int_equal(n, 3);
	assert_string_equal(out, "a+b");
	assert_true(smtp_xtext_decode(SLICE_LIT("1234567"), out, 7, &n));
	assert_false(smtp_xtext_decode(SLICE_LIT("12345678"), out, 7, &n));
	assert_true(smtp_xtext_decode(SLICE_LIT(""), out, 7, &n));
	assert_int_equal(n, 0);
	assert_false(smtp_xtext_decode(SLICE_LIT("a b"), out, 7, &n));
	assert_false(smtp_xtext_decode(SLICE_LIT("a=b"), out, 7, &n));
	assert_false(smtp_xtext_decode(SLICE_LIT("+00"), out, 7, &n));
	assert_false(smtp_xtext_decode(SLICE_LIT("+7F"), out, 7, &n));
	assert_false(smtp_xtext_decode(SLICE_LIT("+1F"), out, 7, &n));
	assert_true(smtp_xtext_decode(SLICE_LIT("+20"), out, 7, &n));
	assert_false(smtp_xtext_decode(SLICE_LIT("+"), out, 7, &n));
	assert_false(smtp_xtext_decode(SLICE_LIT("+4"), out, 7, &n));
	assert_false(smtp_xtext_decode(SLICE_LIT("+4g"), out, 7, &n));
	assert_false(smtp_xtext_decode(SLICE_LIT("\x80"), out, 7, &n));
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
		cmocka_unit_test(test_parse_rcpt_dsn),
		cmocka_unit_test(test_parse_mail_dsn),
		cmocka_unit_test(test_parse_dsn_limits),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_parse_verb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
