/* SPDX-License-Identifier: MIT */
/* Unit tests for imapdata.h: header fields, RFC 2047 decoding, charsets,
 * addresses, ENVELOPE, dates, base subjects, the part tree (offsets,
 * section numbers, limits at N and N+1, split-everywhere feeding) and
 * BODYSTRUCTURE strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "mime/imapdata.h"
#include "mime/limits.h"

#define BIG (64u << 20)

static const char hdr1[] =
    "From: \"Doe, John\" <john@example.com>\r\n"
    "To: a@example.com,\r\n"
    " \"B (x)\" <b@example.com>, undisclosed-recipients:;\r\n"
    "Subject: =?UTF-8?B?w6ljb2xl?= test\r\n"
    "X-Long: one\r\n"
    "\ttwo\r\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    "Message-ID: <B27397-0100000@cac.washington.edu>\r\n"
    "\r\n"
    "body\r\n";

static void
test_header_get(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, BIG);
	assert_true(mime_header_get(SLICE_LIT(hdr1), "x-long", &b));
	assert_string_equal(b.p, "one\ttwo");
	assert_true(mime_header_get(SLICE_LIT(hdr1), "SUBJECT", &b));
	assert_string_equal(b.p, "=?UTF-8?B?w6ljb2xl?= test");
	assert_false(mime_header_get(SLICE_LIT(hdr1), "Cc", &b));
	assert_int_equal(b.len, 0);
	/* Fields after the blank line are body, not header. */
	assert_false(
	    mime_header_get(SLICE_LIT("A: 1\r\n\r\nB: 2\r\n"), "B", &b));
	/* Obsolete "Name :" and a last field without line break. */
	assert_true(
	    mime_header_get(SLICE_LIT("Name : v \r\nZ:last"), "name", &b));
	assert_string_equal(b.p, "v");
	assert_true(mime_header_get(SLICE_LIT("Name : v \r\nZ:last"), "z", &b));
	assert_string_equal(b.p, "last");
	buf_clear(&b);
}

static void
test_header_filter(void **state)
{
	struct slice names[] = { SLICE_LIT("x-long"), SLICE_LIT("From") };
	struct buf b;

	(void)state;
	buf_init(&b, BIG);
	assert_int_equal(mime_header_filter(SLICE_LIT(hdr1), names, 2, false,
	                     &b),
	    0);
	assert_string_equal(b.p,
	    "From: \"Doe, John\" <john@example.com>\r\n"
	    "X-Long: one\r\n\ttwo\r\n\r\n");
	buf_reset(&b);
	assert_int_equal(mime_header_filter(SLICE_LIT("A: 1\r\nB: 2\r\nC: 3"),
	                     names, 2, true, &b),
	    0);
	assert_string_equal(b.p, "A: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	buf_reset(&b);
	assert_int_equal(mime_header_filter(SLICE_LIT("A: 1\r\n\r\n"), names, 2,
	                     false, &b),
	    0);
	assert_string_equal(b.p, "\r\n");
	buf_clear(&b);
	buf_init(&b, 5);
	assert_int_equal(mime_header_filter(SLICE_LIT(hdr1), names, 2, false,
	                     &b),
	    ERR_LIMIT);
	buf_clear(&b);
}

struct dcase {
	const char *in, *out;
};

static void
test_header_decode(void **state)
{
	static const struct dcase cases[] = {
		{ "plain text", "plain text" },
		{ "=?UTF-8?B?w6ljb2xl?= test",
		    "\xc3\xa9"
		    "cole test" },
		{ "=?iso-8859-1?q?caf=E9?=", "caf\xc3\xa9" },
		{ "=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab" },
		{ "=?ISO-8859-1?Q?a?=  \t =?UTF-8?Q?b?=", "ab" },
		{ "=?ISO-8859-1?Q?a?= x =?ISO-8859-1?Q?b?=", "a x b" },
		{ "=?US-ASCII?Q?Keith_Moore?=", "Keith Moore" },
		/* A UTF-8 character split across two words. */
		{ "=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", "\xc3\xa9\xc3\xa9" },
		{ "=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9?=", "\xc3\xa9" },
		/* Invalid words stay raw. */
		{ "=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=" },
		{ "=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?=" },
		{ "=?UTF-8?Q?unterminated", "=?UTF-8?Q?unterminated" },
		{ "=??Q?x?=", "=??Q?x?=" },
		/* RFC 2231 language suffix. */
		{ "=?US-ASCII*EN?Q?hi?=", "hi" },
		/* Raw 8-bit: UTF-8 kept, else Latin-1. */
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "caf\xe9", "caf\xc3\xa9" },
		{ "=?x-nonexistent?Q?caf=E9?=", "caf\xc3\xa9" },
		{ "=?UTF-8?Q?bad=FFbyte?=",
		    "bad\xef\xbf\xbd"
		    "byte" },
		{ "=?koi8-r?B?8NLJ18XU?=",
		    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0"
		    "\xb5\xd1\x82" },
		{ "", "" },
	};
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, BIG);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		assert_int_equal(mime_header_decode(slice_cstr(cases[i].in),
		                     &b),
		    0);
		if (strcmp(b.p != NULL ? b.p : "", cases[i].out) != 0)
			fail_msg("case %zu: %s -> %s", i, cases[i].in, b.p);
	}
	buf_clear(&b);
}

