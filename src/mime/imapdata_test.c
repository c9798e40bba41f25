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
#include "mime/parser.h"

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
		{ "a@b c@d", "||a|b;" },
		{ "a @ b", "||a|b;" },
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
	                                   "To: nohost, \"q\\\"x\"@h\r\n\r\n"),
	                     &b),
	    0);
	assert_string_equal(b.p,
	    "(NIL {5}\r\ncaf\xc3\xa9 ((NIL NIL \"a\" \"b\")) "
	    "((NIL NIL \"a\" \"b\")) ((\"x\\\"y\" NIL \"c\" \"d\")) "
	    "((NIL NIL \"nohost\" \"\")(NIL NIL \"q\\\"x\" \"h\")) NIL NIL NIL "
	    "NIL)");
	buf_clear(&b);
	buf_init(&b, 20);
	assert_int_equal(mime_envelope(SLICE_LIT(hdr1), &b), ERR_LIMIT);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

struct datecase {
	const char *in;
	bool ok;
	int64_t t;
	int tz;
};

static void
test_date(void **state)
{
	static const struct datecase cases[] = {
		{ "Mon, 7 Feb 1994 21:52:25 -0800 (PST)", true, 760686745,
		    -480 },
		{ "7 Feb 94 21:52 EST", true, 760675920, -300 },
		{ "Tue, 1 Jul 2003 10:52:37 +0200", true, 1057049557, 120 },
		{ " Thu , 13 Feb 2020 12:00:00 GMT", true, 1581595200, 0 },
		{ "Thu, 13 Feb 2020 12:00 Z", true, 1581595200, 0 },
		{ "13 Feb 2020 (c) 12:00:00 (x)", true, 1581595200, 0 },
		{ "13-Feb-2020 12:00:00 +0000", true, 1581595200, 0 },
		{ "Mon Feb  7 21:52:25 1994", true, 760657945, 0 },
		{ "1 Jan 049 00:00:00 +0000", true, -662688000, 0 },
		{ "31 Dec 49 23:59:59 +0000", true, 2524607999, 0 },
		{ "1 Jan 70 00:00:00 +0000", true, 0, 0 },
		{ "29 Feb 2020 00:00:00 +0000", true, 1582934400, 0 },
		{ "29 Feb 2021 00:00:00 +0000", false, 0, 0 },
		{ "1 Jan 2020 24:00:00 +0000", false, 0, 0 },
		{ "1 Jan 2020 10:00 +0060", false, 0, 0 },
		{ "1 Foo 2020 10:00 +0000", false, 0, 0 },
		{ "hello", false, 0, 0 },
		{ "", false, 0, 0 },
		{ "Mon,", false, 0, 0 },
	};
	int64_t t;
	int tz;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t = 0;
		tz = 0;
		if (mime_date_parse(slice_cstr(cases[i].in), &t, &tz) !=
		    cases[i].ok)
			fail_msg("case %zu: %s", i, cases[i].in);
		if (cases[i].ok && (t != cases[i].t || tz != cases[i].tz))
			fail_msg("case %zu: %s -> %lld %d", i, cases[i].in,
			    (long long)t, tz);
	}
}

static void
test_base_subject(void **state)
{
	static const struct dcase cases[] = {
		{ "Re: hello", "hello" },
		{ "RE: Re: re: hello", "hello" },
		{ "Fwd: hello (fwd)", "hello" },
		{ "fw: hello (FWD) (fwd) ", "hello" },
		{ "[list] Re: hello", "hello" },
		{ "Re: [list] hello", "hello" },
		{ "Re[2]: hello", "hello" },
		{ "Re [2] : hello", "hello" },
		{ "[fwd: Re: hello]", "hello" },
		{ "[Fwd: [fwd: x (fwd)]]", "x" },
		{ "[list]", "[list]" },
		{ "[a][b] c", "c" },
		{ "  Hello \t\r\n  World  ", "hello world" },
		{ "\xc3\x89"
		  "COLE \xd0\x9f\xd0\xa0",
		    "\xc3\xa9"
		    "cole \xd0\xbf"
		    "\xd1\x80" },
		{ "Fw: ", "" },
		{ "Reply", "reply" },
		{ "Re:", "" },
		{ "", "" },
	};
	struct buf b;

	(void)state;
	buf_init(&b, BIG);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		assert_int_equal(buf_append(&b, "", 0), 0);
		assert_int_equal(mime_base_subject(slice_cstr(cases[i].in), &b),
		    0);
		if (strcmp(b.p, cases[i].out) != 0)
			fail_msg("case %zu: %s -> %s", i, cases[i].in, b.p);
	}
	buf_clear(&b);
}

