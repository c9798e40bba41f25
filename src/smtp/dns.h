/* SPDX-License-Identifier: MIT */
/* Asynchronous DNS for outbound mail, through libunbound on the loop:
 * MX lookup with the A/AAAA fallback of RFC 5321 §5.1, null MX (RFC 7505)
 * and plain host lookups for routes and the smarthost. Loop thread only. */
#ifndef DESPATCH_SMTP_DNS_H
#define DESPATCH_SMTP_DNS_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "lib/err.h"

/* Addresses tried for one domain at most (all MX hosts, all their
 * addresses, in order). */
#define DNS_HOSTS_MAX 16

struct dns_host {
	char name[256]; /* the MX host name (or the domain, for fallback) */
	char addr[64];	/* numeric IPv4 or IPv6 */
	unsigned port;
	unsigned pref;	/* MX preference; 0 for routes and fallback */
};

struct dns_result {
	int status; /* 0; ERR_NOTFOUND: the domain or host does not exist,
		     * or has a null MX, or no address (permanent: 5.1.2 /
		     * 5.1.10); ERR_TEMP: SERVFAIL, timeout (try later) */
	char why[256];	/* for the log and the queue, when status != 0 */
	bool null_mx;	/* ERR_NOTFOUND because of "MX 0 ." */
	const struct dns_host *hosts; /* by MX preference, then as answered
				       * (IPv4 before IPv6 per host) */
	size_t n_hosts;
};

typedef void (*dns_cb)(void *ctx, const struct dns_result *res);

struct dns_resolver;

/* forwarder: "" to use /etc/resolv.conf (and /etc/hosts); else "ip" or
 * "ip@port": every query goes to that recursive resolver (tests run
 * their own on loopback). ERR_INPUT (bad forwarder), ERR_INTERNAL. */
int dns_resolver_new(uv_loop_t *loop, const char *forwarder,
    struct dns_resolver **out, struct err *err);
/* Cancels outstanding queries (their callbacks do not run) and frees.
 * Accepts NULL. */
void dns_resolver_free(struct dns_resolver **rp);

/* Mail exchangers of domain, each with its addresses, port on each.
 * cb runs exactly once, on the loop thread, never before the call
 * returns. 0, or ERR_INPUT (not a domain name; cb will not run). */
int dns_resolve_mx(struct dns_resolver *r, const char *domain, unsigned port,
    dns_cb cb, void *ctx);
/* The addresses of one host (a numeric address resolves to itself),
 * for routes and the smarthost: no MX lookup. Same contract. */
int dns_resolve_host(struct dns_resolver *r, const char *host, unsigned port,
    dns_cb cb, void *ctx);

#endif
