/* SPDX-License-Identifier: MIT */
/* Streaming base64 and quoted-printable (RFC 2045 §6.7, §6.8) decoders and
 * canonical encoders, all resumable across arbitrary input splits, plus the
 * canonical-form check that ingest uses to decide whether a part may be
 * stored decoded and re-encoded byte-exact on the way out. */
#ifndef DESPATCH_LIB_CODEC_H
#define DESPATCH_LIB_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest base64 line the canonical check accepts as the line length (a
 * longer first line means "not canonical", so the part is kept raw). RFC
 * 5322 §2.1.1 caps a line at 998 characters; we allow more, up to this. */
#define CODEC_B64_LINE_MAX 4096
/* The quoted-printable line length of the canonical encoder (RFC 2045
 * §6.7 rule 5: at most 76 characters, the soft break '=' included). */
#define CODEC_QP_LINE_LEN 76
/* Most CRLFs after the last base64 line a canonical part may carry. */
#define CODEC_TRAIL_MAX 255

/* Base64 decoder. Skips CR, LF, whitespace and any byte outside the
 * alphabet (RFC 2045 §6.8: "must be ignored"); stops at the first '='
 * (everything after padding is ignored). */
struct b64_decoder {
	uint32_t acc; /* bits of the partial quantum */
	unsigned n;   /* characters in acc, 0..3 */
	bool done;    /* saw padding */
};

void b64_decoder_init(struct b64_decoder *d);
/* Decodes n bytes into out, which has room for b64_decode_bound(n) bytes.
 * Returns the number of bytes written. */
size_t b64_decode(struct b64_decoder *d, const void *in, size_t n, void *out);
/* Ends the input: a partial quantum without padding yields its whole bytes
 * (at most 2 written to out). Returns the bytes written. */
size_t b64_decode_finish(struct b64_decoder *d, void *out);
static inline size_t
b64_decode_bound(size_t n)
{
	return n / 4 * 3 + 3;
}

/* Base64 encoder: lines of line_len characters separated by CRLF (0: one
 * line). A line break is written only once the next character follows, so
 * b64_encode_finish decides what ends the last line. */
struct b64_encoder {
	unsigned line_len;
	unsigned col; /* characters on the current line */
	uint32_t acc; /* pending input bytes */
	unsigned n;   /* bytes in acc, 0..2 */
};

void b64_encoder_init(struct b64_encoder *e, unsigned line_len);
/* Encodes n bytes into out, which has room for b64_encode_bound(n, line_len)
 * bytes. Returns the bytes written. */
size_t b64_encode(struct b64_encoder *e, const void *in, size_t n, void *out);
/* Ends the data: writes the last quantum with '=' padding, then `trail`
 * CRLFs (at most CODEC_TRAIL_MAX). out has room for B64_FINISH_MAX bytes.
 * Returns the bytes written. */
size_t b64_encode_finish(struct b64_encoder *e, unsigned trail, void *out);
#define B64_FINISH_MAX (6 + 2 * CODEC_TRAIL_MAX)
size_t b64_encode_bound(size_t n, unsigned line_len);

/* Quoted-printable decoder: "=XX" (either hex case) is the byte, "=" CRLF
 * and "=" LF are soft breaks (nothing), any other '=' sequence is kept
 * literally; everything else, trailing whitespace included, is copied. */
struct qp_decoder {
	unsigned char hold[3]; /* "=", "=X" or "=\r" awaiting what follows */
	unsigned nhold;
};

void qp_decoder_init(struct qp_decoder *d);
/* Decodes n bytes into out (room for n + 3). Returns the bytes written. */
size_t qp_decode(struct qp_decoder *d, const void *in, size_t n, void *out);
/* Ends the input: held bytes are written literally (at most 3). */
size_t qp_decode_finish(struct qp_decoder *d, void *out);

/* The canonical quoted-printable encoder: CRLF in the data is a hard line
 * break; bytes 33..126 except '=' are literal; SP and HTAB are literal
 * unless last on a line (then "=20"/"=09"); every other byte is "=XX" with
 * upper-case hex; a soft break "=" CRLF is put before a character that
 * would not leave room for the '=' within line_len, except the last one
 * on a line, which may use the full line_len. Needs two bytes of
 * look-ahead, which it holds between calls. */
struct qp_encoder {
	unsigned line_len;
	unsigned col;
	unsigned char q[3]; /* held look-ahead bytes */
	unsigned nq;
};

void qp_encoder_init(struct qp_encoder *e, unsigned line_len);
/* Encodes n bytes into out (room for qp_encode_bound(n)). */
size_t qp_encode(struct qp_encoder *e, const void *in, size_t n, void *out);
/* Ends the data, flushing look-ahead (out room QP_FINISH_MAX). */
size_t qp_encode_finish(struct qp_encoder *e, void *out);
#define QP_FINISH_MAX 16
static inline size_t
qp_encode_bound(size_t n)
{
	return 6 * n + QP_FINISH_MAX; /* "=\r\n" + "=XX" per byte at most */
}

enum codec_kind {
	CODEC_RAW = 0,
	CODEC_B64 = 1,
	CODEC_QP = 2,
};

/* Everything needed to re-encode decoded content to the exact received
 * bytes: the encoder, its line length and (base64) the CRLFs after the
 * last line. */
struct codec_params {
	enum codec_kind kind;
	unsigned line_len;
	unsigned trail;
};

/* Canonical-form check: decodes the received encoded bytes and, as it
 * goes, re-encodes what it decoded and compares that with the received
 * bytes. It keeps only the not-yet-compared tail (CODEC_CHECK_PEND bytes
 * at most), so memory is bounded whatever the part's size. The base64
 * line length is taken from the first line. */
#define CODEC_CHECK_PEND  8192
#define CODEC_CHECK_CHUNK 512
struct codec_check {
	enum codec_kind kind;
	bool ok;      /* still canonical */
	bool started; /* base64: line length known */
	unsigned line_len;
	union {
		struct b64_decoder b64;
		struct qp_decoder qp;
	} dec;
	union {
		struct b64_encoder b64;
		struct qp_encoder qp;
	} enc;
	size_t npend, nfirst;
	unsigned char pend[CODEC_CHECK_PEND];    /* received, not yet matched */
	unsigned char first[CODEC_B64_LINE_MAX]; /* decoded first line */
	unsigned char tmp[6 * CODEC_CHECK_CHUNK + QP_FINISH_MAX + 2 * 8];
};

/* kind is CODEC_B64 or CODEC_QP. */
void codec_check_init(struct codec_check *c, enum codec_kind kind);
/* Feeds n received bytes; writes their decoded bytes to out, which has
 * room for codec_check_out_bound(n). Returns the number written. Once the
 * input has shown it is not canonical, c->ok is false and nothing more is
 * written (the caller then keeps the part raw). */
size_t codec_check_push(struct codec_check *c, const void *in, size_t n,
    void *out);
static inline size_t
codec_check_out_bound(size_t n)
{
	return n + CODEC_CHECK_PEND + 8;
}
/* Ends the input: true iff all of it was the canonical encoding of the
 * decoded bytes under *params_out. May write a last few decoded bytes to
 * out (room codec_check_out_bound(0)), *n_out says how many. */
bool codec_check_finish(struct codec_check *c, void *out, size_t *n_out,
    struct codec_params *params_out);

#endif
