/* SPDX-License-Identifier: MIT */
/* Submission rate limits: per user, SMTP_RATE_BUCKETS one-minute buckets
 * of message and recipient counts; the window is the current minute and
 * the 59 before it, so a burst is forgotten between 59 and 60 minutes
 * later. Users are found by a linear scan: submitting users are few, and
 * the table is bounded. */
#include <stdlib.h>

#include "lib/mem.h"
#include "smtp/ratelimit.h"

#include "lib/banned.h"

struct rate_user {
	int64_t user_id; /* 0: free slot */
	int64_t last;    /* minute of the last use */
	int64_t minute[SMTP_RATE_BUCKETS];
	unsigned msgs[SMTP_RATE_BUCKETS], rcpts[SMTP_RATE_BUCKETS];
};

struct smtp_ratelimit {
	unsigned max_msgs, max_rcpts;
	struct rate_user *users;
	size_t n, cap;
};

struct smtp_ratelimit *
smtp_ratelimit_new(unsigned max_msgs, unsigned max_rcpts)
{
	struct smtp_ratelimit *rl = xcalloc(1, sizeof(*rl));

	smtp_ratelimit_set(rl, max_msgs, max_rcpts);
	return rl;
}

void
smtp_ratelimit_set(struct smtp_ratelimit *rl, unsigned max_msgs,
    unsigned max_rcpts)
{
	rl->max_msgs = max_msgs;
	rl->max_rcpts = max_rcpts;
}

void
smtp_ratelimit_free(struct smtp_ratelimit **rlp)
{
	struct smtp_ratelimit *rl = *rlp;

	if (rl == NULL)
		return;
	*rlp = NULL;
	free(rl->users);
	free(rl);
}

static int64_t
minute_of(int64_t now)
{
	return (now >= 0 ? now : 0) / SMTP_RATE_BUCKET_S;
}

static void
sums(const struct rate_user *u, int64_t min, uint64_t *msgs, uint64_t *rcpts)
{
	size_t i;

	*msgs = *rcpts = 0;
	for (i = 0; i < SMTP_RATE_BUCKETS; i++) {
		if (u->minute[i] > min - SMTP_RATE_BUCKETS &&
		    u->minute[i] <= min) {
			*msgs += u->msgs[i];
			*rcpts += u->rcpts[i];
		}
	}
}

static struct rate_user *
find(struct smtp_ratelimit *rl, int64_t user_id)
{
	size_t i;

	for (i = 0; i < rl->n; i++)
		if (rl->users[i].user_id == user_id)
			return &rl->users[i];
	return NULL;
}

/* A slot for user_id: a new one, one whose window is over, or the one
 * used longest ago. */
static struct rate_user *
slot(struct smtp_ratelimit *rl, int64_t user_id, int64_t min)
{
	struct rate_user *u = find(rl, user_id), *old = NULL;
	size_t i;

	if (u != NULL)
		return u;
	if (rl->n == rl->cap && rl->cap < SMTP_RATE_USERS_MAX) {
		rl->cap = rl->cap ? rl->cap * 2 : 16;
		if (rl->cap > SMTP_RATE_USERS_MAX)
			rl->cap = SMTP_RATE_USERS_MAX;
		rl->users = xrealloc(rl->users, rl->cap * sizeof(*rl->users));
	}
	if (rl->n < rl->cap) {
		u = &rl->users[rl->n++];
	} else {
		for (i = 0; i < rl->n; i++) {
			u = &rl->users[i];
			if (u->last <= min - SMTP_RATE_BUCKETS)
				break;
			if (old == NULL || u->last < old->last)
				old = u;
		}
		if (i == rl->n)
			u = old;
	}
	*u = (struct rate_user){ .user_id = user_id, .last = min };
	for (i = 0; i < SMTP_RATE_BUCKETS; i++)
		u->minute[i] = -1;
	return u;
}

bool
smtp_ratelimit_allows(struct smtp_ratelimit *rl, int64_t user_id, int64_t now,
    unsigned msgs, unsigned rcpts)
{
	struct rate_user *u = find(rl, user_id);
	uint64_t m = 0, r = 0;

	if (u != NULL)
		sums(u, minute_of(now), &m, &r);
	if (rl->max_msgs != 0 && m + msgs > rl->max_msgs)
		return false;
	if (rl->max_rcpts != 0 && r + rcpts > rl->max_rcpts)
		return false;
	return true;
}

void
smtp_ratelimit_add(struct smtp_ratelimit *rl, int64_t user_id, int64_t now,
    unsigned msgs, unsigned rcpts)
{
	int64_t min = minute_of(now);
	struct rate_user *u = slot(rl, user_id, min);
	size_t b = (size_t)(min % SMTP_RATE_BUCKETS);

	if (u->minute[b] != min) {
		u->minute[b] = min;
		u->msgs[b] = u->rcpts[b] = 0;
	}
	u->msgs[b] =
	    u->msgs[b] + msgs < u->msgs[b] ? UINT32_MAX : u->msgs[b] + msgs;
	u->rcpts[b] = u->rcpts[b] + rcpts < u->rcpts[b] ? UINT32_MAX
	                                                : u->rcpts[b] + rcpts;
	if (min > u->last)
		u->last = min;
}
