/* SPDX-License-Identifier: MIT */
/* Unit tests for log_escape: no logged value can split or forge a line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

struct esc_case {
	const char *in;
	size_t len;
	const char *out;
};

/* clang-format off */
#define C(s, o) { s, sizeof(s) - 1, o }
/* clang-format on */

static const struct esc_case cases[] = {
	C("plain text=1", "plain text=1"),
	C("a\r\nevent=login user=admin", "a\\x0d\\x0aevent=login user=admin"),
	C("nul\0after", "nul\\x00after"),
	C("tab\tdel\x7f", "tab\\x09del\\x7f"),
	C("esc\x1b[31m", "esc\\x1b[31m"),
	/* valid UTF-8 stays: é, €, U+1F600 */
	C("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
	/* a stray continuation, an overlong '/', a surrogate, past
	 * U+10FFFF, a lead byte that never completes */
	C("\x80", "\\x80"),
	C("\xc0\xaf", "\\xc0\\xaf"),
	C("\xed\xa0\x80", "\\xed\\xa0\\x80"),
	C("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"),
	C("\xe2\x82", "\\xe2\\x82"),
	C("\xe2\x82z", "\\xe2\\x82z"),
	C("\xff\xfe", "\\xff\\xfe"),
	/* a UTF-8 encoded NEL or LS is text to a log reader, not a newline
	 * to a line-based one; kept */
	C("\xc2\x85", "\xc2\x85"),
};

static void
test_log_escape_table(void **state)
{
	char out[256];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = log_escape(out, sizeof(out), cases[i].in, cases[i].len);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
	}
}

static void
test_log_escape_bounds(void **state)
{
	char out[8];
	size_t n, len;

	(void)state;
	/* at the limit: 7 bytes fit, the 8th does not */
	n = log_escape(out, sizeof(out), "abcdefg", 7);
	assert_int_equal(n, 7);
	assert_string_equal(out, "abcdefg");
	n = log_escape(out, sizeof(out), "abcdefgh", 8);
	assert_int_equal(n, 7);
	/* an escape or a UTF-8 character is never cut in half */
	n = log_escape(out, sizeof(out), "abcd\n", 5);
	assert_string_equal(out, "abcd");
	n = log_escape(out, sizeof(out), "abcde\xe2\x82\xac", 8);
	assert_string_equal(out, "abcde");
	assert_int_equal(n, 5);
	n = log_escape(out, 1, "abc", 3);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	assert_int_equal(log_escape(out, 0, "abc", 3), 0);
	/* no output byte is ever a control character */
	{
		char all[256], big[1100];

		for (len = 0; len < 256; len++)
			all[len] = (char)len;
		n = log_escape(big, sizeof(big), all, sizeof(all));
		for (len = 0; len < n; len++)
			assert_true((unsigned char)big[len] >= 0x20 &&
			    (unsigned char)big[len] != 0x7f);
	}
}

static void
test_log_msg_one_line(void **state)
{
	int fds[2], saved;
	char buf[4096];
	ssize_t r;
	const struct log_ctx ctx = { "smtp", 1 };

	(void)state;
	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
	log_info(&ctx, "event=helo helo=\"%s\"",
	    "x\r\n2026-01-01T00:00:00.000Z level=info event=login");
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	(void)close(saved);
	(void)close(fds[1]);
	r = read(fds[0], buf, sizeof(buf) - 1);
	(void)close(fds[0]);
	assert_true(r > 0);
	buf[r] = '\0';
	assert_ptr_equal(strchr(buf, '\n'), buf + r - 1);
	assert_null(strchr(buf, '\r'));
	assert_non_null(strstr(buf, "x\\x0d\\x0a2026"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_escape_table),
		cmocka_unit_test(test_log_escape_bounds),
		cmocka_unit_test(test_log_msg_one_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
