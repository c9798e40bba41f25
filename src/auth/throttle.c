/* SPDX-License-Identifier: MIT */
/* Failed-login throttling: a small table of keys, scanned linearly (at
 * most AUTH_THROTTLE_KEYS entries, only touched on a login). */
#include <stdlib.h>
#include <string.h>

#include "auth/throttle.h"
#include "lib/mem.h"
#include "lib/str.h"

#include "lib/banned.h"

#define KEY_MAX 330

struct rec {
	char key[KEY_MAX];
	unsigned fails;
	uint64_t last_ms;
};

struct auth_throttle {
	unsigned refs;
	struct auth_throttle_opts o;
	struct rec *r;
	size_t n;
};

struct auth_throttle *
auth_throttle_new(const struct auth_throttle_opts *o)
{
	struct auth_throttle *t = xcalloc(1, sizeof(*t));

	t->refs = 1;
	t->o = *o;
	t->r = xcalloc(AUTH_THROTTLE_KEYS, sizeof(*t->r));
	return t;
}

void
auth_throttle_free(struct auth_throttle **tp)
{
	struct auth_throttle *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	if (--t->refs > 0)
		return;
	free(t->r);
	free(t);
}

struct auth_throttle *
auth_throttle_ref(struct auth_throttle *t)
{
	t->refs++;
	return t;
}

static struct rec *
find(struct auth_throttle *t, const char *key, uint64_t now_ms)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (strcmp(t->r[i].key, key) != 0)
			continue;
		if (now_ms - t->r[i].last_ms > AUTH_THROTTLE_FORGET_MS &&
		    now_ms - t->r[i].last_ms > t->o.ban_ms)
			t->r[i].fails = 0;
		return &t->r[i];
	}
	return NULL;
}

bool
auth_throttle_banned(struct auth_throttle *t, const char *key, uint64_t now_ms)
{
	struct rec *r = find(t, key, now_ms);

	return r != NULL && r->fails >= t->o.ban_after &&
	    now_ms - r->last_ms < t->o.ban_ms;
}

unsigned
auth_throttle_fail(struct auth_throttle *t, const char *key, uint64_t now_ms)
{
	struct rec *r = find(t, key, now_ms);
	uint64_t d;
	size_t i, old = 0;

	if (r == NULL) {
		if (t->n < AUTH_THROTTLE_KEYS) {
			r = &t->r[t->n++];
		} else {
			for (i = 1; i < t->n; i++) /* evict the oldest */
				if (t->r[i].last_ms < t->r[old].last_ms)
					old = i;
			r = &t->r[old];
		}
		memset(r, 0, sizeof(*r));
		(void)str_copy(r->key, sizeof(r->key), key);
	}
	if (r->fails < 1000)
		r->fails++;
	r->last_ms = now_ms;
	d = t->o.base_ms;
	for (i = 1; i < r->fails && d < t->o.max_ms; i++)
		d *= 2;
	return d > t->o.max_ms ? t->o.max_ms : (unsigned)d;
}

void
auth_throttle_success(struct auth_throttle *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->r[i].key, key) == 0) {
			t->r[i] = t->r[--t->n];
			return;
		}
}

/* The two keys of a login; a name too long for the buffer is cut (the
 * user part is bounded by the protocols' line limits anyway). */
static void
login_keys(const char *peer, const char *user, char *kp, char *ku, size_t size)
{
	(void)str_fmt(kp, size, "ip:%s", peer);
	(void)str_fmt(ku, size, "user:%s", user);
}

bool
auth_throttle_login_banned(struct auth_throttle *t, const char *peer,
    const char *user, uint64_t now_ms)
{
	char kp[KEY_MAX], ku[KEY_MAX];

	login_keys(peer, user, kp, ku, KEY_MAX);
	return auth_throttle_banned(t, kp, now_ms) ||
	    auth_throttle_banned(t, ku, now_ms);
}

unsigned
auth_throttle_login_failed(struct auth_throttle *t, const char *peer,
    const char *user, uint64_t now_ms)
{
	char kp[KEY_MAX], ku[KEY_MAX];
	unsigned d1, d2;

	login_keys(peer, user, kp, ku, KEY_MAX);
	d1 = auth_throttle_fail(t, kp, now_ms);
	d2 = auth_throttle_fail(t, ku, now_ms);
	return d1 > d2 ? d1 : d2;
}

void
auth_throttle_login_ok(struct auth_throttle *t, const char *peer,
    const char *user)
{
	char kp[KEY_MAX], ku[KEY_MAX];

	login_keys(peer, user, kp, ku, KEY_MAX);
	auth_throttle_success(t, kp);
	auth_throttle_success(t, ku);
}
