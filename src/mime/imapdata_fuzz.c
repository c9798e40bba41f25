/* SPDX-License-Identifier: MIT */
/* libFuzzer target for imapdata.h: any input must build a part tree with
 * consistent offsets, the same however it is split, whose BODY and
 * BODYSTRUCTURE follow the RFC 9051 grammar; ENVELOPE too; header
 * decoding, addresses, dates and base subjects must not fault. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "mime/imapdata.h"
#include "mime/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A checker for the IMAP syntax we write: tokens, then the grammar. */
enum tk { TK_LP, TK_RP, TK_SP, TK_STR, TK_NIL, TK_NUM, TK_END };

struct cur {
	const char *p;
	size_t len, i;
	struct slice str; /* TK_STR: the raw token */
};

static enum tk
peek_at(struct cur *c, size_t *next)
{
	size_t i = c->i, n = 0, j;

	if (i >= c->len)
		return TK_END;
	switch (c->p[i]) {
	case '(':
		*next = i + 1;
		return TK_LP;
	case ')':
		*next = i + 1;
		return TK_RP;
	case ' ':
		*next = i + 1;
		return TK_SP;
	case '"':
		for (j = i + 1; j < c->len && c->p[j] != '"'; j++) {
			unsigned char u = (unsigned char)c->p[j];

			if (u == 0 || u >= 0x80 || u == '\r' || u == '\n')
				abort();
			if (u == '\\') {
				j++;
				if (j >= c->len ||
				    (c->p[j] != '"' && c->p[j] != '\\'))
					abort();
			}
		}
		if (j >= c->len)
			abort();
		c->str = slice_make(c->p + i, j + 1 - i);
		*next = j + 1;
		return TK_STR;
	case '{':
		for (j = i + 1; j < c->len && c->p[j] >= '0' && c->p[j] <= '9';
		     j++)
			n = n * 10 + (size_t)(c->p[j] - '0');
		if (j + 3 > c->len || c->p[j] != '}' || c->p[j + 1] != '\r' ||
		    c->p[j + 2] != '\n' || j + 3 + n > c->len)
			abort();
		if (memchr(c->p + j + 3, '\0', n) != NULL)
			abort();
		c->str = slice_make(c->p + i, j + 3 + n - i);
		*next = j + 3 + n;
		return TK_STR;
	default:
		if (c->len - i >= 3 && memcmp(c->p + i, "NIL", 3) == 0) {
			*next = i + 3;
			return TK_NIL;
		}
		for (j = i; j < c->len && c->p[j] >= '0' && c->p[j] <= '9'; j++)
			;
		if (j == i)
			abort();
		*next = j;
		return TK_NUM;
	}
}

static enum tk
peek(struct cur *c)
{
	size_t next;

	return peek_at(c, &next);
}

static enum tk
take(struct cur *c)
{
	size_t next = c->i;
	enum tk t = peek_at(c, &next);

	c->i = next;
	return t;
}

static void
want(struct cur *c, enum tk t)
{
	if (take(c) != t)
		abort();
}

static void
sp(struct cur *c)
{
	want(c, TK_SP);
}

static void
nstring(struct cur *c)
{
	enum tk t = take(c);

	if (t != TK_STR && t != TK_NIL)
		abort();
}

static bool
str_is(struct cur *c, const char *q)
{
	return c->str.len == strlen(q) + 2 &&
	    strncasecmp(c->str.p + 1, q, strlen(q)) == 0;
}

/* "(" string SP string *(SP string SP string) ")" / NIL */
static void
params(struct cur *c)
{
	if (take(c) == TK_NIL)
		return;
	c->i--;
	want(c, TK_LP);
	for (;;) {
		want(c, TK_STR);
		sp(c);
		want(c, TK_STR);
		if (take(c) == TK_RP)
			return;
		c->i--;
		sp(c);
	}
}

