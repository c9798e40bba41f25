/* SPDX-License-Identifier: MIT */
/* libFuzzer target for SASL PLAIN and LOGIN decoding (sasl.c).
 * Properties:
 * - any response gives 0, ERR_INPUT or ERR_TEMP, and a password only on
 *   0; identities fit their AUTH_SASL_ID_MAX + 1 buffers (exactly sized,
 *   so ASan sees an overrun), NUL-terminated, authcid and password never
 *   empty, nothing longer than its limit, no NUL inside a password;
 * - fields cut from the input at fuzzer-chosen points, base64-encoded as
 *   a client would, decode back to the same fields exactly when they are
 *   acceptable (no NUL inside, non-empty, within the limits). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/sasl.h"
#include "lib/fuzz_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAW_MAX (2 * AUTH_SASL_ID_MAX + AUTH_PASSWORD_MAX + 16)

static char *zid, *cid;

static void
check_pw(const struct auth_secret *pw, size_t max)
{
	if (pw == NULL || pw->len == 0 || pw->len > max ||
	    pw->p[pw->len] != '\0' || memchr(pw->p, '\0', pw->len) != NULL)
		abort();
}

static void
check_id(const char *id, bool nonempty)
{
	const char *nul = memchr(id, '\0', AUTH_SASL_ID_MAX + 1);

	if (nul == NULL || (nonempty && nul == id))
		abort();
}

static bool
clean(const uint8_t *p, size_t n, size_t max, bool nonempty)
{
	return n <= max && (!nonempty || n > 0) && memchr(p, 0, n) == NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = fuzz_take_u32(&data, &size);
	static char b64[sodium_base64_ENCODED_LEN(RAW_MAX,
	    sodium_base64_VARIANT_ORIGINAL)];
	unsigned char raw[RAW_MAX];
	struct auth_secret *pw = NULL;
	struct err err;
	size_t a, b, nraw;
	bool ok;
	int rc;

	if (zid == NULL) {
		zid = malloc(AUTH_SASL_ID_MAX + 1);
		cid = malloc(AUTH_SASL_ID_MAX + 1);
	}
	if (size > 8192)
		return 0;

	/* 1. The input as a client's base64 response. */
	rc = auth_sasl_plain(slice_make(data, size), zid, cid, &pw, &err);
	if (rc != 0 && rc != ERR_INPUT && rc != ERR_TEMP)
		abort();
	if (rc == 0) {
		check_id(zid, false);
		check_id(cid, true);
		check_pw(pw, AUTH_PASSWORD_MAX);
	} else if (pw != NULL) {
		abort();
	}
	auth_secret_free(&pw);
	rc = auth_sasl_login_user(slice_make(data, size), cid, &err);
	if (rc != 0 && rc != ERR_INPUT)
		abort();
	if (rc == 0)
		check_id(cid, true);
	rc = auth_sasl_login_pass(slice_make(data, size), &pw, &err);
	if (rc != 0 && rc != ERR_INPUT && rc != ERR_TEMP)
		abort();
	if (rc == 0)
		check_pw(pw, AUTH_PASSWORD_MAX);
	else if (pw != NULL)
		abort();
	auth_secret_free(&pw);

	/* 2. Round trip: the input cut into authzid, authcid, password. */
	if (size > RAW_MAX - 2)
		return 0;
	a = size == 0 ? 0 : seed % (size + 1);
	b = size == 0 ? 0 : a + (seed >> 16) % (size - a + 1);
	memcpy(raw, data, a);
	raw[a] = '\0';
	memcpy(raw + a + 1, data + a, b - a);
	raw[b + 1] = '\0';
	memcpy(raw + b + 2, data + b, size - b);
	nraw = size + 2;
	sodium_bin2base64(b64, sizeof(b64), raw, nraw,
	    sodium_base64_VARIANT_ORIGINAL);
	ok = clean(data, a, AUTH_SASL_ID_MAX, false) &&
	    clean(data + a, b - a, AUTH_SASL_ID_MAX, true) &&
	    clean(data + b, size - b, AUTH_PASSWORD_MAX, true);
	rc = auth_sasl_plain(slice_cstr(b64), zid, cid, &pw, &err);
	if ((rc == 0) != ok)
		abort();
	if (rc == 0 &&
	    (strlen(zid) != a || memcmp(zid, data, a) != 0 ||
	        strlen(cid) != b - a || memcmp(cid, data + a, b - a) != 0 ||
	        pw->len != size - b || memcmp(pw->p, data + b, size - b) != 0))
		abort();
	auth_secret_free(&pw);

	/* LOGIN: the user name and the password, each on its own. */
	sodium_bin2base64(b64, sizeof(b64), data, b,
	    sodium_base64_VARIANT_ORIGINAL);
	ok = clean(data, b, AUTH_SASL_ID_MAX, true);
	rc = auth_sasl_login_user(slice_cstr(b64), cid, &err);
	if ((rc == 0) != ok ||
	    (rc == 0 && (strlen(cid) != b || memcmp(cid, data, b) != 0)))
		abort();
	sodium_bin2base64(b64, sizeof(b64), data + a, size - a,
	    sodium_base64_VARIANT_ORIGINAL);
	ok = clean(data + a, size - a, AUTH_PASSWORD_MAX, true);
	rc = auth_sasl_login_pass(slice_cstr(b64), &pw, &err);
	if ((rc == 0) != ok || (rc == 0 && (pw->len != size - a ||
	                                       memcmp(pw->p, data + a,
	                                           size - a) != 0)))
		abort();
	auth_secret_free(&pw);
	return 0;
}
