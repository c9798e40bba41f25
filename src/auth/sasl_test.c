/* SPDX-License-Identifier: MIT */
/* Unit tests for SASL PLAIN decoding (RFC 4616). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