static void
address_list(struct cur *c)
{
	if (take(c) == TK_NIL)
		return;
	c->i--;
	want(c, TK_LP);
	do {
		want(c, TK_LP);
		nstring(c);
		sp(c);
		nstring(c);
		sp(c);
		nstring(c);
		sp(c);
		nstring(c);
		want(c, TK_RP);
	} while (peek(c) == TK_LP);
	want(c, TK_RP);
}

static void
envelope(struct cur *c)
{
	want(c, TK_LP);
	nstring(c);
	sp(c);
	nstring(c);
	for (int i = 0; i < 6; i++) {
		sp(c);
		address_list(c);
	}
	sp(c);
	nstring(c);
	sp(c);
	nstring(c);
	want(c, TK_RP);
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void
ext_common(struct cur *c)
{
	sp(c);
	if (take(c) != TK_NIL) {
		c->i--;
		want(c, TK_LP);
		want(c, TK_STR);
		sp(c);
		params(c);
		want(c, TK_RP);
	}
	sp(c);
	switch (take(c)) {
	case TK_NIL:
	case TK_STR:
		break;
	case TK_LP:
		want(c, TK_STR);
		while (take(c) == TK_SP)
			want(c, TK_STR);
		c->i--;
		want(c, TK_RP);
		break;
	default:
		abort();
	}
	sp(c);
	nstring(c);
}

static void
body(struct cur *c, bool ext)
{
	bool msg, text;

	want(c, TK_LP);
	if (peek(c) == TK_LP) { /* body-type-mpart */
		while (peek(c) == TK_LP)
			body(c, ext);
		sp(c);
		want(c, TK_STR);
		if (ext) {
			sp(c);
			params(c);
			ext_common(c);
		}
		want(c, TK_RP);
		return;
	}
	want(c, TK_STR);
	msg = str_is(c, "MESSAGE");
	text = str_is(c, "TEXT");
	sp(c);
	want(c, TK_STR);
	msg = msg && str_is(c, "RFC822"); /* GLOBAL: a basic part */
	sp(c);
	params(c);
	sp(c);
	nstring(c);
	sp(c);
	nstring(c);
	sp(c);
	want(c, TK_STR);
	sp(c);
	want(c, TK_NUM);
	if (msg) {
		sp(c);
		envelope(c);
		sp(c);
		body(c, ext);
	}
	if (msg || text) {
		sp(c);
		want(c, TK_NUM);
	}
	if (ext) {
		sp(c);
		nstring(c);
		ext_common(c);
	}
	want(c, TK_RP);
}

static void
check_body(struct buf *b, bool ext)
{
	struct cur c = { b->p, b->len, 0, { NULL, 0 } };

	body(&c, ext);
	if (c.i != c.len)
		abort();
}

static void
check_envelope(struct buf *b)
{
	struct cur c = { b->p, b->len, 0, { NULL, 0 } };

	envelope(&c);
	if (c.i != c.len)
		abort();
}

static struct mime_structure *
build(const uint8_t *data, size_t size, size_t cut1, size_t cut2)
{
	struct mime_structure *s = mime_structure_new();
	struct err err;

	if (mime_structure_push(s, data, cut1, &err) != 0 ||
	    mime_structure_push(s, data + cut1, cut2 - cut1, &err) != 0 ||
	    mime_structure_push(s, data + cut2, size - cut2, &err) != 0 ||
	    mime_structure_finish(s, &err) != 0)
		mime_structure_free(&s);
	return s;
}

static void
check_tree(const struct mime_part *p, size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i].hdr_off > p[i].body_off ||
		    p[i].body_off > p[i].end_off || p[i].end_off > size)
			abort();
		if (i == 0 ? p[i].parent != MIME_PART_NONE : p[i].parent >= i)
			abort();
		if (i > 0 &&
		    (p[i].depth != p[p[i].parent].depth + 1 ||
		        p[i].hdr_off < p[p[i].parent].body_off ||
		        p[i].end_off > p[p[i].parent].end_off))
			abort();
		if (p[i].next_sibling != MIME_PART_NONE &&
		    (p[i].next_sibling <= i ||
		        p[p[i].next_sibling].hdr_off < p[i].end_off))
			abort();
	}
}

