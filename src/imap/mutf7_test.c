/* SPDX-License-Identifier: MIT */
/* Unit tests for modified UTF-7: RFC 3501 examples, round trips of
 * every plane, the strict refusals (non-minimal runs, leftover bits,
 * surrogates, raw 8-bit) and UTF-8 validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/mutf7.h"
#include "lib/buf.h"

static void
dec_ok(const char *in, const char *want)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	buf_append(&b, "pre", 3);
	if (!mutf7_to_utf8(slice_cstr(in), &b))
		fail_msg("refused \"%s\"", in);
	assert_string_equal(b.p + 3, want);
	buf_clear(&b);
}

static void
dec_bad(const char *in)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	buf_append(&b, "pre", 3);
	if (mutf7_to_utf8(slice_cstr(in), &b))
		fail_msg("accepted \"%s\" as \"%s\"", in, b.p + 3);
	assert_int_equal(b.len, 3); /* left as it was */
	assert_string_equal(b.p, "pre");
	buf_clear(&b);
}

static void
enc_ok(const char *in, const char *want)
{
	struct buf b, back;

	buf_init(&b, 1 << 20);
	buf_init(&back, 1 << 20);
	assert_true(mutf7_from_utf8(slice_cstr(in), &b));
	assert_string_equal(b.p != NULL ? b.p : "", want);
	assert_true(mutf7_to_utf8(buf_slice(&b), &back));
	assert_string_equal(back.p != NULL ? back.p : "", in);
	buf_clear(&b);
	buf_clear(&back);
}

static void
test_rfc_examples(void **state)
{
	(void)state;
	/* RFC 3501 §5.1.3 */
	dec_ok("~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	    "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac"
	    "\xe8\xaa\x9e");
	enc_ok("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac"
	       "\xe8\xaa\x9e",
	    "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	dec_ok("&Jjo-", "\xe2\x98\xba");
	enc_ok("\xe2\x98\xba", "&Jjo-");
	dec_ok("&-", "&");
	enc_ok("&", "&-");
	enc_ok("a&b&-&", "a&-b&--&-");
	dec_ok("", "");
	enc_ok("", "");
	enc_ok("INBOX", "INBOX");
	enc_ok("Entw\xc3\xbcrfe", "Entw&APw-rfe");
	enc_ok("\xc3\xa9\xc3\xa9\xc3\xa9", "&AOkA6QDp-");
	/* a supplementary character: a surrogate pair */
	enc_ok("\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail");
	enc_ok("\xf4\x8f\xbf\xbf", "&2,,f,w-");
	/* controls and DEL are encoded */
	enc_ok("a\tb\x7f", "a&AAk-b&AH8-");
	enc_ok("\t\x7f", "&AAkAfw-");
}

static void
test_round_trips(void **state)
{
	struct buf u, m, back;

	(void)state;
	buf_init(&u, 1 << 24);
	buf_init(&m, 1 << 24);
	buf_init(&back, 1 << 24);
	/* every code point (no surrogates) in runs of 1..7 after ASCII */
	for (unsigned long cp = 1; cp <= 0x10ffff; cp += 1 + cp / 64) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		buf_reset(&u);
		buf_reset(&m);
		buf_reset(&back);
		for (unsigned k = 0; k < 1 + cp % 7; k++) {
			unsigned long c = cp + k;
			char s[4];
			size_t n;

			if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
				break;
			if (c < 0x80) {
				s[0] = (char)c;
				n = 1;
			} else if (c < 0x800) {
				s[0] = (char)(0xc0 | (c >> 6));
				s[1] = (char)(0x80 | (c & 0x3f));
				n = 2;
			} else if (c < 0x10000) {
				s[0] = (char)(0xe0 | (c >> 12));
				s[1] = (char)(0x80 | ((c >> 6) & 0x3f));
				s[2] = (char)(0x80 | (c & 0x3f));
				n = 3;
			} else {
				s[0] = (char)(0xf0 | (c >> 18));
				s[1] = (char)(0x80 | ((c >> 12) & 0x3f));
				s[2] = (char)(0x80 | ((c >> 6) & 0x3f));
				s[3] = (char)(0x80 | (c & 0x3f));
				n = 4;
			}
			buf_append(&u, s, n);
			if (k % 2 == 1)
				buf_append(&u, "x", 1);
		}
		assert_true(utf8_valid(buf_slice(&u)));
		assert_true(mutf7_from_utf8(buf_slice(&u), &m));
		for (size_t i = 0; i < m.len; i++)
			assert_true(m.p[i] >= 0x20 && m.p[i] <= 0x7e);
		assert_true(mutf7_to_utf8(buf_slice(&m), &back));
		assert_int_equal(back.len, u.len);
		assert_memory_equal(back.p, u.p, u.len);
	}
	buf_clear(&u);
	buf_clear(&m);
	buf_clear(&back);
}

