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
#define CONFIG_ROUTES_MAX 64

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

/* An outbound route: mail for `domain` (and its subdomains when it starts
 * with a dot, ".example.org") goes to `host` instead of the domain's MX. */
struct route_config {
	char domain[256]; /* lowercase */
	char host[300];	  /* "name", "name:port", "[ip]" or "[ip]:port";
			   * a bracketed or numeric host is not looked up */
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
	/* Connection caps (smtp/limits.h SMTP_CONNS_*): sessions at once,
	 * and from one address; loopback peers count against the latter
	 * only with smtp_limit_loopback. */
	unsigned smtp_max_connections;	      /* default 1000 */
	unsigned smtp_max_connections_per_ip; /* default 50 */
	bool smtp_limit_loopback;	      /* default false */
	/* Base seconds for a message's data, and the time for a command
	 * line (SMTP_DATA_TIME_MAX). */
	unsigned smtp_data_time_seconds; /* default 300 */

	/* IMAP quota (RFC 9208), the same for every user; 0: unlimited.
	 * APPENDLIMIT is smtp_max_message_size. */
	uint64_t imap_quota_bytes;
	uint64_t imap_quota_messages;
	/* Autologout before login (RFC 9051 §5.4 leaves it to the server;
	 * imap/limits.h IMAP_TIMEOUT_PREAUTH_MS is the cap). */
	unsigned imap_login_timeout_seconds;
	/* As the smtp_ ones, for IMAP (imap/limits.h IMAP_CONNS_*,
	 * IMAP_COMMAND_TIME_MAX: base seconds for a command to arrive). */
	unsigned imap_max_connections;	      /* default 1000 */
	unsigned imap_max_connections_per_ip; /* default 50 */
	bool imap_limit_loopback;	      /* default false */
	unsigned imap_command_time_seconds;   /* default 300 */

	/* Submission (587/465), per authenticated user over the last hour;
	 * past either: 451 4.7.1. 0: unlimited. */
	unsigned submission_max_messages_per_hour;
	unsigned submission_max_recipients_per_hour;

	/* The outbound queue. A recipient's first retry comes after
	 * queue_retry_min_seconds, each next one after twice the previous
	 * wait, at most queue_retry_max_seconds; after queue_lifetime_seconds
	 * it bounces. The sender gets one delay notice once a recipient has
	 * waited queue_delay_notice_seconds (0: never). */
	unsigned queue_retry_min_seconds;  /* default 300 */
	unsigned queue_retry_max_seconds;  /* default 3600 */
	uint64_t queue_lifetime_seconds;   /* default 432000 (5 days) */
	uint64_t queue_delay_notice_seconds; /* default 14400 (4 hours) */
	unsigned queue_max_connections;	   /* outbound sessions at once, 20 */

	/* The outbound SMTP client. */
	char outbound_resolver[128]; /* "": the system's (/etc/resolv.conf);
				      * else "ip" or "ip@port", a recursive
				      * resolver to forward every query to */
	unsigned outbound_port;	     /* remote SMTP port, default 25 */
	char outbound_smarthost[300]; /* "": deliver by MX; else a host in
				       * route_config's form for all mail */
	struct route_config routes[CONFIG_ROUTES_MAX];
	size_t n_routes;
	unsigned outbound_connect_timeout_seconds; /* default 30 */
	unsigned outbound_timeout_seconds; /* per reply, default 300 */
	bool outbound_starttls;		   /* opportunistic, default true */

	/* Store. */
	uint64_t blob_gc_grace_seconds; /* unreferenced blob kept this long */
	unsigned commit_batch_max;	/* messages per group commit */
};

/* Fills c with the built-in defaults (no listeners). */
void config_defaults(struct config *c);

#endif
