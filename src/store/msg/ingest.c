/* SPDX-License-Identifier: MIT */
/* Ingest (store/ingest.h): streams a message through the MIME parser,
 * writes each leaf body as a blob (decoded when re-encoding gives back the
 * received bytes exactly, else raw) and everything else into the skeleton.
 *
 * Deciding "decoded or raw" needs the whole part, yet nothing may hold a
 * whole part. So an encoded leaf runs through codec_check, which decodes
 * and compares its own re-encoding with the received bytes as they come,
 * and the decoded bytes go to one blob writer. The received bytes are also
 * kept, in case the part proves non-canonical later: the first TEE_MAX
 * bytes in memory, past that in a second (raw) blob writer. Whichever
 * writer loses is aborted, so a dropped copy never reaches the store.
 * Memory per message: about 60 KiB of fixed buffers, the header field
 * buffer (<= 64 KiB), the literal run (<= 64 KiB), the skeleton buffer
 * (<= 128 KiB) and the part id list (32 bytes a part, <= ~20 000 ids). */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/codec.h"
#include "lib/mem.h"
#include "mime/parser.h"
#include "store/ingest.h"
#include "store/msg/skeleton.h"
#include "store/msg/text.h"

#include "lib/banned.h"

/* Received bytes of an encoded part kept in memory before a raw writer
 * is started for them (most parts are smaller and never need one). */
#define TEE_MAX (16 * 1024)
/* Skeleton bytes buffered before they go to the skeleton's writer. */
#define SKEL_FLUSH (64 * 1024)
/* Input handed to codec_check at a time (bounds the decode buffer). */
#define DEC_CHUNK 4096

struct ingest {
	struct blob_stage *stage;
	struct mime_parser *mp;
	struct err *err; /* of the current call */
	int rc;          /* sticky failure */
	bool finished;
	uint64_t total;
	struct ingest_summary sum;
	unsigned seen; /* summary fields taken (bit per field) */

	struct buf skel; /* skeleton bytes not yet written */
	struct blob_writer *skel_w;

	struct buf lit;            /* the current literal run */
	struct blob_writer *lit_w; /* the run, once over SKEL_LIT_MAX */

	bool in_leaf;
	enum codec_kind kind;       /* of the leaf's transfer encoding */
	bool decoding;              /* encoded leaf still canonical */
	struct blob_writer *part_w; /* raw leaf, or decoded content */
	struct blob_writer *raw_w;  /* received bytes of an encoded leaf */
	struct buf tee;             /* the same, while under TEE_MAX */
	uint64_t raw_size, dec_size;
	struct codec_check *check;
	unsigned char *dec;

	struct blob_id *parts; /* distinct ids, in order of first use */
	size_t nparts, cap;
	size_t *slots; /* open-addressed index into parts (+1, 0 empty) */
	size_t nslots;

	struct text_extract text; /* for the full-text index */
};

/* --- part id set ------------------------------------------------------ */

static size_t
id_hash(const struct blob_id *id)
{
	size_t h;

	memcpy(&h, id->h, sizeof(h)); /* already a uniform hash */
	return h;
}

static void
parts_rehash(struct ingest *in, size_t nslots)
{
	size_t i, j;

	free(in->slots);
	in->slots = xcalloc(nslots, sizeof(*in->slots));
	in->nslots = nslots;
	for (i = 0; i < in->nparts; i++) {
		for (j = id_hash(&in->parts[i]) & (nslots - 1);
		     in->slots[j] != 0; j = (j + 1) & (nslots - 1))
			;
		in->slots[j] = i + 1;
	}
}

static void
parts_add(struct ingest *in, const struct blob_id *id)
{
	size_t j;

	if (in->nslots == 0)
		parts_rehash(in, 64);
	for (j = id_hash(id) & (in->nslots - 1); in->slots[j] != 0;
	     j = (j + 1) & (in->nslots - 1))
		if (memcmp(&in->parts[in->slots[j] - 1], id, sizeof(*id)) == 0)
			return;
	if (in->nparts == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 16;
		in->parts = xrealloc(in->parts, in->cap * sizeof(*in->parts));
	}
	in->parts[in->nparts++] = *id;
	in->slots[j] = in->nparts;
	if (in->nparts * 2 > in->nslots)
		parts_rehash(in, in->nslots * 2);
}

/* --- skeleton --------------------------------------------------------- */

static int
skel_flush(struct ingest *in)
{
	int rc;

	if (in->skel_w == NULL &&
	    (rc = blob_writer_begin(in->stage, &in->skel_w, in->err)) != 0)
		return rc;
	if (in->skel.len > 0 &&
	    (rc = blob_writer_write(in->skel_w, in->skel.p, in->skel.len,
	         in->err)) != 0)
		return rc;
	buf_reset(&in->skel);
	return 0;
}

