/* SPDX-License-Identifier: MIT */
/* struct buf: the one owned-bytes type. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "mem.h"

void
buf_init(struct buf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_clear(struct buf *b)
{
	xfree(&b->p);
	b->len = 0;
	b->cap = 0;
}

static int
reserve(struct buf *b, size_t n)
{
	size_t cap;

	if (n > b->max - b->len) /* b->len <= b->max always holds */
		return ERR_LIMIT;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap = cap <= b->max / 2 ? cap * 2 : b->max + 1;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	return 0;
}

int
buf_append(struct buf *b, const void *data, size_t n)
{
	if (reserve(b, n) != 0)
		return ERR_LIMIT;
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
buf_append_slice(struct buf *b, struct slice s)
{
	return buf_append(b, s.p, s.len);
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(b, (size_t)n) != 0)
		return ERR_LIMIT;
	va_start(ap, fmt);
	(void)vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->p[b->len] = '\0';
}
