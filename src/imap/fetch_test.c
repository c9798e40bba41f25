/* SPDX-License-Identifier: MIT */
/* Unit tests of the message commands' pure parts: FETCH item parsing,
 * INTERNALDATE formatting and parsing, partial ranges, UID sets, flag
 * validation and APPEND's line-end normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "imap/fetch_int.h"
#include "lib/arena.h"
#include "lib/buf.h"

static struct imap_arg
atom(const char *s)
{
	struct imap_arg a;

	memset(&a, 0, sizeof(a));
	a.type = IMAP_ARG_ATOM;
	a.str = slice_cstr(s);
	return a;
}

static void
test_spec_single(void **state)
{
	struct arena *a = arena_new("t", 1 << 20);
	struct imap_arg it =
	    atom("BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.10>");
	struct fetch_spec sp;
	const char *why;

	(void)state;
	assert_true(fetch_spec_parse(a, &it, NULL, &sp, &why));
	assert_int_equal(sp.n, 1);
	assert_int_equal(sp.items[0].kind, FETCH_SECTION);
	assert_true(sp.items[0].peek);
	assert_true(sp.items[0].partial);
	assert_int_equal(sp.items[0].count, 10);
	assert_int_equal(sp.items[0].text, FETCH_TEXT_FIELDS);
	assert_int_equal(sp.items[0].n_fields, 2);
	assert_int_equal(sp.items[0].fields[1].len, 2);
	assert_memory_equal(sp.items[0].fields[1].p, "To", 2);
	assert_string_equal(sp.items[0].label,
	    "BODY[HEADER.FIELDS (From \"To\")]");
	assert_false(sp.sets_seen);
	assert_true(sp.need_header);
	assert_false(sp.need_structure);
	arena_free(&a);
}

static void
test_spec_list_and_macros(void **state)
{
	struct arena *a = arena_new("t", 1 << 20);
	struct imap_arg l, x[4], mods, m[3];
	struct fetch_spec sp;
	const char *why;

	(void)state;
	x[0] = atom("UID");
	x[1] = atom("body[1.2.MIME]");
	x[2] = atom("BINARY.SIZE[3]");
	x[3] = atom("RFC822");
	x[0].next = &x[1];
	x[1].next = &x[2];
	x[2].next = &x[3];
	memset(&l, 0, sizeof(l));
	l.type = IMAP_ARG_LIST;
	l.list = &x[0];
	l.n = 4;
	m[0] = atom("CHANGEDSINCE");
	m[1] = atom("12345");
	m[2] = atom("VANISHED");
	m[0].next = &m[1];
	m[1].next = &m[2];
	memset(&mods, 0, sizeof(mods));
	mods.type = IMAP_ARG_LIST;
	mods.list = &m[0];
	mods.n = 3;
	assert_true(fetch_spec_parse(a, &l, &mods, &sp, &why));
	assert_true(sp.changedsince_set);
	assert_int_equal(sp.changedsince, 12345);
	assert_true(sp.vanished);
	assert_true(sp.has_modseq);
	m[1] = atom("x");
	m[0].next = &m[1];
	m[1].next = &m[2];
	assert_false(fetch_spec_parse(a, &l, &mods, &sp, &why));
	assert_true(fetch_spec_parse(a, &l, NULL, &sp, &why));
	assert_int_equal(sp.n, 4);
	assert_true(sp.has_uid);
	assert_int_equal(sp.items[1].text, FETCH_TEXT_MIME);
	assert_int_equal(sp.items[1].part.len, 3);
	assert_string_equal(sp.items[1].label, "BODY[1.2.MIME]");
	assert_int_equal(sp.items[2].kind, FETCH_BINARY_SIZE);
	assert_string_equal(sp.items[3].label, "RFC822");
	assert_true(sp.sets_seen);
	assert_true(sp.need_structure);

	x[0] = atom("FULL");
	assert_true(fetch_spec_parse(a, &x[0], NULL, &sp, &why));
	assert_int_equal(sp.n, 5);
	assert_int_equal(sp.items[4].kind, FETCH_BODY);
	x[0] = atom("fast");
	assert_true(fetch_spec_parse(a, &x[0], NULL, &sp, &why));
	assert_int_equal(sp.n, 3);
	arena_free(&a);
}

static void
test_spec_bad(void **state)
{
	static const char *const bad[] = { "BODY[", "BODY[1.]", "BODY[0]",
		"BODY[MIME]", "BODY[1.X]", "BODY[]<1>", "BODY[]<1.0>",
		"BINARY[HEADER]", "BINARY.SIZE[1]<0.5>", "FOO",
		"BODY[HEADER.FIELDS ()]", "BODY[HEADER.FIELDS]",
		"BODY[HEADER.FIELDS (A:)]", "BODY.PEEKX[]", "RFC822.SIZEX",
		"BODY[01]" };
	struct arena *a = arena_new("t", 1 << 20);
	struct fetch_spec sp;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_arg x = atom(bad[i]);

		if (fetch_spec_parse(a, &x, NULL, &sp, &why))
			fail_msg("accepted %s", bad[i]);
	}
	arena_free(&a);
}

static void
test_spec_sections(void **state)
{
	struct arena *a = arena_new("t", 1 << 20);
	struct fetch_spec sp;
	const char *why;
	struct imap_arg x;

	(void)state;
	x = atom("BODY[]");
	assert_true(fetch_spec_parse(a, &x, NULL, &sp, &why));
	assert_true(sp.sets_seen);
	assert_false(sp.need_header);
	assert_false(sp.need_structure);
	x = atom("BODY[TEXT]<5.7>");
	assert_true(fetch_spec_parse(a, &x, NULL, &sp, &why));
	assert_true(sp.need_header);
	assert_int_equal(sp.items[0].origin, 5);
	x = atom("BINARY.PEEK[2]");
	assert_true(fetch_spec_parse(a, &x, NULL, &sp, &why));
	assert_true(sp.items[0].binary);
	assert_false(sp.sets_seen);
	assert_true(sp.need_structure);
	x = atom("BODY[2.HEADER.FIELDS.NOT (X-A X-B)]");
	assert_true(fetch_spec_parse(a, &x, NULL, &sp, &why));
	assert_int_equal(sp.items[0].text, FETCH_TEXT_FIELDS_NOT);
	assert_int_equal(sp.items[0].n_fields, 2);
	arena_free(&a);
}

static void
test_date(void **state)
{
	char d[FETCH_DATE_LEN + 1];
	int64_t t;

	(void)state;
	fetch_format_date(0, d);
	assert_string_equal(d, "01-Jan-1970 00:00:00 +0000");
	fetch_format_date(1795452176, d);
	assert_string_equal(d, "23-Nov-2026 16:42:56 +0000");
	assert_true(
	    fetch_parse_date(slice_cstr("23-Nov-2026 16:42:56 +0000"), &t));
	assert_int_equal(t, 1795452176);
	assert_true(
	    fetch_parse_date(slice_cstr(" 1-Jan-1970 01:00:00 +0100"), &t));
	assert_int_equal(t, 0);
	assert_true(
	    fetch_parse_date(slice_cstr("1-jan-1970 00:00:00 -0130"), &t));
	assert_int_equal(t, 5400);
	assert_true(
	    fetch_parse_date(slice_cstr("29-Feb-2024 12:00:00 +0000"), &t));
	assert_false(
	    fetch_parse_date(slice_cstr("32-Jan-2020 00:00:00 +0000"), &t));
	assert_false(
	    fetch_parse_date(slice_cstr("01-Foo-2020 00:00:00 +0000"), &t));
	assert_false(
	    fetch_parse_date(slice_cstr("01-Jan-2020 24:00:00 +0000"), &t));
	assert_false(fetch_parse_date(slice_cstr("01-Jan-2020"), &t));
}

static void
test_partial(void **state)
{
	uint64_t off, n;

	(void)state;
	fetch_partial(100, false, 0, 0, &off, &n);
	assert_true(off == 0 && n == 100);
	fetch_partial(100, true, 10, 20, &off, &n);
	assert_true(off == 10 && n == 20);
	fetch_partial(100, true, 90, 20, &off, &n);
	assert_true(off == 90 && n == 10);
	fetch_partial(100, true, 100, 20, &off, &n);
	assert_true(n == 0);
	fetch_partial(100, true, 500, 20, &off, &n);
	assert_true(n == 0);
}

static void
test_uidset(void **state)
{
	static const uint32_t v[] = { 1, 2, 3, 5, 7, 8, 4294967295u };
	struct arena *a = arena_new("t", 1 << 20);
	struct seqset set;
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(fetch_uidset_format(v, 7, &b), 0);
	assert_string_equal(b.p, "1:3,5,7:8,4294967295");
	buf_clear(&b);
	fetch_uidset_build(a, v, 7, &set);
	assert_int_equal(set.n, 4);
	assert_true(fetch_uidset_has(&set, 2));
	assert_true(fetch_uidset_has(&set, 8));
	assert_true(fetch_uidset_has(&set, 4294967295u));
	assert_false(fetch_uidset_has(&set, 4));
	assert_false(fetch_uidset_has(&set, 9));
	arena_free(&a);
}

static void
test_flags(void **state)
{
	struct imap_arg l, x[3];
	struct buf b;
	const char *why;

	(void)state;
	x[0] = atom("\\seen");
	x[1] = atom("$Forwarded");
	x[2] = atom("\\DELETED");
	x[0].next = &x[1];
	x[1].next = &x[2];
	memset(&l, 0, sizeof(l));
	l.type = IMAP_ARG_LIST;
	l.list = x;
	l.n = 3;
	buf_init(&b, 1024);
	assert_true(imap_flags_parse(&l, false, false, &b, &why));
	assert_string_equal(b.p, "\\Seen $Forwarded \\Deleted");
	buf_reset(&b);
	assert_true(imap_flags_parse(&x[0], true, false, &b, &why));
	assert_false(imap_flags_parse(&x[0], false, false, &b, &why));
	x[1] = atom("\\Recent");
	x[1].next = &x[2];
	buf_reset(&b);
	assert_false(imap_flags_parse(&l, false, false, &b, &why));
	buf_reset(&b);
	assert_true(imap_flags_parse(&l, false, true, &b, &why));
	assert_string_equal(b.p, "\\Seen \\Deleted");
	x[1] = atom("\\Foo");
	x[1].next = &x[2];
	assert_false(imap_flags_parse(&l, false, true, &b, &why));
	x[1] = atom("a]b");
	assert_false(imap_flags_parse(&l, false, true, &b, &why));
	l.n = 0;
	l.list = NULL;
	buf_reset(&b);
	assert_true(imap_flags_parse(&l, false, false, &b, &why));
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

static void
test_crlf(void **state)
{
	char out[64];
	bool cr = false;
	size_t n;

	(void)state;
	n = append_crlf(&cr, "a\nb\r\nc\r", 7, out);
	assert_int_equal(n, 8);
	assert_memory_equal(out, "a\r\nb\r\nc\r", 8);
	n = append_crlf(&cr, "\nd\n", 3, out); /* CR of the previous call */
	assert_int_equal(n, 4);
	assert_memory_equal(out, "\nd\r\n", 4);
}

