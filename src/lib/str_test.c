/* SPDX-License-Identifier: MIT */
/* Unit tests for bounded strings, number parsing and log_safe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "err.h"
#include "log.h"
#include "str.h"

static void
test_num_parse_bounds(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(num_parse_u64("18446744073709551615", 0, UINT64_MAX,
			     &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(num_parse_u64("18446744073709551616", 0, UINT64_MAX,
			     &v), ERR_INPUT);
	assert_int_equal(num_parse_u64("10", 0, 10, &v), 0);
	assert_int_equal(num_parse_u64("11", 0, 10, &v), ERR_INPUT);
	assert_int_equal(num_parse_u64("", 0, 10, &v), ERR_INPUT);
	assert_int_equal(num_parse_u64("1x", 0, 10, &v), ERR_INPUT);
	assert_int_equal(num_parse_u64("-1", 0, 10, &v), ERR_INPUT);
}

static void
test_str_fmt_truncation(void **state)
{
	char s[4];

	(void)state;
	assert_true(str_fmt(s, sizeof(s), "%s", "abc"));
	assert_false(str_fmt(s, sizeof(s), "%s", "abcd"));
	assert_string_equal(s, "abc");
	assert_false(str_copy(s, sizeof(s), "hello"));
	assert_string_equal(s, "hel");
}

static void
test_log_safe_escapes(void **state)
{
	char out[32];

	(void)state;
	log_safe(out, sizeof(out), SLICE_LIT("a\r\nb\"\\"));
	assert_string_equal(out, "a\\x0d\\x0ab\\x22\\x5c");
	log_safe(out, 12, SLICE_LIT("0123456789abcdef"));
	assert_string_equal(out, "01234567...");
}

static void
test_hex_roundtrip(void **state)
{
	unsigned char in[3] = { 0x00, 0xab, 0xff }, back[3];
	char hex[7];

	(void)state;
	str_hex(hex, in, 3);
	assert_string_equal(hex, "00abff");
	assert_true(str_unhex(back, 3, hex));
	assert_memory_equal(in, back, 3);
	assert_false(str_unhex(back, 3, "00abfg"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_num_parse_bounds),
		cmocka_unit_test(test_str_fmt_truncation),
		cmocka_unit_test(test_log_safe_escapes),
		cmocka_unit_test(test_hex_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
