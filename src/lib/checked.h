/* SPDX-License-Identifier: MIT */
/* Overflow-checked size arithmetic for sizes derived from input. */
#ifndef DESPATCH_LIB_CHECKED_H
#define DESPATCH_LIB_CHECKED_H

#include <stdbool.h>
#include <stddef.h>

/* *out = a + b; false (and *out untouched) on overflow. */
static inline bool
checked_add(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_add_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

/* *out = a * b; false (and *out untouched) on overflow. */
static inline bool
checked_mul(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

#endif
