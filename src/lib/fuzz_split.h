/* SPDX-License-Identifier: MIT */
/* Helpers shared by the libFuzzer targets: fuzzer-chosen split points
 * (the first bytes of an input steer a tiny PRNG that picks chunk
 * sizes), so a target can feed the same bytes whole and in pieces and
 * compare. Header-only; fuzz builds only. */
#ifndef DESPATCH_LIB_FUZZ_SPLIT_H
#define DESPATCH_LIB_FUZZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>

struct fuzz_split {
	uint32_t state;
	size_t max; /* longest chunk, >= 1 */
};

static inline void
fuzz_split_init(struct fuzz_split *s, uint32_t seed, size_t max)
{
	s->state = seed * 2654435761u + 1;
	s->max = max == 0 ? 1 : max;
}

/* Next chunk length, 1..min(left, max) (0 only when left is 0). */
static inline size_t
fuzz_split_next(struct fuzz_split *s, size_t left)
{
	size_t n;

	s->state = s->state * 1103515245u + 12345u;
	n = 1 + (size_t)((s->state >> 8) % s->max);
	return n < left ? n : left;
}

/* Reads a little-endian u32 from the front of the input (fewer bytes:
 * zero-padded) and drops the bytes read. */
static inline uint32_t
fuzz_take_u32(const uint8_t **data, size_t *size)
{
	uint32_t v = 0;
	size_t i;

	for (i = 0; i < 4 && i < *size; i++)
		v |= (uint32_t)(*data)[i] << (8 * i);
	*data += i;
	*size -= i;
	return v;
}

#endif
