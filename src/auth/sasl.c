/* SPDX-License-Identifier: MIT */
/* SASL PLAIN (RFC 4616) decoding into wiped memory. */
#include <string.h>

#include <sodium.h>

#include "auth/sasl.h"

#include "lib/banned.h"

int
auth_sasl_plain(struct slice b64, char *authzid, char *authcid,
    struct auth_secret **pw_out, struct err *err)
{
	struct auth_secret *raw = NULL, *pw = NULL;
	size_t n = 0, cap = b64.len / 4 * 3 + 3;
	const char *end, *z, *c, *p, *lim;
	int rc;

	*pw_out = NULL;
	if (b64.len == 0 ||
	    b64.len > 4 * (2 * AUTH_SASL_ID_MAX + AUTH_PASSWORD_MAX + 8) / 3)
		return err_set(err, ERR_INPUT, "PLAIN response size");
	if ((rc = auth_secret_new(cap, &raw, err)) != 0)
		return rc;
	if (sodium_base642bin((unsigned char *)raw->p, cap, b64.p, b64.len,
	        NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != b64.p + b64.len) {
		rc = err_set(err, ERR_INPUT, "bad base64");
		goto out;
	}
	raw->len = n;
	lim = raw->p + n;
	z = raw->p;
	c = memchr(z, '\0', n);
	if (c == NULL) {
		rc = err_set(err, ERR_INPUT, "no NUL");
		goto out;
	}
	c++;
	p = memchr(c, '\0', (size_t)(lim - c));
	if (p == NULL) {
		rc = err_set(err, ERR_INPUT, "no second NUL");
		goto out;
	}
	p++;
	if ((size_t)(c - 1 - z) > AUTH_SASL_ID_MAX ||
	    (size_t)(p - 1 - c) > AUTH_SASL_ID_MAX || p - 1 == c || lim == p ||
	    (size_t)(lim - p) > AUTH_PASSWORD_MAX ||
	    memchr(p, '\0', (size_t)(lim - p)) != NULL) {
		rc = err_set(err, ERR_INPUT, "bad PLAIN fields");
		goto out;
	}
	memcpy(authzid, z, (size_t)(c - 1 - z));
	authzid[c - 1 - z] = '\0';
	memcpy(authcid, c, (size_t)(p - 1 - c));
	authcid[p - 1 - c] = '\0';
	if ((rc = auth_secret_new((size_t)(lim - p), &pw, err)) != 0)
		goto out;
	memcpy(pw->p, p, (size_t)(lim - p));
	pw->len = (size_t)(lim - p);
	pw->p[pw->len] = '\0';
	*pw_out = pw;
	rc = 0;
out:
	auth_secret_free(&raw);
	return rc;
}
