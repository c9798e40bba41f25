/* SPDX-License-Identifier: MIT */
/* For the session fuzz targets only, included by exactly one file of a
 * binary: password hashing at libsodium's minimum cost. An unknown user's
 * AUTH or LOGIN hashes the guess at the interactive cost (so that timing
 * does not tell unknown users apart), which would make every mutated user
 * name take a tenth of a second. Same code paths, cheaper parameters. */
#ifndef DESPATCH_LIB_FUZZ_PWHASH_H
#define DESPATCH_LIB_FUZZ_PWHASH_H

#include <dlfcn.h>

#include <sodium.h>

int crypto_pwhash_str_alg(char out[crypto_pwhash_STRBYTES],
    const char *const passwd, unsigned long long passwdlen,
    unsigned long long opslimit, size_t memlimit, int alg);

int
crypto_pwhash_str_alg(char out[crypto_pwhash_STRBYTES],
    const char *const passwd, unsigned long long passwdlen,
    unsigned long long opslimit, size_t memlimit, int alg)
{
	static int (*real)(char *, const char *, unsigned long long,
	    unsigned long long, size_t, int);

	(void)opslimit;
	(void)memlimit;
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "crypto_pwhash_str_alg");
	return real(out, passwd, passwdlen, crypto_pwhash_argon2id_OPSLIMIT_MIN,
	    crypto_pwhash_argon2id_MEMLIMIT_MIN, alg);
}

#endif
