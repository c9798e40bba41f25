/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the MIME parser: any input, split at three points
 * taken from its first bytes, must parse without fault, give back every
 * byte exactly once, and give the same events as when fed whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mime/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	struct buf all; /* every event's data */
	uint64_t hash;  /* of the event kinds and depths */
};

static int
on_event(void *ctx, const struct mime_event *ev)
{
	struct sink *s = ctx;

	if (buf_append(&s->all, ev->data.p, ev->data.len) != 0)
		abort();
	if (ev->kind != MIME_EV_BODY && ev->kind != MIME_EV_PREAMBLE &&
	    ev->kind != MIME_EV_EPILOGUE)
		s->hash =
		    (s->hash ^ (ev->kind * 131u + ev->depth)) * 1099511628211u;
	return 0;
}

static int
run(const uint8_t *data, size_t size, const size_t cuts[3], struct sink *s)
{
	struct mime_parser *p = mime_parser_new(on_event, s);
	struct err err;
	size_t off = 0, used, i, end;
	int rc = 0;

	for (i = 0; i <= 3 && rc == 0; i++) {
		end = i < 3 ? cuts[i] : size;
		rc = mime_parser_push(p,
		    slice_make((const char *)data + off, end - off), &used,
		    &err);
		off = end;
	}
	if (rc == 0)
		rc = mime_parser_finish(p, &err);
	mime_parser_free(&p);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t whole[3] = { size, size, size }, cuts[3];
	struct sink a = { 0 }, b = { 0 };
	int ra, rb;

	for (int i = 0; i < 3; i++)
		cuts[i] = size > 0
		    ? (size_t)data[i % size] * (i + 1) % (size + 1)
		    : 0;
	if (cuts[0] > cuts[1]) {
		size_t t = cuts[0];
		cuts[0] = cuts[1];
		cuts[1] = t;
	}
	if (cuts[2] < cuts[1])
		cuts[2] = cuts[1];
	buf_init(&a.all, 1u << 30);
	buf_init(&b.all, 1u << 30);
	ra = run(data, size, whole, &a);
	rb = run(data, size, cuts, &b);
	if (ra != rb)
		abort();
	if (ra == 0 &&
	    (a.hash != b.hash || a.all.len != size ||
	        (size > 0 && memcmp(a.all.p, data, size) != 0) ||
	        b.all.len != size ||
	        (size > 0 && memcmp(b.all.p, data, size) != 0)))
		abort();
	buf_clear(&a.all);
	buf_clear(&b.all);
	return 0;
}
