/* SPDX-License-Identifier: MIT */
/* Bounded string formatting, copying and number parsing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "str.h"

bool
str_fmt(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < size;
}

bool
str_copy(char *dst, size_t size, const char *src)
{
	return str_from_slice(dst, size, slice_cstr(src));
}

bool
str_from_slice(char *dst, size_t size, struct slice s)
{
	size_t n;

	if (size == 0)
		return false;
	n = s.len < size - 1 ? s.len : size - 1;
	if (n > 0)
		memcpy(dst, s.p, n);
	dst[n] = '\0';
	return n == s.len;
}

void
str_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

int
num_parse_u64_slice(struct slice s, uint64_t min, uint64_t max,
    uint64_t *v_out)
{
	uint64_t v = 0;
	size_t i;

	if (s.len == 0 || s.len > 20)
		return ERR_INPUT;
	for (i = 0; i < s.len; i++) {
		unsigned d;

		if (s.p[i] < '0' || s.p[i] > '9')
			return ERR_INPUT;
		d = (unsigned)(s.p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return ERR_INPUT;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return ERR_INPUT;
	*v_out = v;
	return 0;
}

int
num_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v_out)
{
	return num_parse_u64_slice(slice_cstr(s), min, max, v_out);
}

void
str_hex(char *out, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

bool
str_unhex(unsigned char *out, size_t n, const char *hex)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi = str_hexval(hex[2 * i]), lo;

		if (hi < 0)
			return false;
		lo = str_hexval(hex[2 * i + 1]);
		if (lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return hex[2 * n] == '\0';
}
