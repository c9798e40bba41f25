/* SPDX-License-Identifier: MIT */
/* FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3501 §6.4.5), with BINARY
 * (RFC 3516), CONDSTORE/QRESYNC (RFC 7162: MODSEQ, CHANGEDSINCE,
 * VANISHED) and PREVIEW (RFC 8970). Bodies stream from the store. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/fetch_int.h"
#include "imap/imap_int.h"
#include "imap/limits.h"
#include "lib/codec.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "mime/imapdata.h"
#include "mime/parser.h"

#include "lib/banned.h"

/* Bytes read from the store at a time while streaming a literal. */
#define FETCH_CHUNK (64 * 1024)
/* The top-level header block is at most 1 MiB + 2 (store.h). */
#define FETCH_HDR_MAX (1024 * 1024 + 2)
/* One response line outside literals (BODYSTRUCTURE of 10 000 parts
 * fits). */
#define FETCH_LINE_MAX (16 * 1024 * 1024)
/* PREVIEW: characters kept (RFC 8970 §3.1) and raw bytes looked at. */
#define PREVIEW_CHARS FETCH_PREVIEW_CHARS
#define PREVIEW_RAW   (16 * 1024)

/* --- request parsing ------------------------------------------------- */

static bool
word_eq(struct slice s, const char *w)
{
	return slice_eq_ci(s, slice_cstr(w));
}

static const char *
label_make(struct arena *a, const char *name, struct slice inner, bool br)
{
	size_t nl = strlen(name), len = nl + (br ? inner.len + 2 : 0);
	char *p = arena_alloc(a, len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, name, nl);
	if (br) {
		p[nl] = '[';
		memcpy(p + nl + 1, inner.p, inner.len);
		p[nl + 1 + inner.len] = ']';
	}
	p[len] = '\0';
	return p;
}

/* HEADER.FIELDS list: "(" name *(SP name) ")", names atoms or quoted. */
static bool
parse_fields(struct arena *a, struct slice t, struct fetch_item *it)
{
	size_t i = 0, cap = 8;
	struct slice *v;

	if (t.len < 3 || t.p[0] != '(' || t.p[t.len - 1] != ')')
		return false;
	t = slice_make(t.p + 1, t.len - 2);
	v = arena_alloc(a, cap * sizeof(*v));
	if (v == NULL)
		return false;
	it->n_fields = 0;
	while (i < t.len) {
		struct slice name;

		if (t.p[i] == '"') {
			char *o = arena_alloc(a, t.len + 1);
			size_t n = 0;

			if (o == NULL)
				return false;
			for (i++; i < t.len && t.p[i] != '"'; i++) {
				if (t.p[i] == '\\' && i + 1 < t.len)
					i++;
				o[n++] = t.p[i];
			}
			if (i >= t.len)
				return false;
			i++;
			name = slice_make(o, n);
		} else {
			size_t st = i;

			while (i < t.len && t.p[i] != ' ') {
				unsigned char c = (unsigned char)t.p[i];

				if (c <= ' ' || c >= 0x7f || c == ':' ||
				    c == '(' || c == ')' || c == '"' ||
				    c == '{' || c == '\\')
					return false;
				i++;
			}
			name = slice_make(t.p + st, i - st);
		}
		if (name.len == 0)
			return false;
		if (it->n_fields == cap) {
			struct slice *nv = arena_alloc(a, 2 * cap * sizeof(*v));

			if (nv == NULL)
				return false;
			memcpy(nv, v, cap * sizeof(*v));
			v = nv;
			cap *= 2;
		}
		v[it->n_fields++] = name;
		if (i < t.len) {
			if (t.p[i] != ' ' || i + 1 == t.len)
				return false;
			i++;
		}
	}
	it->fields = v;
	return it->n_fields > 0;
}

/* The inside of [...]: section-part, then the text spec. */
static bool
parse_section(struct arena *a, struct slice in, bool binary,
    struct fetch_item *it)
{
	size_t i = 0, part_end = 0;
	struct slice rest;

	while (i < in.len && isdigit((unsigned char)in.p[i])) {
		uint64_t v = 0;
		size_t st = i;

		while (i < in.len && isdigit((unsigned char)in.p[i])) {
			v = v * 10 + (uint64_t)(in.p[i] - '0');
			if (v > UINT32_MAX)
				return false;
			i++;
		}
		if (v == 0 || (in.p[st] == '0'))
			return false;
		part_end = i;
		if (i < in.len && in.p[i] == '.')
			i++;
		else
			break;
	}
	it->part = slice_make(in.p, part_end);
	rest = slice_skip(in, i);
	if (part_end > 0 && i > part_end && rest.len == 0)
		return false; /* "1." */
	if (part_end > 0 && i == part_end && rest.len > 0)
		return false; /* "1X" */
	if (rest.len == 0) {
		it->text = FETCH_TEXT_ALL;
		return true;
	}
	if (binary)
		return false; /* section-binary is only a part number */
	if (word_eq(rest, "HEADER"))
		it->text = FETCH_TEXT_HEADER;
	else if (word_eq(rest, "TEXT"))
		it->text = FETCH_TEXT_TEXT;
	else if (word_eq(rest, "MIME")) {
		if (part_end == 0)
			return false;
		it->text = FETCH_TEXT_MIME;
	} else if (slice_has_prefix_ci(rest, SLICE_LIT("HEADER.FIELDS.NOT "))) {
		it->text = FETCH_TEXT_FIELDS_NOT;
		return parse_fields(a, slice_skip(rest, 18), it);
	} else if (slice_has_prefix_ci(rest, SLICE_LIT("HEADER.FIELDS "))) {
		it->text = FETCH_TEXT_FIELDS;
		return parse_fields(a, slice_skip(rest, 14), it);
	} else
		return false;
	return true;
}

static bool
parse_partial(struct slice t, struct fetch_item *it)
{
	size_t dot;

	if (t.len == 0)
		return true;
	if (t.len < 5 || t.p[0] != '<' || t.p[t.len - 1] != '>')
		return false;
	t = slice_make(t.p + 1, t.len - 2);
	dot = slice_find(t, '.');
	if (dot == SIZE_MAX)
		return false;
	if (num_parse_u64_slice(slice_make(t.p, dot), 0, INT64_MAX,
	        &it->origin) != 0 ||
	    num_parse_u64_slice(slice_skip(t, dot + 1), 1, INT64_MAX,
	        &it->count) != 0)
		return false;
	it->partial = true;
	return true;
}

static struct fetch_item *
spec_add(struct arena *a, struct fetch_spec *sp, size_t *cap)
{
	struct fetch_item *it;

	if (sp->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct fetch_item *nv = arena_alloc(a, nc * sizeof(*nv));

		if (nv == NULL)
			return NULL;
		if (sp->n)
			memcpy(nv, sp->items, sp->n * sizeof(*nv));
		sp->items = nv;
		*cap = nc;
	}
	it = &sp->items[sp->n++];
	memset(it, 0, sizeof(*it));
	return it;
}