static const char msg_plain[] = "From: a@b\r\n"
                                "Subject: hi\r\n"
                                "Content-Type: text/plain; charset=utf-8\r\n"
                                "\r\n"
                                "line1\r\n"
                                "line2\r\n";

static const char msg_noct[] = "Subject: x\r\n\r\nhello\r\n";

static const char msg_alt[] =
    "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--b1\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "plain\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=\"us-ascii\"\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "<p>html</p>\r\n"
    "--b1--\r\n";

static const char msg_mixed[] =
    "Content-Type: multipart/mixed; boundary=XX\r\n"
    "\r\n"
    "--XX\r\n"
    "\r\n"
    "text\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment;\r\n"
    "\tfilename=\"a.bin\"\r\n"
    "Content-ID: <id1@x>\r\n"
    "Content-Language: en, de\r\n"
    "\r\n"
    "AAECAw==\r\n"
    "--XX--\r\n";

static const char msg_nested[] = "Content-Type: multipart/mixed; boundary=o\r\n"
                                 "\r\n"
                                 "--o\r\n"
                                 "Content-Type: message/rfc822\r\n"
                                 "\r\n"
                                 "From: x@y\r\n"
                                 "Subject: inner\r\n"
                                 "\r\n"
                                 "inner body\r\n"
                                 "--o--\r\n";

static const char msg_nested_mp[] =
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: \"q\\\" \x01\r\n"
    "Content-Type: multipart/mixed; boundary=i\r\n"
    "\r\n"
    "--i\r\n"
    "Content-Type: text/plain; charset=\"a\\\"b\"\r\n"
    "\r\n"
    "x\r\n"
    "--i\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: deepest\r\n"
    "\r\n"
    "y\r\n"
    "--i--\r\n";

static struct mime_structure *
build(const char *msg, size_t len, size_t step)
{
	struct mime_structure *s = mime_structure_new();
	struct err err;
	size_t off, n;

	for (off = 0; off < len; off += n) {
		n = step == 0 || len - off < step ? len - off : step;
		assert_int_equal(mime_structure_push(s, msg + off, n, &err), 0);
	}
	assert_int_equal(mime_structure_finish(s, &err), 0);
	return s;
}

static void
expect_bs(const char *msg, bool extended, const char *want)
{
	struct mime_structure *s = build(msg, strlen(msg), 0);
	struct buf b;

	buf_init(&b, BIG);
	assert_int_equal(mime_bodystructure(s, 0, extended, &b), 0);
	if (strcmp(b.p, want) != 0)
		fail_msg("got  %s\nwant %s", b.p, want);
	buf_clear(&b);
	mime_structure_free(&s);
	assert_null(s);
}

