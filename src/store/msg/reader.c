/* SPDX-License-Identifier: MIT */
/* Reassembly (store/ingest.h msg_reader_*) and reference listing
 * (msg_skeleton_refs) over the skeleton format of skeleton.h. Both stream:
 * the skeleton and each part are read through small fixed buffers, and
 * decoded parts are re-encoded on the fly. */
#include <stdlib.h>
#include <string.h>

#include "lib/codec.h"
#include "lib/mem.h"
#include "store/ingest.h"
#include "store/msg/skeleton.h"

#include "lib/banned.h"

#define IN_CHUNK 1024
#define OUT_MAX  (6 * IN_CHUNK + 2 * 1024 + B64_FINISH_MAX)

/* The skeleton as a byte stream with one record parser. */
struct skel_in {
	struct blob_reader *r;
	unsigned char buf[4096];
	size_t pos, len;
};

struct skel_rec_info {
	enum skel_rec type;
	struct blob_id id;
	uint64_t n; /* LIT: length; refs: content size; END: total */
	struct codec_params params;
};

enum rstate { R_REC, R_LIT, R_PART, R_END };

struct msg_reader {
	struct store *st;
	struct blob_stage *stage;
	struct skel_in sk;
	enum rstate state;
	uint64_t lit_left, total;
	struct skel_rec_info rec;
	struct blob_reader *part;
	union {
		struct b64_encoder b64;
		struct qp_encoder qp;
	} enc;
	bool enc_done;
	size_t opos, olen;
	unsigned char ibuf[IN_CHUNK];
	unsigned char obuf[OUT_MAX];
};

static int
corrupt(struct err *err, const char *what)
{
	return err_set(err, ERR_INPUT, "corrupt skeleton: %s", what);
}

/* Reading a committed message only fails for the store's reasons. */
static int
as_temp(struct err *err, int rc)
{
	if (rc != ERR_INPUT)
		return rc;
	if (err != NULL)
		err->code = ERR_TEMP;
	return ERR_TEMP;
}

static int
sk_fill(struct skel_in *s, struct err *err)
{
	size_t n;
	int rc;

	if (s->pos < s->len)
		return 0;
	if ((rc = blob_reader_read(s->r, s->buf, sizeof(s->buf), &n, err)) != 0)
		return rc;
	if (n == 0)
		return corrupt(err, "truncated");
	s->pos = 0;
	s->len = n;
	return 0;
}

static int
sk_get(struct skel_in *s, void *p, size_t n, struct err *err)
{
	unsigned char *o = p;
	size_t k;
	int rc;

	while (n > 0) {
		if ((rc = sk_fill(s, err)) != 0)
			return rc;
		k = s->len - s->pos < n ? s->len - s->pos : n;
		memcpy(o, s->buf + s->pos, k);
		s->pos += k;
		o += k;
		n -= k;
	}
	return 0;
}

static int
sk_varint(struct skel_in *s, uint64_t *v_out, struct err *err)
{
	unsigned char b;
	unsigned shift;
	uint64_t v = 0;
	int rc;

	for (shift = 0; shift < 64; shift += 7) {
		if ((rc = sk_get(s, &b, 1, err)) != 0)
			return rc;
		if (shift == 63 && (b & 0x7e) != 0)
			break;
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v_out = v;
			return 0;
		}
	}
	return corrupt(err, "varint");
}

/* Takes the opened skeleton blob br and checks its head. */
static int
sk_attach(struct skel_in *s, struct blob_reader *br, struct err *err)
{
	unsigned char head[SKEL_HEAD_LEN];
	int rc;

	s->pos = s->len = 0;
	s->r = br;
	if ((rc = sk_get(s, head, sizeof(head), err)) != 0)
		return rc;
	if (memcmp(head, SKEL_MAGIC, 4) != 0)
		return corrupt(err, "magic");
	if (head[4] != SKEL_VERSION)
		return corrupt(err, "version");
	return 0;
}

static int
sk_open(struct skel_in *s, struct store *st, struct blob_stage *stage,
    const struct blob_id *id, struct err *err)
{
	struct blob_reader *br;
	int rc;

	s->r = NULL;
	if ((rc = blob_reader_open(st, stage, id, &br, err)) != 0)
		return rc;
	return sk_attach(s, br, err);
}