static void
test_header_decode_limit(void **state)
{
	struct buf in, out;

	(void)state;
	buf_init(&in, BIG);
	buf_init(&out, BIG);
	for (size_t i = 0; i < MIME_FIELD_MAX; i++)
		assert_int_equal(buf_append(&in, "a", 1), 0);
	assert_int_equal(mime_header_decode(buf_slice(&in), &out), 0);
	assert_int_equal(out.len, MIME_FIELD_MAX);
	assert_int_equal(buf_append(&in, "\xe9", 1), 0); /* 2 bytes out */
	buf_reset(&out);
	assert_int_equal(mime_header_decode(buf_slice(&in), &out), ERR_LIMIT);
	buf_clear(&in);
	buf_clear(&out);
}

static void
test_charset(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, BIG);
	assert_int_equal(mime_charset_to_utf8("ISO-8859-15", SLICE_LIT("\xa4"),
	                     &b),
	    0);
	assert_string_equal(b.p, "\xe2\x82\xac");
	buf_reset(&b);
	assert_int_equal(mime_charset_to_utf8("windows-1252", SLICE_LIT("\x80"),
	                     &b),
	    0);
	assert_string_equal(b.p, "\xe2\x82\xac");
	buf_reset(&b);
	assert_int_equal(mime_charset_to_utf8("utf-8",
	                     SLICE_LIT("a\xff"
	                               "b"),
	                     &b),
	    0);
	assert_string_equal(b.p,
	    "a\xef\xbf\xbd"
	    "b");
	buf_reset(&b);
	/* Shift_JIS with a truncated last character. */
	assert_int_equal(mime_charset_to_utf8("shift_jis",
	                     SLICE_LIT("\x82\xa0\x82"), &b),
	    0);
	assert_string_equal(b.p, "\xe3\x81\x82\xef\xbf\xbd");
	buf_reset(&b);
	assert_int_equal(mime_charset_to_utf8("", SLICE_LIT("\xe9t\xe9"), &b),
	    0);
	assert_string_equal(b.p, "\xc3\xa9t\xc3\xa9");
	buf_reset(&b);
	assert_int_equal(mime_charset_to_utf8("../../etc/x", SLICE_LIT("ok"),
	                     &b),
	    0);
	assert_string_equal(b.p, "ok");
	buf_reset(&b);
	assert_int_equal(mime_charset_to_utf8("UTF-7",
	                     SLICE_LIT("Hi Mom -+Jjo--!"), &b),
	    0);
	assert_string_equal(b.p, "Hi Mom -\xe2\x98\xba-!");
	buf_clear(&b);
	buf_init(&b, 3);
	assert_int_equal(mime_charset_to_utf8("iso-8859-2", SLICE_LIT("abcd"),
	                     &b),
	    ERR_LIMIT);
	buf_clear(&b);
}

struct acase {
	const char *in;
	const char *out; /* name|adl|mailbox|host per address, ';' after each,
	                  * "<g" group start, "g>" group end */
};

static void
addr_format(struct buf *b, const struct mime_address *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].group_start)
			assert_int_equal(buf_append(b, "<g ", 3), 0);
		if (a[i].group_end) {
			assert_int_equal(buf_append(b, "g>;", 3), 0);
			continue;
		}
		assert_int_equal(buf_printf(b, "%.*s|%.*s|%.*s|%.*s;",
		                     (int)a[i].name.len, a[i].name.p,
		                     (int)a[i].adl.len, a[i].adl.p,
		                     (int)a[i].mailbox.len, a[i].mailbox.p,
		                     (int)a[i].host.len, a[i].host.p),
		    0);
	}
}

