/* SPDX-License-Identifier: MIT */
/* Borrowed byte ranges: never owned, never NUL-terminated by contract. */
#ifndef DESPATCH_LIB_SLICE_H
#define DESPATCH_LIB_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct slice {
	const char *p;
	size_t len;
};

#define SLICE_LIT(s) ((struct slice){ (s), sizeof(s) - 1 })

static inline struct slice
slice_make(const void *p, size_t len)
{
	return (struct slice){ (const char *)p, len };
}

static inline struct slice
slice_cstr(const char *s)
{
	return (struct slice){ s, strlen(s) };
}

/* Returns the bytes after the first n (n is clamped to s.len). */
static inline struct slice
slice_skip(struct slice s, size_t n)
{
	if (n > s.len)
		n = s.len;
	return (struct slice){ s.p + n, s.len - n };
}

bool slice_eq(struct slice a, struct slice b);
/* ASCII case-insensitive equality. */
bool slice_eq_ci(struct slice a, struct slice b);
/* ASCII case-insensitive prefix test. */
bool slice_has_prefix_ci(struct slice s, struct slice prefix);
/* Drops leading and trailing SP and HTAB. */
struct slice slice_trim(struct slice s);
/* Returns the index of the first byte c, or SIZE_MAX if absent. */
size_t slice_find(struct slice s, char c);

#endif