/* Reads one record's type and fields (not a LIT's bytes). */
static int
sk_record(struct skel_in *s, struct skel_rec_info *ri, struct err *err)
{
	unsigned char t;
	uint64_t v = 0; /* set by sk_varint on success; gcc -O2 cannot tell */
	int rc;

	memset(ri, 0, sizeof(*ri));
	if ((rc = sk_get(s, &t, 1, err)) != 0)
		return rc;
	ri->type = (enum skel_rec)t;
	switch (t) {
	case SKEL_END:
	case SKEL_LIT:
		if ((rc = sk_varint(s, &ri->n, err)) != 0)
			return rc;
		if (t == SKEL_LIT && (ri->n == 0 || ri->n > SKEL_LIT_MAX))
			return corrupt(err, "literal length");
		return 0;
	case SKEL_RAW:
	case SKEL_B64:
	case SKEL_QP:
		break;
	default:
		return corrupt(err, "record type");
	}
	if ((rc = sk_get(s, ri->id.h, BLOB_ID_LEN, err)) != 0 ||
	    (rc = sk_varint(s, &ri->n, err)) != 0)
		return rc;
	ri->params.kind = t == SKEL_B64 ? CODEC_B64
	    : t == SKEL_QP              ? CODEC_QP
	                                : CODEC_RAW;
	if (t == SKEL_RAW)
		return 0;
	if ((rc = sk_varint(s, &v, err)) != 0)
		return rc;
	if (v > CODEC_B64_LINE_MAX || (t == SKEL_QP && v < 4) ||
	    (t == SKEL_B64 && v == 0))
		return corrupt(err, "line length");
	ri->params.line_len = (unsigned)v;
	if (t == SKEL_QP)
		return 0;
	if ((rc = sk_varint(s, &v, err)) != 0)
		return rc;
	if (v > CODEC_TRAIL_MAX)
		return corrupt(err, "trail");
	ri->params.trail = (unsigned)v;
	return 0;
}

int
msg_reader_open(struct store *st, struct blob_stage *stage,
    const struct blob_id *skeleton, struct msg_reader **out, struct err *err)
{
	struct blob_reader *br;
	int rc;

	if ((rc = blob_reader_open(st, stage, skeleton, &br, err)) != 0)
		return as_temp(err, rc);
	return msg_reader_open_blob(st, stage, br, out, err);
}

int
msg_reader_open_blob(struct store *st, struct blob_stage *stage,
    struct blob_reader *skel, struct msg_reader **out, struct err *err)
{
	struct msg_reader *r = xcalloc(1, sizeof(*r));
	int rc;

	r->st = st;
	r->stage = stage;
	r->state = R_REC;
	if ((rc = sk_attach(&r->sk, skel, err)) != 0) {
		msg_reader_close(&r);
		return as_temp(err, rc);
	}
	*out = r;
	return 0;
}

/* Opens the part of r->rec and sets up its encoder. */
static int
part_open(struct msg_reader *r, struct err *err)
{
	int rc;

	if ((rc = blob_reader_open(r->st, r->stage, &r->rec.id, &r->part,
	         err)) != 0)
		return rc == ERR_NOTFOUND
		    ? err_set(err, ERR_TEMP, "part blob missing")
		    : rc;
	if (blob_reader_size(r->part) != r->rec.n)
		return err_set(err, ERR_TEMP, "part blob size mismatch");
	if (r->rec.params.kind == CODEC_B64)
		b64_encoder_init(&r->enc.b64, r->rec.params.line_len);
	else if (r->rec.params.kind == CODEC_QP)
		qp_encoder_init(&r->enc.qp, r->rec.params.line_len);
	r->enc_done = false;
	r->opos = r->olen = 0;
	r->state = R_PART;
	return 0;
}

/* Refills r->obuf with re-encoded bytes; leaves it empty at the end. */
static int
part_encode(struct msg_reader *r, struct err *err)
{
	size_t n;
	int rc;

	r->opos = r->olen = 0;
	if (r->enc_done)
		return 0;
	if ((rc = blob_reader_read(r->part, r->ibuf, sizeof(r->ibuf), &n,
	         err)) != 0)
		return rc;
	if (n == 0) {
		r->enc_done = true;
		if (r->rec.params.kind == CODEC_B64)
			r->olen = b64_encode_finish(&r->enc.b64,
			    r->rec.params.trail, r->obuf);
		else
			r->olen = qp_encode_finish(&r->enc.qp, r->obuf);
		return 0;
	}
	if (r->rec.params.kind == CODEC_B64)
		r->olen = b64_encode(&r->enc.b64, r->ibuf, n, r->obuf);
	else
		r->olen = qp_encode(&r->enc.qp, r->ibuf, n, r->obuf);
	return 0;
}

