/* SPDX-License-Identifier: MIT */
/* Unit tests for the base64 / quoted-printable codecs and the canonical
 * check: known vectors, splits at every byte, limits at N and N+1, and
 * "accepted implies re-encodes byte-exact" over mutated inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "mem.h"

static uint32_t rng_state = 12345;

static uint32_t
rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

/* Encodes data with the given params (the way reassembly does). */
static size_t
encode_all(const struct codec_params *pp, const unsigned char *data, size_t n,
    unsigned char **out)
{
	size_t cap, w = 0;
	struct b64_encoder be;
	struct qp_encoder qe;

	if (pp->kind == CODEC_B64) {
		cap = b64_encode_bound(n, pp->line_len) + B64_FINISH_MAX;
		*out = xmalloc(cap);
		b64_encoder_init(&be, pp->line_len);
		w = b64_encode(&be, data, n, *out);
		w += b64_encode_finish(&be, pp->trail, *out + w);
	} else {
		cap = qp_encode_bound(n);
		*out = xmalloc(cap);
		qp_encoder_init(&qe, pp->line_len);
		/* byte at a time: the held look-ahead must not matter */
		for (size_t i = 0; i < n; i++)
			w += qp_encode(&qe, data + i, 1, *out + w);
		w += qp_encode_finish(&qe, *out + w);
	}
	assert_true(w <= cap);
	return w;
}

/* Runs the check over `in` cut into pieces of `step` bytes (0: at `cut`
 * only). Returns ok; decoded bytes in *dec_out (caller frees). */
static bool
check_all(enum codec_kind kind, const unsigned char *in, size_t n, size_t step,
    size_t cut, struct codec_params *pp, unsigned char **dec_out,
    size_t *ndec_out)
{
	struct codec_check *c = xmalloc(sizeof(*c));
	unsigned char *dec = xmalloc(n + codec_check_out_bound(0));
	unsigned char *tmp = xmalloc(codec_check_out_bound(n));
	size_t off = 0, k, w, nd = 0;
	bool ok;

	codec_check_init(c, kind);
	while (off < n) {
		if (step == 0)
			k = off < cut ? cut - off : n - off;
		else
			k = n - off < step ? n - off : step;
		w = codec_check_push(c, in + off, k, tmp);
		memcpy(dec + nd, tmp, w);
		nd += w;
		off += k;
	}
	ok = codec_check_finish(c, dec + nd, &w, pp);
	nd += w;
	free(tmp);
	free(c);
	*dec_out = dec;
	*ndec_out = nd;
	return ok;
}

static void
test_b64_vectors(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob",
		"fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v",
		"Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	struct b64_encoder e;
	struct b64_decoder d;
	unsigned char out[64];
	size_t i, w;

	(void)state;
	for (i = 0; i < 7; i++) { /* RFC 4648 §10 */
		b64_encoder_init(&e, 0);
		w = b64_encode(&e, plain[i], strlen(plain[i]), out);
		w += b64_encode_finish(&e, 0, out + w);
		assert_int_equal(w, strlen(enc[i]));
		assert_memory_equal(out, enc[i], w);
		b64_decoder_init(&d);
		w = b64_decode(&d, enc[i], strlen(enc[i]), out);
		w += b64_decode_finish(&d, out + w);
		assert_int_equal(w, strlen(plain[i]));
		assert_memory_equal(out, plain[i], w);
	}
	/* whitespace and junk are skipped, data after padding ignored */
	b64_decoder_init(&d);
	w = b64_decode(&d, "Zm9v\r\n Y*mFy\r\n", 15, out);
	assert_int_equal(w, 6);
	assert_memory_equal(out, "foobar", 6);
	b64_decoder_init(&d);
	w = b64_decode(&d, "Zg==Zm8=", 8, out);
	assert_int_equal(w, 1);
}

static void
test_b64_split_every_byte(void **state)
{
	unsigned char data[300], *enc, dec[400];
	struct codec_params pp = { CODEC_B64, 76, 1 };
	struct b64_decoder d;
	size_t n, cut, w, i;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)rng();
	n = encode_all(&pp, data, sizeof(data), &enc);
	for (cut = 0; cut <= n; cut++) {
		b64_decoder_init(&d);
		w = b64_decode(&d, enc, cut, dec);
		w += b64_decode(&d, enc + cut, n - cut, dec + w);
		w += b64_decode_finish(&d, dec + w);
		assert_int_equal(w, sizeof(data));
		assert_memory_equal(dec, data, w);
	}
	free(enc);
}