static bool
add_simple(struct arena *a, struct fetch_spec *sp, size_t *cap,
    enum fetch_kind k)
{
	struct fetch_item *it = spec_add(a, sp, cap);

	if (it == NULL)
		return false;
	it->kind = k;
	switch (k) {
	case FETCH_FLAGS:
		sp->has_flags = true;
		break;
	case FETCH_UID:
		sp->has_uid = true;
		break;
	case FETCH_MODSEQ:
		sp->has_modseq = true;
		break;
	case FETCH_ENVELOPE:
		sp->need_header = true;
		break;
	case FETCH_BODY:
	case FETCH_BODYSTRUCTURE:
	case FETCH_PREVIEW:
		sp->need_structure = true;
		break;
	default:
		break;
	}
	return true;
}

/* One fetch-att (not a macro). */
static bool
parse_att(struct arena *a, struct slice t, struct fetch_spec *sp, size_t *cap)
{
	static const struct {
		const char *name;
		enum fetch_kind kind;
	} simple[] = {
		{ "FLAGS", FETCH_FLAGS },
		{ "UID", FETCH_UID },
		{ "INTERNALDATE", FETCH_INTERNALDATE },
		{ "RFC822.SIZE", FETCH_RFC822_SIZE },
		{ "ENVELOPE", FETCH_ENVELOPE },
		{ "BODY", FETCH_BODY },
		{ "BODYSTRUCTURE", FETCH_BODYSTRUCTURE },
		{ "MODSEQ", FETCH_MODSEQ },
		{ "PREVIEW", FETCH_PREVIEW },
	};
	size_t br = slice_find(t, '['), close, i;
	struct fetch_item *it;
	struct slice name, inner;
	bool in_q = false;

	if (br == SIZE_MAX) {
		for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
			if (word_eq(t, simple[i].name))
				return add_simple(a, sp, cap, simple[i].kind);
		if (!word_eq(t, "RFC822") && !word_eq(t, "RFC822.HEADER") &&
		    !word_eq(t, "RFC822.TEXT"))
			return false;
		it = spec_add(a, sp, cap);
		if (it == NULL)
			return false;
		it->kind = FETCH_SECTION;
		it->part = slice_make(t.p, 0);
		if (word_eq(t, "RFC822")) {
			it->text = FETCH_TEXT_ALL;
			it->label = "RFC822";
			sp->sets_seen = true;
		} else if (word_eq(t, "RFC822.HEADER")) {
			it->text = FETCH_TEXT_HEADER;
			it->label = "RFC822.HEADER";
			it->peek = true;
			sp->need_header = true;
		} else {
			it->text = FETCH_TEXT_TEXT;
			it->label = "RFC822.TEXT";
			sp->need_header = true;
			sp->sets_seen = true;
		}
		return true;
	}
	/* the matching ']' (field names may be quoted) */
	for (close = br + 1; close < t.len; close++) {
		if (t.p[close] == '"')
			in_q = !in_q;
		else if (in_q && t.p[close] == '\\')
			close++;
		else if (!in_q && t.p[close] == ']')
			break;
	}
	if (close >= t.len)
		return false;
	name = slice_make(t.p, br);
	inner = slice_make(t.p + br + 1, close - br - 1);
	it = spec_add(a, sp, cap);
	if (it == NULL)
		return false;
	it->kind = FETCH_SECTION;
	if (word_eq(name, "BODY") || word_eq(name, "BODY.PEEK")) {
		it->peek = name.len > 4;
		it->label = label_make(a, "BODY", inner, true);
	} else if (word_eq(name, "BINARY") || word_eq(name, "BINARY.PEEK")) {
		it->peek = name.len > 6;
		it->binary = true;
		it->label = label_make(a, "BINARY", inner, true);
	} else if (word_eq(name, "BINARY.SIZE")) {
		it->kind = FETCH_BINARY_SIZE;
		it->binary = true;
		it->peek = true;
		it->label = label_make(a, "BINARY.SIZE", inner, true);
	} else
		return false;
	if (it->label == NULL || !parse_section(a, inner, it->binary, it))
		return false;
	if (!parse_partial(slice_skip(t, close + 1), it))
		return false;
	if (it->kind == FETCH_BINARY_SIZE && it->partial)
		return false;
	if (!it->peek)
		sp->sets_seen = true;
	if (it->part.len > 0)
		sp->need_structure = true;
	else if (it->text != FETCH_TEXT_ALL)
		sp->need_header = true;
	return true;
}

static bool
add_macro(struct arena *a, struct slice t, struct fetch_spec *sp, size_t *cap)
{
	bool full = word_eq(t, "FULL"), all = full || word_eq(t, "ALL");

	if (!all && !word_eq(t, "FAST"))
		return false;
	if (!add_simple(a, sp, cap, FETCH_FLAGS) ||
	    !add_simple(a, sp, cap, FETCH_INTERNALDATE) ||
	    !add_simple(a, sp, cap, FETCH_RFC822_SIZE))
		return false;
	if (all && !add_simple(a, sp, cap, FETCH_ENVELOPE))
		return false;
	if (full && !add_simple(a, sp, cap, FETCH_BODY))
		return false;
	return true;
}

/* PREVIEW's modifiers: "(LAZY)" (RFC 8970 §4). */
static bool
is_preview_mods(const struct imap_arg *l)
{
	const struct imap_arg *x;

	if (l == NULL || l->type != IMAP_ARG_LIST || l->n == 0)
		return false;
	for (x = l->list; x != NULL; x = x->next)
		if (!imap_arg_atom_is(x, "LAZY"))
			return false;
	return true;
}

bool
fetch_spec_parse(struct arena *a, const struct imap_arg *items,
    const struct imap_arg *mods, struct fetch_spec *out, const char **why)
{
	const struct imap_arg *x;
	size_t cap = 0, i;

	memset(out, 0, sizeof(*out));
	*why = "Invalid FETCH item";
	if (items == NULL)
		return false;
	if (items->type == IMAP_ARG_ATOM) {
		if (!add_macro(a, items->str, out, &cap) &&
		    !parse_att(a, items->str, out, &cap))
			return false;
		if (imap_arg_atom_is(items, "PREVIEW") &&
		    is_preview_mods(mods) &&
		    (mods->next == NULL || mods->next->type == IMAP_ARG_LIST))
			mods = mods->next;
	} else if (items->type == IMAP_ARG_LIST) {
		if (items->n == 0)
			return false;
		for (x = items->list; x != NULL; x = x->next) {
			if (x->type == IMAP_ARG_LIST && out->n > 0 &&
			    out->items[out->n - 1].kind == FETCH_PREVIEW &&
			    is_preview_mods(x))
				continue;
			if (x->type != IMAP_ARG_ATOM ||
			    !parse_att(a, x->str, out, &cap))
				return false;
		}
	} else
		return false;
	if (mods != NULL) {
		*why = "Invalid FETCH modifier";
		if (mods->type != IMAP_ARG_LIST || mods->next != NULL)
			return false;
		for (x = mods->list; x != NULL; x = x->next) {
			if (imap_arg_atom_is(x, "CHANGEDSINCE")) {
				x = x->next;
				if (x == NULL || out->changedsince_set ||
				    !imap_arg_number(x, INT64_MAX,
				        &out->changedsince))
					return false;
				out->changedsince_set = true;
			} else if (imap_arg_atom_is(x, "VANISHED")) {
				if (out->vanished)
					return false;
				out->vanished = true;
			} else
				return false;
		}
		if (out->vanished && !out->changedsince_set)
			return false;
	}
	/* CHANGEDSINCE implies MODSEQ in every response (RFC 7162 §3.1.4.1) */
	if (out->changedsince_set && !out->has_modseq &&
	    !add_simple(a, out, &cap, FETCH_MODSEQ))
		return false;
	/* TEXT of the whole message starts where the header block ends */
	for (i = 0; i < out->n; i++)
		if (out->items[i].kind == FETCH_SECTION &&
		    out->items[i].part.len == 0 &&
		    out->items[i].text == FETCH_TEXT_TEXT)
			out->need_header = true;
	return true;
}

