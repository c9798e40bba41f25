/* SPDX-License-Identifier: MIT */
/* The part tree of a message with byte offsets, built by streaming the
 * message through the MIME push parser. The parser treats message/rfc822
 * parts as leaves; here each one gets a parser of its own fed with that
 * part's body as it streams, so embedded messages become subtrees. */
#include <string.h>

#include "lib/err.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "mime/imapdata_int.h"
#include "mime/limits.h"
#include "mime/structure_int.h"

#include "lib/banned.h"

/* All kept header fields of one message together. They are a subset of
 * the message's bytes, and at most 18 fields of MIME_FIELD_MAX per part,
 * so this only stops pathological inputs. */
#define STRUCTURE_SAVED_MAX (32u << 20)

struct frame {
	struct mime_parser *p;
	struct mime_structure *s;
	unsigned level; /* index in s->frames */
	uint32_t base;  /* depth of its root part */
	uint32_t msg;   /* the message/rfc822 part it parses, or NONE */
	uint64_t off;   /* offset of the next byte it sees */
	uint64_t lf;    /* line feeds it has seen */
};

/* Fields kept for every part, then those kept only for message roots
 * (their ENVELOPE). Bit i of saved_mask is names[i]. */
static const char *const content_names[] = { "content-type",
	"content-transfer-encoding", "content-id", "content-description",
	"content-md5", "content-disposition", "content-language",
	"content-location" };
static const char *const envelope_names[] = { "date", "subject", "from",
	"sender", "reply-to", "to", "cc", "bcc", "in-reply-to", "message-id" };
#define N_CONTENT  (sizeof(content_names) / sizeof(content_names[0]))
#define N_ENVELOPE (sizeof(envelope_names) / sizeof(envelope_names[0]))

static int on_event(void *ctx, const struct mime_event *ev);

static struct frame *
frame_new(struct mime_structure *s, uint32_t base, uint32_t msg, uint64_t off)
{
	struct frame *f = xcalloc(1, sizeof(*f));

	f->s = s;
	f->base = base;
	f->msg = msg;
	f->off = off;
	f->level = s->nframes;
	f->p = mime_parser_new(on_event, f);
	s->frames[s->nframes++] = f;
	return f;
}

static void
frame_pop(struct mime_structure *s)
{
	struct frame *f = s->frames[--s->nframes];

	mime_parser_free(&f->p);
	xfree(&f);
	s->frames[s->nframes] = NULL;
}

static void
advance(struct frame *f, struct slice d)
{
	const char *q = d.p, *end = d.p + d.len;

	if (d.len == 0)
		return;
	f->off += d.len;
	while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		f->lf++;
		q++;
	}
}

static int
part_begin(struct frame *f, uint32_t depth)
{
	struct mime_structure *s = f->s;
	struct mime_part *p;
	struct part_info *pi;
	uint32_t idx, parent;

	if (depth > MIME_DEPTH_MAX)
		return err_set(s->err, ERR_LIMIT,
		    "MIME parts nested deeper than %d", MIME_DEPTH_MAX);
	if (s->n >= MIME_PARTS_MAX)
		return err_set(s->err, ERR_LIMIT, "more than %d MIME parts",
		    MIME_PARTS_MAX);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->parts = xrealloc(s->parts, s->cap * sizeof(*s->parts));
		s->info = xrealloc(s->info, s->cap * sizeof(*s->info));
	}
	idx = (uint32_t)s->n++;
	p = &s->parts[idx];
	pi = &s->info[idx];
	memset(p, 0, sizeof(*p));
	memset(pi, 0, sizeof(*pi));
	parent = depth == 0 ? MIME_PART_NONE : s->open[depth - 1];
	p->parent = parent;
	p->first_child = p->next_sibling = MIME_PART_NONE;
	pi->last_child = MIME_PART_NONE;
	p->depth = depth;
	p->hdr_off = p->body_off = p->end_off = f->off;
	pi->saved_off = s->saved.len;
	(void)str_copy(pi->type, sizeof(pi->type), "text");
	(void)str_copy(pi->subtype, sizeof(pi->subtype), "plain");
	if (parent != MIME_PART_NONE) {
		if (s->parts[parent].first_child == MIME_PART_NONE)
			s->parts[parent].first_child = idx;
		else
			s->parts[s->info[parent].last_child].next_sibling = idx;
		s->info[parent].last_child = idx;
	}
	s->open[depth] = idx;
	s->saved_mask = 0;
	return 0;
}

