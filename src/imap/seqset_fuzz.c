/* SPDX-License-Identifier: MIT */
/* libFuzzer target for sequence sets: any text parses or is refused
 * without fault; a parsed set resolves (star from the first bytes) to
 * sorted, disjoint, non-adjacent ranges; membership agrees with the
 * ranges; the formatted form parses back to the same set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/seqset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a;
	struct seqset s, t;
	uint32_t star;
	size_t cap;
	char *out;

	if (size < 4)
		return 0;
	memcpy(&star, data, 4);
	if (data[0] & 1)
		star &= 0xff; /* small mailboxes too */
	a = arena_new("fuzz", 64 << 20);
	if (seqset_parse(a, slice_make(data + 4, size - 4), &s)) {
		check(s.is_saved || s.n > 0);
		seqset_resolve(&s, star);
		for (size_t i = 0; i < s.n; i++) {
			check(s.r[i].lo <= s.r[i].hi);
			check(seqset_contains(&s, s.r[i].lo));
			check(seqset_contains(&s, s.r[i].hi));
			if (i > 0) {
				check(s.r[i - 1].hi < s.r[i].lo);
				check(s.r[i - 1].hi + 1 < s.r[i].lo);
				check(!seqset_contains(&s, s.r[i].lo - 1));
			}
		}
		cap = s.n * 22 + 1;
		out = malloc(cap);
		check(out != NULL);
		check(seqset_format(&s, out, cap));
		if (s.n > 0 && s.r[0].lo > 0 && s.r[s.n - 1].hi < UINT32_MAX) {
			check(
			    seqset_parse(a, slice_make(out, strlen(out)), &t));
			seqset_resolve(&t, star);
			check(t.n == s.n &&
			    memcmp(t.r, s.r, s.n * sizeof(*s.r)) == 0);
		}
		free(out);
	}
	arena_free(&a);
	return 0;
}
