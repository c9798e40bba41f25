/* SPDX-License-Identifier: MIT */
/* Sequence sets (RFC 9051 §9):
 *   sequence-set = (seq-number / seq-range) ["," sequence-set] / "$"
 *   seq-range = seq-number ":" seq-number; seq-number = nz-number / "*"
 * nz-number is strict: no 0, no leading zero, at most 4294967295. The
 * number 4294967295 is the same value as SEQSET_STAR and so reads as
 * "*" (no mailbox comes near that many messages or UIDs). "$" only as the
 * whole set (RFC 5182). */
#include <stdlib.h>
#include <string.h>

#include "imap/seqset.h"

#include "lib/banned.h"

/* Reads a seq-number at *pos; false on a syntax error. */
static bool
read_num(struct slice t, size_t *pos, uint32_t *out)
{
	size_t i = *pos;
	uint64_t v = 0;

	if (i >= t.len)
		return false;
	if (t.p[i] == '*') {
		*out = SEQSET_STAR;
		*pos = i + 1;
		return true;
	}
	if (t.p[i] < '1' || t.p[i] > '9')
		return false;
	while (i < t.len && t.p[i] >= '0' && t.p[i] <= '9') {
		v = v * 10 + (uint64_t)(t.p[i] - '0');
		if (v > UINT32_MAX)
			return false;
		i++;
	}
	*out = (uint32_t)v;
	*pos = i;
	return true;
}

bool
seqset_parse(struct arena *a, struct slice text, struct seqset *out)
{
	size_t n = 1, i, pos = 0, k = 0;

	memset(out, 0, sizeof(*out));
	if (text.len == 1 && text.p[0] == '$') {
		out->is_saved = true;
		return true;
	}
	if (text.len == 0)
		return false;
	for (i = 0; i < text.len; i++)
		if (text.p[i] == ',' && ++n > SEQSET_RANGES_MAX)
			return false;
	out->r = arena_alloc(a, n * sizeof(*out->r));
	if (out->r == NULL)
		return false;
	for (;;) {
		uint32_t lo, hi;

		if (!read_num(text, &pos, &lo))
			return false;
		hi = lo;
		if (pos < text.len && text.p[pos] == ':') {
			pos++;
			if (!read_num(text, &pos, &hi))
				return false;
		}
		out->r[k].lo = lo;
		out->r[k].hi = hi;
		k++;
		if (pos == text.len)
			break;
		if (text.p[pos] != ',' || k == n)
			return false;
		pos++;
	}
	out->n = k;
	return true;
}

static int
cmp_range(const void *a, const void *b)
{
	const struct seqset_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

void
seqset_resolve(struct seqset *s, uint32_t star_value)
{
	size_t i, k = 0;

	if (s->n == 0)
		return;
	for (i = 0; i < s->n; i++) {
		struct seqset_range *r = &s->r[i];

		if (r->lo == SEQSET_STAR)
			r->lo = star_value;
		if (r->hi == SEQSET_STAR)
			r->hi = star_value;
		if (r->lo > r->hi) {
			uint32_t t = r->lo;

			r->lo = r->hi;
			r->hi = t;
		}
	}
	qsort(s->r, s->n, sizeof(*s->r), cmp_range);
	for (i = 1; i < s->n; i++) {
		struct seqset_range *cur = &s->r[k];

		if (s->r[i].lo <= cur->hi ||
		    (cur->hi != UINT32_MAX && s->r[i].lo == cur->hi + 1)) {
			if (s->r[i].hi > cur->hi)
				cur->hi = s->r[i].hi;
		} else {
			s->r[++k] = s->r[i];
		}
	}
	s->n = k + 1;
}

bool
seqset_contains(const struct seqset *s, uint32_t v)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v < s->r[mid].lo)
			hi = mid;
		else if (v > s->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* Appends decimal v at out[*len]; false if it does not fit with a NUL. */
static bool
put_num(char *out, size_t cap, size_t *len, uint32_t v)
{
	char tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	if (cap - *len <= n)
		return false;
	while (n > 0)
		out[(*len)++] = tmp[--n];
	out[*len] = '\0';
	return true;
}

static bool
put_char(char *out, size_t cap, size_t *len, char c)
{
	if (cap - *len <= 1)
		return false;
	out[(*len)++] = c;
	out[*len] = '\0';
	return true;
}

bool
seqset_format(const struct seqset *s, char *out, size_t cap)
{
	size_t len = 0, i;

	if (cap == 0)
		return false;
	out[0] = '\0';
	for (i = 0; i < s->n; i++) {
		if (i > 0 && !put_char(out, cap, &len, ','))
			return false;
		if (!put_num(out, cap, &len, s->r[i].lo))
			return false;
		if (s->r[i].hi != s->r[i].lo &&
		    (!put_char(out, cap, &len, ':') ||
		        !put_num(out, cap, &len, s->r[i].hi)))
			return false;
	}
	return true;
}

void
seqset_from_sorted(struct arena *a, const uint32_t *v, size_t n,
    struct seqset *out)
{
	size_t i, k = 0;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	out->r = arena_alloc(a, n * sizeof(*out->r));
	if (out->r == NULL)
		return; /* over budget: an empty set */
	out->r[0].lo = out->r[0].hi = v[0];
	for (i = 1; i < n; i++) {
		struct seqset_range *cur = &out->r[k];

		if (v[i] <= cur->hi)
			continue; /* a duplicate (or out of order) */
		if (v[i] == cur->hi + 1) {
			cur->hi = v[i];
		} else {
			k++;
			out->r[k].lo = out->r[k].hi = v[i];
		}
	}
	out->n = k + 1;
}
