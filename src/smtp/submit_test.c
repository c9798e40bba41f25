/* SPDX-License-Identifier: MIT */
/* Unit tests for submission's header scan: the end of the header block
 * fed in every split, and field presence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/submit.h"

static void
test_header_end_split_everywhere(void **state)
{
	static const char msg[] = "Subject: a\r\n\tb\r\nTo: x\r\n\r\nbody\r\n";
	const size_t len = sizeof(msg) - 1, want = 23;
	size_t cut, hl = 99;

	(void)state;
	for (cut = 0; cut <= len; cut++) {
		/* First `cut` bytes seen, then all of it. */
		bool done =
		    smtp_submit_header_end(slice_make(msg, cut), 0, &hl);

		assert_int_equal(done, cut >= want + 2);
		if (!done)
			assert_true(smtp_submit_header_end(slice_make(msg, len),
			    cut, &hl));
		assert_int_equal(hl, want);
	}
	assert_true(smtp_submit_header_end(SLICE_LIT("\r\nbody"), 0, &hl));
	assert_int_equal(hl, 0);
	assert_false(smtp_submit_header_end(SLICE_LIT("A: b\r\n"), 0, &hl));
	assert_false(smtp_submit_header_end(SLICE_LIT(""), 0, &hl));
}

static void
test_has_field(void **state)
{
	static const char h[] = "Subject: x\r\n"
	                        " Date: not a field start\r\n"
	                        "message-id : <a@b>\r\n"
	                        "Dates: no\r\n";
	const struct slice hs = SLICE_LIT(h);

	(void)state;
	assert_true(smtp_submit_has_field(hs, SLICE_LIT("Message-ID")));
	assert_true(smtp_submit_has_field(hs, SLICE_LIT("subject")));
	assert_false(smtp_submit_has_field(hs, SLICE_LIT("Date")));
	assert_false(smtp_submit_has_field(SLICE_LIT(""), SLICE_LIT("Date")));
	assert_true(
	    smtp_submit_has_field(SLICE_LIT("Date:x"), SLICE_LIT("Date")));
	assert_false(
	    smtp_submit_has_field(SLICE_LIT("Date"), SLICE_LIT("Date")));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_end_split_everywhere),
		cmocka_unit_test(test_has_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
