/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the IMAP command parser. The first 6 bytes
 * choose: the limit set and a small arena (byte 0), how each literal is
 * answered, 2 bits a literal (accept within literal_max else reject,
 * stream, reject, accept regardless; bytes 1-2), and
 * three cut points (bytes 3-5); the rest is the input. It must parse
 * without fault, consume every byte, build consistent trees, and give
 * the same events fed whole, cut in four, and byte by byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/limits.h"
#include "imap/parse.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct imap_parse_limits lim_pre = { IMAP_LINE_MAX_PREAUTH,
	IMAP_LITERAL_MAX_PREAUTH, IMAP_LITERALS_MAX_PREAUTH,
	IMAP_DEPTH_MAX_PREAUTH, false };
static const struct imap_parse_limits lim_auth = { IMAP_LINE_MAX,
	IMAP_LITERAL_MAX, IMAP_LITERALS_MAX, IMAP_DEPTH_MAX, true };
/* small enough that the fuzzer reaches every limit quickly */
static const struct imap_parse_limits lim_tiny = { 40, 16, 3, 3, false };

#include <stdio.h>

#define check(ok) check_at((ok), __LINE__)

static void
check_at(bool ok, int line)
{
	if (!ok) {
		fprintf(stderr, "parse_fuzz.c:%d: check failed\n", line);
		abort();
	}
}

/* Hashes a tree, checking its invariants; iterative via the next links
 * and an explicit stack of list parents. */
static uint64_t
hash_args(const struct imap_arg *a)
{
	const struct imap_arg *stack[128];
	size_t sp = 0;
	uint64_t h = 1469598103934665603u;

	for (;;) {
		if (a == NULL) {
			if (sp == 0)
				break;
			a = stack[--sp]->next;
			h = (h ^ ')') * 1099511628211u;
			continue;
		}
		h = (h ^ (uint64_t)a->type) * 1099511628211u;
		if (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NIL)
			check(a->str.len > 0);
		if (a->type == IMAP_ARG_LITERAL) {
			check(a->size == a->str.len);
			check(a->binary ||
			    memchr(a->str.p, 0, a->str.len) == NULL);
		}
		switch (a->type) {
		case IMAP_ARG_ATOM:
		case IMAP_ARG_NIL:
		case IMAP_ARG_QUOTED:
		case IMAP_ARG_LITERAL:
			for (size_t i = 0; i < a->str.len; i++)
				h = (h ^ (unsigned char)a->str.p[i]) *
				    1099511628211u;
			break;
		case IMAP_ARG_STREAMED:
			h = (h ^ a->size) * 1099511628211u;
			break;
		case IMAP_ARG_LIST: {
			size_t n = 0;

			for (const struct imap_arg *c = a->list; c != NULL;
			     c = c->next)
				n++;
			check(n == a->n);
			check(sp < sizeof(stack) / sizeof(stack[0]));
			stack[sp++] = a;
			a = a->list;
			continue;
		}
		}
		a = a->next;
	}
	return h;
}

static void
logu(struct buf *log, uint64_t v)
{
	check(buf_append(log, &v, sizeof(v)) == 0);
}

static void
run(const struct imap_parse_limits *lim, size_t budget, unsigned pol,
    struct slice in, const size_t *cuts, size_t ncuts, struct buf *log)
{
	struct arena *ar = arena_new("fuzz", budget);
	struct imap_parser *p = imap_parser_new(ar, lim);
	size_t off = 0, k, nlit = 0;
	uint64_t stream_left = 0;

	for (k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : in.len;

		while (off < end) {
			struct slice s = slice_make(in.p + off, end - off);
			size_t used = 0;
			enum imap_parse_rc rc;

			if (stream_left > 0) {
				size_t n =
				    s.len < stream_left ? s.len : stream_left;
				off += n;
				stream_left -= n;
				continue;
			}
			rc = imap_parser_push(p, s, &used);
			check(used <= s.len);
			off += used;
			if (rc == IMAP_PARSE_MORE) {
				check(used == s.len);
				continue;
			}
			logu(log, rc);
			if (rc == IMAP_PARSE_DONE) {
				const struct imap_command *c =
				    imap_parser_command(p);
				size_t n = 0;

				check(c->tag.len > 0 && c->name.len > 0);
				for (const struct imap_arg *a = c->args;
				     a != NULL; a = a->next)
					n++;
				check(n == c->n_args);
				logu(log, hash_args(c->args));
				logu(log, c->uid);
				arena_reset(ar);
			} else if (rc == IMAP_PARSE_ERROR) {
				struct slice tag;
				bool limit;
				const char *why =
				    imap_parser_error(p, &tag, &limit);

				check(why != NULL && tag.len > 0);
				logu(log, (uint64_t)(uintptr_t)why);
				arena_reset(ar);
			} else {
				struct imap_literal_info li;
				unsigned act = (pol >> (2 * (nlit++ % 8))) & 3;

				imap_parser_literal_info(p, &li);
				check(li.so_far != NULL &&
				    li.so_far->tag.len > 0);
				logu(log, li.size);
				if (act == 1) {
					stream_left = li.size;
					imap_parser_literal_streamed(p);
				} else if (act == 2) {
					imap_parser_literal_reject(p);
				} else if (act == 3 ||
				    li.size <= lim->literal_max) {
					/* 3: accept even over literal_max,
					 * which the parser must refuse */
					imap_parser_literal_accept(p);
				} else {
					imap_parser_literal_reject(p);
				}
			}
		}
	}
	imap_parser_free(&p);
	arena_free(&ar);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct imap_parse_limits *const lims[] = { &lim_pre,
		&lim_auth, &lim_tiny, &lim_auth };
	const struct imap_parse_limits *lim;
	struct buf a, b;
	struct slice in;
	size_t cuts[3], budget, *every;
	unsigned pol;

	if (size < 6)
		return 0;
	lim = lims[data[0] & 3];
	budget = (data[0] & 4) ? 512 : 16 << 20;
	pol = (unsigned)data[1] | (unsigned)data[2] << 8;
	in = slice_make(data + 6, size - 6);
	for (int i = 0; i < 3; i++)
		cuts[i] = in.len == 0 ? 0 : data[3 + i] * in.len / 255;
	if (cuts[0] > cuts[1]) {
		size_t t = cuts[0];
		cuts[0] = cuts[1];
		cuts[1] = t;
	}
	if (cuts[1] > cuts[2]) {
		size_t t = cuts[1];
		cuts[1] = cuts[2];
		cuts[2] = t;
	}
	if (cuts[0] > cuts[1]) {
		size_t t = cuts[0];
		cuts[0] = cuts[1];
		cuts[1] = t;
	}
	buf_init(&a, 1 << 26);
	buf_init(&b, 1 << 26);
	run(lim, budget, pol, in, NULL, 0, &a);
	run(lim, budget, pol, in, cuts, 3, &b);
	check(a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0));
	if (in.len <= 4096 && (data[0] & 8)) {
		every = malloc((in.len + 1) * sizeof(*every));
		check(every != NULL);
		for (size_t i = 0; i < in.len; i++)
			every[i] = i + 1;
		buf_reset(&b);
		run(lim, budget, pol, in, every, in.len, &b);
		check(a.len == b.len &&
		    (a.len == 0 || memcmp(a.p, b.p, a.len) == 0));
		free(every);
	}
	buf_clear(&a);
	buf_clear(&b);
	return 0;
}
