/* SPDX-License-Identifier: MIT */
/* In-memory store/blob.h for tests (see fake_blob.h). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "store/msg/fake_blob.h"

struct fake_blob {
	struct blob_id id;
	unsigned char *p;
	size_t len;
};

struct blob_stage {
	struct fake_blob *v;
	size_t n, open, max_open;
};

struct blob_writer {
	struct blob_stage *s;
	struct buf data;
};

struct blob_reader {
	const struct fake_blob *b;
	size_t pos;
};

struct blob_stage *
fake_stage_new(void)
{
	if (sodium_init() < 0)
		abort();
	return xcalloc(1, sizeof(struct blob_stage));
}

void
fake_stage_free(struct blob_stage **sp)
{
	size_t i;

	if (*sp == NULL)
		return;
	for (i = 0; i < (*sp)->n; i++)
		free((*sp)->v[i].p);
	free((*sp)->v);
	free(*sp);
	*sp = NULL;
}

size_t
fake_stage_count(const struct blob_stage *s)
{
	return s->n;
}

size_t
fake_stage_bytes(const struct blob_stage *s)
{
	size_t i, t = 0;

	for (i = 0; i < s->n; i++)
		t += s->v[i].len;
	return t;
}

bool
fake_stage_has(const struct blob_stage *s, const void *p, size_t n)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].len == n &&
		    (n == 0 || memcmp(s->v[i].p, p, n) == 0))
			return true;
	return false;
}

size_t
fake_stage_open_writers(const struct blob_stage *s)
{
	return s->open;
}

size_t
fake_stage_max_open(const struct blob_stage *s)
{
	return s->max_open;
}

int
blob_writer_begin(struct blob_stage *stage, struct blob_writer **out,
    struct err *err)
{
	struct blob_writer *w = xcalloc(1, sizeof(*w));

	(void)err;
	w->s = stage;
	buf_init(&w->data, (size_t)1 << 40);
	if (++stage->open > stage->max_open)
		stage->max_open = stage->open;
	*out = w;
	return 0;
}

int
blob_writer_write(struct blob_writer *w, const void *p, size_t n,
    struct err *err)
{
	if (buf_append(&w->data, p, n) != 0)
		return err_set(err, ERR_FULL, "fake full");
	return 0;
}

int
blob_writer_end(struct blob_writer **wp, struct blob_id *id_out,
    uint64_t *size_out, struct err *err)
{
	struct blob_writer *w = *wp;
	struct blob_stage *s = w->s;
	struct fake_blob *b;
	size_t i;

	(void)err;
	crypto_generichash(id_out->h, BLOB_ID_LEN,
	    (const unsigned char *)w->data.p, w->data.len, NULL, 0);
	*size_out = w->data.len;
	for (i = 0; i < s->n; i++)
		if (memcmp(&s->v[i].id, id_out, sizeof(*id_out)) == 0)
			break;
	if (i == s->n) {
		s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
		b = &s->v[s->n++];
		b->id = *id_out;
		b->len = w->data.len;
		b->p = xmalloc(b->len + 1);
		if (b->len > 0)
			memcpy(b->p, w->data.p, b->len);
	}
	blob_writer_abort(wp);
	return 0;
}

void
blob_writer_abort(struct blob_writer **wp)
{
	if (*wp == NULL)
		return;
	(*wp)->s->open--;
	buf_clear(&(*wp)->data);
	free(*wp);
	*wp = NULL;
}

int
blob_reader_open(struct store *st, struct blob_stage *stage,
    const struct blob_id *id, struct blob_reader **out, struct err *err)
{
	struct blob_reader *r;
	size_t i;

	if (stage == NULL) /* tests pass the stage as the store */
		stage = (struct blob_stage *)st;
	for (i = 0; stage != NULL && i < stage->n; i++) {
		if (memcmp(&stage->v[i].id, id, sizeof(*id)) == 0) {
			r = xcalloc(1, sizeof(*r));
			r->b = &stage->v[i];
			*out = r;
			return 0;
		}
	}
	return err_set(err, ERR_NOTFOUND, "no such blob");
}

int
blob_reader_read(struct blob_reader *r, void *p, size_t n, size_t *n_out,
    struct err *err)
{
	size_t k = r->b->len - r->pos;

	(void)err;
	if (k > n)
		k = n;
	if (k > 1 + r->pos % 4093) /* short, uneven reads */
		k = 1 + r->pos % 4093;
	memcpy(p, r->b->p + r->pos, k);
	r->pos += k;
	*n_out = k;
	return 0;
}

uint64_t
blob_reader_size(const struct blob_reader *r)
{
	return r->b->len;
}

void
blob_reader_close(struct blob_reader **rp)
{
	free(*rp);
	*rp = NULL;
}

void
blob_id_hex(const struct blob_id *id, char out[BLOB_HEX_LEN + 1])
{
	str_hex(out, id->h, BLOB_ID_LEN);
}
