/* SPDX-License-Identifier: MIT */
/* OpenSSL 3 server contexts: TLS 1.2+ with forward-secret AEAD suites;
 * and the outbound client's opportunistic context. */
#include <stdbool.h>
#include <stdint.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/err.h"
#include "lib/mem.h"
#include "net/tls_int.h"

#include "lib/banned.h"

struct tls_ctx {
	SSL_CTX *ssl;
	unsigned refs;
	bool client; /* tls_ctx_new_client */
};

/* TLS 1.2 suites: ECDHE with AEAD only (Mozilla "intermediate"): no RSA key
 * exchange (no forward secrecy, ROBOT), no CBC (Lucky13, POODLE-style
 * padding oracles), no 3DES (Sweet32), no RC4, NULL or anonymous suites,
 * and no finite-field DHE, so no weak DH group (Logjam) can be offered.
 * TLS 1.3 suites are OpenSSL's defaults (AES-GCM, ChaCha20-Poly1305), all
 * AEAD and forward secret. */
#define TLS12_CIPHERS                                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* Key exchange groups, best first (Mozilla "intermediate"): OpenSSL's
 * default list adds P-521 and X448, which buy nothing but handshake
 * cost. */
#define TLS_GROUPS "X25519:P-256:P-384"

static const char *
ssl_error_string(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

int
tls_ctx_new(const char *cert_path, const char *key_path, struct tls_ctx **out,
    struct err *err)
{
	SSL_CTX *ssl;
	struct tls_ctx *t;
	int rc;

	ssl = SSL_CTX_new(TLS_server_method());
	if (ssl == NULL)
		return err_set(err, ERR_INTERNAL, "SSL_CTX_new: %s",
		    ssl_error_string());
	if (SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ssl, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set1_groups_list(ssl, TLS_GROUPS) != 1) {
		rc = err_set(err, ERR_INTERNAL, "TLS settings: %s",
		    ssl_error_string());
		goto fail;
	}
	/* No renegotiation (client-initiated renegotiation is a DoS lever),
	 * no compression (CRIME), server cipher order. No session tickets:
	 * the ticket key would live as long as the process and decrypt every
	 * recorded session that used it (forward secrecy lost); the session
	 * cache is off too, so there is no resumption at all, which mail
	 * clients (one long session) hardly notice. */
	/* CLEANSE_PLAINTEXT: decrypted records (passwords of LOGIN and
	 * AUTH among them) are wiped once handed over, not left in
	 * OpenSSL's buffer until overwritten. */
	SSL_CTX_set_options(ssl,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	        SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_CLEANSE_PLAINTEXT |
	        SSL_OP_NO_TICKET);
	(void)SSL_CTX_set_num_tickets(ssl, 0); /* TLS 1.3 */
	SSL_CTX_set_mode(ssl,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ssl, cert_path) != 1) {
		rc = err_set(err, ERR_INPUT, "certificate %s: %s", cert_path,
		    ssl_error_string());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ssl, key_path, SSL_FILETYPE_PEM) != 1) {
		rc = err_set(err, ERR_INPUT, "key %s: %s", key_path,
		    ssl_error_string());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ssl) != 1) {
		rc = err_set(err, ERR_INPUT, "key %s does not match %s: %s",
		    key_path, cert_path, ssl_error_string());
		goto fail;
	}
	t = xcalloc(1, sizeof(*t));
	t->ssl = ssl;
	t->refs = 1;
	*out = t;
	return 0;
fail:
	SSL_CTX_free(ssl);
	return rc;
}

int
tls_ctx_new_client(struct tls_ctx **out, struct err *err)
{
	SSL_CTX *ssl = SSL_CTX_new(TLS_client_method());
	struct tls_ctx *t;

	if (ssl == NULL)
		return err_set(err, ERR_INTERNAL, "SSL_CTX_new: %s",
		    ssl_error_string());
	if (SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) != 1) {
		err_set(err, ERR_INTERNAL, "TLS settings: %s",
		    ssl_error_string());
		SSL_CTX_free(ssl);
		return ERR_INTERNAL;
	}
	/* RFC 7435: opportunistic security takes any certificate; it still
	 * beats plaintext against a passive listener. DANE/MTA-STS would
	 * set a verify callback here. */
	SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_options(ssl,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	        SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(ssl,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
	t = xcalloc(1, sizeof(*t));
	t->ssl = ssl;
	t->refs = 1;
	t->client = true;
	*out = t;
	return 0;
}

int64_t
tls_ctx_cert_expires_in(const struct tls_ctx *t)
{
	X509 *x = SSL_CTX_get0_certificate(t->ssl);
	int days, secs;

	if (x == NULL ||
	    ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) != 1)
		return INT64_MAX;
	return (int64_t)days * 86400 + secs;
}

bool
tls_ctx_is_client(const struct tls_ctx *t)
{
	return t->client;
}

struct tls_ctx *
tls_ctx_ref(struct tls_ctx *t)
{
	if (t != NULL)
		t->refs++;
	return t;
}

void
tls_ctx_free(struct tls_ctx **tp)
{
	struct tls_ctx *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	if (--t->refs > 0)
		return;
	SSL_CTX_free(t->ssl);
	xfree(&t);
}

SSL *
tls_ssl_new(struct tls_ctx *t, BIO **rbio_out, BIO **wbio_out)
{
	SSL *ssl = SSL_new(t->ssl); /* holds its own SSL_CTX reference */
	BIO *rbio, *wbio;

	if (ssl == NULL)
		return NULL;
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	if (rbio == NULL || wbio == NULL) {
		BIO_free(rbio);
		BIO_free(wbio);
		SSL_free(ssl);
		return NULL;
	}
	/* An empty memory BIO means "try again", not end of file. */
	BIO_set_mem_eof_return(rbio, -1);
	BIO_set_mem_eof_return(wbio, -1);
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_accept_state(ssl);
	*rbio_out = rbio;
	*wbio_out = wbio;
	return ssl;
}
