/* SPDX-License-Identifier: MIT */
/* Owned, growable byte buffers with a hard ceiling. */
#ifndef DESPATCH_LIB_BUF_H
#define DESPATCH_LIB_BUF_H

#include <stddef.h>

#include "slice.h"

struct buf {
	char *p;
	size_t len, cap, max; /* max: hard ceiling, < SIZE_MAX / 2 */
};

/* Sets up an empty buffer that may grow to max bytes. */
void buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_clear(struct buf *b);
/* Appends n bytes (keeps p NUL-terminated); ERR_LIMIT past b->max. */
int buf_append(struct buf *b, const void *data, size_t n);
int buf_append_slice(struct buf *b, struct slice s);
/* Appends printf output; ERR_LIMIT past b->max (buffer unchanged then). */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n clamped to len). */
void buf_consume(struct buf *b, size_t n);
static inline struct slice
buf_slice(const struct buf *b)
{
	return slice_make(b->p, b->len);
}
static inline void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

#endif
