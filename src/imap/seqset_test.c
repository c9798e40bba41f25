/* SPDX-License-Identifier: MIT */
/* Unit tests for sequence sets: syntax (strict nz-number, "*", "$"),
 * resolution (reversed ranges, "*" in an empty mailbox, merging),
 * membership, formatting and building from sorted values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/seqset.h"
#include "lib/buf.h"

/* Parses, resolves with star, formats. NULL if the parse fails. */
static const char *
fmt(struct arena *a, const char *text, uint32_t star, char *out, size_t cap)
{
	struct seqset s;

	if (!seqset_parse(a, slice_cstr(text), &s))
		return NULL;
	seqset_resolve(&s, star);
	assert_true(seqset_format(&s, out, cap));
	return out;
}

static void
test_parse_valid(void **state)
{
	struct arena *a = arena_new("t", 1 << 26);
	char out[256];

	(void)state;
	assert_string_equal(fmt(a, "1", 10, out, sizeof(out)), "1");
	assert_string_equal(fmt(a, "*", 10, out, sizeof(out)), "10");
	assert_string_equal(fmt(a, "1:*", 10, out, sizeof(out)), "1:10");
	assert_string_equal(fmt(a, "*:1", 10, out, sizeof(out)), "1:10");
	assert_string_equal(fmt(a, "5:2", 10, out, sizeof(out)), "2:5");
	assert_string_equal(fmt(a, "1,3:5,7:*", 9, out, sizeof(out)),
	    "1,3:5,7:9");
	/* * beyond the range: 20:* with 10 messages is 10:20 */
	assert_string_equal(fmt(a, "20:*", 10, out, sizeof(out)), "10:20");
	/* merging overlapping and adjacent ranges, any order */
	assert_string_equal(fmt(a, "7,1:3,4,2,10:12,9", 100, out, sizeof(out)),
	    "1:4,7,9:12");
	assert_string_equal(fmt(a, "1,1,1", 100, out, sizeof(out)), "1");
	assert_string_equal(fmt(a, "4294967294:4294967294,1", 5, out,
	                        sizeof(out)),
	    "1,4294967294");
	/* 4294967295 reads as "*" (documented) */
	assert_string_equal(fmt(a, "4294967295", 7, out, sizeof(out)), "7");
	/* empty mailbox: "*" is 0 */
	assert_string_equal(fmt(a, "*", 0, out, sizeof(out)), "0");
	assert_string_equal(fmt(a, "1:*", 0, out, sizeof(out)), "0:1");
	arena_free(&a);
}

static void
test_parse_invalid(void **state)
{
	static const char *const bad[] = { "", "0", "0:5", "5:0", "01", "1,",
		",1", "1,,2", "1:", ":1", "1::2", "1:2:3", "a", "1a", "-1",
		"4294967296", "99999999999999999999", "$,1", "1,$", "$$", "1 ",
		" 1", "*:", "**", "1.5", "+1" };
	struct arena *a = arena_new("t", 1 << 20);
	struct seqset s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (seqset_parse(a, slice_cstr(bad[i]), &s))
			fail_msg("accepted \"%s\"", bad[i]);
	}
	arena_free(&a);
}

static void
test_saved(void **state)
{
	struct arena *a = arena_new("t", 1 << 20);
	struct seqset s;
	char out[8];

	(void)state;
	assert_true(seqset_parse(a, SLICE_LIT("$"), &s));
	assert_true(s.is_saved);
	assert_int_equal(s.n, 0);
	seqset_resolve(&s, 5);
	assert_false(seqset_contains(&s, 1));
	assert_true(seqset_format(&s, out, sizeof(out)));
	assert_string_equal(out, "");
	assert_true(seqset_parse(a, SLICE_LIT("1"), &s));
	assert_false(s.is_saved);
	arena_free(&a);
}

