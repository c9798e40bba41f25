/* SPDX-License-Identifier: MIT */
/* The streaming MIME parser (parser.h): a byte-driven state machine with a
 * fixed stack of multipart boundaries, one header-field buffer and one
 * boundary look-ahead buffer. No recursion on the input's nesting. */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "mime/parser.h"

#include "lib/banned.h"

/* Line break before + "--" + boundary + "--" + padding + CR. */
#define HOLD_MAX (2 + 2 + MIME_BOUNDARY_MAX + 2 + MIME_PADDING_MAX + 1)

enum pstate {
	PS_HEADER,  /* in a part's header block */
	PS_BODY,    /* mid-line in a body: no boundary before a line break */
	PS_BODY_CR, /* body: a CR that may start a line break is held */
	PS_LINE,    /* body at a line start: hold = line break + candidate */
	PS_FREE,    /* body with no boundary active: all of it is data */
	PS_DONE,    /* finished */
};

/* Where the current header line is. */
enum hline {
	HL_FRESH,  /* no byte of the line yet */
	HL_CR,     /* the line so far is a CR (blank line?) */
	HL_NAME,   /* field-name characters so far */
	HL_NAMEWS, /* field name then whitespace (obsolete syntax) */
	HL_FIELD,  /* a field line (or continuation): up to its LF */
	HL_DASH,   /* starts with "--", not a field: maybe a boundary */
};

struct level {
	char boundary[MIME_BOUNDARY_MAX];
	size_t len;
	bool digest; /* multipart/digest: parts default to message/rfc822 */
};

struct mime_parser {
	mime_event_fn *fn;
	void *ctx;
	struct err *err; /* of the current call */
	int rc;          /* sticky failure */
	bool begun;
	enum pstate state;
	enum mime_event_kind body_ev; /* BODY, PREAMBLE or EPILOGUE */
	unsigned depth;               /* of the innermost open part */
	unsigned nlevels;             /* multiparts with an open boundary */
	size_t nparts;

	enum hline hl;
	struct buf field;  /* the pending field, then the current line */
	size_t line_start; /* where the current line starts in field */
	size_t header_bytes;
	bool have_ct, have_cte;
	struct mime_part_info info;

	size_t nhold, nbrk; /* hold: nbrk bytes of line break, candidate */
	char hold[HOLD_MAX + 1];

	struct level levels[MIME_DEPTH_MAX + 1];
};

static int run(struct mime_parser *p, const char *s, size_t n);

