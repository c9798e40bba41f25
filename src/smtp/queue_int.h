/* SPDX-License-Identifier: MIT */
/* The outbound queue's pure parts (route.c): route matching and host
 * parsing, the retry back-off, status codes from replies, grouping due
 * rows into client jobs, and the set of rows in flight. No I/O, so
 * queue_test.c tests them without a loop, DNS or a store. */
#ifndef DESPATCH_SMTP_QUEUE_INT_H
#define DESPATCH_SMTP_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h> /* before lib/config.h: the system <limits.h> (PATH_MAX),
                  * not smtp/limits.h, which -I src/smtp would find */

#include "lib/config.h"
#include "smtp/client.h"
#include "smtp/dns.h"
#include "store/store.h"

/* Recipients per message in one SMTP transaction: RFC 5321 §4.5.3.1.8
 * makes servers take at least 100; the rest of a message's due rows go
 * in a second transaction on the same session. */
#define QUEUE_RCPTS_PER_TXN 100
/* Transactions (messages) per client job: one session should not hold
 * a domain's whole backlog while others wait. */
#define QUEUE_MSGS_PER_JOB 100
/* Due rows read per scan of the store. */
#define QUEUE_SCAN_MAX 2000

/* Where mail for a domain goes: a host (name or literal) and port. */
struct queue_route {
	char host[256];
	unsigned port;
	bool literal; /* "[ip]": no lookup at all */
};

/* Parses route_config's host syntax: "name", "name:port", "[ip]" or
 * "[ip]:port"; a host with two or more colons outside brackets is an
 * IPv6 address without a port. 0, or ERR_INPUT (empty, too long, bad
 * port). */
int queue_route_parse(const char *spec, unsigned default_port,
    struct queue_route *out);

/* An address literal as a recipient's domain (RFC 5321 §4.1.3):
 * "[192.0.2.1]" or "[IPv6:2001:db8::1]" -> that address, port; true.
 * false: not a literal (or a malformed one). */
bool queue_domain_literal(const char *domain, unsigned port,
    struct queue_route *out);

/* The configured route for domain (lowercase): an exact route first,
 * else the longest ".suffix" route the domain is a subdomain of, else
 * the smarthost; NULL: deliver by MX. */
const char *queue_route_find(const struct config *cfg, const char *domain);

/* Seconds to wait after a failed attempt when `attempts` were made
 * before it: retry_min doubled per attempt, at most retry_max. */
uint64_t queue_backoff(unsigned retry_min, unsigned retry_max,
    unsigned attempts);

/* The enhanced status (RFC 3463) for a recipient's outcome: the one in
 * the reply when its class fits (reply "550 5.1.1 ..." for PERM gives
 * 5.1.1), else 5.0.0 (PERM), 4.4.1 (TEMP without a reply: the host did
 * not answer) or 4.0.0 (TEMP), 2.0.0 (OK). out has 16 bytes. */
void queue_status(enum smtp_rcpt_status st, int code, const char *reply,
    char *out);

/* Per-recipient facts the client does not carry. */
struct queue_row {
	unsigned attempts;
	int64_t created;
	bool delay_notified;
};

/* What becomes of one recipient after an attempt. */
enum queue_verdict {
	QUEUE_DONE,        /* delivered: row deleted */
	QUEUE_RELAYED,     /* delivered, and a "relayed" report is owed */
	QUEUE_DEFER,       /* try again at next_attempt */
	QUEUE_FAIL_REPORT, /* failed: bounce to the sender */
	QUEUE_FAIL_SILENT, /* failed, nobody to tell: row deleted */
	QUEUE_LEAVE,       /* interrupted by shutdown: row untouched */
};

struct queue_decision {
	enum queue_verdict verdict;
	int64_t next_attempt; /* QUEUE_DEFER */
	bool delay_notice;    /* QUEUE_DEFER: a delay notice is owed now */
	bool expired;         /* failed because the lifetime ran out */
	char status[16];      /* RFC 3463 status for logs and reports */
};

/* The policy of queue.h for one recipient: outcome st (PENDING counts
 * as TEMP) with the remote's code and reply, fixed_status ("" or a DNS
 * outcome's status), its NOTIFY bits, facts of its row and message.
 * Pure: the clock is `now`, the config `c`. */
void queue_decide(const struct config *c, enum smtp_rcpt_status st, int code,
    const char *reply, const char *fixed_status, unsigned notify,
    bool null_sender, bool remote_dsn, bool stopping,
    const struct queue_row *row, int64_t now, struct queue_decision *out);

/* One client job as built from due rows: msgs[i].rcpts[j] comes with
 * rows[i][j]. Strings are owned by the job. */
struct queue_job {
	struct queue_job *next;
	char *domain;
	struct smtp_client_msg *msgs;
	struct queue_row **rows;
	int64_t *user_ids; /* per msg */
	size_t n_msgs, cap_msgs;
	size_t n_rcpts; /* over all msgs */
	/* Used by queue.c: */
	struct smtp_client_job cj;
	struct dns_host hosts[DNS_HOSTS_MAX];
	struct smtp_client *client;
	void *q;
	int state;
	unsigned ops;          /* store operations not yet called back */
	bool route_lookup;     /* resolved a route/smarthost, not an MX */
	char fixed_status[16]; /* set by a DNS outcome for every rcpt */
	bool store_failed;     /* an outcome was not recorded */
};

/* Adds one due row (they come ordered by domain, then message) to the
 * last job of *list when it is for the same domain and has room, else
 * to a new job appended, as long as fewer than max_jobs jobs exist (else
 * returns false: the row is left for a later scan). */
bool queue_group_add(struct queue_job **list, size_t *n_jobs, size_t max_jobs,
    const struct store_queue_entry *e);
/* Frees a job and everything it owns; accepts NULL. */
void queue_job_free(struct queue_job **jp);

/* A set of row ids (> 0): the rows some job is working on. */
struct queue_idset {
	int64_t *slots;
	size_t cap, used, live; /* used counts tombstones too */
};
void queue_idset_init(struct queue_idset *s);
void queue_idset_clear(struct queue_idset *s);
bool queue_idset_has(const struct queue_idset *s, int64_t id);
void queue_idset_add(struct queue_idset *s, int64_t id);
void queue_idset_del(struct queue_idset *s, int64_t id);

#endif
