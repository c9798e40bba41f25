/* SPDX-License-Identifier: MIT */
/* Unit tests for failed-login throttling: growing delays, the cap, the
 * ban and its end, forgetting on success, bounded memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "auth/throttle.h"

static const struct auth_throttle_opts opts = { 100, 1000, 3, 60000 };

static void
test_delays(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&opts);

	(void)state;
	assert_int_equal(auth_throttle_fail(t, "ip:a", 0), 100);
	assert_int_equal(auth_throttle_fail(t, "ip:a", 1), 200);
	assert_int_equal(auth_throttle_fail(t, "ip:a", 2), 400);
	assert_int_equal(auth_throttle_fail(t, "ip:a", 3), 800);
	assert_int_equal(auth_throttle_fail(t, "ip:a", 4), 1000);
	assert_int_equal(auth_throttle_fail(t, "ip:b", 4), 100);
	auth_throttle_free(&t);
	assert_null(t);
}

static void
test_ban(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&opts);

	(void)state;
	assert_false(auth_throttle_banned(t, "u", 0));
	(void)auth_throttle_fail(t, "u", 0);
	(void)auth_throttle_fail(t, "u", 0);
	assert_false(auth_throttle_banned(t, "u", 0));
	(void)auth_throttle_fail(t, "u", 10);
	assert_true(auth_throttle_banned(t, "u", 10));
	assert_true(auth_throttle_banned(t, "u", 60009));
	assert_false(auth_throttle_banned(t, "u", 60010));
	assert_false(auth_throttle_banned(t, "v", 10));
	auth_throttle_success(t, "u");
	(void)auth_throttle_fail(t, "u", 100);
	assert_false(auth_throttle_banned(t, "u", 100));
	auth_throttle_free(&t);
}

static void
test_forget_after_quiet(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&opts);

	(void)state;
	(void)auth_throttle_fail(t, "k", 0);
	(void)auth_throttle_fail(t, "k", 0);
	assert_int_equal(auth_throttle_fail(t, "k",
	                     (uint64_t)AUTH_THROTTLE_FORGET_MS + 1),
	    100);
	auth_throttle_free(&t);
}

static void
test_bounded(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&opts);
	char key[32];
	unsigned i;

	(void)state;
	for (i = 0; i < AUTH_THROTTLE_KEYS + 100; i++) {
		(void)snprintf(key, sizeof(key), "k%u", i);
		(void)auth_throttle_fail(t, key, i);
	}
	/* the oldest were evicted, the newest kept */
	assert_int_equal(auth_throttle_fail(t, "k0", 100000), 100);
	(void)snprintf(key, sizeof(key), "k%u", AUTH_THROTTLE_KEYS + 99);
	assert_int_equal(auth_throttle_fail(t, key, 100000), 200);
	auth_throttle_free(&t);
}

/* A login counts under the peer and the user: a failure from one address
 * delays the next attempt for the same user from another address, and a
 * ban of either key bans the login. Two holders of one throttle (IMAP and
 * submission) see the same records; it lives until both let go. */
static void
test_login_keys_shared(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&opts);
	struct auth_throttle *other = auth_throttle_ref(t);

	(void)state;
	assert_int_equal(auth_throttle_login_failed(t, "192.0.2.1", "a@x", 0),
	    100);
	/* Same user, new address: the user's key gives the longer delay. */
	assert_int_equal(auth_throttle_login_failed(other, "192.0.2.2", "a@x",
	                     10),
	    200);
	assert_false(auth_throttle_login_banned(t, "192.0.2.3", "a@x", 20));
	(void)auth_throttle_login_failed(t, "192.0.2.3", "a@x", 30);
	/* Three failures for the user: banned from any address. */
	assert_true(
	    auth_throttle_login_banned(other, "198.51.100.9", "a@x", 40));
	assert_false(auth_throttle_login_banned(t, "192.0.2.1", "b@x", 40));
	/* Success forgets both keys. */
	auth_throttle_login_ok(t, "192.0.2.3", "a@x");
	assert_false(auth_throttle_login_banned(t, "192.0.2.3", "a@x", 50));
	auth_throttle_free(&t);
	assert_null(t);
	/* other still holds it (ASan would report a use after free). */
	assert_int_equal(auth_throttle_login_failed(other, "192.0.2.4", "c@x",
	                     60),
	    100);
	auth_throttle_free(&other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delays),
		cmocka_unit_test(test_ban),
		cmocka_unit_test(test_forget_after_quiet),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_login_keys_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