static void
test_preview(void **state)
{
	struct buf b;
	size_t i, chars = 0;

	(void)state;
	buf_init(&b, 1 << 16);
	(void)buf_printf(&b,
	    "<html><head><title>T</title><style>p{x}</style>"
	    "</head><body><p>Hello&nbsp;&amp;\r\n  world"
	    "</p></body></html>");
	fetch_html_strip(&b);
	fetch_preview_tidy(&b);
	assert_string_equal(b.p, "Hello & world");
	buf_reset(&b);
	for (i = 0; i < 150; i++)
		(void)buf_append(&b, "\xc3\xa9 ", 3); /* e-acute, space */
	fetch_preview_tidy(&b);
	for (i = 0; i < b.len; i++)
		if (((unsigned char)b.p[i] & 0xc0) != 0x80)
			chars++;
	assert_true(chars == FETCH_PREVIEW_CHARS - 1);
	assert_true(b.p[b.len - 1] != ' ');
	assert_memory_equal(b.p + b.len - 2, "\xc3\xa9", 2);
	buf_reset(&b);
	(void)buf_printf(&b, " \t\r\n ");
	fetch_preview_tidy(&b);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_single),
		cmocka_unit_test(test_spec_list_and_macros),
		cmocka_unit_test(test_spec_bad),
		cmocka_unit_test(test_spec_sections),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_uidset),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_preview),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
