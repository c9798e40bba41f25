/* SPDX-License-Identifier: MIT */
/* Unit tests for password hashing, verification and generation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/password.h"

static void
test_hash_verify(void **state)
{
	char hash[AUTH_PWHASH_SIZE];
	struct err err;

	(void)state;
	assert_int_equal(auth_password_hash("correct horse", 13, hash, &err),
	    0);
	assert_memory_equal(hash, "$argon2id$", 10);
	assert_true(auth_password_verify(hash, "correct horse", 13));
	assert_false(auth_password_verify(hash, "correct horsE", 13));
	assert_false(auth_password_verify(hash, "correct hors", 12));
	assert_false(auth_password_verify("$argon2id$garbage", "x", 1));
	assert_false(auth_password_verify(hash, "", 0));
}

static void
test_hash_limits(void **state)
{
	static char pw[AUTH_PASSWORD_MAX + 1];
	char hash[AUTH_PWHASH_SIZE];
	struct err err;

	(void)state;
	memset(pw, 'a', sizeof(pw));
	assert_int_equal(auth_password_hash(pw, 0, hash, &err), ERR_INPUT);
	assert_int_equal(auth_password_hash(pw, AUTH_PASSWORD_MAX + 1, hash,
	                     &err),
	    ERR_INPUT);
	assert_int_equal(auth_password_hash(pw, AUTH_PASSWORD_MAX, hash, &err),
	    0);
	assert_true(auth_password_verify(hash, pw, AUTH_PASSWORD_MAX));
}

static void
test_generate(void **state)
{
	struct auth_secret *a = NULL, *b = NULL, *small = NULL;
	struct err err;
	size_t i;

	(void)state;
	assert_int_equal(auth_secret_new(64, &a, &err), 0);
	assert_int_equal(auth_secret_new(64, &b, &err), 0);
	assert_int_equal(auth_password_generate(a, &err), 0);
	assert_int_equal(auth_password_generate(b, &err), 0);
	assert_int_equal(a->len, AUTH_PASSWORD_GEN_LEN);
	assert_int_equal(strlen(a->p), AUTH_PASSWORD_GEN_LEN);
	assert_string_not_equal(a->p, b->p);
	for (i = 0; i < a->len; i++)
		assert_null(strchr("0Oo1lI5S2Z8B", a->p[i]));
	assert_int_equal(auth_secret_new(AUTH_PASSWORD_GEN_LEN - 1, &small,
	                     &err),
	    0);
	assert_int_equal(auth_password_generate(small, &err), ERR_INTERNAL);
	auth_secret_free(&a);
	auth_secret_free(&b);
	auth_secret_free(&small);
	assert_null(a);
	auth_secret_free(&a); /* NULL is fine */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_hash_limits),
		cmocka_unit_test(test_generate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
