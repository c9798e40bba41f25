/* SPDX-License-Identifier: MIT */
/* SASL mechanism decoding (RFC 4422): PLAIN (RFC 4616) and LOGIN
 * (draft-murchison-sasl-login: a base64 user name, then a base64
 * password, each answering a server prompt). */
#ifndef DESPATCH_AUTH_SASL_H
#define DESPATCH_AUTH_SASL_H

#include <stddef.h>

#include "auth/password.h"
#include "lib/err.h"
#include "lib/slice.h"

/* Longest authorization or authentication identity accepted. */
#define AUTH_SASL_ID_MAX 320

/* Decodes a base64 PLAIN response "authzid NUL authcid NUL passwd"
 * (b64 "=" is the empty response: ERR_INPUT). authzid and authcid are
 * copied NUL-terminated into buffers of AUTH_SASL_ID_MAX + 1 bytes, the
 * password into a new secret (*pw_out, the caller frees). The decoded
 * bytes live in sodium memory and are wiped. 0, ERR_INPUT (bad base64,
 * missing NULs, empty authcid or password, too long), ERR_TEMP. */
int auth_sasl_plain(struct slice b64, char *authzid, char *authcid,
    struct auth_secret **pw_out, struct err *err);

/* LOGIN's first response: the base64 user name, decoded NUL-terminated
 * into authcid (AUTH_SASL_ID_MAX + 1 bytes). 0, ERR_INPUT (bad base64,
 * empty, NUL inside, longer than AUTH_SASL_ID_MAX). */
int auth_sasl_login_user(struct slice b64, char *authcid, struct err *err);

/* LOGIN's second response: the base64 password, decoded into a new
 * secret (*pw_out, the caller frees; the decoding happens in sodium
 * memory). 0, ERR_INPUT (bad base64, empty, NUL inside, longer than
 * AUTH_PASSWORD_MAX), ERR_TEMP. */
int auth_sasl_login_pass(struct slice b64, struct auth_secret **pw_out,
    struct err *err);

#endif