static int
reader_step(struct msg_reader *r, unsigned char *p, size_t n, size_t *got,
    struct err *err)
{
	size_t k;
	int rc;

	*got = 0;
	switch (r->state) {
	case R_REC:
		if ((rc = sk_record(&r->sk, &r->rec, err)) != 0)
			return rc;
		if (r->rec.type == SKEL_END) {
			if (r->rec.n != r->total)
				return corrupt(err, "size mismatch");
			r->state = R_END;
		} else if (r->rec.type == SKEL_LIT) {
			r->lit_left = r->rec.n;
			r->state = R_LIT;
		} else {
			return part_open(r, err);
		}
		return 0;
	case R_LIT:
		if ((rc = sk_fill(&r->sk, err)) != 0)
			return rc;
		k = r->sk.len - r->sk.pos;
		k = k < n ? k : n;
		k = k < r->lit_left ? k : (size_t)r->lit_left;
		memcpy(p, r->sk.buf + r->sk.pos, k);
		r->sk.pos += k;
		r->lit_left -= k;
		if (r->lit_left == 0)
			r->state = R_REC;
		*got = k;
		return 0;
	case R_PART:
		if (r->rec.params.kind == CODEC_RAW) {
			if ((rc = blob_reader_read(r->part, p, n, got, err)) !=
			    0)
				return rc;
		} else {
			if (r->opos == r->olen &&
			    (rc = part_encode(r, err)) != 0)
				return rc;
			k = r->olen - r->opos < n ? r->olen - r->opos : n;
			memcpy(p, r->obuf + r->opos, k);
			r->opos += k;
			*got = k;
			if (r->olen > 0 || !r->enc_done)
				return 0;
		}
		if (*got == 0) {
			blob_reader_close(&r->part);
			r->state = R_REC;
		}
		return 0;
	case R_END:
		return 0;
	}
	return 0;
}

int
msg_reader_read(struct msg_reader *r, void *p, size_t n, size_t *n_out,
    struct err *err)
{
	unsigned char *o = p;
	size_t out = 0, got;
	int rc;

	while (out < n && r->state != R_END) {
		if ((rc = reader_step(r, o + out, n - out, &got, err)) != 0) {
			*n_out = 0;
			return as_temp(err, rc);
		}
		out += got;
		r->total += got;
	}
	*n_out = out;
	return 0;
}

void
msg_reader_close(struct msg_reader **rp)
{
	if (*rp == NULL)
		return;
	blob_reader_close(&(*rp)->sk.r);
	blob_reader_close(&(*rp)->part);
	free(*rp);
	*rp = NULL;
}

int
msg_skeleton_refs(struct store *st, const struct blob_id *skeleton,
    void (*cb)(void *ctx, const struct blob_id *id), void *ctx, struct err *err)
{
	struct skel_in *s = xcalloc(1, sizeof(*s));
	struct skel_rec_info ri;
	unsigned char skip[256];
	uint64_t k;
	int rc;

	if ((rc = sk_open(s, st, NULL, skeleton, err)) != 0)
		goto out;
	for (;;) {
		if ((rc = sk_record(s, &ri, err)) != 0)
			goto out;
		if (ri.type == SKEL_END)
			break;
		if (ri.type != SKEL_LIT) {
			cb(ctx, &ri.id);
			continue;
		}
		for (; ri.n > 0; ri.n -= k) {
			k = ri.n < sizeof(skip) ? ri.n : sizeof(skip);
			if ((rc = sk_get(s, skip, (size_t)k, err)) != 0)
				goto out;
		}
	}
out:
	blob_reader_close(&s->r);
	free(s);
	return rc;
}