static int
keep_field(struct frame *f, const struct mime_event *ev, uint32_t idx)
{
	struct mime_structure *s = f->s;
	size_t i, n = N_CONTENT + (ev->depth == 0 ? N_ENVELOPE : 0);
	const char *name;

	for (i = 0; i < n; i++) {
		name = i < N_CONTENT ? content_names[i]
		                     : envelope_names[i - N_CONTENT];
		if (slice_eq_ci(ev->name, slice_cstr(name)))
			break;
	}
	if (i == n || (s->saved_mask & (1u << i)) != 0)
		return 0; /* the first one counts (RFC 2045 has only one) */
	s->saved_mask |= 1u << i;
	if (buf_append_slice(&s->saved, ev->data) != 0 ||
	    (ev->data.p[ev->data.len - 1] != '\n' &&
	        buf_append(&s->saved, "\r\n", 2) != 0))
		return err_set(s->err, ERR_LIMIT,
		    "MIME part headers over %u bytes", STRUCTURE_SAVED_MAX);
	s->info[idx].saved_len = s->saved.len - s->info[idx].saved_off;
	return 0;
}

static int
header_end(struct frame *f, const struct mime_event *ev, uint32_t idx)
{
	struct mime_structure *s = f->s;
	struct mime_part *p = &s->parts[idx];
	struct part_info *pi = &s->info[idx];
	const struct mime_part_info *mi = ev->part;

	advance(f, ev->data);
	p->body_off = p->end_off = f->off;
	pi->lf_at_body = f->lf;
	pi->header_done = true;
	p->is_multipart = mi->is_multipart;
	p->cte = (int)mi->cte;
	pi->ct_present = mi->ct_present;
	(void)str_copy(pi->type, sizeof(pi->type), mi->ct.type);
	(void)str_copy(pi->subtype, sizeof(pi->subtype), mi->ct.subtype);
	p->is_message = strcmp(mi->ct.type, "message") == 0 &&
	    (strcmp(mi->ct.subtype, "rfc822") == 0 ||
	        strcmp(mi->ct.subtype, "global") == 0);
	if (!p->is_message)
		return 0;
	/* The embedded message starts here; its parser sees the body. */
	if (s->nframes >= sizeof(s->frames) / sizeof(s->frames[0]))
		return err_set(s->err, ERR_LIMIT,
		    "MIME parts nested deeper than %d", MIME_DEPTH_MAX);
	(void)frame_new(s, p->depth + 1, idx, f->off);
	return 0;
}

static int
part_end(struct frame *f, uint32_t idx)
{
	struct mime_structure *s = f->s;
	struct mime_part *p;
	struct part_info *pi;
	struct frame *child;
	int rc;

	if (f->level + 1 < s->nframes) {
		child = s->frames[f->level + 1];
		if (child->msg == idx) {
			if ((rc = mime_parser_finish(child->p, s->err)) != 0)
				return rc;
			frame_pop(s);
		}
	}
	p = &s->parts[idx]; /* only now: the child may have grown parts */
	pi = &s->info[idx];
	if (!pi->header_done) {
		p->body_off = f->off;
		pi->lf_at_body = f->lf;
	}
	p->end_off = f->off;
	/* Line feeds, as Dovecot counts (a last line without one does not
	 * count; clients compare with it). */
	p->body_lines = f->lf - pi->lf_at_body;
	return 0;
}