/* --- small helpers --------------------------------------------------- */

static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void
fetch_format_date(int64_t t, char *out)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 0)
		memset(&tm, 0, sizeof(tm)), tm.tm_mday = 1, tm.tm_year = 70;
	(void)str_fmt(out, FETCH_DATE_LEN + 1,
	    "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool
digits(const char *p, size_t n, unsigned *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return false;
		*v = *v * 10 + (unsigned)(p[i] - '0');
	}
	return true;
}

bool
fetch_parse_date(struct slice s, int64_t *t_out)
{
	static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31,
		30, 31, 30, 31 };
	unsigned d, mon = 12, y, hh, mm, ss, zh, zm, i;
	const char *p = s.p;
	int64_t t;

	/* "d-Mon-yyyy hh:mm:ss +zzzz" with d one or two characters */
	if (s.len == 25 && p[0] != ' ') {
		if (!digits(p, 1, &d))
			return false;
		p += 1;
	} else if (s.len == 26) {
		if (p[0] == ' ' ? !digits(p + 1, 1, &d) : !digits(p, 2, &d))
			return false;
		p += 2;
	} else
		return false;
	if (p[0] != '-' || p[4] != '-' || p[9] != ' ' || p[12] != ':' ||
	    p[15] != ':' || p[18] != ' ' || (p[19] != '+' && p[19] != '-'))
		return false;
	for (i = 0; i < 12; i++)
		if (slice_eq_ci(slice_make(p + 1, 3), slice_make(months[i], 3)))
			mon = i;
	if (mon == 12 || !digits(p + 5, 4, &y) || !digits(p + 10, 2, &hh) ||
	    !digits(p + 13, 2, &mm) || !digits(p + 16, 2, &ss) ||
	    !digits(p + 20, 2, &zh) || !digits(p + 22, 2, &zm))
		return false;
	if (d < 1 || d > mdays[mon] || hh > 23 || mm > 59 || ss > 60 ||
	    zm > 59 || y < 1900)
		return false;
	t = days_from_civil(y, mon + 1, d) * 86400 + hh * 3600 + mm * 60 + ss;
	t -= (p[19] == '-' ? -1 : 1) * (int64_t)(zh * 3600 + zm * 60);
	*t_out = t;
	return true;
}

void
fetch_partial(uint64_t len, bool partial, uint64_t origin, uint64_t count,
    uint64_t *off_out, uint64_t *n_out)
{
	if (!partial) {
		*off_out = 0;
		*n_out = len;
	} else if (origin >= len) {
		*off_out = len;
		*n_out = 0;
	} else {
		*off_out = origin;
		*n_out = len - origin < count ? len - origin : count;
	}
}

int
fetch_uidset_format(const uint32_t *v, size_t n, struct buf *out)
{
	size_t i = 0, j;
	int rc;

	while (i < n) {
		for (j = i; j + 1 < n && v[j + 1] == v[j] + 1; j++)
			;
		if (j == i)
			rc = buf_printf(out, "%s%u", out->len && i ? "," : "",
			    v[i]);
		else
			rc = buf_printf(out, "%s%u:%u",
			    out->len && i ? "," : "", v[i], v[j]);
		if (rc != 0)
			return rc;
		i = j + 1;
	}
	return 0;
}

void
fetch_uidset_build(struct arena *a, const uint32_t *v, size_t n,
    struct seqset *out)
{
	size_t i = 0, k = 0;

	memset(out, 0, sizeof(*out));
	out->r = n ? arena_alloc(a, n * sizeof(*out->r)) : NULL;
	if (out->r == NULL)
		return;
	while (i < n) {
		size_t j = i;

		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		out->r[k].lo = v[i];
		out->r[k].hi = v[j];
		k++;
		i = j + 1;
	}
	out->n = k;
}

bool
fetch_uidset_has(const struct seqset *set, uint32_t v)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->r[mid].hi < v)
			lo = mid + 1;
		else if (set->r[mid].lo > v)
			hi = mid;
		else
			return true;
	}
	return false;
}

/* --- reading message bytes, decoded or not ---------------------------- */

enum dec_kind { DEC_RAW, DEC_B64, DEC_QP };

struct dec_reader {
	struct store_reader *r;
	uint64_t raw_left; /* bytes of the range still to read */
	enum dec_kind kind;
	bool finished;
	struct b64_decoder b64;
	struct qp_decoder qp;
	unsigned char *raw; /* FETCH_CHUNK bytes, for decoding */
};

static int
dec_open(struct store *st, int64_t message_id, uint64_t off, uint64_t len,
    enum dec_kind kind, unsigned char *raw, struct dec_reader *d,
    struct err *err)
{
	int rc;

	memset(d, 0, sizeof(*d));
	d->raw_left = len;
	d->kind = kind;
	d->raw = raw;
	b64_decoder_init(&d->b64);
	qp_decoder_init(&d->qp);
	rc = store_reader_open_message(st, message_id, &d->r, err);
	if (rc != 0)
		return rc;
	if (off > 0 && (rc = store_reader_skip(d->r, off, err)) != 0) {
		store_reader_close(&d->r);
		return rc;
	}
	return 0;
}

static void
dec_close(struct dec_reader *d)
{
	store_reader_close(&d->r);
}

/* Reads into out (room FETCH_CHUNK + 16). *n_out 0 at the end. */
static int
dec_next(struct dec_reader *d, unsigned char *out, size_t *n_out,
    struct err *err)
{
	size_t want, got = 0;
	int rc;