static bool
is_name_char(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static int
emit(struct mime_parser *p, enum mime_event_kind kind, unsigned depth,
    struct slice data)
{
	struct mime_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.depth = depth;
	ev.data = data;
	if (kind == MIME_EV_HEADER_END)
		ev.part = &p->info;
	return p->fn(p->ctx, &ev);
}

static int
emit_body(struct mime_parser *p, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	return emit(p, p->body_ev, p->depth, slice_make(s, n));
}

static int
begin_part(struct mime_parser *p, unsigned depth, bool digest)
{
	struct mime_content_type *ct = &p->info.ct;

	if (p->nparts >= MIME_PARTS_MAX)
		return err_set(p->err, ERR_LIMIT, "more than %d MIME parts",
		    MIME_PARTS_MAX);
	if (depth > MIME_DEPTH_MAX)
		return err_set(p->err, ERR_LIMIT,
		    "MIME parts nested deeper than %d", MIME_DEPTH_MAX);
	p->nparts++;
	p->depth = depth;
	memset(&p->info, 0, sizeof(p->info));
	/* RFC 2046 §5.1.5: digest parts default to message/rfc822. */
	(void)str_copy(ct->type, sizeof(ct->type), digest ? "message" : "text");
	(void)str_copy(ct->subtype, sizeof(ct->subtype),
	    digest ? "rfc822" : "plain");
	p->info.cte = MIME_CTE_7BIT;
	p->have_ct = p->have_cte = false;
	p->header_bytes = 0;
	buf_reset(&p->field);
	p->line_start = 0;
	p->hl = HL_FRESH;
	p->state = PS_HEADER;
	return emit(p, MIME_EV_PART_BEGIN, depth, slice_make("", 0));
}

/* Emits the complete field held before the current line. */
static int
flush_field(struct mime_parser *p)
{
	struct mime_event ev;
	struct slice f = slice_make(p->field.p, p->line_start);
	size_t colon, end;
	int rc;

	if (f.len == 0)
		return 0;
	if (f.len > MIME_HEADER_BLOCK_MAX - p->header_bytes)
		return err_set(p->err, ERR_LIMIT, "header block over %d bytes",
		    MIME_HEADER_BLOCK_MAX);
	p->header_bytes += f.len;
	colon = slice_find(f, ':'); /* present: HL_NAME only ends at ':' */
	end = f.len;
	if (end > 0 && f.p[end - 1] == '\n')
		end--;
	if (end > colon + 1 && f.p[end - 1] == '\r')
		end--;
	memset(&ev, 0, sizeof(ev));
	ev.kind = MIME_EV_FIELD;
	ev.depth = p->depth;
	ev.data = f;
	ev.name = slice_trim(slice_make(f.p, colon));
	ev.value = slice_make(f.p + colon + 1, end - colon - 1);
	if (!p->have_ct && slice_eq_ci(ev.name, SLICE_LIT("Content-Type"))) {
		p->have_ct = true;
		p->info.ct_present =
		    mime_content_type_parse(ev.value, &p->info.ct) == 0;
	} else if (!p->have_cte &&
	    slice_eq_ci(ev.name, SLICE_LIT("Content-Transfer-Encoding"))) {
		p->have_cte = true;
		p->info.cte = mime_cte_parse(ev.value);
	}
	if ((rc = p->fn(p->ctx, &ev)) != 0)
		return rc;
	buf_consume(&p->field, p->line_start);
	p->line_start = 0;
	return 0;
}

/* The header block is over; blank is its blank line ("" if none). */
static int
header_end(struct mime_parser *p, struct slice blank)
{
	struct mime_part_info *pi = &p->info;
	struct level *lv;
	int rc;

	if (blank.len > MIME_HEADER_BLOCK_MAX - p->header_bytes)
		return err_set(p->err, ERR_LIMIT, "header block over %d bytes",
		    MIME_HEADER_BLOCK_MAX);
	p->header_bytes += blank.len;
	pi->is_multipart =
	    strcmp(pi->ct.type, "multipart") == 0 && pi->ct.boundary_len > 0;
	if ((rc = emit(p, MIME_EV_HEADER_END, p->depth, blank)) != 0)
		return rc;
	p->nhold = p->nbrk = 0;
	if (pi->is_multipart) {
		lv = &p->levels[p->nlevels++]; /* nlevels == depth <= MAX */
		memcpy(lv->boundary, pi->ct.boundary, pi->ct.boundary_len);
		lv->len = pi->ct.boundary_len;
		lv->digest = strcmp(pi->ct.subtype, "digest") == 0;
		p->body_ev = MIME_EV_PREAMBLE;
		p->state = PS_LINE;
	} else {
		p->body_ev = MIME_EV_BODY;
		p->state = p->nlevels > 0 ? PS_LINE : PS_FREE;
	}
	return 0;
}

/* Is line (without its line break) a delimiter of an open multipart?
 * Innermost first; RFC 2046 §5.1.1: "--" boundary ["--"] padding. */
static bool
match_boundary(const struct mime_parser *p, const char *s, size_t n,
    unsigned *level_out, bool *close_out)
{
	const struct level *lv;
	size_t i, k;
	unsigned l;

	if (n < 3 || s[0] != '-' || s[1] != '-')
		return false;
	for (l = p->nlevels; l-- > 0;) {
		lv = &p->levels[l];
		if (n - 2 < lv->len ||
		    memcmp(s + 2, lv->boundary, lv->len) != 0)
			continue;
		i = 2 + lv->len;
		*close_out = n - i >= 2 && s[i] == '-' && s[i + 1] == '-';
		if (*close_out)
			i += 2;
		for (k = i; k < n && (s[k] == ' ' || s[k] == '\t'); k++)
			;
		if (k == n && k - i <= MIME_PADDING_MAX) {
			*level_out = l;
			return true;
		}
	}
	return false;
}

static int
handle_boundary(struct mime_parser *p, unsigned level, bool close,
    struct slice data)
{
	struct mime_event ev;
	int rc;

	for (; p->depth > level; p->depth--)
		if ((rc = emit(p, MIME_EV_PART_END, p->depth,
		         slice_make("", 0))) != 0)
			return rc;
	p->nlevels = level + 1;
	memset(&ev, 0, sizeof(ev));
	ev.kind = MIME_EV_BOUNDARY;
	ev.depth = level;
	ev.data = data;
	ev.close = close;
	if ((rc = p->fn(p->ctx, &ev)) != 0)
		return rc;
	if (!close)
		return begin_part(p, level + 1, p->levels[level].digest);
	p->nlevels = level; /* its epilogue is plain text to the parent */
	p->body_ev = MIME_EV_EPILOGUE;
	p->nhold = p->nbrk = 0;
	p->state = p->nlevels > 0 ? PS_LINE : PS_FREE;
	return 0;
}

/* Strips the line break (CRLF, LF, or a lone CR at the end of input). */
static size_t
content_len(const char *s, size_t n)
{
	if (n > 0 && s[n - 1] == '\n')
		n--;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	return n;
}

/* The current header line is not a header line: the header block ends
 * without a blank line and the line's bytes are the body's first. */
static int
start_body(struct mime_parser *p)
{
	struct buf line = p->field;
	int rc;

	buf_init(&p->field, MIME_FIELD_MAX);
	rc = header_end(p, slice_make("", 0));
	if (rc == 0)
		rc = run(p, line.p, line.len); /* one line: depth-bounded */
	buf_clear(&line);
	return rc;
}

/* A header line that is not a field ended: a boundary, else the body. */
static int
header_line_done(struct mime_parser *p)
{
	struct slice line = buf_slice(&p->field);
	unsigned level;
	bool close;
	int rc;

	if (match_boundary(p, line.p, content_len(line.p, line.len), &level,
	        &close)) {
		if ((rc = header_end(p, slice_make("", 0))) != 0)
			return rc;
		return handle_boundary(p, level, close, line);
	}
	return start_body(p);
}

static int
field_append(struct mime_parser *p, const char *s, size_t n)
{
	if (buf_append(&p->field, s, n) != 0)
		return err_set(p->err, ERR_LIMIT, "header field over %d bytes",
		    MIME_FIELD_MAX);
	return 0;
}

static bool
line_is_dash(const struct mime_parser *p)
{
	return p->field.len >= 2 && p->field.p[0] == '-' &&
	    p->field.p[1] == '-';
}

static int
header_push(struct mime_parser *p, const char *s, size_t n, size_t *used)
{
	const char *lf;
	size_t i = 0, k;
	unsigned char b;
	int rc = 0;

	while (i < n && p->state == PS_HEADER && rc == 0) {
		b = (unsigned char)s[i];
		switch (p->hl) {
		case HL_FRESH:
			if (b == ' ' || b == '\t') {
				if (p->line_start == 0) { /* nothing to fold */
					rc = start_body(p);
					break;
				}
				p->hl = HL_FIELD;
				break; /* HL_FIELD takes the byte */
			}
			if ((rc = flush_field(p)) != 0)
				break;
			if (b == '\n') {
				i++;
				rc = header_end(p, SLICE_LIT("\n"));
			} else if (b == '\r' || is_name_char(b)) {
				i++;
				p->hl = b == '\r' ? HL_CR : HL_NAME;
				rc = field_append(p, (const char *)&b, 1);
			} else {
				rc = start_body(p);
			}
			break;
		case HL_CR:
			if (b == '\n') {
				i++;
				buf_reset(&p->field);
				rc = header_end(p, SLICE_LIT("\r\n"));
			} else {
				rc = start_body(p);
			}
			break;
		case HL_NAME:
		case HL_NAMEWS:
			/* A line opening with "--" is never a field: it may
			 * be a delimiter right after a header (RFC 2046 lets
			 * a boundary contain ':'). */
			if (line_is_dash(p)) {
				p->hl = HL_DASH; /* which takes the byte */
			} else if (b == ':') {
				p->hl = HL_FIELD; /* which takes the byte */
			} else if (b == ' ' || b == '\t' ||
			    (p->hl == HL_NAME && is_name_char(b))) {
				if (b == ' ' || b == '\t')
					p->hl = HL_NAMEWS;
				i++;
				rc = field_append(p, (const char *)&b, 1);
			} else {
				rc = start_body(p);
			}
			break;
		case HL_FIELD:
		case HL_DASH:
			lf = memchr(s + i, '\n', n - i);
			k = lf != NULL ? (size_t)(lf - s) + 1 - i : n - i;
			if ((rc = field_append(p, s + i, k)) != 0)
				break;
			i += k;
			if (lf == NULL)
				break;
			if (p->hl == HL_DASH) {
				rc = header_line_done(p);
			} else {
				p->hl = HL_FRESH;
				p->line_start = p->field.len;
			}
			break;
		}
	}
	*used = i;
	return rc;
}

/* The candidate line in hold ended with an LF (already in hold). */
static int
line_done(struct mime_parser *p)
{
	const char *c = p->hold + p->nbrk;
	size_t brk, n = p->nhold - p->nbrk;
	unsigned level;
	bool close;
	int rc;

	if (match_boundary(p, c, content_len(c, n), &level, &close))
		return handle_boundary(p, level, close,
		    slice_make(p->hold, p->nhold));
	brk = p->nhold >= 2 && p->hold[p->nhold - 2] == '\r' &&
	        p->nhold - 2 >= p->nbrk
	    ? 2
	    : 1;
	if ((rc = emit_body(p, p->hold, p->nhold - brk)) != 0)
		return rc;
	memmove(p->hold, p->hold + p->nhold - brk, brk);
	p->nhold = p->nbrk = brk;
	return 0;
}

static int
body_push(struct mime_parser *p, const char *s, size_t n, size_t *used)
{
	const char *lf;
	size_t i = 0, j, k, cand;
	int rc = 0;

	while (i < n && rc == 0 && p->state != PS_HEADER) {
		switch (p->state) {
		case PS_FREE:
			rc = emit_body(p, s + i, n - i);
			i = n;
			break;
		case PS_BODY:
			lf = memchr(s + i, '\n', n - i);
			if (lf == NULL) {
				k = s[n - 1] == '\r' ? n - 1 : n;
				rc = emit_body(p, s + i, k - i);
				if (k < n) {
					p->hold[0] = '\r';
					p->nhold = p->nbrk = 1;
					p->state = PS_BODY_CR;
				}
				i = n;
				break;
			}
			j = (size_t)(lf - s);
			k = j > i && s[j - 1] == '\r' ? j - 1 : j;
			if ((rc = emit_body(p, s + i, k - i)) != 0)
				break;
			memcpy(p->hold, s + k, j + 1 - k);
			p->nhold = p->nbrk = j + 1 - k;
			p->state = PS_LINE;
			i = j + 1;
			break;
		case PS_BODY_CR:
			if (s[i] == '\n') {
				p->hold[p->nhold++] = '\n';
				p->nbrk = p->nhold;
				p->state = PS_LINE;
				i++;
			} else {
				rc = emit_body(p, p->hold, p->nhold);
				p->nhold = p->nbrk = 0;
				p->state = PS_BODY;
			}
			break;
		case PS_LINE:
			cand = p->nhold - p->nbrk;
			if (s[i] == '\n') {
				p->hold[p->nhold++] = '\n';
				i++;
				rc = line_done(p);
			} else if (cand < 2 ? s[i] != '-'
			                    : p->nhold == HOLD_MAX) {
				rc = emit_body(p, p->hold, p->nhold);
				p->nhold = p->nbrk = 0;
				p->state = PS_BODY;
			} else {
				p->hold[p->nhold++] = s[i++];
			}
			break;
		case PS_HEADER:
		case PS_DONE:
			break;
		}
	}
	*used = i;
	return rc;
}

static int
run(struct mime_parser *p, const char *s, size_t n)
{
	size_t used;
	int rc;

	while (n > 0) {
		used = 0;
		if (p->state == PS_DONE)
			return err_set(p->err, ERR_INTERNAL,
			    "push after finish");
		if (p->state == PS_HEADER)
			rc = header_push(p, s, n, &used);
		else
			rc = body_push(p, s, n, &used);
		if (rc != 0)
			return rc;
		s += used;
		n -= used;
	}
	return 0;
}

struct mime_parser *
mime_parser_new(mime_event_fn *fn, void *ctx)
{
	struct mime_parser *p = xcalloc(1, sizeof(*p));

	p->fn = fn;
	p->ctx = ctx;
	buf_init(&p->field, MIME_FIELD_MAX);
	return p;
}

static int
ensure_begun(struct mime_parser *p)
{
	if (p->begun)
		return 0;
	p->begun = true;
	return begin_part(p, 0, false);
}

int
mime_parser_push(struct mime_parser *p, struct slice in, size_t *used_out,
    struct err *err)
{
	int rc;

	*used_out = 0;
	if (p->rc != 0)
		return p->rc;
	p->err = err;
	if ((rc = ensure_begun(p)) == 0)
		rc = run(p, in.p, in.len);
	p->err = NULL;
	if (rc != 0)
		return p->rc = rc;
	*used_out = in.len;
	return 0;
}

/* One step of end-of-input handling; *done_out once only closing is left. */
static int
finish_step(struct mime_parser *p, bool *done_out)
{
	const char *c = p->hold + p->nbrk;
	size_t n = p->nhold - p->nbrk;
	unsigned level;
	bool close;
	int rc;

	*done_out = false;
	switch (p->state) {
	case PS_HEADER:
		if (p->hl == HL_FIELD) { /* a last field without line break */
			p->hl = HL_FRESH;
			p->line_start = p->field.len;
		}
		if (p->hl == HL_FRESH) {
			if ((rc = flush_field(p)) != 0)
				return rc;
			return header_end(p, slice_make("", 0));
		}
		return header_line_done(p);
	case PS_LINE:
		if (n > 0 &&
		    match_boundary(p, c, content_len(c, n), &level, &close))
			return handle_boundary(p, level, close,
			    slice_make(p->hold, p->nhold));
		/* FALLTHROUGH */
	case PS_BODY_CR:
		rc = emit_body(p, p->hold, p->nhold);
		p->nhold = p->nbrk = 0;
		p->state = PS_BODY;
		return rc;
	case PS_BODY:
	case PS_FREE:
	case PS_DONE:
		break;
	}
	*done_out = true;
	return 0;
}

int
mime_parser_finish(struct mime_parser *p, struct err *err)
{
	bool done = false;
	int rc;

	if (p->rc != 0)
		return p->rc;
	if (p->state == PS_DONE)
		return 0;
	p->err = err;
	rc = ensure_begun(p);
	while (rc == 0 && !done)
		rc = finish_step(p, &done);
	for (; rc == 0; p->depth--) {
		rc = emit(p, MIME_EV_PART_END, p->depth, slice_make("", 0));
		if (p->depth == 0)
			break;
	}
	p->err = NULL;
	if (rc != 0)
		return p->rc = rc;
	p->state = PS_DONE;
	return 0;
}

void
mime_parser_free(struct mime_parser **pp)
{
	if (*pp == NULL)
		return;
	buf_clear(&(*pp)->field);
	free(*pp);
	*pp = NULL;
}
