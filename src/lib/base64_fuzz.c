/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the base64 codec of lib/codec.c. Properties:
 * - decoding gives the same bytes whole and in fuzzer-chosen pieces, and
 *   the same as a naive reference decoder, within b64_decode_bound;
 * - decode(encode(x)) == x for any line length and split, every encoded
 *   line at most line_len characters of the alphabet;
 * - the canonical check accepts what the encoder writes, and whatever it
 *   accepts re-encodes under its params to exactly the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/fuzz_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IN_MAX (64 * 1024)

static unsigned char dec1[IN_MAX / 4 * 3 + 8], dec2[IN_MAX / 4 * 3 + 8];
static unsigned char ref[IN_MAX / 4 * 3 + 8];
static unsigned char enc[IN_MAX * 5 + B64_FINISH_MAX];
static unsigned char rt[IN_MAX + 8];
static unsigned char chk[IN_MAX * 2 + CODEC_CHECK_PEND + 64];
static struct codec_check cc;

static int
ref_value(unsigned char c)
{
	const char *a =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != 0 ? strchr(a, c) : NULL;

	return p != NULL ? (int)(p - a) : -1;
}

/* RFC 2045 §6.8 the slow way: alphabet characters until '=', whole
 * bytes of the last partial quantum. */
static size_t
ref_decode(const uint8_t *in, size_t n, unsigned char *out)
{
	uint32_t acc = 0;
	unsigned k = 0;
	size_t i, w = 0;
	int v;

	for (i = 0; i < n && in[i] != '='; i++) {
		if ((v = ref_value(in[i])) < 0)
			continue;
		acc = acc << 6 | (uint32_t)v;
		if (++k == 4) {
			out[w++] = (unsigned char)(acc >> 16);
			out[w++] = (unsigned char)(acc >> 8);
			out[w++] = (unsigned char)acc;
			acc = 0;
			k = 0;
		}
	}
	if (k == 2)
		out[w++] = (unsigned char)(acc >> 4);
	else if (k == 3) {
		out[w++] = (unsigned char)(acc >> 10);
		out[w++] = (unsigned char)(acc >> 2);
	}
	return w;
}

static size_t
decode_split(const uint8_t *in, size_t n, uint32_t seed, size_t max,
    unsigned char *out)
{
	struct b64_decoder d;
	struct fuzz_split sp;
	size_t pos = 0, w = 0, k, got;

	b64_decoder_init(&d);
	fuzz_split_init(&sp, seed, max);
	while (pos < n) {
		k = fuzz_split_next(&sp, n - pos);
		got = b64_decode(&d, in + pos, k, out + w);
		if (got > b64_decode_bound(k))
			abort();
		w += got;
		pos += k;
	}
	got = b64_decode_finish(&d, out + w);
	if (got > 2)
		abort();
	return w + got;
}

/* The canonical check over in (split by seed); returns its verdict, the
 * decoded bytes in out, their count in *n_out. */
static bool
check_split(const unsigned char *in, size_t n, uint32_t seed, size_t max,
    unsigned char *out, size_t *n_out, struct codec_params *pr)
{
	struct fuzz_split sp;
	size_t pos = 0, w = 0, k, last;
	bool ok;

	codec_check_init(&cc, CODEC_B64);
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = fuzz_take_u32(&data, &size);
	size_t n1, n2, nr, ne, nd, k, pos, col, i;
	unsigned line_len, trail;
	struct b64_encoder e;
	struct fuzz_split sp;
	struct codec_params pr;

	if (size > IN_MAX)
		return 0;

	/* 1. Decoding, whole and split, against the reference. */
	n1 = decode_split(data, size, seed, size + 1, dec1);
	n2 = decode_split(data, size, seed, 1 + seed % 17, dec2);
	nr = ref_decode(data, size, ref);
	if (n1 != n2 || n1 != nr || memcmp(dec1, dec2, n1) != 0 ||
	    memcmp(dec1, ref, n1) != 0)
		abort();

	/* 2. Round trip through the encoder. */
	line_len = seed % 5 == 0 ? 0 : 1 + (seed >> 3) % 200;
	trail = (seed >> 11) % 4;
	b64_encoder_init(&e, line_len);
	fuzz_split_init(&sp, seed >> 7, 1 + (seed >> 13) % 300);
	for (pos = 0, ne = 0; pos < size; pos += k) {
		k = fuzz_split_next(&sp, size - pos);
		ne += b64_encode(&e, data + pos, k, enc + ne);
	}
	ne += b64_encode_finish(&e, trail, enc + ne);
	if (ne > b64_encode_bound(size, line_len) + 2 * trail)
		abort();
	for (i = 0, col = 0; i < ne; i++) {
		if (enc[i] == '\r') {
			if (i + 1 >= ne || enc[i + 1] != '\n')
				abort();
			i++;
			col = 0;
			continue;
		}
		if (ref_value(enc[i]) < 0 && enc[i] != '=')
			abort();
		if (++col > line_len && line_len != 0)
			abort();
	}
	nd = decode_split(enc, ne, seed >> 5, 1 + (seed >> 17) % 64, rt);
	if (nd != size || memcmp(rt, data, size) != 0)
		abort();

	/* 3a. What the encoder writes is canonical. */
	if (size > 0 && line_len != 0) {
		if (!check_split(enc, ne, seed >> 9, 1 + (seed >> 2) % 700,
		        chk, &nd, &pr))
			abort();
		if (nd != size || memcmp(chk, data, size) != 0 ||
		    pr.kind != CODEC_B64 || pr.trail != trail)
			abort();
	}

	/* 3b. Whatever the check accepts re-encodes byte-exact. */
	if (check_split(data, size, seed, 1 + (seed >> 4) % 1000, chk, &nd,
	        &pr)) {
		if (pr.kind != CODEC_B64 || pr.line_len == 0 ||
		    pr.line_len > CODEC_B64_LINE_MAX ||
		    pr.trail > CODEC_TRAIL_MAX)
			abort();
		/* The check's decoded bytes are the decoder's. */
		if (nd != n1 || memcmp(chk, dec1, nd) != 0)
			abort();
		b64_encoder_init(&e, pr.line_len);
		ne = b64_encode(&e, chk, nd, enc);
		ne += b64_encode_finish(&e, pr.trail, enc + ne);
		if (ne != size || memcmp(enc, data, size) != 0)
			abort();
	}
	return 0;
}
