/* SPDX-License-Identifier: MIT */
/* Streaming base64 / quoted-printable codecs and the canonical-form check
 * (see codec.h). Every function is a small state machine over bytes, so a
 * split anywhere in the input gives the same output. */
#include <string.h>

#include "codec.h"
#include "str.h"

#include "banned.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hex_upper[] = "0123456789ABCDEF";

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

void
b64_decoder_init(struct b64_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

size_t
b64_decode(struct b64_decoder *d, const void *in, size_t n, void *out)
{
	const unsigned char *s = in;
	unsigned char *o = out;
	size_t i;
	int v;

	for (i = 0; i < n && !d->done; i++) {
		if (s[i] == '=') {
			/* Padding ends the data: 2 or 3 characters of the
			 * last quantum carry 1 or 2 whole bytes. */
			if (d->n == 2)
				*o++ = (unsigned char)(d->acc >> 4);
			else if (d->n == 3) {
				*o++ = (unsigned char)(d->acc >> 10);
				*o++ = (unsigned char)(d->acc >> 2);
			}
			d->acc = 0;
			d->n = 0;
			d->done = true;
			break;
		}
		v = b64_value(s[i]);
		if (v < 0)
			continue;
		d->acc = (d->acc << 6) | (uint32_t)v;
		if (++d->n == 4) {
			*o++ = (unsigned char)(d->acc >> 16);
			*o++ = (unsigned char)(d->acc >> 8);
			*o++ = (unsigned char)d->acc;
			d->acc = 0;
			d->n = 0;
		}
	}
	return (size_t)(o - (unsigned char *)out);
}

size_t
b64_decode_finish(struct b64_decoder *d, void *out)
{
	unsigned char *o = out;
	size_t w = 0;

	if (d->n == 2)
		o[w++] = (unsigned char)(d->acc >> 4);
	else if (d->n == 3) {
		o[w++] = (unsigned char)(d->acc >> 10);
		o[w++] = (unsigned char)(d->acc >> 2);
	}
	d->acc = 0;
	d->n = 0;
	return w;
}

void
b64_encoder_init(struct b64_encoder *e, unsigned line_len)
{
	memset(e, 0, sizeof(*e));
	e->line_len = line_len;
}

static unsigned char *
b64_put(struct b64_encoder *e, unsigned char *o, char c)
{
	if (e->line_len != 0 && e->col == e->line_len) {
		*o++ = '\r';
		*o++ = '\n';
		e->col = 0;
	}
	*o++ = (unsigned char)c;
	e->col++;
	return o;
}

size_t
b64_encode(struct b64_encoder *e, const void *in, size_t n, void *out)
{
	const unsigned char *s = in;
	unsigned char *o = out;
	size_t i;

	for (i = 0; i < n; i++) {
		e->acc = (e->acc << 8) | s[i];
		if (++e->n < 3)
			continue;
		o = b64_put(e, o, b64_alphabet[(e->acc >> 18) & 63]);
		o = b64_put(e, o, b64_alphabet[(e->acc >> 12) & 63]);
		o = b64_put(e, o, b64_alphabet[(e->acc >> 6) & 63]);
		o = b64_put(e, o, b64_alphabet[e->acc & 63]);
		e->acc = 0;
		e->n = 0;
	}
	return (size_t)(o - (unsigned char *)out);
}

size_t
b64_encode_finish(struct b64_encoder *e, unsigned trail, void *out)
{
	unsigned char *o = out;
	unsigned i;

	if (e->n == 1) {
		o = b64_put(e, o, b64_alphabet[(e->acc >> 2) & 63]);
		o = b64_put(e, o, b64_alphabet[(e->acc << 4) & 63]);
		o = b64_put(e, o, '=');
		o = b64_put(e, o, '=');
	} else if (e->n == 2) {
		o = b64_put(e, o, b64_alphabet[(e->acc >> 10) & 63]);
		o = b64_put(e, o, b64_alphabet[(e->acc >> 4) & 63]);
		o = b64_put(e, o, b64_alphabet[(e->acc << 2) & 63]);
		o = b64_put(e, o, '=');
	}
	e->acc = 0;
	e->n = 0;
	if (trail > CODEC_TRAIL_MAX)
		trail = CODEC_TRAIL_MAX;
	for (i = 0; i < trail; i++) {
		*o++ = '\r';
		*o++ = '\n';
	}
	return (size_t)(o - (unsigned char *)out);
}

size_t
b64_encode_bound(size_t n, unsigned line_len)
{
	size_t chars = (n + 2) / 3 * 4 + 4;

	if (line_len == 0)
		return chars;
	return chars + (chars / line_len + 1) * 2;
}

void
qp_decoder_init(struct qp_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

size_t
qp_decode(struct qp_decoder *d, const void *in, size_t n, void *out)
{
	const unsigned char *s = in;
	unsigned char *o = out;
	size_t i = 0;
	unsigned char b;
	int hi, lo;

	while (i < n) {
		b = s[i];
		if (d->nhold == 0) {
			if (b == '=')
				d->hold[d->nhold++] = b;
			else
				*o++ = b;
			i++;
			continue;
		}
		if (d->nhold == 1) {
			if (b == '\n') { /* lenient soft break "=" LF */
				d->nhold = 0;
				i++;
			} else if (b == '\r' || str_hexval((char)b) >= 0) {
				d->hold[d->nhold++] = b;
				i++;
			} else {
				*o++ = '='; /* not an escape: keep it, then b */
				d->nhold = 0;
			}
			continue;
		}
		/* nhold == 2: "=\r" or "=X" */
		if (d->hold[1] == '\r') {
			if (b == '\n') {
				d->nhold = 0; /* soft break */
				i++;
				continue;
			}
		} else if ((lo = str_hexval((char)b)) >= 0) {
			hi = str_hexval((char)d->hold[1]);
			*o++ = (unsigned char)(hi << 4 | lo);
			d->nhold = 0;
			i++;
			continue;
		}
		*o++ = d->hold[0]; /* a broken escape stays as it came */
		*o++ = d->hold[1];
		d->nhold = 0;
	}
	return (size_t)(o - (unsigned char *)out);
}

size_t
qp_decode_finish(struct qp_decoder *d, void *out)
{
	size_t n = d->nhold;

	memcpy(out, d->hold, n);
	d->nhold = 0;
	return n;
}

void
qp_encoder_init(struct qp_encoder *e, unsigned line_len)
{
	memset(e, 0, sizeof(*e));
	e->line_len = line_len < 4 ? 4 : line_len;
}

/* Writes byte b as a literal or "=XX", after a soft break if it would not
 * fit; `final` says b is the last byte before a hard break or the end. */
static unsigned char *
qp_token(struct qp_encoder *e, unsigned char *o, unsigned char b, bool final)
{
	bool literal = (b >= 33 && b <= 126 && b != '=') ||
	    ((b == ' ' || b == '\t') && !final);
	unsigned len = literal ? 1 : 3;

	if (e->col + len > e->line_len - 1 &&
	    !(final && e->col + len <= e->line_len)) {
		*o++ = '=';
		*o++ = '\r';
		*o++ = '\n';
		e->col = 0;
	}
	if (literal) {
		*o++ = b;
	} else {
		*o++ = '=';
		*o++ = (unsigned char)hex_upper[b >> 4];
		*o++ = (unsigned char)hex_upper[b & 15];
	}
	e->col += len;
	return o;
}

static void
qp_pop(struct qp_encoder *e, unsigned k)
{
	memmove(e->q, e->q + k, e->nq - k);
	e->nq -= k;
}

size_t
qp_encode(struct qp_encoder *e, const void *in, size_t n, void *out)
{
	const unsigned char *s = in;
	unsigned char *o = out;
	size_t i;

	for (i = 0; i < n; i++) {
		e->q[e->nq++] = s[i];
		if (e->nq < 3)
			continue;
		if (e->q[0] == '\r' && e->q[1] == '\n') {
			*o++ = '\r';
			*o++ = '\n';
			e->col = 0;
			qp_pop(e, 2);
		} else {
			o = qp_token(e, o, e->q[0],
			    e->q[1] == '\r' && e->q[2] == '\n');
			qp_pop(e, 1);
		}
	}
	return (size_t)(o - (unsigned char *)out);
}

size_t
qp_encode_finish(struct qp_encoder *e, void *out)
{
	unsigned char *o = out;

	if (e->nq == 2 && e->q[0] == '\r' && e->q[1] == '\n') {
		*o++ = '\r';
		*o++ = '\n';
		e->col = 0;
		qp_pop(e, 2);
	}
	while (e->nq > 0) {
		o = qp_token(e, o, e->q[0], e->nq == 1);
		qp_pop(e, 1);
	}
	return (size_t)(o - (unsigned char *)out);
}

void
codec_check_init(struct codec_check *c, enum codec_kind kind)
{
	c->kind = kind;
	c->ok = kind == CODEC_B64 || kind == CODEC_QP;
	c->npend = 0;
	c->nfirst = 0;
	if (kind == CODEC_B64) {
		c->started = false;
		c->line_len = 0;
		b64_decoder_init(&c->dec.b64);
	} else {
		c->started = true;
		c->line_len = CODEC_QP_LINE_LEN;
		qp_decoder_init(&c->dec.qp);
		qp_encoder_init(&c->enc.qp, CODEC_QP_LINE_LEN);
	}
}

/* Compares freshly re-encoded bytes with the head of the received ones.
 * A canonical input is never behind its re-encoding, so re-encoded bytes
 * without received counterparts mean "not canonical". */
static void
check_match(struct codec_check *c, const unsigned char *p, size_t n)
{
	if (n > c->npend || memcmp(c->pend, p, n) != 0) {
		c->ok = false;
		return;
	}
	memmove(c->pend, c->pend + n, c->npend - n);
	c->npend -= n;
}

static void
check_encode(struct codec_check *c, const unsigned char *p, size_t n)
{
	size_t k, w;

	while (n > 0 && c->ok) {
		k = n < CODEC_CHECK_CHUNK ? n : CODEC_CHECK_CHUNK;
		if (c->kind == CODEC_B64)
			w = b64_encode(&c->enc.b64, p, k, c->tmp);
		else
			w = qp_encode(&c->enc.qp, p, k, c->tmp);
		check_match(c, c->tmp, w);
		p += k;
		n -= k;
	}
}

/* Base64: the first line fixes the line length; its decoded bytes wait in
 * c->first until then. */
static void
check_start_b64(struct codec_check *c, size_t line_len)
{
	if (line_len == 0 || line_len > CODEC_B64_LINE_MAX) {
		c->ok = false;
		return;
	}
	c->started = true;
	c->line_len = (unsigned)line_len;
	b64_encoder_init(&c->enc.b64, c->line_len);
	check_encode(c, c->first, c->nfirst);
	c->nfirst = 0;
}

/* One piece of input of at most CODEC_CHECK_CHUNK bytes. */
static size_t
check_piece(struct codec_check *c, const unsigned char *s, size_t n,
    unsigned char *out)
{
	size_t w;

	if (n > sizeof(c->pend) - c->npend) {
		c->ok = false; /* far behind its re-encoding: not canonical */
		return 0;
	}
	memcpy(c->pend + c->npend, s, n);
	c->npend += n;
	if (c->kind == CODEC_QP) {
		w = qp_decode(&c->dec.qp, s, n, out);
		check_encode(c, out, w);
		return w;
	}
	w = b64_decode(&c->dec.b64, s, n, out);
	if (c->started) {
		check_encode(c, out, w);
	} else if (w > sizeof(c->first) - c->nfirst) {
		c->ok = false;
	} else {
		memcpy(c->first + c->nfirst, out, w);
		c->nfirst += w;
	}
	return w;
}

size_t
codec_check_push(struct codec_check *c, const void *in, size_t n, void *out)
{
	const unsigned char *s = in;
	const unsigned char *lf;
	unsigned char *o = out;
	size_t k;

	while (n > 0 && c->ok) {
		k = n < CODEC_CHECK_CHUNK ? n : CODEC_CHECK_CHUNK;
		if (!c->started) {
			lf = memchr(s, '\n', k);
			if (lf != NULL)
				k = (size_t)(lf - s) + 1;
		}
		o += check_piece(c, s, k, o);
		s += k;
		n -= k;
		if (!c->started && c->ok) {
			if (c->npend > CODEC_B64_LINE_MAX + 2)
				c->ok = false;
			else if (c->pend[c->npend - 1] == '\n') {
				/* LF-only line ends are never canonical. */
				if (c->npend < 2 ||
				    c->pend[c->npend - 2] != '\r')
					c->ok = false;
				else
					check_start_b64(c, c->npend - 2);
			}
		}
	}
	return c->ok ? (size_t)(o - (unsigned char *)out) : 0;
}

bool
codec_check_finish(struct codec_check *c, void *out, size_t *n_out,
    struct codec_params *params_out)
{
	unsigned char *o = out;
	size_t w = 0, i, trail;

	*n_out = 0;
	memset(params_out, 0, sizeof(*params_out));
	if (!c->ok)
		return false;
	if (c->kind == CODEC_QP) {
		w = qp_decode_finish(&c->dec.qp, o);
		check_encode(c, o, w);
		if (c->ok)
			check_match(c, c->tmp,
			    qp_encode_finish(&c->enc.qp, c->tmp));
		if (!c->ok || c->npend != 0)
			return false;
		*n_out = w;
		*params_out =
		    (struct codec_params){ CODEC_QP, CODEC_QP_LINE_LEN, 0 };
		return true;
	}
	if (!c->started) {
		if (c->npend == 0) { /* empty: any line length will do */
			*params_out = (struct codec_params){ CODEC_B64, 76, 0 };
			return true;
		}
		check_start_b64(c, c->npend);
	}
	/* A last quantum without padding is not what we would write. */
	if (!c->ok || c->dec.b64.n != 0)
		return false;
	check_match(c, c->tmp, b64_encode_finish(&c->enc.b64, 0, c->tmp));
	if (!c->ok || c->npend % 2 != 0 || c->npend / 2 > CODEC_TRAIL_MAX)
		return false;
	for (i = 0; i < c->npend; i += 2)
		if (c->pend[i] != '\r' || c->pend[i + 1] != '\n')
			return false;
	trail = c->npend / 2;
	*params_out =
	    (struct codec_params){ CODEC_B64, c->line_len, (unsigned)trail };
	return true;
}
