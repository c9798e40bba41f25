/* SPDX-License-Identifier: MIT */
/* Per-user submission limits (messages and recipients per hour): a
 * sliding window of one-minute buckets kept in memory by the SMTP server,
 * shared by all of a user's sessions. Loop thread only. */
#ifndef DESPATCH_SMTP_RATELIMIT_H
#define DESPATCH_SMTP_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* The window: SMTP_RATE_BUCKETS buckets of SMTP_RATE_BUCKET_S seconds. */
#define SMTP_RATE_BUCKET_S 60
#define SMTP_RATE_BUCKETS  60

/* Users tracked at most (about 1 KiB each). Past it a user whose window
 * is empty is reused, else the one seen longest ago (whose counts are
 * then forgotten: the bound on memory wins over the limit). */
#define SMTP_RATE_USERS_MAX 4096

struct smtp_ratelimit;

/* max_msgs / max_rcpts per hour; 0: no limit. */
struct smtp_ratelimit *smtp_ratelimit_new(unsigned max_msgs,
    unsigned max_rcpts);
void smtp_ratelimit_set(struct smtp_ratelimit *rl, unsigned max_msgs,
    unsigned max_rcpts);
void smtp_ratelimit_free(struct smtp_ratelimit **rlp);

/* Would msgs more messages and rcpts more recipients at now (unix
 * seconds) stay within the user's limits over the last hour? */
bool smtp_ratelimit_allows(struct smtp_ratelimit *rl, int64_t user_id,
    int64_t now, unsigned msgs, unsigned rcpts);
/* Records an accepted message with rcpts recipients. */
void smtp_ratelimit_add(struct smtp_ratelimit *rl, int64_t user_id, int64_t now,
    unsigned msgs, unsigned rcpts);

#endif
