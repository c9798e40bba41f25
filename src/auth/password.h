/* SPDX-License-Identifier: MIT */
/* Password hashing (argon2id through libsodium), secret buffers that are
 * locked and wiped, and generated passwords for new accounts. */
#ifndef DESPATCH_AUTH_PASSWORD_H
#define DESPATCH_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

/* Bytes of an encoded hash including its NUL (crypto_pwhash_STRBYTES). */
#define AUTH_PWHASH_SIZE 128
/* Longest password accepted, in bytes: argon2id hashes any length, but a
 * bound keeps a hostile AUTH or stdin from costing memory. */
#define AUTH_PASSWORD_MAX 1024
/* Characters of a generated password: 20 from a 54-symbol alphabet give
 * about 115 bits. */
#define AUTH_PASSWORD_GEN_LEN 20

/* A secret in sodium_malloc memory (guard pages, mlock'ed where allowed),
 * NUL-terminated, wiped and released by auth_secret_free. */
struct auth_secret {
	char *p;    /* cap + 1 bytes; p[len] == '\0' */
	size_t len; /* bytes in use */
	size_t cap; /* usable bytes */
};

/* Allocates a secret of cap bytes (plus the NUL). 0, or ERR_TEMP when
 * sodium_malloc fails. */
int auth_secret_new(size_t cap, struct auth_secret **out, struct err *err);
/* Wipes and frees *sp, sets *sp = NULL. Accepts NULL. */
void auth_secret_free(struct auth_secret **sp);

/* Fills s with a fresh random password of AUTH_PASSWORD_GEN_LEN characters
 * from an alphabet without look-alikes (no 0/O/o, 1/l/I, 5/S, 2/Z, 8/B).
 * s->cap must be at least AUTH_PASSWORD_GEN_LEN; ERR_INTERNAL otherwise. */
int auth_password_generate(struct auth_secret *s, struct err *err);

/* Hashes pw (len bytes, 1..AUTH_PASSWORD_MAX) with argon2id at libsodium's
 * interactive limits into hash_out (AUTH_PWHASH_SIZE bytes, a C string
 * starting "$argon2id$"). Slow on purpose (~0.1 s, 64 MiB): call it off
 * the loop thread. 0, ERR_INPUT (empty or too long) or ERR_TEMP (out of
 * memory). */
int auth_password_hash(const char *pw, size_t len,
    char hash_out[AUTH_PWHASH_SIZE], struct err *err);

/* True only if pw matches the encoded hash. A malformed hash is a
 * mismatch. Slow on purpose, like auth_password_hash. */
bool auth_password_verify(const char *hash, const char *pw, size_t len);

#endif
