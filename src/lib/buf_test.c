/* SPDX-License-Identifier: MIT */
/* Unit tests for struct buf: growth, the hard ceiling, consume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "err.h"

static void
test_buf_limit_exact_and_past(void **state)
{
	struct buf b;
	char data[100] = { 0 };

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, data, 100), 0); /* at the limit */
	assert_int_equal(b.len, 100);
	assert_int_equal(buf_append(&b, data, 1), ERR_LIMIT); /* past it */
	assert_int_equal(b.len, 100);
	assert_int_equal(b.p[100], '\0');
	buf_clear(&b);
}

static void
test_buf_printf_and_consume(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 16);
	assert_int_equal(buf_printf(&b, "%s-%d", "abc", 42), 0);
	assert_string_equal(b.p, "abc-42");
	assert_int_equal(buf_printf(&b, "%s", "0123456789abc"), ERR_LIMIT);
	assert_string_equal(b.p, "abc-42"); /* unchanged on failure */
	buf_consume(&b, 4);
	assert_string_equal(b.p, "42");
	buf_consume(&b, 10);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_limit_exact_and_past),
		cmocka_unit_test(test_buf_printf_and_consume),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