static void
test_address(void **state)
{
	static const struct acase cases[] = {
		{ "a@b.c", "||a|b.c;" },
		{ "John Doe <jd@x.org>", "John Doe||jd|x.org;" },
		{ "\"Doe, John\" <jd@x.org>, c@d",
		    "\"Doe, John\"||jd|x.org;||c|d;" },
		{ "jd@x.org (John Doe)", "John Doe||jd|x.org;" },
		{ "<@r1,@r2:jd@x.org>", "|@r1,@r2|jd|x.org;" },
		{ "Team: a@b, C <c@d>;, e@f",
		    "<g Team|||;||a|b;C||c|d;g>;||e|f;" },
		{ "undisclosed-recipients:;",
		    "<g undisclosed-recipients|||;g>;" },
		{ "G: a@b", "<g G|||;||a|b;g>;" },
		{ "\"quoted@local\"@x.org", "||\"quoted@local\"|x.org;" },
		{ "a@[1.2.3.4]", "||a|[1.2.3.4];" },
		{ "justname", "||justname|;" },
		{ ",,, ,", "" },
		{ "<>", "" },
		{ "Name <a@b", "Name||a|b;" },
		{ "a@b (c) , (d) e@f", "c||a|b;d||e|f;" },
		{ "", "" },
	};
	struct mime_address a[16];
	struct buf b;
	size_t i, n;

	(void)state;
	buf_init(&b, BIG);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		assert_int_equal(buf_append(&b, "", 0), 0);
		n = mime_address_parse(slice_cstr(cases[i].in), a, 16);
		addr_format(&b, a, n);
		if (strcmp(b.p, cases[i].out) != 0)
			fail_msg("case %zu: %s -> %s", i, cases[i].in, b.p);
	}
	/* max: a group keeps room for its end marker. */
	n = mime_address_parse(SLICE_LIT("G: a@b, c@d, e@f;"), a, 3);
	assert_int_equal(n, 3);
	assert_true(a[0].group_start);
	assert_true(a[2].group_end);
	assert_int_equal(mime_address_parse(SLICE_LIT("a@b, c@d"), a, 1), 1);
	assert_int_equal(mime_address_parse(SLICE_LIT("a@b, c@d"), a, 0), 0);
	buf_clear(&b);
}

static void
test_envelope(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, BIG);
	assert_int_equal(mime_envelope(SLICE_LIT(hdr1), &b), 0);
	assert_string_equal(b.p,
	    "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" "
	    "\"=?UTF-8?B?w6ljb2xl?= test\" "
	    "((\"Doe, John\" NIL \"john\" \"example.com\")) "
	    "((\"Doe, John\" NIL \"john\" \"example.com\")) "
	    "((\"Doe, John\" NIL \"john\" \"example.com\")) "
	    "((NIL NIL \"a\" \"example.com\")(\"B (x)\" NIL \"b\" "
	    "\"example.com\")(NIL NIL \"undisclosed-recipients\" NIL)"
	    "(NIL NIL NIL NIL)) "
	    "NIL NIL NIL \"<B27397-0100000@cac.washington.edu>\")");
	buf_reset(&b);
	assert_int_equal(mime_envelope(SLICE_LIT(""), &b), 0);
	assert_string_equal(b.p, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	buf_reset(&b);
	assert_int_equal(mime_envelope(SLICE_LIT(
	                                   "From: a@b\r\nSender: \r\n"
	                                   "Reply-To: \"x\\\"y\" <c@d>\r\n"
	                                   "Subject: caf\xc3\xa9\r\n"
	                                   "To: nohost\r\n\r\n"),
	                     &b),
	    0);
	assert_string_equal(b.p,
	    "(NIL {5}\r\ncaf\xc3\xa9 ((NIL NIL \"a\" \"b\")) "
	    "((NIL NIL \"a\" \"b\")) ((\"x\\\"y\" NIL \"c\" \"d\")) "
	    "((NIL NIL \"nohost\" \"\")) NIL NIL NIL NIL)");
	buf_clear(&b);
	buf_init(&b, 20);
	assert_int_equal(mime_envelope(SLICE_LIT(hdr1), &b), ERR_LIMIT);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_get),
		cmocka_unit_test(test_header_filter),
		cmocka_unit_test(test_header_decode),
		cmocka_unit_test(test_header_decode_limit),
		cmocka_unit_test(test_charset),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_envelope),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