	*n_out = 0;
	while (*n_out == 0) {
		if (d->raw_left == 0) {
			if (d->finished)
				return 0;
			d->finished = true;
			if (d->kind == DEC_B64)
				*n_out = b64_decode_finish(&d->b64, out);
			else if (d->kind == DEC_QP)
				*n_out = qp_decode_finish(&d->qp, out);
			return 0;
		}
		want = d->raw_left < FETCH_CHUNK - 16 ? (size_t)d->raw_left
		                                      : FETCH_CHUNK - 16;
		rc = store_reader_read(d->r, d->kind == DEC_RAW ? out : d->raw,
		    want, &got, err);
		if (rc != 0)
			return rc;
		if (got == 0)
			return err_set(err, ERR_TEMP,
			    "message shorter than "
			    "its recorded size");
		d->raw_left -= got;
		if (d->kind == DEC_RAW)
			*n_out = got;
		else if (d->kind == DEC_B64)
			*n_out = b64_decode(&d->b64, d->raw, got, out);
		else
			*n_out = qp_decode(&d->qp, d->raw, got, out);
	}
	return 0;
}

/* --- the command state ------------------------------------------------ */

struct fetch_cmd {
	struct fetch_cmd *next; /* in the list of running FETCHes */
	struct imap_session *s;
	bool uid_cmd;
	struct fetch_spec spec;
	uint32_t *idx; /* view indices to answer, ascending */
	size_t n, i;
	struct seqset seen; /* UIDs this FETCH set \Seen on */

	/* the current message */
	bool in_msg;
	size_t item;
	bool any_item;
	char *hdr; /* FETCH_HDR_MAX, when needed */
	size_t hdr_len;
	struct mime_structure *ms;

	/* the current streamed literal */
	bool streaming;
	struct dec_reader d;
	uint64_t skip, left;

	struct buf line; /* response text not yet written */
	struct buf tmp;
	unsigned char *raw, *out;

	bool in_run, resumed;
	int failed; /* messages that could not be read */
	bool unknown_cte;
};

/* The resume callback of imap_cmd_wait_drain only gets the session: the
 * running FETCH is found here (loop thread only, one per session). */
static struct fetch_cmd *fetch_running;

static struct fetch_cmd *
fetch_find(struct imap_session *s)
{
	struct fetch_cmd *f;

	for (f = fetch_running; f != NULL; f = f->next)
		if (f->s == s)
			return f;
	return NULL;
}

