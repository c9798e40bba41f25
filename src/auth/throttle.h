/* SPDX-License-Identifier: MIT */
/* Failed-login throttling shared by the IMAP and submission servers (one
 * instance: a guess on either protocol counts for both): each failure
 * for a key (a peer address, a user name) makes the next answer wait
 * longer, and past a count the key is refused for a while. Memory is
 * bounded: the oldest records are dropped first.
 * Loop thread only. */
#ifndef DESPATCH_AUTH_THROTTLE_H
#define DESPATCH_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

/* Records kept at most (older ones are forgotten). */
#define AUTH_THROTTLE_KEYS 4096
/* A key's failures are forgotten this long after its last failure. */
#define AUTH_THROTTLE_FORGET_MS (15u * 60u * 1000u)

struct auth_throttle;

struct auth_throttle_opts {
	unsigned base_ms;   /* delay after the first failure */
	unsigned max_ms;    /* the delay doubles up to this */
	unsigned ban_after; /* failures that ban the key */
	unsigned ban_ms;    /* for this long after the last failure */
};

struct auth_throttle *auth_throttle_new(const struct auth_throttle_opts *o);
/* Another holder of t (a second server): one more auth_throttle_free is
 * needed before it is freed. Returns t. */
struct auth_throttle *auth_throttle_ref(struct auth_throttle *t);
/* Drops the caller's reference; the last one frees. Accepts NULL. */
void auth_throttle_free(struct auth_throttle **tp);

/* true while key is banned (its attempts are refused unverified). */
bool auth_throttle_banned(struct auth_throttle *t, const char *key,
    uint64_t now_ms);
/* Records a failure; returns the delay (ms) before answering. */
unsigned auth_throttle_fail(struct auth_throttle *t, const char *key,
    uint64_t now_ms);
/* Forgets key's failures (a successful login). */
void auth_throttle_success(struct auth_throttle *t, const char *key);

/* A login of user (lowercase) from peer (a numeric address) counts
 * under two keys, "ip:<peer>" and "user:<user>":
 * - banned: true if either key is banned;
 * - failed: records a failure for both; returns the longer delay;
 * - ok: forgets both. */
bool auth_throttle_login_banned(struct auth_throttle *t, const char *peer,
    const char *user, uint64_t now_ms);
unsigned auth_throttle_login_failed(struct auth_throttle *t, const char *peer,
    const char *user, uint64_t now_ms);
void auth_throttle_login_ok(struct auth_throttle *t, const char *peer,
    const char *user);

#endif