static int
skel_put(struct ingest *in, const void *p, size_t n)
{
	if (buf_append(&in->skel, p, n) != 0)
		return err_set(in->err, ERR_INTERNAL, "skeleton buffer");
	return in->skel.len >= SKEL_FLUSH ? skel_flush(in) : 0;
}

static int
skel_ref(struct ingest *in, enum skel_rec type, const struct blob_id *id,
    uint64_t size, const struct codec_params *pp)
{
	unsigned char rec[1 + BLOB_ID_LEN + 3 * SKEL_VARINT_MAX];
	size_t n = 0;

	rec[n++] = (unsigned char)type;
	memcpy(rec + n, id->h, BLOB_ID_LEN);
	n += BLOB_ID_LEN;
	n += skel_varint_put(rec + n, size);
	if (type == SKEL_B64 || type == SKEL_QP)
		n += skel_varint_put(rec + n, pp->line_len);
	if (type == SKEL_B64)
		n += skel_varint_put(rec + n, pp->trail);
	parts_add(in, id);
	return skel_put(in, rec, n);
}

static int
writer_end(struct ingest *in, struct blob_writer **wp, enum skel_rec type,
    const struct codec_params *pp)
{
	struct blob_id id;
	uint64_t size;
	int rc;

	if ((rc = blob_writer_end(wp, &id, &size, in->err)) != 0)
		return rc;
	return skel_ref(in, type, &id, size, pp);
}

/* --- literal runs ------------------------------------------------------ */

static int
lit_add(struct ingest *in, struct slice s)
{
	int rc;

	if (in->lit_w != NULL)
		return blob_writer_write(in->lit_w, s.p, s.len, in->err);
	if (s.len <= SKEL_LIT_MAX - in->lit.len)
		return buf_append(&in->lit, s.p, s.len) == 0
		    ? 0
		    : err_set(in->err, ERR_INTERNAL, "literal buffer");
	if ((rc = blob_writer_begin(in->stage, &in->lit_w, in->err)) != 0 ||
	    (rc = blob_writer_write(in->lit_w, in->lit.p, in->lit.len,
	         in->err)) != 0 ||
	    (rc = blob_writer_write(in->lit_w, s.p, s.len, in->err)) != 0)
		return rc;
	buf_reset(&in->lit);
	return 0;
}

static int
lit_flush(struct ingest *in)
{
	unsigned char head[1 + SKEL_VARINT_MAX];
	size_t n = 0;
	int rc;

	if (in->lit_w != NULL)
		return writer_end(in, &in->lit_w, SKEL_RAW, NULL);
	if (in->lit.len == 0)
		return 0;
	head[n++] = SKEL_LIT;
	n += skel_varint_put(head + n, in->lit.len);
	if ((rc = skel_put(in, head, n)) != 0 ||
	    (rc = skel_put(in, in->lit.p, in->lit.len)) != 0)
		return rc;
	buf_reset(&in->lit);
	return 0;
}

/* --- leaf parts -------------------------------------------------------- */

static void
leaf_begin(struct ingest *in, enum mime_cte cte)
{
	in->in_leaf = true;
	in->kind = cte == MIME_CTE_BASE64 ? CODEC_B64
	    : cte == MIME_CTE_QP          ? CODEC_QP
	                                  : CODEC_RAW;
	in->decoding = in->kind != CODEC_RAW;
	in->raw_size = in->dec_size = 0;
	if (in->decoding)
		codec_check_init(in->check, in->kind);
}

/* Keeps received bytes of an encoded leaf for a possible fall-back. */
static int
tee_write(struct ingest *in, struct slice s)
{
	int rc;

	if (in->raw_w != NULL)
		return blob_writer_write(in->raw_w, s.p, s.len, in->err);
	if (s.len <= TEE_MAX - in->tee.len)
		return buf_append(&in->tee, s.p, s.len) == 0
		    ? 0
		    : err_set(in->err, ERR_INTERNAL, "tee buffer");
	if ((rc = blob_writer_begin(in->stage, &in->raw_w, in->err)) != 0 ||
	    (rc = blob_writer_write(in->raw_w, in->tee.p, in->tee.len,
	         in->err)) != 0 ||
	    (rc = blob_writer_write(in->raw_w, s.p, s.len, in->err)) != 0)
		return rc;
	buf_reset(&in->tee);
	return 0;
}