static void
fetch_free(struct fetch_cmd *f)
{
	struct fetch_cmd **pp;

	for (pp = &fetch_running; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	if (f->streaming)
		dec_close(&f->d);
	mime_structure_free(&f->ms);
	buf_clear(&f->line);
	buf_clear(&f->tmp);
	xfree(&f->hdr);
	xfree(&f->raw);
	xfree(&f->out);
	xfree(&f);
}

static void
line_flush(struct fetch_cmd *f)
{
	if (f->line.len > 0) {
		imap_write(f->s, f->line.p, f->line.len);
		buf_reset(&f->line);
	}
}

static void
item_sep(struct fetch_cmd *f)
{
	if (f->any_item)
		(void)buf_append(&f->line, " ", 1);
	f->any_item = true;
}

/* --- per message ------------------------------------------------------ */

static const struct mime_part *
part_at(const struct fetch_cmd *f, uint32_t i)
{
	size_t n;
	const struct mime_part *p = mime_structure_parts(f->ms, &n);

	return i < n ? &p[i] : NULL;
}

static uint32_t
part_find(const struct fetch_cmd *f, struct slice part)
{
	if (f->ms == NULL)
		return MIME_PART_NONE;
	return mime_structure_find(f->ms, part);
}

static enum dec_kind
part_dec(const struct mime_part *p)
{
	if (p->is_multipart || p->is_message)
		return DEC_RAW;
	if (p->cte == MIME_CTE_BASE64)
		return DEC_B64;
	if (p->cte == MIME_CTE_QP)
		return DEC_QP;
	return DEC_RAW;
}

static int
build_structure(struct fetch_cmd *f, const struct imap_msg *m, struct err *err)
{
	struct store_reader *r = NULL;
	size_t got;
	int rc;

	f->ms = mime_structure_new();
	if ((rc = store_reader_open_message(f->s->st, m->message_id, &r,
	         err)) != 0)
		return rc;
	for (;;) {
		rc = store_reader_read(r, f->raw, FETCH_CHUNK, &got, err);
		if (rc != 0 || got == 0)
			break;
		rc = mime_structure_push(f->ms, f->raw, got, err);
		if (rc != 0)
			break;
	}
	store_reader_close(&r);
	if (rc == 0)
		rc = mime_structure_finish(f->ms, err);
	return rc;
}

enum { MSG_OK, MSG_SKIP, MSG_UNKNOWN_CTE };

/* Reads what the message's items need before anything of its response
 * is written, so that a message that vanished is left out whole. */
static int
msg_prepare(struct fetch_cmd *f, const struct imap_msg *m)
{
	struct err err = { 0 };
	size_t i;
	int rc;

	mime_structure_free(&f->ms);
	f->hdr_len = 0;
	if (f->spec.need_header) {
		rc = store_msg_header_block(f->s->st, m->message_id, f->hdr,
		    FETCH_HDR_MAX, &f->hdr_len, &err);
		if (rc != 0)
			goto fail;
	}
	if (f->spec.need_structure && (rc = build_structure(f, m, &err)) != 0) {
		mime_structure_free(&f->ms);
		if (rc != ERR_LIMIT && rc != ERR_INPUT)
			goto fail;
		/* a message past the MIME limits: no structure, the
		 * items that need one answer NIL */
	}
	for (i = 0; i < f->spec.n; i++) {
		const struct fetch_item *it = &f->spec.items[i];
		const struct mime_part *p;

		if (!it->binary || it->part.len == 0)
			continue;
		p = part_at(f, part_find(f, it->part));
		if (p != NULL && !p->is_multipart && !p->is_message &&
		    p->cte == MIME_CTE_OTHER)
			return MSG_UNKNOWN_CTE;
	}
	return MSG_OK;
fail:
	if (rc != ERR_NOTFOUND) {
		log_warn(&f->s->log, "event=fetch_read uid=%u error=%s", m->uid,
		    err.msg);
		f->failed++;
	}
	return MSG_SKIP;
}

static void
write_flags(struct fetch_cmd *f, const struct imap_msg *m)
{
	item_sep(f);
	(void)buf_append(&f->line, "FLAGS ", 6);
	imap_msg_flags(f->s->view, m, &f->line);
}

static void
write_modseq(struct fetch_cmd *f, const struct imap_msg *m)
{
	item_sep(f);
	(void)buf_printf(&f->line, "MODSEQ (%llu)",
	    (unsigned long long)m->modseq);
}

/* A string value from memory: "" when empty, else a literal. */
static void
write_mem(struct fetch_cmd *f, const char *p, size_t n)
{
	if (n == 0) {
		(void)buf_append(&f->line, "\"\"", 2);
		return;
	}
	line_flush(f);
	imap_write_literal_header(f->s, n, false);
	imap_write(f->s, p, n);
}

static void
write_nil(struct fetch_cmd *f)
{
	(void)buf_append(&f->line, "NIL", 3);
}

/* Counts the decoded bytes of a range; *nul_out: a NUL among them. */
static int
dec_count(struct fetch_cmd *f, const struct imap_msg *m, uint64_t off,
    uint64_t len, enum dec_kind kind, uint64_t *n_out, bool *nul_out,
    struct err *err)
{
	struct dec_reader d;
	size_t n;
	int rc;

	*n_out = 0;
	*nul_out = false;
	if ((rc = dec_open(f->s->st, m->message_id, off, len, kind, f->raw, &d,
	         err)) != 0)
		return rc;
	do {
		rc = dec_next(&d, f->out, &n, err);
		if (rc != 0)
			break;
		*n_out += n;
		if (!*nul_out && memchr(f->out, 0, n) != NULL)
			*nul_out = true;
	} while (n > 0 || !d.finished);
	dec_close(&d);
	return rc;
}

/* Starts streaming n bytes (after skipping `skip` decoded bytes) of the
 * range [off, off + len) of the message as a literal. */
static void
stream_start(struct fetch_cmd *f, const struct imap_msg *m, uint64_t off,
    uint64_t len, enum dec_kind kind, uint64_t skip, uint64_t n, bool binary)
{
	struct err err = { 0 };

	if (n == 0) {
		(void)buf_append(&f->line, "\"\"", 2);
		return;
	}
	line_flush(f);
	imap_write_literal_header(f->s, n, binary);
	f->left = n;
	f->skip = skip;
	f->streaming = true;
	if (dec_open(f->s->st, m->message_id, off, len, kind, f->raw, &f->d,
	        &err) != 0) {
		log_warn(&f->s->log, "event=fetch_read uid=%u error=%s", m->uid,
		    err.msg);
		f->failed++;
		f->d.r = NULL;
		f->d.finished = true;
		f->d.raw_left = 0;
	}
}

enum { STEP_DONE, STEP_WAIT };

/* Writes the current literal until done or the output queue is full.
 * A read failure pads the literal (the size is promised) and counts. */
static int
stream_step(struct fetch_cmd *f)
{
	struct err err = { 0 };
	size_t n;

	while (f->left > 0) {
		if (imap_session_gone(f->s))
			break;
		if (imap_out_pending(f->s) > IMAP_OUT_HIGH)
			return STEP_WAIT;
		n = 0;
		if (f->d.r != NULL && dec_next(&f->d, f->out, &n, &err) != 0) {
			log_warn(&f->s->log, "event=fetch_read error=%s",
			    err.msg);
			f->failed++;
			dec_close(&f->d);
			n = 0;
		}
		if (n == 0 && (f->d.r == NULL || f->d.finished)) {
			/* short: pad with spaces */
			char sp[256];
			size_t k =
			    f->left < sizeof(sp) ? (size_t)f->left : sizeof(sp);

			memset(sp, ' ', k);
			imap_write(f->s, sp, k);
			f->left -= k;
			if (f->d.r != NULL) {
				dec_close(&f->d);
				f->failed++;
			}
			continue;
		}
		if (f->skip > 0) {
			size_t k = f->skip < n ? (size_t)f->skip : n;

			f->skip -= k;
			memmove(f->out, f->out + k, n - k);
			n -= k;
		}
		if (n > f->left)
			n = (size_t)f->left;
		imap_write(f->s, f->out, n);
		f->left -= n;
	}
	dec_close(&f->d);
	f->streaming = false;
	return STEP_DONE;
}

/* Where a BODY-type section's bytes are: a range of the message, or
 * bytes in f->tmp (mem). false: the part does not exist (NIL). */
struct src {
	bool mem;
	uint64_t off, len;
	enum dec_kind kind;
};

static int
read_range(struct fetch_cmd *f, const struct imap_msg *m, uint64_t off,
    uint64_t len, struct buf *out, struct err *err)
{
	struct dec_reader d;
	size_t n;
	int rc;

	if (len > FETCH_HDR_MAX)
		len = FETCH_HDR_MAX;
	if ((rc = dec_open(f->s->st, m->message_id, off, len, DEC_RAW, f->raw,
	         &d, err)) != 0)
		return rc;
	do {
		rc = dec_next(&d, f->out, &n, err);
		if (rc == 0 && n > 0)
			rc = buf_append(out, f->out, n);
	} while (rc == 0 && (n > 0 || !d.finished));
	dec_close(&d);
	return rc;
}

static bool
section_src(struct fetch_cmd *f, const struct imap_msg *m,
    const struct fetch_item *it, struct src *s)
{
	const struct mime_part *p, *q;
	struct err err = { 0 };
	struct slice hdr;

	memset(s, 0, sizeof(*s));
	buf_reset(&f->tmp);
	if (it->part.len == 0) {
		switch (it->text) {
		case FETCH_TEXT_ALL:
			s->len = m->size;
			return true;
		case FETCH_TEXT_TEXT:
			s->off = f->hdr_len;
			s->len =
			    m->size > f->hdr_len ? m->size - f->hdr_len : 0;
			return true;
		case FETCH_TEXT_HEADER:
			s->mem = true;
			return buf_append(&f->tmp, f->hdr, f->hdr_len) == 0;
		case FETCH_TEXT_FIELDS:
		case FETCH_TEXT_FIELDS_NOT:
			s->mem = true;
			return mime_header_filter(slice_make(f->hdr,
			                              f->hdr_len),
			           it->fields, it->n_fields,
			           it->text == FETCH_TEXT_FIELDS_NOT,
			           &f->tmp) == 0;
		case FETCH_TEXT_MIME:
			return false;
		}
		return false;
	}
	p = part_at(f, part_find(f, it->part));
	if (p == NULL)
		return false;
	if (it->binary) {
		s->off = p->body_off;
		s->len = p->end_off - p->body_off;
		s->kind = part_dec(p);
		return true;
	}
	switch (it->text) {
	case FETCH_TEXT_ALL:
		s->off = p->body_off;
		s->len = p->end_off - p->body_off;
		return true;
	case FETCH_TEXT_MIME:
		s->off = p->hdr_off;
		s->len = p->body_off - p->hdr_off;
		return true;
	default:
		break;
	}
	if (!p->is_message || (q = part_at(f, p->first_child)) == NULL)
		return false;
	if (it->text == FETCH_TEXT_TEXT) {
		s->off = q->body_off;
		s->len = q->end_off - q->body_off;
		return true;
	}
	if (it->text == FETCH_TEXT_HEADER) {
		s->off = q->hdr_off;
		s->len = q->body_off - q->hdr_off;
		return true;
	}
	/* HEADER.FIELDS of an embedded message: its header, filtered */
	{
		struct buf h;
		int rc;

		buf_init(&h, FETCH_HDR_MAX);
		rc = read_range(f, m, q->hdr_off, q->body_off - q->hdr_off, &h,
		    &err);
		hdr = buf_slice(&h);
		if (rc == 0)
			rc = mime_header_filter(hdr, it->fields, it->n_fields,
			    it->text == FETCH_TEXT_FIELDS_NOT, &f->tmp);
		buf_clear(&h);
		if (rc != 0)
			return false;
		s->mem = true;
		return true;
	}
}

/* --- PREVIEW (RFC 8970) ----------------------------------------------- */

void
fetch_html_strip(struct buf *b)
{
	size_t i, o = 0;
	bool tag = false, skip = false;

	for (i = 0; i < b->len; i++) {
		char c = b->p[i];

		if (tag) {
			if (c == '>')
				tag = false;
			continue;
		}
		if (c == '<') {
			struct slice rest =
			    slice_make(b->p + i + 1, b->len - i - 1);

			if (slice_has_prefix_ci(rest, SLICE_LIT("style")) ||
			    slice_has_prefix_ci(rest, SLICE_LIT("script")) ||
			    slice_has_prefix_ci(rest, SLICE_LIT("head")))
				skip = true;
			else if (slice_has_prefix_ci(rest,
			             SLICE_LIT("/style")) ||
			    slice_has_prefix_ci(rest, SLICE_LIT("/script")) ||
			    slice_has_prefix_ci(rest, SLICE_LIT("/head")))
				skip = false;
			tag = true;
			b->p[o++] = ' ';
			continue;
		}
		if (skip)
			continue;
		if (c == '&') {
			static const struct {
				const char *ent;
				char c;
			} ents[] = { { "&nbsp;", ' ' }, { "&amp;", '&' },
				{ "&lt;", '<' }, { "&gt;", '>' },
				{ "&quot;", '"' }, { "&#39;", '\'' } };
			size_t k;
			bool done = false;

			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				size_t el = strlen(ents[k].ent);

				if (b->len - i >= el &&
				    slice_eq_ci(slice_make(b->p + i, el),
				        slice_cstr(ents[k].ent))) {
					b->p[o++] = ents[k].c;
					i += el - 1;
					done = true;
					break;
				}
			}
			if (done)
				continue;
		}
		b->p[o++] = c;
	}
	b->len = o;
	if (b->p != NULL)
		b->p[o] = '\0';
}