static void
test_invalid(void **state)
{
	(void)state;
	dec_bad("&");             /* unterminated */
	dec_bad("&Jjo");          /* unterminated */
	dec_bad("&Jjo!");         /* RFC 3501's example of invalid */
	dec_bad("&Jj/-");         /* "/" is not modified base64 */
	dec_bad("&Jj=-");         /* no padding */
	dec_bad("&AGE-");         /* "a" encoded: non-minimal */
	dec_bad("&ACY-");         /* "&" encoded instead of "&-" */
	dec_bad("&AOk-&AOk-");    /* two adjacent runs: non-minimal */
	dec_bad("&AOkA6Q-&AOk-"); /* same */
	dec_bad("&Jjp-");         /* leftover bits not zero */
	dec_bad("&JjoA-");        /* six leftover bits: a spare character */
	dec_bad("&JjoAA-");       /* 12 leftover bits */
	dec_bad("&A-");           /* 6 bits: no unit */
	dec_bad("&AA-");          /* 12 bits */
	dec_bad("&2D0-");         /* lone high surrogate */
	dec_bad("&3OcA6Q-");      /* lone low surrogate */
	dec_bad("&2D3YPQ-");      /* high then high */
	dec_bad("&AAA-");         /* U+0000 */
	dec_bad("caf\xc3\xa9");   /* raw 8-bit */
	dec_bad("a\tb");          /* raw control */
	dec_bad("a\x7f");         /* raw DEL */
	/* accepted neighbours */
	dec_ok("&AOk-&-", "\xc3\xa9&");
	dec_ok("&-&AOk-", "&\xc3\xa9");
	dec_ok("&AOk-x&AOk-", "\xc3\xa9x\xc3\xa9");
}

static void
test_encode_invalid_utf8(void **state)
{
	static const char *const bad[] = { "\x80", "\xc0\xaf", "\xc1\xbf",
		"\xe0\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf",
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xc3",
		"\xe2\x98", "a\xc3(" };
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(utf8_valid(slice_cstr(bad[i])));
		buf_reset(&b);
		buf_append(&b, "x", 1);
		assert_false(mutf7_from_utf8(slice_cstr(bad[i]), &b));
		assert_int_equal(b.len, 1);
	}
	assert_true(utf8_valid(SLICE_LIT("\xed\x9f\xbf\xee\x80\x80")));
	assert_true(utf8_valid(SLICE_LIT("\xf4\x8f\xbf\xbf")));
	assert_true(utf8_valid(SLICE_LIT("")));
	/* NUL is valid UTF-8 but not a mailbox name character */
	assert_true(utf8_valid(slice_make("a\0b", 3)));
	assert_false(mutf7_from_utf8(slice_make("a\0b", 3), &b));
	buf_clear(&b);
}

static void
test_out_limit(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4);
	assert_false(mutf7_from_utf8(SLICE_LIT("\xc3\xa9\xc3\xa9"), &b));
	assert_int_equal(b.len, 0);
	assert_false(mutf7_to_utf8(SLICE_LIT("abcdefgh"), &b));
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_encode_invalid_utf8),
		cmocka_unit_test(test_out_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