static void
structure(const uint8_t *data, size_t size)
{
	static const char *const sections[] = { "", "1", "2", "1.1", "1.2",
		"2.1", "1.1.1", "3.2.1", "1.2.3.4" };
	size_t cut1 = size > 0 ? data[0] % (size + 1) : 0;
	size_t cut2 = size > 1 ? cut1 + data[1] % (size - cut1 + 1) : cut1;
	struct mime_structure *s = build(data, size, cut1, cut2);
	struct mime_structure *w = build(data, size, size, size);
	const struct mime_part *p, *pw;
	size_t n, nw, i;
	struct buf b, bw;
	uint32_t idx;

	if ((s == NULL) != (w == NULL))
		abort();
	if (s == NULL)
		return;
	p = mime_structure_parts(s, &n);
	pw = mime_structure_parts(w, &nw);
	if (n == 0 || n != nw || memcmp(p, pw, n * sizeof(*p)) != 0)
		abort();
	check_tree(p, n, size);
	buf_init(&b, 16u << 20);
	buf_init(&bw, 16u << 20);
	for (i = 0; i < n && i < 64; i++) {
		buf_reset(&b);
		buf_reset(&bw);
		if (mime_bodystructure(s, (uint32_t)i, true, &b) != 0 ||
		    mime_bodystructure(w, (uint32_t)i, true, &bw) != 0)
			abort();
		if (b.len != bw.len || memcmp(b.p, bw.p, b.len) != 0)
			abort();
		check_body(&b, true);
		buf_reset(&b);
		if (mime_bodystructure(s, (uint32_t)i, false, &b) != 0)
			abort();
		check_body(&b, false);
	}
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		idx = mime_structure_find(s, slice_cstr(sections[i]));
		if (idx != MIME_PART_NONE && idx >= n)
			abort();
	}
	buf_reset(&b);
	if (mime_envelope(slice_make(data, p[0].body_off), &b) != 0)
		abort();
	check_envelope(&b);
	buf_clear(&b);
	buf_clear(&bw);
	mime_structure_free(&s);
	mime_structure_free(&w);
}

static void
fields(const uint8_t *data, size_t size)
{
	struct slice v = slice_make(data, size < 4096 ? size : 4096);
	struct mime_address a[32];
	struct buf b;
	size_t n, i;
	int64_t t;
	int tz;

	buf_init(&b, 1u << 20);
	if (mime_header_decode(v, &b) != 0)
		abort();
	buf_reset(&b);
	(void)mime_base_subject(v, &b);
	buf_reset(&b);
	(void)mime_charset_to_utf8(size > 0 && data[0] & 1 ? "shift_jis"
	                                                   : "utf-7",
	    v, &b);
	n = mime_address_parse(v, a, 32);
	if (n > 32)
		abort();
	for (i = 0; i < n; i++) {
		const struct slice *f[] = { &a[i].name, &a[i].adl,
			&a[i].mailbox, &a[i].host };

		for (size_t k = 0; k < 4; k++)
			if (f[k]->p < v.p || f[k]->p + f[k]->len > v.p + v.len)
				abort();
	}
	(void)mime_date_parse(v, &t, &tz);
	buf_reset(&b);
	(void)mime_header_get(v, "subject", &b);
	buf_reset(&b);
	{
		static const struct slice names[] = { SLICE_LIT("subject"),
			SLICE_LIT("from") };

		if (mime_header_filter(v, names, 2, data[0] & 2, &b) != 0 ||
		    b.len < 2 || memcmp(b.p + b.len - 2, "\r\n", 2) != 0)
			abort();
	}
	buf_clear(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	structure(data, size);
	fields(data, size);
	return 0;
}