/* Collapses whitespace and cuts at PREVIEW_CHARS characters (UTF-8),
 * in place. */
void
fetch_preview_tidy(struct buf *b)
{
	size_t i, o = 0, chars = 0;
	bool space = true, pending = false;

	for (i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->p[i];

		if (c <= ' ' || c == 0x7f) {
			if (!space)
				pending = true;
			space = true;
			continue;
		}
		if ((c & 0xc0) != 0x80) { /* a character starts */
			if (pending) {
				/* a space only before another character */
				if (chars + 2 > PREVIEW_CHARS)
					break;
				b->p[o++] = ' ';
				chars++;
				pending = false;
			}
			if (chars == PREVIEW_CHARS)
				break;
			chars++;
		}
		space = false;
		b->p[o++] = (char)c;
	}
	b->len = o;
	if (b->p != NULL)
		b->p[o] = '\0';
}

static void
preview_compute(struct fetch_cmd *f, const struct imap_msg *m)
{
	const struct mime_part *parts, *p, *pick = NULL;
	struct mime_content_type ct, pick_ct = { 0 };
	bool pick_html = false;
	struct err err = { 0 };
	struct buf h, raw, dec;
	size_t n, i;

	buf_reset(&f->tmp);
	if (f->ms == NULL)
		return;
	parts = mime_structure_parts(f->ms, &n);
	buf_init(&h, FETCH_HDR_MAX);
	buf_init(&raw, PREVIEW_RAW + 16);
	buf_init(&dec, 4 * PREVIEW_RAW + 64);
	for (i = 0; i < n; i++) {
		bool html;

		p = &parts[i];
		if (p->is_multipart || p->is_message)
			continue;
		buf_reset(&h);
		if (read_range(f, m, p->hdr_off, p->body_off - p->hdr_off, &h,
		        &err) != 0)
			break;
		memset(&ct, 0, sizeof(ct));
		{
			struct buf v;

			buf_init(&v, FETCH_HDR_MAX);
			if (mime_header_get(buf_slice(&h), "Content-Type", &v))
				(void)mime_content_type_parse(buf_slice(&v),
				    &ct);
			else {
				(void)str_copy(ct.type, sizeof(ct.type),
				    "text");
				(void)str_copy(ct.subtype, sizeof(ct.subtype),
				    "plain");
			}
			if (mime_header_get(buf_slice(&h),
			        "Content-Disposition", &v) &&
			    slice_has_prefix_ci(slice_trim(buf_slice(&v)),
			        SLICE_LIT("attachment"))) {
				buf_clear(&v);
				continue;
			}
			buf_clear(&v);
		}
		if (strcmp(ct.type, "text") != 0)
			continue;
		html = strcmp(ct.subtype, "html") == 0;
		if (!html && strcmp(ct.subtype, "plain") != 0)
			continue;
		if (pick == NULL || (pick_html && !html)) {
			pick = p;
			pick_ct = ct;
			pick_html = html;
		}
		if (!html)
			break;
	}
	buf_clear(&h);
	if (pick != NULL) {
		struct dec_reader d;
		uint64_t len = pick->end_off - pick->body_off;

		if (len > PREVIEW_RAW)
			len = PREVIEW_RAW;
		if (dec_open(f->s->st, m->message_id, pick->body_off, len,
		        part_dec(pick), f->raw, &d, &err) == 0) {
			int rc;

			do {
				rc = dec_next(&d, f->out, &n, &err);
				if (rc == 0 && n > 0)
					rc = buf_append(&raw, f->out, n);
			} while (rc == 0 && (n > 0 || !d.finished));
			dec_close(&d);
			(void)mime_charset_to_utf8(pick_ct.charset,
			    buf_slice(&raw), &dec);
			if (pick_html)
				fetch_html_strip(&dec);
			fetch_preview_tidy(&dec);
			(void)buf_append(&f->tmp, dec.p, dec.len);
		}
	}
	buf_clear(&raw);
	buf_clear(&dec);
}

/* --- items ------------------------------------------------------------ */