static void
test_bodystructure(void **state)
{
	(void)state;
	expect_bs(msg_plain, true,
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 14 2 "
	    "NIL NIL NIL NIL)");
	expect_bs(msg_plain, false,
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 14 "
	    "2)");
	expect_bs(msg_noct, true,
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 "
	    "1 NIL NIL NIL NIL)");
	expect_bs(msg_alt, true,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
	    "5 0 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"us-ascii\") "
	    "NIL NIL \"QUOTED-PRINTABLE\" 11 0 NIL NIL NIL NIL) "
	    "\"ALTERNATIVE\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)");
	expect_bs(msg_alt, false,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
	    "5 0)(\"TEXT\" \"HTML\" (\"CHARSET\" \"us-ascii\") NIL NIL "
	    "\"QUOTED-PRINTABLE\" 11 0) \"ALTERNATIVE\")");
	expect_bs(msg_mixed, true,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
	    "4 0 NIL NIL NIL NIL)(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" "
	    "\"a.bin\") \"<id1@x>\" NIL \"BASE64\" 8 NIL (\"ATTACHMENT\" "
	    "(\"FILENAME\" \"a.bin\")) (\"en\" \"de\") NIL) \"MIXED\" "
	    "(\"BOUNDARY\" \"XX\") NIL NIL NIL)");
	expect_bs(msg_nested, true,
	    "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 39 (NIL \"inner\" "
	    "((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" "
	    "\"y\")) NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" "
	    "\"US-ASCII\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL) 3 NIL NIL "
	    "NIL NIL) \"MIXED\" (\"BOUNDARY\" \"o\") NIL NIL NIL)");
	expect_bs(msg_nested_mp, false,
	    "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 181 (NIL "
	    "\"\\\"q\\\\\\\" \x01\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"a\\\"b\") NIL NIL \"7BIT\" 1 "
	    "0)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 21 (NIL "
	    "\"deepest\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" "
	    "(\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0) 2) \"MIXED\") "
	    "14)");
	/* An empty multipart still has one (empty) body. */
	expect_bs("Content-Type: multipart/mixed; boundary=z\r\n\r\nno parts",
	    false,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
	    "0 0) \"MIXED\")");
	/* 8-bit and CR/LF in strings become literals. */
	expect_bs("Content-Type: text/plain; name=\"caf\xc3\xa9\"\r\n\r\n",
	    false,
	    "(\"TEXT\" \"PLAIN\" (\"NAME\" {5}\r\ncaf\xc3\xa9 \"CHARSET\" "
	    "\"US-ASCII\") NIL NIL "
	    "\"7BIT\" 0 0)");
	/* One language is still a list; a disposition without parameters. */
	expect_bs("Content-Type: image/png\r\nContent-Disposition: inline\r\n"
	          "Content-Language: en\r\n\r\nPNG\r\n",
	    true,
	    "(\"IMAGE\" \"PNG\" NIL NIL NIL \"7BIT\" 5 NIL (\"INLINE\" NIL) "
	    "(\"en\") NIL)");
	/* RFC 2231 continuations joined. */
	expect_bs("Content-Type: application/x; title*1=\" c\";\r\n"
	          " title*0=\"a b\"; x*=us-ascii'en'y\r\n"
	          "Content-Disposition: attachment; filename*0*=utf-8''%E2%82;"
	          " filename*1*=%AC.txt; filename*3=lost\r\n\r\n",
	    true,
	    "(\"APPLICATION\" \"X\" (\"TITLE\" \"a b c\" \"X*\" "
	    "\"us-ascii'en'y\") NIL NIL \"7BIT\" 0 NIL (\"ATTACHMENT\" "
	    "(\"FILENAME*\" \"utf-8''%E2%82%AC.txt\")) NIL NIL)");
	expect_bs("Content-Transfer-Encoding: x-uue\r\n"
	          "Content-Type: application/x; a=1 ;b=\"2\"\r\n\r\nz",
	    false,
	    "(\"APPLICATION\" \"X\" (\"A\" \"1\" \"B\" \"2\") NIL NIL "
	    "\"X-UUE\" 1)");
}

