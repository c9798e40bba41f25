/* SPDX-License-Identifier: MIT */
/* Unit tests for the CRLF line reader: every split, limit and limit+1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/lineio.h"

static void
test_line_next_split_everywhere(void **state)
{
	static const char in[] = "MAIL FROM:<a@example.test>\r\n";
	const size_t len = sizeof(in) - 1;
	struct slice line;
	enum line_rc rc;
	size_t used = 0, n;

	(void)state;
	for (n = 0; n <= len; n++) { /* every proper prefix asks for more */
		rc = line_next((struct slice){ in, n }, 512, &line, &used);
		assert_int_equal(rc, n < len ? LINE_MORE : LINE_OK);
	}
	assert_int_equal(used, len);
	assert_int_equal(line.len, len - 2);
	assert_memory_equal(line.p, in, len - 2);
}

static void
test_line_next_two_lines(void **state)
{
	static const char in[] = "NOOP\r\nQUIT\r\n";
	struct slice s = SLICE_LIT(in), line;
	size_t used;

	(void)state;
	assert_int_equal(line_next(s, 512, &line, &used), LINE_OK);
	assert_int_equal(used, 6);
	assert_true(slice_eq(line, SLICE_LIT("NOOP")));
	s = slice_skip(s, used);
	assert_int_equal(line_next(s, 512, &line, &used), LINE_OK);
	assert_true(slice_eq(line, SLICE_LIT("QUIT")));
	assert_int_equal(used, s.len);
}

static void
test_line_next_empty_line(void **state)
{
	struct slice line;
	size_t used;

	(void)state;
	assert_int_equal(line_next(SLICE_LIT("\r\n"), 512, &line, &used),
	    LINE_OK);
	assert_int_equal(line.len, 0);
	assert_int_equal(used, 2);
}

static void
test_line_next_bare_lf(void **state)
{
	struct slice line;
	size_t used, n;
	static const char in[] = "RSET\nMAIL FROM:<>\r\n";

	(void)state;
	assert_int_equal(line_next(SLICE_LIT("\n"), 512, &line, &used),
	    LINE_BARE_LF);
	assert_int_equal(used, 1);
	assert_int_equal(line_next(SLICE_LIT(in), 512, &line, &used),
	    LINE_BARE_LF);
	assert_int_equal(used, 5);
	/* Split everywhere: never a line before the bare LF is seen. */
	for (n = 0; n < 5; n++)
		assert_int_equal(line_next((struct slice){ in, n }, 512, &line,
		                     &used),
		    LINE_MORE);
}

static void
test_line_next_bare_cr_is_content(void **state)
{
	struct slice line;
	size_t used;

	(void)state;
	assert_int_equal(line_next(SLICE_LIT("A\rB\r\n"), 512, &line, &used),
	    LINE_OK);
	assert_int_equal(line.len, 3);
}

/* Lines of exactly max content bytes pass; max+1 is too long, whether the
 * input stops there or goes on, and whatever the split. */
static void
test_line_next_limits(void **state)
{
	enum { MAX = 64 };
	char in[MAX + 8];
	struct slice line;
	size_t used, n;

	(void)state;
	memset(in, 'x', sizeof(in));
	memcpy(in + MAX, "\r\n", 2);
	assert_int_equal(line_next((struct slice){ in, MAX + 2 }, MAX, &line,
	                     &used),
	    LINE_OK);
	assert_int_equal(line.len, MAX);
	for (n = 0; n < MAX + 2; n++)
		assert_int_equal(line_next((struct slice){ in, n }, MAX, &line,
		                     &used),
		    LINE_MORE);

	memset(in, 'x', sizeof(in));
	memcpy(in + MAX + 1, "\r\n", 2);
	for (n = 0; n < MAX + 2; n++)
		assert_int_equal(line_next((struct slice){ in, n }, MAX, &line,
		                     &used),
		    LINE_MORE);
	for (n = MAX + 2; n <= MAX + 3; n++)
		assert_int_equal(line_next((struct slice){ in, n }, MAX, &line,
		                     &used),
		    LINE_TOO_LONG);

	/* max+1 content ending in CR: still too long. */
	memset(in, 'x', sizeof(in));
	memcpy(in + MAX, "\r\r\n", 3);
	assert_int_equal(line_next((struct slice){ in, MAX + 3 }, MAX, &line,
	                     &used),
	    LINE_TOO_LONG);
}

static void
test_line_skip(void **state)
{
	size_t used;

	(void)state;
	assert_false(line_skip(SLICE_LIT("xxxx"), &used));
	assert_int_equal(used, 4);
	assert_true(line_skip(SLICE_LIT("xx\r\nNOOP\r\n"), &used));
	assert_int_equal(used, 4);
	assert_false(line_skip((struct slice){ "", 0 }, &used));
	assert_int_equal(used, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_next_split_everywhere),
		cmocka_unit_test(test_line_next_two_lines),
		cmocka_unit_test(test_line_next_empty_line),
		cmocka_unit_test(test_line_next_bare_lf),
		cmocka_unit_test(test_line_next_bare_cr_is_content),
		cmocka_unit_test(test_line_next_limits),
		cmocka_unit_test(test_line_skip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
