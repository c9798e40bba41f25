/* SPDX-License-Identifier: MIT */
/* Helpers over borrowed byte ranges. */
#include <stdint.h>

#include "slice.h"

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

bool
slice_eq(struct slice a, struct slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool
slice_eq_ci(struct slice a, struct slice b)
{
	size_t i;

	if (a.len != b.len)
		return false;
	for (i = 0; i < a.len; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i]))
			return false;
	return true;
}

bool
slice_has_prefix_ci(struct slice s, struct slice prefix)
{
	if (s.len < prefix.len)
		return false;
	return slice_eq_ci(slice_make(s.p, prefix.len), prefix);
}

struct slice
slice_trim(struct slice s)
{
	while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

size_t
slice_find(struct slice s, char c)
{
	const char *q = s.len ? memchr(s.p, c, s.len) : NULL;

	return q == NULL ? SIZE_MAX : (size_t)(q - s.p);
}
