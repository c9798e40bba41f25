/* SPDX-License-Identifier: MIT */
/* Sequence sets (RFC 9051 §9 "sequence-set": 1,3:5,7:*, and "$" for
 * SEARCHRES) parsed into sorted, merged ranges. */
#ifndef DESPATCH_IMAP_SEQSET_H
#define DESPATCH_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/slice.h"

/* Ranges in a parsed set may hold SEQSET_STAR ("*"), resolved later. */
#define SEQSET_STAR UINT32_MAX
/* Ranges in one set (more is BAD: bounded memory). */
#define SEQSET_RANGES_MAX 100000

struct seqset_range {
	uint32_t lo, hi; /* lo <= hi after resolution */
};

struct seqset {
	struct seqset_range *r; /* in the arena */
	size_t n;
	bool is_saved;		/* "$": the caller substitutes SEARCHRES */
};

/* Parses text into out (ranges as given, not yet sorted: "*" may be
 * anywhere). false on a syntax error, 0, over SEQSET_RANGES_MAX or
 * numbers past 2^32-1. */
bool seqset_parse(struct arena *a, struct slice text, struct seqset *out);
/* Replaces "*" by star_value (the highest sequence number or UID; 0 in
 * an empty mailbox), swaps reversed ranges (5:2 is 2:5), sorts and
 * merges. */
void seqset_resolve(struct seqset *s, uint32_t star_value);
bool seqset_contains(const struct seqset *s, uint32_t v); /* resolved */
/* Formats a resolved set compactly ("1:3,7") into a buf-like callback;
 * appends to out (NUL-terminated, truncated: false). */
bool seqset_format(const struct seqset *s, char *out, size_t cap);
/* Builds a resolved set from ascending values (for COPYUID, ESEARCH). */
void seqset_from_sorted(struct arena *a, const uint32_t *v, size_t n,
    struct seqset *out);

#endif