static void
test_structure_offsets(void **state)
{
	struct mime_structure *s = build(msg_alt, sizeof(msg_alt) - 1, 0);
	const struct mime_part *p;
	const char *plain = strstr(msg_alt, "Content-Type: text/plain");
	const char *html = strstr(msg_alt, "Content-Type: text/html");
	size_t n;

	(void)state;
	p = mime_structure_parts(s, &n);
	assert_int_equal(n, 3);
	assert_int_equal(p[0].hdr_off, 0);
	assert_int_equal(p[0].body_off, strstr(msg_alt, "preamble") - msg_alt);
	assert_int_equal(p[0].end_off, sizeof(msg_alt) - 1);
	assert_true(p[0].is_multipart);
	assert_int_equal(p[0].first_child, 1);
	assert_int_equal(p[1].parent, 0);
	assert_int_equal(p[1].next_sibling, 2);
	assert_int_equal(p[2].next_sibling, MIME_PART_NONE);
	assert_int_equal(p[1].hdr_off, plain - msg_alt);
	assert_int_equal(p[1].body_off,
	    strstr(msg_alt, "\r\n\r\nplain") + 4 - msg_alt);
	assert_int_equal(p[1].end_off, p[1].body_off + 5);
	assert_int_equal(p[1].depth, 1);
	assert_int_equal(p[2].hdr_off, html - msg_alt);
	assert_int_equal(p[2].cte, MIME_CTE_QP);
	assert_int_equal(p[2].body_lines, 0); /* no line feed */
	assert_int_equal(p[0].body_lines, 11);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("")), 0);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1")), 1);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("2")), 2);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("3")),
	    MIME_PART_NONE);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.1")),
	    MIME_PART_NONE);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("0")),
	    MIME_PART_NONE);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("01")),
	    MIME_PART_NONE);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.")),
	    MIME_PART_NONE);
	assert_int_equal(mime_structure_find(s, SLICE_LIT(".1")),
	    MIME_PART_NONE);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("x")),
	    MIME_PART_NONE);
	mime_structure_free(&s);

	/* A non-multipart message: part 1 is its body, nothing below. */
	s = build(msg_plain, sizeof(msg_plain) - 1, 0);
	p = mime_structure_parts(s, &n);
	assert_int_equal(n, 1);
	assert_int_equal(p[0].body_off, strstr(msg_plain, "line1") - msg_plain);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1")), 0);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("2")),
	    MIME_PART_NONE);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.1")),
	    MIME_PART_NONE);
	mime_structure_free(&s);

	/* Embedded messages: 1 = the message/rfc822 part, 1.1 = the body
	 * of its non-multipart message. */
	s = build(msg_nested, sizeof(msg_nested) - 1, 0);
	p = mime_structure_parts(s, &n);
	assert_int_equal(n, 3);
	assert_true(p[1].is_message);
	assert_int_equal(p[1].first_child, 2);
	assert_int_equal(p[2].hdr_off, p[1].body_off);
	assert_int_equal(p[2].end_off, p[1].end_off);
	assert_int_equal(p[2].depth, 2);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1")), 1);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.1")), 2);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.2")),
	    MIME_PART_NONE);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.1.1")),
	    MIME_PART_NONE);
	mime_structure_free(&s);

	/* message/rfc822 at the top holding a multipart. */
	s = build(msg_nested_mp, sizeof(msg_nested_mp) - 1, 0);
	p = mime_structure_parts(s, &n);
	assert_int_equal(n, 5);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1")), 0);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.1")), 2);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.2")), 3);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.2.1")), 4);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.3")),
	    MIME_PART_NONE);
	assert_int_equal(p[4].depth, 3);
	assert_int_equal(p[1].depth, 1);
	mime_structure_free(&s);
	mime_structure_free(&s); /* NULL is fine */
}

/* The tree and BODYSTRUCTURE do not depend on how the bytes arrive. */
static void
check_split(const char *msg)
{
	size_t len = strlen(msg), n, n1, n2, i;
	struct mime_structure *whole = build(msg, len, 0), *s;
	const struct mime_part *pw, *ps;
	struct buf bw, bs;
	struct err err;

	buf_init(&bw, BIG);
	buf_init(&bs, BIG);
	assert_int_equal(mime_bodystructure(whole, 0, true, &bw), 0);
	pw = mime_structure_parts(whole, &n);
	for (i = 0; i <= len; i++) {
		s = mime_structure_new();
		assert_int_equal(mime_structure_push(s, msg, i, &err), 0);
		assert_int_equal(mime_structure_push(s, msg + i, len - i, &err),
		    0);
		assert_int_equal(mime_structure_finish(s, &err), 0);
		ps = mime_structure_parts(s, &n2);
		assert_int_equal(n2, n);
		assert_memory_equal(ps, pw, n * sizeof(*pw));
		buf_reset(&bs);
		assert_int_equal(mime_bodystructure(s, 0, true, &bs), 0);
		assert_string_equal(bs.p, bw.p);
		mime_structure_free(&s);
	}
	s = build(msg, len, 1);
	ps = mime_structure_parts(s, &n1);
	assert_int_equal(n1, n);
	assert_memory_equal(ps, pw, n * sizeof(*pw));
	mime_structure_free(&s);
	mime_structure_free(&whole);
	buf_clear(&bw);
	buf_clear(&bs);
}

static void
test_structure_split(void **state)
{
	(void)state;
	check_split(msg_plain);
	check_split(msg_noct);
	check_split(msg_alt);
	check_split(msg_mixed);
	check_split(msg_nested);
	check_split(msg_nested_mp);
}

static int
build_rc(const struct buf *msg)
{
	struct mime_structure *s = mime_structure_new();
	struct err err;
	int rc;

	rc = mime_structure_push(s, msg->p, msg->len, &err);
	if (rc == 0)
		rc = mime_structure_finish(s, &err);
	/* After a failure every call fails the same way. */
	if (rc != 0)
		assert_int_equal(mime_structure_finish(s, &err), rc);
	mime_structure_free(&s);
	return rc;
}

