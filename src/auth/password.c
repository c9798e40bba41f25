/* SPDX-License-Identifier: MIT */
/* argon2id password hashes via libsodium's crypto_pwhash_str_alg, secret
 * buffers, and generated passwords. */
#include <string.h>

#include <sodium.h>

#include "auth/password.h"
#include "lib/banned.h"

_Static_assert(AUTH_PWHASH_SIZE == crypto_pwhash_STRBYTES,
    "AUTH_PWHASH_SIZE must match libsodium");

/* Symbols a human reads back from a terminal without guessing: the
 * look-alikes 0 O o 1 l I 5 S 2 Z 8 B are left out. */
static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz"
                               "ACDEFGHJKLMNPQRTUVWXY"
                               "34679";

static int
sodium_ready(struct err *err)
{
	if (sodium_init() < 0)
		return err_set(err, ERR_INTERNAL, "libsodium failed to start");
	return 0;
}

int
auth_secret_new(size_t cap, struct auth_secret **out, struct err *err)
{
	struct auth_secret *s;
	int rc;

	*out = NULL;
	if ((rc = sodium_ready(err)) != 0)
		return rc;
	if (cap == 0 || cap > AUTH_PASSWORD_MAX * 4)
		return err_set(err, ERR_INTERNAL, "secret size %zu", cap);
	s = sodium_malloc(sizeof(*s));
	if (s == NULL)
		return err_set(err, ERR_TEMP, "sodium_malloc failed");
	s->p = sodium_malloc(cap + 1);
	if (s->p == NULL) {
		sodium_free(s);
		return err_set(err, ERR_TEMP, "sodium_malloc failed");
	}
	s->cap = cap;
	s->len = 0;
	sodium_memzero(s->p, cap + 1);
	*out = s;
	return 0;
}

void
auth_secret_free(struct auth_secret **sp)
{
	struct auth_secret *s = *sp;

	if (s == NULL)
		return;
	sodium_free(s->p); /* wipes before releasing */
	sodium_free(s);
	*sp = NULL;
}

int
auth_password_generate(struct auth_secret *s, struct err *err)
{
	size_t i;
	int rc;

	if ((rc = sodium_ready(err)) != 0)
		return rc;
	if (s->cap < AUTH_PASSWORD_GEN_LEN)
		return err_set(err, ERR_INTERNAL, "secret too small");
	for (i = 0; i < AUTH_PASSWORD_GEN_LEN; i++)
		s->p[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	s->p[i] = '\0';
	s->len = i;
	return 0;
}

int
auth_password_hash(const char *pw, size_t len, char hash_out[AUTH_PWHASH_SIZE],
    struct err *err)
{
	int rc;

	if ((rc = sodium_ready(err)) != 0)
		return rc;
	if (len == 0)
		return err_set(err, ERR_INPUT, "empty password");
	if (len > AUTH_PASSWORD_MAX)
		return err_set(err, ERR_INPUT, "password longer than %d bytes",
		    AUTH_PASSWORD_MAX);
	/* Explicit algorithm, so a future libsodium default cannot change
	 * what we store. The only failure is an allocation of memlimit. */
	if (crypto_pwhash_str_alg(hash_out, pw, len,
	        crypto_pwhash_OPSLIMIT_INTERACTIVE,
	        crypto_pwhash_MEMLIMIT_INTERACTIVE,
	        crypto_pwhash_ALG_ARGON2ID13) != 0)
		return err_set(err, ERR_TEMP,
		    "argon2id: out of memory hashing a password");
	return 0;
}

bool
auth_password_verify(const char *hash, const char *pw, size_t len)
{
	if (sodium_init() < 0 || len == 0 || len > AUTH_PASSWORD_MAX)
		return false;
	if (memchr(hash, '\0', AUTH_PWHASH_SIZE) == NULL)
		return false;
	return crypto_pwhash_str_verify(hash, pw, len) == 0;
}