static int
on_event(void *ctx, const struct mime_event *ev)
{
	struct frame *f = ctx;
	struct mime_structure *s = f->s;
	uint32_t depth = f->base + ev->depth, idx;
	size_t used;
	int rc = 0;

	if (ev->kind == MIME_EV_PART_BEGIN)
		return part_begin(f, depth);
	idx = s->open[depth];
	switch (ev->kind) {
	case MIME_EV_FIELD:
		rc = keep_field(f, ev, idx);
		break;
	case MIME_EV_HEADER_END:
		return header_end(f, ev, idx);
	case MIME_EV_BODY:
		if (f->level + 1 < s->nframes)
			rc = mime_parser_push(s->frames[f->level + 1]->p,
			    ev->data, &used, s->err);
		break;
	case MIME_EV_PART_END:
		return part_end(f, idx);
	default:
		break;
	}
	advance(f, ev->data);
	return rc;
}

struct mime_structure *
mime_structure_new(void)
{
	struct mime_structure *s = xcalloc(1, sizeof(*s));

	buf_init(&s->saved, STRUCTURE_SAVED_MAX);
	(void)frame_new(s, 0, MIME_PART_NONE, 0);
	return s;
}

int
mime_structure_push(struct mime_structure *s, const void *p, size_t n,
    struct err *err)
{
	size_t used;
	int rc;

	if (s->rc != 0)
		return err_set(err, s->rc, "MIME structure failed before");
	if (s->finished)
		return err_set(err, ERR_INTERNAL, "push after finish");
	s->err = err;
	rc = mime_parser_push(s->frames[0]->p, slice_make(p, n), &used, err);
	s->err = NULL;
	if (rc != 0)
		s->rc = rc;
	return rc;
}

int
mime_structure_finish(struct mime_structure *s, struct err *err)
{
	int rc;

	if (s->rc != 0)
		return err_set(err, s->rc, "MIME structure failed before");
	if (s->finished)
		return 0;
	s->err = err;
	rc = mime_parser_finish(s->frames[0]->p, err);
	s->err = NULL;
	if (rc != 0)
		return s->rc = rc;
	s->finished = true;
	return 0;
}

void
mime_structure_free(struct mime_structure **sp)
{
	struct mime_structure *s = *sp;

	if (s == NULL)
		return;
	while (s->nframes > 0)
		frame_pop(s);
	xfree(&s->parts);
	xfree(&s->info);
	buf_clear(&s->saved);
	xfree(&s);
	*sp = NULL;
}

const struct mime_part *
mime_structure_parts(const struct mime_structure *s, size_t *n_out)
{
	*n_out = s->finished ? s->n : 0;
	return s->parts;
}

static uint32_t
nth_child(const struct mime_structure *s, uint32_t idx, uint64_t n)
{
	uint32_t c = s->parts[idx].first_child;

	while (c != MIME_PART_NONE && --n > 0)
		c = s->parts[c].next_sibling;
	return c;
}

/* Part n of a message entity (a root): its n-th part if multipart, else
 * its body (n = 1), which is the entity itself. */
static uint32_t
of_message(const struct mime_structure *s, uint32_t root, uint64_t n)
{
	if (s->parts[root].is_multipart)
		return nth_child(s, root, n);
	return n == 1 ? root : MIME_PART_NONE;
}

uint32_t
mime_structure_find(const struct mime_structure *s, struct slice section)
{
	uint32_t cur = 0;
	bool at_message = true; /* cur is a message, not yet a body part */
	size_t i = 0, start;
	uint64_t n;

	if (!s->finished || s->n == 0)
		return MIME_PART_NONE;
	if (section.len == 0)
		return 0;
	while (i <= section.len) {
		start = i;
		while (i < section.len && section.p[i] != '.')
			i++;
		if (i == start || section.p[start] == '0' ||
		    num_parse_u64_slice(slice_make(section.p + start,
		                            i - start),
		        1, MIME_PARTS_MAX, &n) != 0)
			return MIME_PART_NONE;
		if (at_message)
			cur = of_message(s, cur, n);
		else if (s->parts[cur].is_message &&
		    s->parts[cur].first_child != MIME_PART_NONE)
			cur = of_message(s, s->parts[cur].first_child, n);
		else if (s->parts[cur].is_multipart)
			cur = nth_child(s, cur, n);
		else
			cur = MIME_PART_NONE;
		if (cur == MIME_PART_NONE)
			return MIME_PART_NONE;
		at_message = false;
		i++; /* the dot, or past the end */
	}
	return cur;
}
