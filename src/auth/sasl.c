/* SPDX-License-Identifier: MIT */
/* SASL PLAIN (RFC 4616) and LOGIN decoding into wiped memory. */
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

/* Decodes b64 into a new secret of at most max bytes without NUL. */
static int
decode_field(struct slice b64, size_t max, struct auth_secret **out,
    struct err *err)
{
	struct auth_secret *raw = NULL;
	size_t n = 0, cap = b64.len / 4 * 3 + 3;
	const char *end;
	int rc;

	*out = NULL;
	if (b64.len == 0 || b64.len > 4 * (max + 2) / 3 + 4)
		return err_set(err, ERR_INPUT, "LOGIN response size");
	if ((rc = auth_secret_new(cap, &raw, err)) != 0)
		return rc;
	if (sodium_base642bin((unsigned char *)raw->p, cap, b64.p, b64.len,
	        NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != b64.p + b64.len) {
		auth_secret_free(&raw);
		return err_set(err, ERR_INPUT, "bad base64");
	}
	if (n == 0 || n > max || memchr(raw->p, '\0', n) != NULL) {
		auth_secret_free(&raw);
		return err_set(err, ERR_INPUT, "bad LOGIN field");
	}
	raw->len = n;
	raw->p[n] = '\0';
	*out = raw;
	return 0;
}

int
auth_sasl_login_user(struct slice b64, char *authcid, struct err *err)
{
	struct auth_secret *f = NULL;
	int rc = decode_field(b64, AUTH_SASL_ID_MAX, &f, err);

	if (rc != 0)
		return rc;
	memcpy(authcid, f->p, f->len + 1);
	auth_secret_free(&f);
	return 0;
}

int
auth_sasl_login_pass(struct slice b64, struct auth_secret **pw_out,
    struct err *err)
{
	return decode_field(b64, AUTH_PASSWORD_MAX, pw_out, err);
}