/* The leaf is not canonical: its received bytes become the blob. */
static int
leaf_to_raw(struct ingest *in)
{
	int rc;

	in->decoding = false;
	blob_writer_abort(&in->part_w);
	if (in->raw_w == NULL) {
		if ((rc = blob_writer_begin(in->stage, &in->raw_w, in->err)) !=
		        0 ||
		    (rc = blob_writer_write(in->raw_w, in->tee.p, in->tee.len,
		         in->err)) != 0)
			return rc;
	}
	buf_reset(&in->tee);
	return 0;
}

static int
dec_write(struct ingest *in, const void *p, size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	if (in->part_w == NULL &&
	    (rc = blob_writer_begin(in->stage, &in->part_w, in->err)) != 0)
		return rc;
	in->dec_size += n;
	return blob_writer_write(in->part_w, p, n, in->err);
}

static int
leaf_data(struct ingest *in, struct slice s)
{
	size_t k, w;
	int rc;

	in->raw_size += s.len;
	if (in->kind == CODEC_RAW) {
		if (in->part_w == NULL &&
		    (rc = blob_writer_begin(in->stage, &in->part_w, in->err)) !=
		        0)
			return rc;
		return blob_writer_write(in->part_w, s.p, s.len, in->err);
	}
	if (!in->decoding)
		return blob_writer_write(in->raw_w, s.p, s.len, in->err);
	if ((rc = tee_write(in, s)) != 0)
		return rc;
	while (s.len > 0) {
		k = s.len < DEC_CHUNK ? s.len : DEC_CHUNK;
		w = codec_check_push(in->check, s.p, k, in->dec);
		if (!in->check->ok)
			return leaf_to_raw(in);
		if ((rc = dec_write(in, in->dec, w)) != 0)
			return rc;
		s = slice_skip(s, k);
	}
	return 0;
}

static int
leaf_end(struct ingest *in)
{
	struct codec_params pp;
	size_t w;
	int rc;

	in->in_leaf = false;
	if (in->raw_size == 0) /* empty body: nothing to reference */
		return 0;
	if (in->kind == CODEC_RAW)
		return writer_end(in, &in->part_w, SKEL_RAW, NULL);
	if (in->decoding) {
		if (codec_check_finish(in->check, in->dec, &w, &pp)) {
			if ((rc = dec_write(in, in->dec, w)) != 0)
				return rc;
			if (in->part_w == NULL &&
			    (rc = blob_writer_begin(in->stage, &in->part_w,
			         in->err)) != 0)
				return rc;
			blob_writer_abort(&in->raw_w);
			buf_reset(&in->tee);
			return writer_end(in, &in->part_w,
			    pp.kind == CODEC_B64 ? SKEL_B64 : SKEL_QP, &pp);
		}
		if ((rc = leaf_to_raw(in)) != 0)
			return rc;
	}
	return writer_end(in, &in->raw_w, SKEL_RAW, NULL);
}

/* --- summary ----------------------------------------------------------- */

/* Unfolds (drops CR and LF), trims, and truncates without splitting a
 * UTF-8 sequence. */
static void
summary_copy(char *dst, size_t size, struct slice v)
{
	size_t i, k, need, n = 0;
	unsigned char lead;

	v = slice_trim(v);
	for (i = 0; i < v.len && n + 1 < size; i++)
		if (v.p[i] != '\r' && v.p[i] != '\n')
			dst[n++] = v.p[i];
	if (i < v.len) { /* truncated: drop a partial UTF-8 sequence */
		k = n;
		while (k > 0 && ((unsigned char)dst[k - 1] & 0xc0) == 0x80)
			k--;
		lead = k > 0 ? (unsigned char)dst[k - 1] : 0;
		need = lead >= 0xf0 ? 4
		    : lead >= 0xe0  ? 3
		    : lead >= 0xc0  ? 2
		                    : 1;
		if (need > 1 && n - (k - 1) < need)
			n = k - 1;
	}
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\t'))
		n--;
	dst[n] = '\0';
}

static void
summary_field(struct ingest *in, const struct mime_event *ev)
{
	static const char *const names[] = { "From", "Subject", "Message-ID",
		"Date" };
	char *dst[] = { in->sum.from, in->sum.subject, in->sum.message_id,
		in->sum.date };
	size_t sizes[] = { sizeof(in->sum.from), sizeof(in->sum.subject),
		sizeof(in->sum.message_id), sizeof(in->sum.date) };
	unsigned i;

	for (i = 0; i < 4; i++) {
		if ((in->seen & (1u << i)) == 0 &&
		    slice_eq_ci(ev->name, slice_cstr(names[i]))) {
			in->seen |= 1u << i;
			summary_copy(dst[i], sizes[i], ev->value);
		}
	}
}

/* --- parser events ----------------------------------------------------- */