int
msg_reader_skip(struct msg_reader *r, uint64_t n, struct err *err)
{
	unsigned char scratch[4096];
	size_t got, k;
	int rc;

	while (n > 0 && r->state != R_END) {
		if (r->state != R_REC) {
			k = n < sizeof(scratch) ? (size_t)n : sizeof(scratch);
			if ((rc = reader_step(r, scratch, k, &got, err)) != 0)
				return as_temp(err, rc);
			r->total += got;
			n -= got;
			continue;
		}
		if ((rc = sk_record(&r->sk, &r->rec, err)) != 0)
			return as_temp(err, rc);
		if (r->rec.type == SKEL_END) {
			if (r->rec.n != r->total)
				return as_temp(err,
				    corrupt(err, "size mismatch"));
			r->state = R_END;
		} else if (r->rec.type == SKEL_LIT) {
			r->lit_left = r->rec.n;
			r->state = R_LIT;
		} else if (r->rec.type == SKEL_RAW && r->rec.n <= n) {
			/* As stored, the raw blob is rec.n bytes out. */
			r->total += r->rec.n;
			n -= r->rec.n;
		} else if ((rc = part_open(r, err)) != 0) {
			return as_temp(err, rc);
		}
	}
	return 0;
}

/* Appends what fits of p[0..n) to out and looks for the end of the
 * header block (CRLF CRLF, or LF LF from a client that sent bare LFs);
 * true once it is complete. *last holds the last four bytes seen. */
static bool
hdr_take(char *out, size_t cap, size_t *len, const unsigned char *p, size_t n,
    uint32_t *last)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (*len < cap)
			out[*len] = (char)p[i];
		(*len)++;
		*last = (*last << 8) | p[i];
		/* The block may also be just CRLF (no fields at all). */
		if (*last == 0x0d0a0d0a || (*last & 0xffff) == 0x0a0a ||
		    (*len == 2 && *last == 0x0d0a) ||
		    (*len == 1 && *last == 0x0a))
			return true;
	}
	return false;
}

int
msg_header_block(struct store *st, const struct blob_id *skeleton, char *p,
    size_t cap, size_t *n_out, struct err *err)
{
	struct blob_reader *br;
	int rc;

	*n_out = 0;
	if ((rc = blob_reader_open(st, NULL, skeleton, &br, err)) != 0)
		return as_temp(err, rc);
	return msg_header_block_blob(st, br, p, cap, n_out, err);
}

int
msg_header_block_blob(struct store *st, struct blob_reader *skel, char *p,
    size_t cap, size_t *n_out, struct err *err)
{
	struct skel_in *s = xcalloc(1, sizeof(*s));
	struct skel_rec_info ri;
	struct blob_reader *br = NULL;
	unsigned char buf[1024];
	size_t len = 0, k, got;
	uint32_t last = 0;
	bool done = false;
	int rc;

	if ((rc = sk_attach(s, skel, err)) != 0)
		goto out;
	/* Past cap nothing more is copied: stop reading (a header block
	 * without its blank line must not drag a body part through). */
	while (!done && len < cap) {
		if ((rc = sk_record(s, &ri, err)) != 0)
			goto out;
		if (ri.type == SKEL_END || ri.type == SKEL_B64 ||
		    ri.type == SKEL_QP)
			break;
		if (ri.type == SKEL_RAW) {
			/* A literal run over SKEL_LIT_MAX (a huge header).
			 * A raw body part follows the blank line, which
			 * ends the loop before. */
			if ((rc = blob_reader_open(st, NULL, &ri.id, &br,
			         err)) != 0)
				goto out;
			do {
				if ((rc = blob_reader_read(br, buf, sizeof(buf),
				         &got, err)) != 0)
					goto out;
				done = hdr_take(p, cap, &len, buf, got, &last);
			} while (!done && got > 0 && len < cap);
			blob_reader_close(&br);
			continue;
		}
		for (; ri.n > 0 && !done && len < cap; ri.n -= k) {
			k = ri.n < sizeof(buf) ? (size_t)ri.n : sizeof(buf);
			if ((rc = sk_get(s, buf, k, err)) != 0)
				goto out;
			done = hdr_take(p, cap, &len, buf, k, &last);
		}
	}
	*n_out = len < cap ? len : cap;
	rc = 0;
out:
	blob_reader_close(&br);
	blob_reader_close(&s->r);
	free(s);
	return rc != 0 ? as_temp(err, rc) : 0;
}
