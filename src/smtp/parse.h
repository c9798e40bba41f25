/* SPDX-License-Identifier: MIT */
/* The SMTP command parser: MAIL FROM / RCPT TO paths and their ESMTP
 * parameters (RFC 5321 §4.1.2, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531
 * SMTPUTF8, RFC 3461 DSN: RET, ENVID, NOTIFY, ORCPT; RFC 4954 AUTH= on
 * MAIL, accepted and ignored). Pure functions over one command line; no
 * allocation. */
#ifndef DESPATCH_SMTP_PARSE_H
#define DESPATCH_SMTP_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/slice.h"
#include "smtp/limits.h"

enum smtp_parse_rc {
	SMTP_PARSE_OK,
	SMTP_PARSE_SYNTAX,    /* 501 5.5.4: not "FROM:<...>" etc. */
	SMTP_PARSE_BAD_ADDR,  /* 501 5.1.3 (RCPT) / 5.1.7 (MAIL) */
	SMTP_PARSE_TOO_LONG,  /* 501 5.1.3: mailbox over SMTP_MAILBOX_MAX */
	SMTP_PARSE_BAD_PARAM, /* 555 5.5.4: unknown or malformed parameter */
	SMTP_PARSE_NEED_UTF8, /* 553 5.6.7: 8-bit address without SMTPUTF8 */
};

enum smtp_body {
	SMTP_BODY_DEFAULT, /* no BODY= */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

struct smtp_path {
	/* local@domain without brackets or source route, NUL-terminated;
	 * a quoted local part is unquoted when it is a plain dot-string.
	 * Empty for the null path "<>". */
	char addr[SMTP_MAILBOX_MAX + 1];
	size_t len;
	size_t at; /* index of the '@' in addr; len when there is none */
	bool utf8; /* has bytes >= 0x80 */
};

/* RFC 3461 §4.3 RET=. */
enum smtp_ret {
	SMTP_RET_NONE, /* not given */
	SMTP_RET_HDRS,
	SMTP_RET_FULL,
};

/* RFC 3461 §4.1 NOTIFY=, as bits (the values of STORE_NOTIFY_*). 0: not
 * given. NEVER is never combined with the others. */
#define SMTP_NOTIFY_SUCCESS 1u
#define SMTP_NOTIFY_FAILURE 2u
#define SMTP_NOTIFY_DELAY   4u
#define SMTP_NOTIFY_NEVER   8u

struct smtp_mail_args {
	struct smtp_path path;
	uint64_t size; /* SIZE=, 0 if absent */
	bool has_size;
	enum smtp_body body;
	bool smtputf8;
	/* Appended (DSN): */
	enum smtp_ret ret;
	/* ENVID= xtext-decoded, NUL-terminated; printable ASCII only (it
	 * goes into reports). Empty when not given (has_envid false). */
	char envid[SMTP_ENVID_MAX + 1];
	bool has_envid;
	bool has_auth; /* AUTH= was given (RFC 4954 §5; ignored) */
};

struct smtp_rcpt_args {
	struct smtp_path path;
	bool postmaster; /* <postmaster> without a domain (RFC 5321 §4.5.1) */
	/* Appended (DSN): */
	unsigned notify; /* SMTP_NOTIFY_* bits, 0: not given */
	/* ORCPT= as "addr-type;decoded-address" (the type as given, the
	 * address xtext-decoded, printable ASCII or UTF-8 without controls),
	 * NUL-terminated. Empty when not given (has_orcpt false). */
	char orcpt[SMTP_ORCPT_MAX + 1];
	bool has_orcpt;
};

/* Decodes RFC 3461 §4 xtext (xchar = "!".."~" except "+" and "=";
 * hexchar = "+" two upper-case hex digits) into out (room for cap bytes
 * plus a NUL). false on a malformed value, a decoded control byte
 * (< 0x20 or 0x7f) or when it does not fit. */
bool smtp_xtext_decode(struct slice in, char *out, size_t cap, size_t *len_out);

/* Parses what follows the verb of "MAIL FROM:<path> params": `args`
 * starts at "FROM:" (any case). The null path is allowed. A parameter
 * given twice, unknown, malformed or over its limit (ENVID: encoded
 * value over SMTP_ENVID_MAX) is SMTP_PARSE_BAD_PARAM. */
enum smtp_parse_rc smtp_parse_mail(struct slice args,
    struct smtp_mail_args *out);
/* Parses "TO:<path> params" (NOTIFY= and ORCPT=; twice, unknown,
 * malformed or over SMTP_ORCPT_MAX: SMTP_PARSE_BAD_PARAM). utf8: the
 * transaction announced SMTPUTF8, so 8-bit addresses are allowed. */
enum smtp_parse_rc smtp_parse_rcpt(struct slice args, bool utf8,
    struct smtp_rcpt_args *out);

/* Splits a command line into the verb (up to the first SP) and the rest
 * after that SP (empty if none). */
void smtp_parse_verb(struct slice line, struct slice *verb_out,
    struct slice *rest_out);

#endif
