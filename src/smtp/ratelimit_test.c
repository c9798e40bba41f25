/* SPDX-License-Identifier: MIT */
/* Unit tests for the submission rate limits: at the limit and past it,
 * the sliding hour, users apart, and the bounded user table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "smtp/ratelimit.h"

#define T0 1700000000

static void
test_messages_limit(void **state)
{
	struct smtp_ratelimit *rl = smtp_ratelimit_new(3, 0);
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_true(smtp_ratelimit_allows(rl, 7, T0 + i, 1, 100));
		smtp_ratelimit_add(rl, 7, T0 + i, 1, 100);
	}
	assert_false(smtp_ratelimit_allows(rl, 7, T0 + 10, 1, 0));
	/* Another user has their own window. */
	assert_true(smtp_ratelimit_allows(rl, 8, T0 + 10, 1, 0));
	/* Still inside the hour 59 minutes later, free after 60. */
	assert_false(smtp_ratelimit_allows(rl, 7, T0 + 59 * 60, 1, 0));
	assert_true(smtp_ratelimit_allows(rl, 7, T0 + 61 * 60, 1, 0));
	smtp_ratelimit_free(&rl);
	assert_null(rl);
}

static void
test_recipients_limit(void **state)
{
	struct smtp_ratelimit *rl = smtp_ratelimit_new(0, 10);

	(void)state;
	assert_true(smtp_ratelimit_allows(rl, 1, T0, 1, 10));
	assert_false(smtp_ratelimit_allows(rl, 1, T0, 1, 11));
	smtp_ratelimit_add(rl, 1, T0, 1, 4);
	smtp_ratelimit_add(rl, 1, T0 + 1800, 1, 5);
	assert_true(smtp_ratelimit_allows(rl, 1, T0 + 1800, 1, 1));
	assert_false(smtp_ratelimit_allows(rl, 1, T0 + 1800, 1, 2));
	/* The first 4 leave the window; the later 5 stay. */
	assert_true(smtp_ratelimit_allows(rl, 1, T0 + 3700, 1, 5));
	assert_false(smtp_ratelimit_allows(rl, 1, T0 + 3700, 1, 6));
	/* Limits lowered by a reload apply at once. */
	smtp_ratelimit_set(rl, 0, 3);
	assert_false(smtp_ratelimit_allows(rl, 1, T0 + 1800, 0, 0));
	smtp_ratelimit_free(&rl);
}

/* More users than the table holds: it stays bounded and keeps working. */
static void
test_user_table_bound(void **state)
{
	struct smtp_ratelimit *rl = smtp_ratelimit_new(1, 0);
	int64_t u;

	(void)state;
	for (u = 1; u <= SMTP_RATE_USERS_MAX + 10; u++)
		smtp_ratelimit_add(rl, u, T0 + u, 1, 1);
	/* The newest users are still limited. */
	assert_false(smtp_ratelimit_allows(rl, SMTP_RATE_USERS_MAX + 10,
	    T0 + SMTP_RATE_USERS_MAX + 10, 1, 0));
	assert_true(smtp_ratelimit_allows(rl, SMTP_RATE_USERS_MAX + 11,
	    T0 + SMTP_RATE_USERS_MAX + 10, 1, 0));
	smtp_ratelimit_free(&rl);
	smtp_ratelimit_free(&rl); /* NULL is fine */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messages_limit),
		cmocka_unit_test(test_recipients_limit),
		cmocka_unit_test(test_user_table_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