static void
emit_item(struct fetch_cmd *f, const struct imap_msg *m,
    const struct fetch_item *it)
{
	char date[FETCH_DATE_LEN + 1];
	struct err err = { 0 };
	struct src src;
	uint64_t off, n, total;
	bool nul;

	switch (it->kind) {
	case FETCH_UID:
		return; /* written first */
	case FETCH_FLAGS:
		write_flags(f, m);
		/* under CONDSTORE, FLAGS go with their MODSEQ (as Dovecot
		 * does; RFC 7162 §3.1) */
		if (!f->spec.has_modseq &&
		    (f->s->enabled & IMAP_ENABLED_CONDSTORE))
			write_modseq(f, m);
		return;
	case FETCH_MODSEQ:
		write_modseq(f, m);
		return;
	case FETCH_INTERNALDATE:
		fetch_format_date(m->internaldate, date);
		item_sep(f);
		(void)buf_printf(&f->line, "INTERNALDATE \"%s\"", date);
		return;
	case FETCH_RFC822_SIZE:
		item_sep(f);
		(void)buf_printf(&f->line, "RFC822.SIZE %llu",
		    (unsigned long long)m->size);
		return;
	case FETCH_ENVELOPE:
		item_sep(f);
		(void)buf_append(&f->line, "ENVELOPE ", 9);
		if (mime_envelope(slice_make(f->hdr, f->hdr_len), &f->line) !=
		    0)
			write_nil(f);
		return;
	case FETCH_BODY:
	case FETCH_BODYSTRUCTURE:
		item_sep(f);
		(void)buf_append(&f->line,
		    it->kind == FETCH_BODY ? "BODY " : "BODYSTRUCTURE ",
		    it->kind == FETCH_BODY ? 5 : 14);
		if (f->ms == NULL ||
		    mime_bodystructure(f->ms, 0,
		        it->kind == FETCH_BODYSTRUCTURE, &f->line) != 0)
			write_nil(f);
		return;
	case FETCH_PREVIEW:
		item_sep(f);
		(void)buf_append(&f->line, "PREVIEW ", 8);
		preview_compute(f, m);
		line_flush(f);
		imap_write_nstring(f->s,
		    f->tmp.p != NULL ? buf_slice(&f->tmp) : SLICE_LIT(""));
		return;
	case FETCH_BINARY_SIZE:
	case FETCH_SECTION:
		break;
	}
	item_sep(f);
	if (!section_src(f, m, it, &src)) {
		if (it->kind == FETCH_BINARY_SIZE)
			(void)buf_printf(&f->line, "%s 0", it->label);
		else {
			(void)buf_printf(&f->line, "%s ", it->label);
			write_nil(f);
		}
		return;
	}
	if (it->binary) {
		if (dec_count(f, m, src.off, src.len, src.kind, &total, &nul,
		        &err) != 0) {
			log_warn(&f->s->log, "event=fetch_read uid=%u error=%s",
			    m->uid, err.msg);
			f->failed++;
			if (it->kind == FETCH_BINARY_SIZE)
				(void)buf_printf(&f->line, "%s 0", it->label);
			else
				(void)buf_printf(&f->line, "%s NIL", it->label);
			return;
		}
		if (it->kind == FETCH_BINARY_SIZE) {
			(void)buf_printf(&f->line, "%s %llu", it->label,
			    (unsigned long long)total);
			return;
		}
		fetch_partial(total, it->partial, it->origin, it->count, &off,
		    &n);
		if (it->partial)
			(void)buf_printf(&f->line, "%s<%llu> ", it->label,
			    (unsigned long long)it->origin);
		else
			(void)buf_printf(&f->line, "%s ", it->label);
		stream_start(f, m, src.off, src.len, src.kind, off, n, nul);
		return;
	}
	if (src.mem)
		fetch_partial(f->tmp.len, it->partial, it->origin, it->count,
		    &off, &n);
	else
		fetch_partial(src.len, it->partial, it->origin, it->count, &off,
		    &n);
	if (it->partial)
		(void)buf_printf(&f->line, "%s<%llu> ", it->label,
		    (unsigned long long)it->origin);
	else
		(void)buf_printf(&f->line, "%s ", it->label);
	if (src.mem)
		write_mem(f, f->tmp.p + off, (size_t)n);
	else
		stream_start(f, m, src.off + off, n, DEC_RAW, 0, n, false);
}

static void
msg_begin(struct fetch_cmd *f, const struct imap_msg *m, uint32_t seq)
{
	buf_reset(&f->line);
	(void)buf_printf(&f->line, "* %u FETCH (", seq);
	f->any_item = false;
	f->in_msg = true;
	f->item = 0;
	if (f->uid_cmd || f->spec.has_uid) {
		item_sep(f);
		(void)buf_printf(&f->line, "UID %u", m->uid);
	}
}

static void
msg_end(struct fetch_cmd *f, const struct imap_msg *m)
{
	if (f->seen.n > 0 && fetch_uidset_has(&f->seen, m->uid)) {
		/* \Seen set by this FETCH: its FLAGS are part of the answer
		 * (RFC 9051 §6.4.5), MODSEQ too under CONDSTORE */
		if (!f->spec.has_flags)
			write_flags(f, m);
		if (!f->spec.has_modseq &&
		    (f->s->enabled & IMAP_ENABLED_CONDSTORE))
			write_modseq(f, m);
	}
	(void)buf_append(&f->line, ")\r\n", 3);
	line_flush(f);
	f->in_msg = false;
	mime_structure_free(&f->ms);
}

/* --- the run loop ----------------------------------------------------- */

static void fetch_run(struct fetch_cmd *f);

static void
fetch_resume(struct imap_session *s)
{
	struct fetch_cmd *f = fetch_find(s);

	if (f == NULL)
		return;
	if (f->in_run) {
		f->resumed = true; /* wait_drain called us at once */
		return;
	}
	fetch_run(f);
}

static void
fetch_done(struct fetch_cmd *f)
{
	struct imap_session *s = f->s;
	int failed = f->failed;
	bool unknown = f->unknown_cte, uid = f->uid_cmd;

	fetch_free(f);
	if (unknown)
		imap_cmd_finish(s, "NO",
		    "[UNKNOWN-CTE] Can't decode a part's "
		    "Content-Transfer-Encoding");
	else if (failed > 0)
		imap_cmd_finish(s, "NO",
		    "[UNAVAILABLE] Some messages could "
		    "not be read");
	else
		imap_cmd_finish(s, "OK", "%s completed",
		    uid ? "UID FETCH" : "FETCH");
}

static void
fetch_run(struct fetch_cmd *f)
{
	struct imap_session *s = f->s;
	struct imap_view *v = s->view;
	const struct imap_msg *m;

	f->in_run = true;
	for (;;) {
		if (imap_session_gone(s)) {
			fetch_done(f);
			return;
		}
		if (f->streaming) {
			if (stream_step(f) == STEP_WAIT)
				goto wait;
			continue;
		}
		if (!f->in_msg) {
			int rc;

			if (f->i == f->n) {
				fetch_done(f);
				return;
			}
			if (imap_out_pending(s) > IMAP_OUT_HIGH)
				goto wait;
			m = &v->msgs[f->idx[f->i]];
			if (f->spec.changedsince_set &&
			    m->modseq <= f->spec.changedsince) {
				f->i++;
				continue;
			}
			rc = msg_prepare(f, m);
			if (rc == MSG_SKIP) {
				f->i++;
				continue;
			}
			if (rc == MSG_UNKNOWN_CTE) {
				f->unknown_cte = true;
				fetch_done(f);
				return;
			}
			msg_begin(f, m, (uint32_t)f->idx[f->i] + 1);
			continue;
		}
		m = &v->msgs[f->idx[f->i]];
		if (f->item == f->spec.n) {
			msg_end(f, m);
			f->i++;
			continue;
		}
		emit_item(f, m, &f->spec.items[f->item++]);
		continue;
	wait:
		f->resumed = false;
		imap_cmd_wait_drain(s, fetch_resume);
		if (f->resumed)
			continue;
		f->in_run = false;
		return;
	}
}