static void
test_structure_limits(void **state)
{
	struct buf m;
	unsigned k, i;

	(void)state;
	buf_init(&m, BIG);
	/* Depth through embedded messages: k message/rfc822 levels put the
	 * innermost part at depth k. */
	for (k = MIME_DEPTH_MAX; k <= MIME_DEPTH_MAX + 1; k++) {
		buf_reset(&m);
		for (i = 0; i < k; i++)
			assert_int_equal(buf_printf(&m,
			                     "Content-Type: "
			                     "message/rfc822\r\n\r\n"),
			    0);
		assert_int_equal(buf_printf(&m, "x"), 0);
		assert_int_equal(build_rc(&m),
		    k == MIME_DEPTH_MAX ? 0 : ERR_LIMIT);
	}
	/* The deepest tree still has a BODYSTRUCTURE: one '("' per level
	 * and one for the innermost part's ("CHARSET" ...). */
	{
		struct mime_structure *s;
		struct buf b;
		size_t open = 0;

		buf_reset(&m);
		for (i = 0; i < MIME_DEPTH_MAX; i++)
			assert_int_equal(buf_printf(&m,
			                     "Content-Type: "
			                     "message/rfc822\r\n\r\n"),
			    0);
		assert_int_equal(buf_printf(&m, "x"), 0);
		s = build(m.p, m.len, 0);
		buf_init(&b, BIG);
		assert_int_equal(mime_bodystructure(s, 0, true, &b), 0);
		for (i = 0; i < b.len; i++)
			open +=
			    b.p[i] == '(' && i + 1 < b.len && b.p[i + 1] == '"';
		assert_int_equal(open, MIME_DEPTH_MAX + 2);
		buf_clear(&b);
		mime_structure_free(&s);
	}
	/* Depth through multiparts inside one embedded message. */
	for (k = MIME_DEPTH_MAX; k <= MIME_DEPTH_MAX + 1; k++) {
		buf_reset(&m);
		assert_int_equal(buf_printf(&m,
		                     "Content-Type: "
		                     "message/rfc822\r\n\r\n"),
		    0);
		for (i = 1; i < k; i++)
			assert_int_equal(buf_printf(&m,
			                     "Content-Type: multipart/mixed; "
			                     "boundary=b%u\r\n\r\n--b%u\r\n",
			                     i, i),
			    0);
		assert_int_equal(buf_printf(&m, "\r\nx"), 0);
		assert_int_equal(build_rc(&m),
		    k == MIME_DEPTH_MAX ? 0 : ERR_LIMIT);
	}
	/* Parts: the root and its children, then the same across an
	 * embedded message (root, message part, its root, children). */
	for (k = MIME_PARTS_MAX; k <= MIME_PARTS_MAX + 1; k++) {
		buf_reset(&m);
		assert_int_equal(buf_printf(&m,
		                     "Content-Type: multipart/mixed;"
		                     " boundary=b\r\n\r\n"),
		    0);
		for (i = 1; i < k; i++)
			assert_int_equal(buf_printf(&m, "--b\r\n\r\nx\r\n"), 0);
		assert_int_equal(build_rc(&m),
		    k == MIME_PARTS_MAX ? 0 : ERR_LIMIT);
		buf_reset(&m);
		assert_int_equal(buf_printf(&m,
		                     "Content-Type: multipart/mixed; "
		                     "boundary=o\r\n\r\n--o\r\nContent-Type: "
		                     "message/rfc822\r\n\r\nContent-Type: "
		                     "multipart/mixed; boundary=b\r\n\r\n"),
		    0);
		for (i = 3; i < k; i++)
			assert_int_equal(buf_printf(&m, "--b\r\n\r\nx\r\n"), 0);
		assert_int_equal(buf_printf(&m, "--b--\r\n--o--\r\n"), 0);
		assert_int_equal(build_rc(&m),
		    k == MIME_PARTS_MAX ? 0 : ERR_LIMIT);
	}
	buf_clear(&m);
}

