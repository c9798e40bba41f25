/* SPDX-License-Identifier: MIT */
/* The parsed configuration as plain data. The file format and parser live
 * in cli/config.c; every layer reads this struct and nothing else. */
#ifndef DESPATCH_LIB_CONFIG_H
#define DESPATCH_LIB_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_LISTENERS_MAX 16

enum listener_kind {
	LISTENER_SMTP,	     /* MX, port 25 */
	LISTENER_SUBMISSION, /* 587, STARTTLS (issue: submission) */
	LISTENER_SUBMISSIONS, /* 465, implicit TLS */
	LISTENER_IMAP,	     /* 143 */
	LISTENER_IMAPS,	     /* 993 */
};

struct listener_config {
	enum listener_kind kind;
	char addr[64]; /* numeric IPv4 or IPv6 address */
	unsigned port;
};

struct config {
	char path[PATH_MAX];	 /* the file this was read from */
	char data_dir[PATH_MAX]; /* absolute */
	char hostname[256];	 /* our name in greetings and Received: */
	char log_level[16];

	struct listener_config listeners[CONFIG_LISTENERS_MAX];
	size_t n_listeners;

	char tls_cert[PATH_MAX]; /* PEM chain */
	char tls_key[PATH_MAX];	 /* PEM key */

	/* SMTP limits; each may only lower the cap in smtp/limits.h. */
	uint64_t smtp_max_message_size; /* bytes, advertised in SIZE */
	unsigned smtp_max_recipients;
	unsigned smtp_max_errors;
	unsigned smtp_timeout_seconds; /* idle command timeout */
	bool smtp_reject_bare_lf;      /* default false: normalise in DATA */

	/* IMAP quota (RFC 9208), the same for every user; 0: unlimited.
	 * APPENDLIMIT is smtp_max_message_size. */
	uint64_t imap_quota_bytes;
	uint64_t imap_quota_messages;
	/* Autologout before login (RFC 9051 §5.4 leaves it to the server;
	 * imap/limits.h IMAP_TIMEOUT_PREAUTH_MS is the cap). */
	unsigned imap_login_timeout_seconds;

	/* Store. */
	uint64_t blob_gc_grace_seconds; /* unreferenced blob kept this long */
	unsigned commit_batch_max;	/* messages per group commit */
};

/* Fills c with the built-in defaults (no listeners). */
void config_defaults(struct config *c);

#endif
