/* SPDX-License-Identifier: MIT */
/* Bounded C-string helpers (the only ones allowed; see banned.h). */
#ifndef DESPATCH_LIB_STR_H
#define DESPATCH_LIB_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slice.h"

/* snprintf into dst; false if the output was truncated. */
bool str_fmt(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copies src into dst (always NUL-terminated); false if truncated. */
bool str_copy(char *dst, size_t size, const char *src);
/* Copies a slice into dst as a C string; false if truncated. */
bool str_from_slice(char *dst, size_t size, struct slice s);
/* Lowercases ASCII in place. */
void str_lower(char *s);
/* Parses a decimal unsigned in [min, max], the whole string; 0 or ERR_INPUT. */
int num_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v_out);
int num_parse_u64_slice(struct slice s, uint64_t min, uint64_t max,
    uint64_t *v_out);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void str_hex(char *out, const unsigned char *p, size_t n);
/* Parses exactly 2n hex digits into out; false on bad input. */
bool str_unhex(unsigned char *out, size_t n, const char *hex);
/* The value of one hex digit (either case), or -1 if c is none. Inline:
 * the QP decoder calls it per escape, and the codec fuzz targets compile
 * codec.c without the rest of lib. */
static inline int
str_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