/* Regressions found by fuzzing. */
static void
test_structure_regressions(void **state)
{
	struct mime_structure *s;
	struct buf m, b;
	const struct mime_part *p;
	size_t n;

	(void)state;
	buf_init(&m, BIG);
	buf_init(&b, BIG);
	/* The parts array grows while an embedded message ends (it was
	 * used after being moved). */
	assert_int_equal(buf_printf(&m,
	                     "Content-Type: multipart/mixed; "
	                     "boundary=o\r\n\r\n--o\r\n"
	                     "Content-Type: message/rfc822\r\n\r\n"
	                     "Content-Type: multipart/mixed; "
	                     "boundary=i\r\n\r\n"),
	    0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(buf_printf(&m, "--i\r\n\r\n%d\r\n", i), 0);
	assert_int_equal(buf_printf(&m, "--i--\r\n--o--\r\n"), 0);
	s = build(m.p, m.len, 0);
	p = mime_structure_parts(s, &n);
	assert_int_equal(n, 43);
	assert_int_equal(p[1].end_off, p[2].end_off);
	assert_int_equal(mime_structure_find(s, SLICE_LIT("1.40")), 42);
	assert_int_equal(mime_bodystructure(s, 0, true, &b), 0);
	mime_structure_free(&s);
	/* The embedded message begins only when its part ends (empty
	 * body), as part 9 of a tree whose array holds 8. */
	buf_reset(&m);
	assert_int_equal(buf_printf(&m,
	                     "Content-Type: multipart/mixed; "
	                     "boundary=o\r\n\r\n"),
	    0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(buf_printf(&m, "--o\r\n\r\nx\r\n"), 0);
	assert_int_equal(buf_printf(&m,
	                     "--o\r\nContent-Type: message/rfc822"
	                     "\r\n\r\n--o--\r\n"),
	    0);
	s = build(m.p, m.len, 0);
	p = mime_structure_parts(s, &n);
	assert_int_equal(n, 9);
	assert_int_equal(p[7].body_off, p[7].end_off);
	assert_int_equal(p[8].parent, 7);
	mime_structure_free(&s);
	/* An empty field value (its buffer had no storage). */
	expect_bs("Content-Transfer-Encoding:\r\nContent-ID:\r\n\r\nx", true,
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") \"\" NIL "
	    "\"7BIT\" 1 0 NIL NIL NIL NIL)");
	/* Only empty parameter values (no storage for them). */
	expect_bs("Content-Type: text/x; a=\"\"\r\n\r\n", true,
	    "(\"TEXT\" \"X\" (\"A\" \"\" \"CHARSET\" \"US-ASCII\") NIL NIL "
	    "\"7BIT\" 0 0 NIL NIL NIL NIL)");
	/* A multipart without boundary is an empty multipart (Dovecot). */
	expect_bs("Content-Type: multipart/mixed\r\n\r\nbody\r\n", true,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	    "\"7BIT\" 0 0 NIL NIL NIL NIL) \"MIXED\" NIL NIL NIL NIL)");
	/* message/global: a basic part for IMAP4rev1 grammar (Dovecot). */
	expect_bs("Content-Type: message/global\r\n\r\nSubject: g\r\n\r\n"
	          "body\r\n",
	    false, "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 20)");
	/* The stand-in part of an empty multipart has extension data
	 * when the rest has. */
	expect_bs("Content-Type: multipart/mixed; boundary=z\r\n\r\n", true,
	    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	    "\"7BIT\" 0 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"z\") "
	    "NIL NIL NIL)");
	buf_clear(&m);
	buf_clear(&b);
}

static void
test_bodystructure_limit(void **state)
{
	struct mime_structure *s = build(msg_mixed, sizeof(msg_mixed) - 1, 0);
	struct buf b;

	(void)state;
	buf_init(&b, 40);
	assert_int_equal(buf_append(&b, "* 1 ", 4), 0);
	assert_int_equal(mime_bodystructure(s, 0, true, &b), ERR_LIMIT);
	assert_string_equal(b.p, "* 1 ");
	assert_int_equal(mime_bodystructure(s, 99, true, &b), ERR_INPUT);
	buf_clear(&b);
	buf_init(&b, BIG);
	assert_int_equal(mime_bodystructure(s, 2, false, &b), 0);
	assert_string_equal(b.p,
	    "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"a.bin\") "
	    "\"<id1@x>\" "
	    "NIL \"BASE64\" 8)");
	buf_clear(&b);
	mime_structure_free(&s);
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
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_bodystructure),
		cmocka_unit_test(test_structure_offsets),
		cmocka_unit_test(test_structure_split),
		cmocka_unit_test(test_structure_limits),
		cmocka_unit_test(test_bodystructure_limit),
		cmocka_unit_test(test_structure_regressions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