static void
test_qp_vectors(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "hello\r\nworld\r\n", "hello\r\nworld\r\n" },
		{ "a=b", "a=3Db" },
		{ "trail \r\nx\t", "trail=20\r\nx=09" },
		{ "mid space", "mid space" },
		{ "\xe9t\xe9", "=E9t=E9" },
		{ "lone\rcr\nlf", "lone=0Dcr=0Alf" },
	};
	struct qp_encoder e;
	struct qp_decoder d;
	unsigned char out[512];
	size_t i, w;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		qp_encoder_init(&e, CODEC_QP_LINE_LEN);
		w = qp_encode(&e, v[i].in, strlen(v[i].in), out);
		w += qp_encode_finish(&e, out + w);
		assert_int_equal(w, strlen(v[i].out));
		assert_memory_equal(out, v[i].out, w);
		qp_decoder_init(&d);
		w = qp_decode(&d, v[i].out, strlen(v[i].out), out);
		w += qp_decode_finish(&d, out + w);
		assert_int_equal(w, strlen(v[i].in));
		assert_memory_equal(out, v[i].in, w);
	}
	/* soft breaks: 76 columns including '=', escapes never split */
	{
		char line[200];
		memset(line, 'x', 100);
		qp_encoder_init(&e, CODEC_QP_LINE_LEN);
		w = qp_encode(&e, line, 100, out);
		w += qp_encode_finish(&e, out + w);
		assert_int_equal(w, 75 + 3 + 25);
		assert_memory_equal(out + 75, "=\r\n", 3);
		/* exactly 76 on the last line needs no soft break */
		qp_encoder_init(&e, CODEC_QP_LINE_LEN);
		w = qp_encode(&e, line, 76, out);
		w += qp_encode_finish(&e, out + w);
		assert_int_equal(w, 76);
		line[74] = '=';
		qp_encoder_init(&e, CODEC_QP_LINE_LEN);
		w = qp_encode(&e, line, 100, out);
		w += qp_encode_finish(&e, out + w);
		assert_memory_equal(out + 74, "=\r\n=3D", 6);
	}
	/* lenient decoding: lower-case hex, broken escapes, LF soft break */
	qp_decoder_init(&d);
	w = qp_decode(&d, "=3d=ZZa=\nb=", 11, out);
	w += qp_decode_finish(&d, out + w);
	assert_int_equal(w, 7);
	assert_memory_equal(out, "==ZZab=", 7);
}

static void
expect_canonical(enum codec_kind kind, const char *in, size_t n,
    unsigned line_len, unsigned trail)
{
	struct codec_params pp;
	unsigned char *dec, *re;
	size_t nd, nr, step;

	for (step = 1; step <= n + 1; step = step < 8 ? step + 1 : step * 3) {
		assert_true(check_all(kind, (const unsigned char *)in, n, step,
		    0, &pp, &dec, &nd));
		assert_int_equal(pp.kind, kind);
		assert_int_equal(pp.line_len, line_len);
		assert_int_equal(pp.trail, trail);
		nr = encode_all(&pp, dec, nd, &re);
		assert_int_equal(nr, n);
		assert_memory_equal(re, in, n);
		free(re);
		free(dec);
	}
}

static void
expect_not_canonical(enum codec_kind kind, const char *in)
{
	struct codec_params pp;
	unsigned char *dec;
	size_t nd, n = strlen(in), cut;

	for (cut = 0; cut <= n; cut++) {
		assert_false(check_all(kind, (const unsigned char *)in, n, 0,
		    cut, &pp, &dec, &nd));
		free(dec);
	}
}

static void
test_check_shapes(void **state)
{
	(void)state;
	expect_canonical(CODEC_B64, "Zm9vYmFy\r\nZm9v\r\n", 16, 8, 1);
	expect_canonical(CODEC_B64, "Zm9vYmFy\r\nZm9v", 14, 8, 0);
	expect_canonical(CODEC_B64, "Zm9vYmFy\r\nZg==\r\n\r\n", 18, 8, 2);
	expect_canonical(CODEC_B64, "Zm9vYg==", 8, 8, 0);
	expect_canonical(CODEC_B64, "", 0, 76, 0);
	expect_canonical(CODEC_QP, "caf=E9 au lait\r\n", 16, 76, 0);
	expect_canonical(CODEC_QP, "", 0, 76, 0);

	expect_not_canonical(CODEC_B64, "Zm9vYmFy\nZm9v\n"); /* LF */
	expect_not_canonical(CODEC_B64, "Zm9vYmFy\r\nZm9vYmFyZm9v\r\n");
	expect_not_canonical(CODEC_B64, "Zm9vYmFy\r\nZm\r\nZm\r\n");
	expect_not_canonical(CODEC_B64, "Zm9vYh=="); /* pad bits set */
	expect_not_canonical(CODEC_B64, "Zm9vYg");   /* no padding */
	expect_not_canonical(CODEC_B64, "Zm9vYg=");
	expect_not_canonical(CODEC_B64, "Zm9v Ymfy");
	expect_not_canonical(CODEC_B64, "Zm9v\r\n\r\nZm9v\r\n");
	expect_not_canonical(CODEC_B64, "\r\nZm9v\r\n");
	expect_not_canonical(CODEC_B64, "Zm9v\r\nZg==\r\nZm9v\r\n");
	expect_not_canonical(CODEC_B64, "Zm9v\r\n\r");
	expect_not_canonical(CODEC_QP, "caf=e9\r\n"); /* lower-case hex */
	expect_not_canonical(CODEC_QP, "trail \r\n"); /* trailing space */
	expect_not_canonical(CODEC_QP, "soft=\r\nbreak");
	expect_not_canonical(CODEC_QP, "caf\xe9");
	expect_not_canonical(CODEC_QP, "a=\r\n");
	expect_not_canonical(CODEC_QP, "lf\nonly\n");
	expect_not_canonical(CODEC_QP, "=");
}

