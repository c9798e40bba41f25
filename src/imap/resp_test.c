/* SPDX-License-Identifier: MIT */
/* Unit tests for the response writers' string rules: atom, quoted or
 * literal; mailbox names in modified UTF-7 (rev1) or UTF-8 (rev2,
 * UTF8=ACCEPT); mailbox arguments decoded; the capability list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/session_int.h"

static const char *
astring(struct buf *b, const char *s, size_t n, bool utf8)
{
	buf_reset(b);
	imap_buf_astring(b, slice_make(s, n), utf8);
	return b->p;
}

static void
test_astring(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 16);
	assert_string_equal(astring(&b, "INBOX", 5, false), "INBOX");
	assert_string_equal(astring(&b, "a]b", 3, false), "a]b");
	assert_string_equal(astring(&b, "", 0, false), "\"\"");
	assert_string_equal(astring(&b, "a b", 3, false), "\"a b\"");
	assert_string_equal(astring(&b, "NIL", 3, false), "\"NIL\"");
	assert_string_equal(astring(&b, "a\"b\\", 4, false), "\"a\\\"b\\\\\"");
	assert_string_equal(astring(&b, "a*", 2, false), "\"a*\"");
	assert_string_equal(astring(&b, "a%", 2, false), "\"a%\"");
	assert_string_equal(astring(&b, "(x)", 3, false), "\"(x)\"");
	assert_string_equal(astring(&b, "a\r\nb", 4, false), "{4}\r\na\r\nb");
	assert_string_equal(astring(&b, "caf\xc3\xa9", 5, false),
	    "{5}\r\ncaf\xc3\xa9");
	assert_string_equal(astring(&b, "caf\xc3\xa9", 5, true),
	    "\"caf\xc3\xa9\"");
	/* invalid UTF-8 is never quoted */
	assert_string_equal(astring(&b, "caf\xc3", 4, true), "{4}\r\ncaf\xc3");
	buf_clear(&b);
}

static void
test_mailbox(void **state)
{
	struct imap_session s;
	struct buf b;

	(void)state;
	memset(&s, 0, sizeof(s));
	buf_init(&b, 1 << 16);
	imap_buf_mailbox(&s, &b, "Caf\xc3\xa9/sub");
	assert_string_equal(b.p, "Caf&AOk-/sub");
	buf_reset(&b);
	imap_buf_mailbox(&s, &b, "A & B");
	assert_string_equal(b.p, "\"A &- B\"");
	buf_reset(&b);
	s.enabled = IMAP_ENABLED_UTF8;
	imap_buf_mailbox(&s, &b, "Caf\xc3\xa9/sub");
	assert_string_equal(b.p, "\"Caf\xc3\xa9/sub\"");
	buf_reset(&b);
	s.enabled = IMAP_ENABLED_REV2;
	imap_buf_mailbox(&s, &b, "Sent");
	assert_string_equal(b.p, "Sent");
	buf_clear(&b);
}

static void
test_arg_mailbox(void **state)
{
	struct imap_session s;
	struct imap_arg a;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&a, 0, sizeof(a));
	s.cmd_arena = arena_new("t", 1 << 20);
	a.type = IMAP_ARG_ATOM;
	a.str = SLICE_LIT("inbox");
	assert_string_equal(imap_arg_mailbox(&s, &a), "INBOX");
	a.str = SLICE_LIT("Caf&AOk-");
	assert_string_equal(imap_arg_mailbox(&s, &a), "Caf\xc3\xa9");
	a.str = SLICE_LIT("Inbox/x");
	assert_string_equal(imap_arg_mailbox(&s, &a), "INBOX/x");
	a.str = SLICE_LIT("Caf&AOk"); /* unterminated */
	assert_null(imap_arg_mailbox(&s, &a));
	a.str = SLICE_LIT("caf\xc3\xa9"); /* 8-bit in a rev1 session */
	assert_null(imap_arg_mailbox(&s, &a));
	s.enabled = IMAP_ENABLED_UTF8;
	assert_string_equal(imap_arg_mailbox(&s, &a), "caf\xc3\xa9");
	a.str = SLICE_LIT("caf\xc3");
	assert_null(imap_arg_mailbox(&s, &a));
	a.type = IMAP_ARG_QUOTED;
	a.str = SLICE_LIT("");
	assert_null(imap_arg_mailbox(&s, &a));
	arena_free(&s.cmd_arena);
}

static void
test_capabilities(void **state)
{
	struct imap_session s;
	struct imap_session_priv pv;
	struct buf b;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&pv, 0, sizeof(pv));
	s.priv = &pv;
	s.max_message_size = 1000;
	buf_init(&b, 4096);
	/* plaintext from a remote peer without a TLS context */
	s.state = IMAP_STATE_NOAUTH;
	imap_capabilities(&s, &b);
	assert_non_null(strstr(b.p, "LOGINDISABLED"));
	assert_null(strstr(b.p, "AUTH=PLAIN"));
	assert_non_null(strstr(b.p, "LITERAL-"));
	assert_non_null(strstr(b.p, "APPENDLIMIT=1000"));
	/* loopback */
	buf_reset(&b);
	pv.loopback = true;
	imap_capabilities(&s, &b);
	assert_null(strstr(b.p, "LOGINDISABLED"));
	assert_non_null(strstr(b.p, "AUTH=PLAIN"));
	/* after login */
	buf_reset(&b);
	s.state = IMAP_STATE_AUTH;
	imap_capabilities(&s, &b);
	assert_null(strstr(b.p, "AUTH=PLAIN"));
	assert_non_null(strstr(b.p, "LITERAL+"));
	assert_non_null(strstr(b.p, "COMPRESS=DEFLATE"));
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_astring),
		cmocka_unit_test(test_mailbox),
		cmocka_unit_test(test_arg_mailbox),
		cmocka_unit_test(test_capabilities),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
