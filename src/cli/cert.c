/* SPDX-License-Identifier: MIT */
/* A self-signed certificate with the OpenSSL 3 EVP and X509 APIs. A
 * sending MTA rarely checks a certificate on port 25 (RFC 7435,
 * opportunistic TLS), so this makes STARTTLS work out of the box; an
 * operator replaces it with a CA-issued one for submission and IMAP. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/cert.h"
#include "cli/config.h"
#include "lib/banned.h"
#include "lib/str.h"

/* 397 days: the CA/Browser Forum's ceiling for publicly trusted server
 * certificates since 2020 (398). Ten years, as before, is what scanners
 * (testssl.sh: ">= 10 years is way too long", HIGH) rightly flag: a key
 * that never rotates. `despatch init` on a new data dir, or the openssl
 * command in docs/security.md, makes a fresh one. */
#define CERT_DAYS 397

static int
ssl_fail(struct err *err, const char *what)
{
	char buf[160];
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		(void)str_copy(buf, sizeof(buf), "unknown error");
	ERR_clear_error();
	return err_set(err, ERR_INTERNAL, "%s: %s", what, buf);
}

static int
add_ext(X509 *x, int nid, const char *value, struct err *err)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return ssl_fail(err, "certificate extension");
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : ssl_fail(err, "certificate extension");
}

/* Writes with fopen semantics but an exact mode, whatever the umask. */
static FILE *
open_mode(const char *path, mode_t mode, struct err *err)
{
	FILE *f;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd == -1 || fchmod(fd, mode) == -1) {
		err_set(err, ERR_TEMP, "%s: %s", path, strerror(errno));
		if (fd != -1)
			(void)close(fd);
		return NULL;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		err_set(err, ERR_TEMP, "%s: %s", path, strerror(errno));
		(void)close(fd);
	}
	return f;
}

static int
close_synced(FILE *f, const char *path, struct err *err)
{
	int bad = fflush(f) != 0 || fsync(fileno(f)) == -1;

	if (fclose(f) != 0)
		bad = 1;
	return bad ? err_set(err, ERR_TEMP, "%s: %s", path, strerror(errno))
	           : 0;
}

int
cli_cert_generate(const char *hostname, const char *cert_path,
    const char *key_path, struct err *err)
{
	unsigned char serial[16];
	char san[300];
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	BIGNUM *bn = NULL;
	FILE *f;
	int rc = ERR_INTERNAL;

	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (pkey == NULL)
		return ssl_fail(err, "P-256 key");
	x = X509_new();
	if (x == NULL) {
		rc = ssl_fail(err, "X509_new");
		goto out;
	}
	/* RFC 5280 §4.1.2.2: a positive serial of up to 20 octets. */
	if (RAND_bytes(serial, sizeof(serial)) != 1) {
		rc = ssl_fail(err, "random serial");
		goto out;
	}
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		rc = ssl_fail(err, "serial");
		goto out;
	}
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x),
	        (long)CERT_DAYS * 24 * 3600) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	        (const unsigned char *)hostname, -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, pkey)) {
		rc = ssl_fail(err, "certificate fields");
		goto out;
	}
	if (!str_fmt(san, sizeof(san), "%s:%s",
	        cli_addr_ok(hostname) ? "IP" : "DNS", hostname)) {
		rc = err_set(err, ERR_INTERNAL, "host name too long");
		goto out;
	}
	if ((rc = add_ext(x, NID_subject_alt_name, san, err)) != 0 ||
	    (rc = add_ext(x, NID_basic_constraints, "critical,CA:FALSE",
	         err)) != 0 ||
	    (rc = add_ext(x, NID_key_usage, "critical,digitalSignature",
	         err)) != 0 ||
	    (rc = add_ext(x, NID_ext_key_usage, "serverAuth", err)) != 0 ||
	    (rc = add_ext(x, NID_subject_key_identifier, "hash", err)) != 0)
		goto out;
	rc = ERR_INTERNAL;
	if (X509_sign(x, pkey, EVP_sha256()) == 0) {
		rc = ssl_fail(err, "signing the certificate");
		goto out;
	}
	if ((f = open_mode(key_path, 0600, err)) == NULL) {
		rc = ERR_TEMP;
		goto out;
	}
	if (!PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)) {
		(void)fclose(f);
		rc = ssl_fail(err, key_path);
		goto out;
	}
	if ((rc = close_synced(f, key_path, err)) != 0)
		goto out;
	if ((f = open_mode(cert_path, 0644, err)) == NULL) {
		rc = ERR_TEMP;
		goto out;
	}
	if (!PEM_write_X509(f, x)) {
		(void)fclose(f);
		rc = ssl_fail(err, cert_path);
		goto out;
	}
	rc = close_synced(f, cert_path, err);
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}