static void
test_check_limits(void **state)
{
	char *in = xmalloc(2 * CODEC_B64_LINE_MAX + 600);
	size_t n, i;

	(void)state;
	/* a first line of CODEC_B64_LINE_MAX characters, and one more */
	memset(in, 'A', CODEC_B64_LINE_MAX);
	memcpy(in + CODEC_B64_LINE_MAX, "\r\nAAAA\r\n", 8);
	expect_canonical(CODEC_B64, in, CODEC_B64_LINE_MAX + 8,
	    CODEC_B64_LINE_MAX, 1);
	memset(in, 'A', CODEC_B64_LINE_MAX + 4);
	memcpy(in + CODEC_B64_LINE_MAX + 4, "\r\nAAAA\r\n", 9);
	{
		struct codec_params pp;
		unsigned char *dec;
		size_t nd;
		assert_false(check_all(CODEC_B64, (unsigned char *)in,
		    CODEC_B64_LINE_MAX + 12, 100, 0, &pp, &dec, &nd));
		free(dec);
	}
	/* CODEC_TRAIL_MAX trailing CRLFs, and one more */
	memcpy(in, "AAAA", 4);
	n = 4;
	for (i = 0; i < CODEC_TRAIL_MAX; i++, n += 2)
		memcpy(in + n, "\r\n", 2);
	expect_canonical(CODEC_B64, in, n, 4, CODEC_TRAIL_MAX);
	memcpy(in + n, "\r\n", 3);
	expect_not_canonical(CODEC_B64, in);
	free(in);
}

/* Random data under many encodings is canonical and re-encodes exact. */
static void
test_check_random_roundtrip(void **state)
{
	static const unsigned lens[] = { 76, 72, 64, 60, 4, 1, 77 };
	struct codec_params pp, got;
	unsigned char data[700], *enc, *dec;
	size_t n, ne, nd, i, r;

	(void)state;
	for (r = 0; r < 60; r++) {
		n = rng() % sizeof(data);
		for (i = 0; i < n; i++)
			data[i] = r % 3 == 0
			    ? (unsigned char)rng()
			    : (unsigned char)" \t\r\nabc=xyz.\xff"[rng() % 13];
		if (r % 2 == 0)
			pp = (struct codec_params){ CODEC_B64, lens[r % 7],
				(unsigned)(rng() % 3) };
		else
			pp = (struct codec_params){ CODEC_QP, CODEC_QP_LINE_LEN,
				0 };
		ne = encode_all(&pp, data, n, &enc);
		assert_true(check_all(pp.kind, enc, ne, 1 + rng() % 50, 0, &got,
		    &dec, &nd));
		assert_int_equal(nd, n);
		if (n > 0)
			assert_memory_equal(dec, data, n);
		assert_int_equal(got.trail, pp.trail);
		free(dec);
		free(enc);
	}
}

/* Mutated encodings: whenever the check says canonical, re-encoding what
 * it decoded gives back exactly the input. */
static void
test_check_mutations_are_sound(void **state)
{
	struct codec_params pp, got;
	unsigned char data[200], *enc, *dec, *re;
	size_t n, ne, nd, nr, i, r, accepted = 0;

	(void)state;
	for (r = 0; r < 4000; r++) {
		n = rng() % sizeof(data);
		for (i = 0; i < n; i++)
			data[i] = (unsigned char)"a =\r\n\t\xe9"[rng() % 7];
		pp = r % 2 ? (struct codec_params){ CODEC_B64, 4 + rng() % 80,
			rng() % 2 }
		           : (struct codec_params){ CODEC_QP, 76, 0 };
		ne = encode_all(&pp, data, n, &enc);
		if (ne > 0 && rng() % 4 != 0)
			enc[rng() % ne] =
			    (unsigned char)"=\r\nA/a0 3D"[rng() % 10];
		if (check_all(pp.kind, enc, ne, 1 + rng() % 7, 0, &got, &dec,
		        &nd)) {
			accepted++;
			nr = encode_all(&got, dec, nd, &re);
			assert_int_equal(nr, ne);
			assert_memory_equal(re, enc, ne);
			free(re);
		}
		free(dec);
		free(enc);
	}
	assert_true(accepted > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_split_every_byte),
		cmocka_unit_test(test_qp_vectors),
		cmocka_unit_test(test_check_shapes),
		cmocka_unit_test(test_check_limits),
		cmocka_unit_test(test_check_random_roundtrip),
		cmocka_unit_test(test_check_mutations_are_sound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