/* --- VANISHED (EARLIER), RFC 7162 §3.2.6 ------------------------------- */

struct vanished_ctx {
	struct imap_view *v;
	struct seqset *set;
	uint32_t *uids;
	size_t n, cap;
};

static void
vanished_cb(void *ctx, uint32_t uid)
{
	struct vanished_ctx *c = ctx;

	if (!fetch_uidset_has(c->set, uid) || imap_view_seq(c->v, uid) != 0)
		return;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->uids = xrealloc(c->uids, c->cap * sizeof(*c->uids));
	}
	c->uids[c->n++] = uid;
}

static bool
send_vanished(struct imap_session *s, struct slice settext, uint64_t since)
{
	struct imap_view *v = s->view;
	struct vanished_ctx c = { 0 };
	struct seqset set = { 0 };
	struct err err = { 0 };
	struct buf out;
	bool complete = true;
	uint32_t top = v->uidnext > 0 ? v->uidnext - 1 : 0;
	size_t i;

	if (v->n > 0 && v->msgs[v->n - 1].uid > top)
		top = v->msgs[v->n - 1].uid;
	if (!seqset_parse(s->cmd_arena, settext, &set) || set.is_saved)
		return set.is_saved; /* "$": no VANISHED, not an error */
	seqset_resolve(&set, top);
	c.v = v;
	c.set = &set;
	if (store_expunged_since(s->st, v->mailbox_id, since, vanished_cb, &c,
	        &complete, &err) != 0) {
		xfree(&c.uids);
		return false;
	}
	buf_init(&out, FETCH_LINE_MAX);
	if (complete) {
		(void)fetch_uidset_format(c.uids, c.n, &out);
	} else {
		/* history pruned: every UID of the set below UIDNEXT that
		 * this view does not hold (RFC 7162 §3.2.6 allows UIDs that
		 * never existed) */
		size_t k = 0;

		for (i = 0; i < set.n; i++) {
			uint64_t lo = set.r[i].lo, hi = set.r[i].hi, u, next;

			if (hi > top)
				hi = top;
			if (lo == 0)
				lo = 1;
			while (k < v->n && v->msgs[k].uid < lo)
				k++;
			for (u = lo; u <= hi;) {
				next = k < v->n && v->msgs[k].uid <= hi
				    ? v->msgs[k].uid
				    : hi + 1;
				if (next > u) {
					(void)buf_printf(&out, "%s%llu",
					    out.len ? "," : "",
					    (unsigned long long)u);
					if (next - 1 > u)
						(void)buf_printf(&out, ":%llu",
						    (unsigned long long)(next -
						        1));
				}
				u = next + 1;
				if (next <= hi)
					k++;
			}
		}
	}
	if (out.len > 0)
		imap_printf(s, "* VANISHED (EARLIER) %s\r\n", out.p);
	buf_clear(&out);
	xfree(&c.uids);
	return true;
}

/* --- the handler ------------------------------------------------------ */

static void
fetch_seen_cb(void *ctx, const struct store_op_result *res)
{
	struct fetch_cmd *f = ctx;

	if (res->status != 0)
		log_warn(&f->s->log, "event=fetch_seen error=%s", res->err.msg);
	/* fold the new flags in without reporting them: this FETCH's own
	 * responses carry them */
	(void)imap_view_sync(f->s, false, &f->seen);
	fetch_run(f);
}

void
cmd_fetch(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *set = cmd->args, *items, *mods;
	struct imap_view *v = s->view;
	struct fetch_cmd *f;
	struct slice settext;
	const char *why;
	uint32_t *idx, *seen;
	size_t n, n_seen = 0, i;

	if (v == NULL) {
		imap_cmd_finish(s, "BAD", "No mailbox selected");
		return;
	}
	if (set == NULL || set->next == NULL ||
	    (set->type != IMAP_ARG_ATOM && set->type != IMAP_ARG_QUOTED)) {
		imap_cmd_finish(s, "BAD", "Missing arguments");
		return;
	}
	settext = set->str;
	items = set->next;
	mods = items->next;
	f = xcalloc(1, sizeof(*f));
	f->s = s;
	f->uid_cmd = cmd->uid;
	if (!fetch_spec_parse(s->cmd_arena, items, mods, &f->spec, &why)) {
		xfree(&f);
		imap_cmd_finish(s, "BAD", "%s", why);
		return;
	}
	if (f->spec.vanished &&
	    (!cmd->uid || !(s->enabled & IMAP_ENABLED_QRESYNC))) {
		xfree(&f);
		imap_cmd_finish(s, "BAD",
		    "VANISHED needs UID FETCH and QRESYNC");
		return;
	}
	if (!imap_view_resolve(s, settext, cmd->uid, &idx, &n)) {
		xfree(&f);
		imap_cmd_finish(s, "BAD", "Invalid sequence set");
		return;
	}
	if (f->spec.has_modseq || f->spec.changedsince_set)
		imap_condstore_enable(s);
	f->idx = idx;
	f->n = n;
	buf_init(&f->line, FETCH_LINE_MAX);
	buf_init(&f->tmp, 4 * FETCH_HDR_MAX);
	f->raw = xmalloc(FETCH_CHUNK + 16);
	f->out = xmalloc(FETCH_CHUNK + 16);
	if (f->spec.need_header)
		f->hdr = xmalloc(FETCH_HDR_MAX + 1);
	f->next = fetch_running;
	fetch_running = f;

	if (f->spec.vanished &&
	    !send_vanished(s, settext, f->spec.changedsince)) {
		fetch_free(f);
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] Can't read expunges");
		return;
	}

	/* non-PEEK body items set \Seen first (RFC 9051 §6.4.5), durably,
	 * so that the FLAGS reported are the stored ones */
	if (f->spec.sets_seen && !v->readonly && n > 0) {
		seen = arena_alloc(s->cmd_arena, n * sizeof(*seen));
		for (i = 0; seen != NULL && i < n; i++) {
			const struct imap_msg *m = &v->msgs[idx[i]];

			if (m->sysflags & IMAP_F_SEEN)
				continue;
			if (f->spec.changedsince_set &&
			    m->modseq <= f->spec.changedsince)
				continue;
			seen[n_seen++] = m->uid;
		}
		if (n_seen > 0) {
			fetch_uidset_build(s->cmd_arena, seen, n_seen,
			    &f->seen);
			if (store_flags_update(s->st, v->mailbox_id, seen,
			        n_seen, STORE_FLAGS_ADD, "\\Seen", 0,
			        fetch_seen_cb, f) == 0)
				return;
			f->seen.n = 0;
		}
	}
	fetch_run(f);
}