static int
on_event(void *ctx, const struct mime_event *ev)
{
	struct ingest *in = ctx;
	int rc;

	switch (ev->kind) {
	case MIME_EV_PART_BEGIN:
		return 0;
	case MIME_EV_FIELD:
		if (ev->depth == 0) {
			summary_field(in, ev);
			text_field(&in->text, ev->name, ev->value);
		}
		return lit_add(in, ev->data);
	case MIME_EV_HEADER_END:
		if ((rc = lit_add(in, ev->data)) != 0)
			return rc;
		if (ev->part->is_multipart)
			return 0;
		leaf_begin(in, ev->part->cte);
		text_leaf_begin(&in->text, ev->part);
		return lit_flush(in); /* literals precede the leaf's ref */
	case MIME_EV_BODY:
		text_leaf_data(&in->text, ev->data);
		return leaf_data(in, ev->data);
	case MIME_EV_PREAMBLE:
	case MIME_EV_BOUNDARY:
	case MIME_EV_EPILOGUE:
		return lit_add(in, ev->data);
	case MIME_EV_PART_END:
		if (in->in_leaf)
			text_leaf_end(&in->text);
		return in->in_leaf ? leaf_end(in) : 0;
	}
	return 0;
}

/* --- public ------------------------------------------------------------ */

struct ingest *
ingest_new(struct blob_stage *stage)
{
	struct ingest *in = xcalloc(1, sizeof(*in));
	unsigned char head[SKEL_HEAD_LEN] = { 'D', 'S', 'K', 'L',
		SKEL_VERSION };

	in->stage = stage;
	in->mp = mime_parser_new(on_event, in);
	buf_init(&in->skel, 2 * SKEL_FLUSH + 2 * SKEL_LIT_MAX);
	buf_init(&in->lit, SKEL_LIT_MAX);
	buf_init(&in->tee, TEE_MAX);
	in->check = xmalloc(sizeof(*in->check));
	in->dec = xmalloc(codec_check_out_bound(DEC_CHUNK));
	(void)buf_append(&in->skel, head, sizeof(head));
	text_init(&in->text);
	return in;
}

int
ingest_push(struct ingest *in, const void *p, size_t n, struct err *err)
{
	size_t used;
	int rc;

	if (in->rc != 0)
		return in->rc;
	if (in->finished)
		return in->rc = err_set(err, ERR_INTERNAL, "push after finish");
	in->err = err;
	rc = mime_parser_push(in->mp, slice_make(p, n), &used, err);
	in->err = NULL;
	if (rc != 0)
		return in->rc = rc;
	in->total += n;
	return 0;
}

int
ingest_finish(struct ingest *in, struct blob_id *skeleton_out,
    uint64_t *size_out, struct err *err)
{
	unsigned char rec[1 + SKEL_VARINT_MAX];
	uint64_t size;
	size_t n = 0;
	int rc;

	if (in->rc != 0)
		return in->rc;
	if (in->finished)
		return in->rc = err_set(err, ERR_INTERNAL, "finished twice");
	in->err = err;
	rc = mime_parser_finish(in->mp, err);
	if (rc == 0)
		rc = lit_flush(in);
	rec[n++] = SKEL_END;
	n += skel_varint_put(rec + n, in->total);
	if (rc == 0)
		rc = skel_put(in, rec, n);
	if (rc == 0)
		rc = skel_flush(in);
	if (rc == 0)
		rc = blob_writer_end(&in->skel_w, skeleton_out, &size, err);
	in->err = NULL;
	if (rc != 0)
		return in->rc = rc;
	in->finished = true;
	*size_out = in->total;
	return 0;
}

const struct ingest_summary *
ingest_summary(const struct ingest *in)
{
	return &in->sum;
}

const struct blob_id *
ingest_parts(const struct ingest *in, size_t *n_out)
{
	*n_out = in->nparts;
	return in->parts;
}

void
ingest_text_take(struct ingest *in, struct buf *out)
{
	size_t i;

	for (i = 0; i < INGEST_TEXT_N; i++) {
		out[i] = in->text.col[i];
		memset(&in->text.col[i], 0, sizeof(in->text.col[i]));
	}
}

void
ingest_free(struct ingest **inp)
{
	struct ingest *in = *inp;

	if (in == NULL)
		return;
	mime_parser_free(&in->mp);
	blob_writer_abort(&in->skel_w);
	blob_writer_abort(&in->lit_w);
	blob_writer_abort(&in->part_w);
	blob_writer_abort(&in->raw_w);
	buf_clear(&in->skel);
	buf_clear(&in->lit);
	buf_clear(&in->tee);
	text_clear(&in->text);
	free(in->check);
	free(in->dec);
	free(in->parts);
	free(in->slots);
	free(in);
	*inp = NULL;
}