static void
test_contains(void **state)
{
	struct arena *a = arena_new("t", 1 << 20);
	struct seqset s;

	(void)state;
	assert_true(seqset_parse(a, SLICE_LIT("10:20,1,30:*,5"), &s));
	seqset_resolve(&s, 40);
	assert_int_equal(s.n, 4);
	assert_true(seqset_contains(&s, 1));
	assert_false(seqset_contains(&s, 2));
	assert_true(seqset_contains(&s, 5));
	assert_false(seqset_contains(&s, 9));
	assert_true(seqset_contains(&s, 10));
	assert_true(seqset_contains(&s, 20));
	assert_false(seqset_contains(&s, 21));
	assert_true(seqset_contains(&s, 40));
	assert_false(seqset_contains(&s, 41));
	assert_false(seqset_contains(&s, 0));
	assert_true(seqset_parse(a, SLICE_LIT("1:*"), &s));
	seqset_resolve(&s, UINT32_MAX - 1);
	assert_true(seqset_contains(&s, UINT32_MAX - 1));
	assert_false(seqset_contains(&s, UINT32_MAX));
	arena_free(&a);
}

static void
test_many_ranges(void **state)
{
	struct arena *a = arena_new("t", 1 << 26);
	struct buf b;
	struct seqset s;
	char *out = malloc(1 << 20);

	(void)state;
	buf_init(&b, 1 << 24);
	/* SEQSET_RANGES_MAX ranges: fine; one more: refused */
	for (uint32_t i = 0; i < SEQSET_RANGES_MAX; i++)
		buf_printf(&b, "%s%u", i > 0 ? "," : "", 2 * i + 1);
	assert_true(seqset_parse(a, buf_slice(&b), &s));
	assert_int_equal(s.n, SEQSET_RANGES_MAX);
	seqset_resolve(&s, 5);
	assert_int_equal(s.n, SEQSET_RANGES_MAX);
	assert_true(seqset_contains(&s, 2 * 77 + 1));
	assert_false(seqset_contains(&s, 2 * 77));
	assert_true(seqset_format(&s, out, 1 << 20));
	assert_string_equal(out, b.p);
	buf_printf(&b, ",%u", 2 * SEQSET_RANGES_MAX + 1);
	assert_false(seqset_parse(a, buf_slice(&b), &s));
	/* over the arena budget: refused, not a crash */
	{
		struct arena *small = arena_new("s", 64);

		assert_false(
		    seqset_parse(small, SLICE_LIT("1,2,3,4,5,6,7,8,9"), &s));
		arena_free(&small);
	}
	buf_clear(&b);
	free(out);
	arena_free(&a);
}

static void
test_format_truncated(void **state)
{
	struct arena *a = arena_new("t", 1 << 20);
	struct seqset s;
	char out[16];

	(void)state;
	assert_true(seqset_parse(a, SLICE_LIT("1:3,7"), &s));
	seqset_resolve(&s, 9);
	assert_true(seqset_format(&s, out, 6));
	assert_string_equal(out, "1:3,7");
	assert_false(seqset_format(&s, out, 5));
	assert_false(seqset_format(&s, out, 0));
	assert_true(seqset_parse(a, SLICE_LIT("4294967294"), &s));
	seqset_resolve(&s, 9);
	assert_true(seqset_format(&s, out, 11));
	assert_false(seqset_format(&s, out, 10));
	arena_free(&a);
}

static void
test_from_sorted(void **state)
{
	static const uint32_t v[] = { 1, 2, 3, 5, 7, 8, 8, 9, 100,
		UINT32_MAX - 1 };
	struct arena *a = arena_new("t", 1 << 20);
	struct seqset s;
	char out[64];

	(void)state;
	seqset_from_sorted(a, v, sizeof(v) / sizeof(v[0]), &s);
	assert_true(seqset_format(&s, out, sizeof(out)));
	assert_string_equal(out, "1:3,5,7:9,100,4294967294");
	assert_false(s.is_saved);
	seqset_from_sorted(a, v, 0, &s);
	assert_int_equal(s.n, 0);
	assert_true(seqset_format(&s, out, sizeof(out)));
	assert_string_equal(out, "");
	seqset_from_sorted(a, v, 1, &s);
	assert_true(seqset_format(&s, out, sizeof(out)));
	assert_string_equal(out, "1");
	arena_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_saved),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_many_ranges),
		cmocka_unit_test(test_format_truncated),
		cmocka_unit_test(test_from_sorted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
