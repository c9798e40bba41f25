/* SPDX-License-Identifier: MIT */
/* Unit tests for SASL PLAIN (RFC 4616) and LOGIN decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/sasl.h"

static int
plain(const char *b64, char *z, char *c, char *pw_out)
{
	struct auth_secret *pw = NULL;
	struct err err = { 0 };
	int rc = auth_sasl_plain(slice_cstr(b64), z, c, &pw, &err);

	if (rc == 0) {
		memcpy(pw_out, pw->p, pw->len + 1);
		auth_secret_free(&pw);
	} else {
		assert_null(pw);
	}
	return rc;
}

static void
test_plain(void **state)
{
	char z[AUTH_SASL_ID_MAX + 1], c[AUTH_SASL_ID_MAX + 1], pw[64];

	(void)state;
	/* "\0alice@example.test\0secret" */
	assert_int_equal(plain("AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=", z, c,
	                     pw),
	    0);
	assert_string_equal(z, "");
	assert_string_equal(c, "alice@example.test");
	assert_string_equal(pw, "secret");
	/* "admin\0bob\0pw" */
	assert_int_equal(plain("YWRtaW4AYm9iAHB3", z, c, pw), 0);
	assert_string_equal(z, "admin");
	assert_string_equal(c, "bob");
	assert_string_equal(pw, "pw");
}

static void
test_plain_invalid(void **state)
{
	char z[AUTH_SASL_ID_MAX + 1], c[AUTH_SASL_ID_MAX + 1], pw[64];

	(void)state;
	assert_int_equal(plain("", z, c, pw), ERR_INPUT);
	assert_int_equal(plain("=", z, c, pw), ERR_INPUT);
	assert_int_equal(plain("!!!!", z, c, pw), ERR_INPUT);
	assert_int_equal(plain("YWxpY2U=", z, c, pw), ERR_INPUT); /* alice */
	/* "\0alice" (one NUL) */
	assert_int_equal(plain("AGFsaWNl", z, c, pw), ERR_INPUT);
	/* "\0\0pw" (empty authcid) */
	assert_int_equal(plain("AABwdw==", z, c, pw), ERR_INPUT);
	/* "\0bob\0" (empty password) */
	assert_int_equal(plain("AGJvYgA=", z, c, pw), ERR_INPUT);
	/* "\0bob\0p\0w" (NUL in the password) */
	assert_int_equal(plain("AGJvYgBwAHc=", z, c, pw), ERR_INPUT);
}

static void
test_login(void **state)
{
	char c[AUTH_SASL_ID_MAX + 1], raw[AUTH_PASSWORD_MAX + 2];
	char b64[2 * AUTH_PASSWORD_MAX];
	struct auth_secret *pw = NULL;
	struct err err = { 0 };
	size_t n;

	(void)state;
	assert_int_equal(auth_sasl_login_user(SLICE_LIT("YWxpY2U="), c, &err),
	    0);
	assert_string_equal(c, "alice");
	assert_int_equal(auth_sasl_login_pass(SLICE_LIT("c2VjcmV0"), &pw, &err),
	    0);
	assert_string_equal(pw->p, "secret");
	assert_int_equal(pw->len, 6);
	auth_secret_free(&pw);
	assert_int_equal(auth_sasl_login_user(SLICE_LIT(""), c, &err),
	    ERR_INPUT);
	assert_int_equal(auth_sasl_login_user(SLICE_LIT("="), c, &err),
	    ERR_INPUT);
	assert_int_equal(auth_sasl_login_user(SLICE_LIT("!!!!"), c, &err),
	    ERR_INPUT);
	assert_int_equal(auth_sasl_login_user(SLICE_LIT("YQBi"), c, &err),
	    ERR_INPUT); /* "a\0b" */
	assert_int_equal(auth_sasl_login_pass(SLICE_LIT("YQBi"), &pw, &err),
	    ERR_INPUT);
	assert_null(pw);
	/* The limits: AUTH_SASL_ID_MAX and AUTH_PASSWORD_MAX pass, one more
	 * byte fails. */
	for (n = AUTH_SASL_ID_MAX; n <= AUTH_SASL_ID_MAX + 1; n++) {
		memset(raw, 'u', n);
		sodium_bin2base64(b64, sizeof(b64), (unsigned char *)raw, n,
		    sodium_base64_VARIANT_ORIGINAL);
		assert_int_equal(auth_sasl_login_user(slice_cstr(b64), c, &err),
		    n <= AUTH_SASL_ID_MAX ? 0 : ERR_INPUT);
	}
	for (n = AUTH_PASSWORD_MAX; n <= AUTH_PASSWORD_MAX + 1; n++) {
		memset(raw, 'p', n);
		sodium_bin2base64(b64, sizeof(b64), (unsigned char *)raw, n,
		    sodium_base64_VARIANT_ORIGINAL);
		assert_int_equal(auth_sasl_login_pass(slice_cstr(b64), &pw,
		                     &err),
		    n <= AUTH_PASSWORD_MAX ? 0 : ERR_INPUT);
		if (pw != NULL)
			assert_int_equal(pw->len, n);
		auth_secret_free(&pw);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_invalid),
		cmocka_unit_test(test_login),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
