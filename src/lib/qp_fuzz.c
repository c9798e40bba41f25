/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the quoted-printable codec of lib/codec.c.
 * Properties:
 * - decoding gives the same bytes whole and in fuzzer-chosen pieces, and
 *   the same as a naive reference decoder of the rules in codec.h, at
 *   most n + 3 bytes per call;
 * - decode(encode(x)) == x for any line length and split; encoded lines
 *   are at most line_len characters, printable ASCII, no whitespace last;
 * - the canonical check accepts what the 76-column encoder writes, and
 *   whatever it accepts re-encodes to exactly the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/fuzz_split.h"
#include "lib/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IN_MAX (64 * 1024)

static unsigned char dec1[IN_MAX + 8], dec2[IN_MAX + 8], ref[IN_MAX + 8];
static unsigned char enc[6 * IN_MAX + QP_FINISH_MAX];
static unsigned char rt[6 * IN_MAX + 8];
static unsigned char chk[6 * IN_MAX + CODEC_CHECK_PEND + 64];
static struct codec_check cc;

/* The decoding rules of codec.h, written out with look-ahead instead of
 * a state machine. */
static size_t
ref_decode(const uint8_t *s, size_t n, unsigned char *out)
{
	size_t i = 0, w = 0;
	int hi, lo;

	while (i < n) {
		if (s[i] != '=') {
			out[w++] = s[i++];
			continue;
		}
		if (i + 1 < n && s[i + 1] == '\n') {
			i += 2;
		} else if (i + 1 < n && s[i + 1] == '\r') {
			if (i + 2 < n && s[i + 2] == '\n') {
				i += 3;
			} else {
				out[w++] = '=';
				out[w++] = '\r';
				i += 2;
			}
		} else if (i + 1 < n &&
		    (hi = str_hexval((char)s[i + 1])) >= 0) {
			if (i + 2 < n &&
			    (lo = str_hexval((char)s[i + 2])) >= 0) {
				out[w++] = (unsigned char)(hi << 4 | lo);
				i += 3;
			} else {
				out[w++] = '=';
				out[w++] = s[i + 1];
				i += 2;
			}
		} else {
			out[w++] = '=';
			i++;
		}
	}
	return w;
}

static size_t
decode_split(const uint8_t *in, size_t n, uint32_t seed, size_t max,
    unsigned char *out)
{
	struct qp_decoder d;
	struct fuzz_split sp;
	size_t pos = 0, w = 0, k, got;

	qp_decoder_init(&d);
	fuzz_split_init(&sp, seed, max);
	while (pos < n) {
		k = fuzz_split_next(&sp, n - pos);
		got = qp_decode(&d, in + pos, k, out + w);
		if (got > k + 3)
			abort();
		w += got;
		pos += k;
	}
	got = qp_decode_finish(&d, out + w);
	if (got > 3)
		abort();
	return w + got;
}

static bool
check_split(const unsigned char *in, size_t n, uint32_t seed, size_t max,
    unsigned char *out, size_t *n_out, struct codec_params *pr)
{
	struct fuzz_split sp;
	size_t pos = 0, w = 0, k, last;
	bool ok;

	codec_check_init(&cc, CODEC_QP);
	fuzz_split_init(&sp, seed, max);
	while (pos < n) {
		k = fuzz_split_next(&sp, n - pos);
		w += codec_check_push(&cc, in + pos, k, out + w);
		pos += k;
	}
	ok = codec_check_finish(&cc, out + w, &last, pr);
	*n_out = w + last;
	return ok;
}

static size_t
encode_split(const uint8_t *in, size_t n, unsigned line_len, uint32_t seed,
    size_t max, unsigned char *out)
{
	struct qp_encoder e;
	struct fuzz_split sp;
	size_t pos = 0, w = 0, k, got;

	qp_encoder_init(&e, line_len);
	fuzz_split_init(&sp, seed, max);
	while (pos < n) {
		k = fuzz_split_next(&sp, n - pos);
		got = qp_encode(&e, in + pos, k, out + w);
		if (got > qp_encode_bound(k))
			abort();
		w += got;
		pos += k;
	}
	got = qp_encode_finish(&e, out + w);
	if (got > QP_FINISH_MAX)
		abort();
	return w + got;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = fuzz_take_u32(&data, &size);
	size_t n1, n2, nr, ne, nd, i, col;
	unsigned line_len;
	struct codec_params pr;

	if (size > IN_MAX)
		return 0;

	/* 1. Decoding, whole and split, against the reference. */
	n1 = decode_split(data, size, seed, size + 1, dec1);
	n2 = decode_split(data, size, seed, 1 + seed % 13, dec2);
	nr = ref_decode(data, size, ref);
	if (n1 != n2 || n1 != nr || memcmp(dec1, dec2, n1) != 0 ||
	    memcmp(dec1, ref, n1) != 0)
		abort();

	/* 2. Round trip through the encoder. */
	line_len = seed % 3 == 0 ? CODEC_QP_LINE_LEN : (seed >> 3) % 200;
	ne = encode_split(data, size, line_len, seed >> 5,
	    1 + (seed >> 12) % 300, enc);
	if (line_len < 4)
		line_len = 4; /* what qp_encoder_init makes of it */
	for (i = 0, col = 0; i < ne; i++) {
		if (enc[i] == '\r') {
			if (i + 1 >= ne || enc[i + 1] != '\n')
				abort();
			/* No whitespace last on a line (RFC 2045 rule 3). */
			if (i > 0 && (enc[i - 1] == ' ' || enc[i - 1] == '\t'))
				abort();
			i++;
			col = 0;
			continue;
		}
		if ((enc[i] < 33 || enc[i] > 126) && enc[i] != ' ' &&
		    enc[i] != '\t')
			abort();
		if (++col > line_len)
			abort();
	}
	if (ne > 0 && (enc[ne - 1] == ' ' || enc[ne - 1] == '\t'))
		abort();
	nd = decode_split(enc, ne, seed >> 7, 1 + (seed >> 19) % 64, rt);
	if (nd != size || memcmp(rt, data, size) != 0)
		abort();

	/* 3a. The 76-column encoder's output is canonical. */
	if (line_len == CODEC_QP_LINE_LEN) {
		if (!check_split(enc, ne, seed >> 9, 1 + (seed >> 2) % 700, chk,
		        &nd, &pr))
			abort();
		if (nd != size || memcmp(chk, data, size) != 0 ||
		    pr.kind != CODEC_QP)
			abort();
	}

	/* 3b. Whatever the check accepts re-encodes byte-exact. */
	if (check_split(data, size, seed, 1 + (seed >> 4) % 1000, chk, &nd,
	        &pr)) {
		if (pr.kind != CODEC_QP || pr.line_len != CODEC_QP_LINE_LEN ||
		    nd != n1 || memcmp(chk, dec1, nd) != 0)
			abort();
		ne = encode_split(chk, nd, pr.line_len, seed, 1 + nd, enc);
		if (ne != size || memcmp(enc, data, size) != 0)
			abort();
	}
	return 0;
}
