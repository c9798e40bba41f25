/* SPDX-License-Identifier: MIT */
/* The search program of SEARCH, SORT and THREAD (RFC 9051 §6.4.4,
 * RFC 3501 §6.4.4, RFC 7162 §3.1.5 MODSEQ): parsed from the argument
 * tree into a tree of keys and evaluated as bitmaps over the selected
 * view. A node gets the set of candidate messages and yields the subset
 * that matches, so that expensive keys (full text through the store's
 * FTS5 index, then header reads) only see the messages cheaper keys
 * left. Keys of an AND are reordered cheapest first; the result does not
 * depend on the order. */
#include <stdint.h>
#include <string.h>

#include "imap/search_int.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "mime/imapdata.h"

#include "lib/banned.h"

enum sk_type {
	SK_AND,
	SK_OR,
	SK_NOT,
	SK_ALL,
	SK_SET,   /* sequence set or UID set, resolved to indices */
	SK_FLAGS, /* system flags set and unset */
	SK_KEYWORD,
	SK_UNKEYWORD,
	SK_BEFORE,
	SK_ON,
	SK_SINCE,
	SK_SENTBEFORE,
	SK_SENTON,
	SK_SENTSINCE,
	SK_LARGER,
	SK_SMALLER,
	SK_MODSEQ,
	SK_FTS,
	SK_HEADER,
};

/* evaluation cost classes: view only, one FTS query, header reads */
enum { COST_VIEW, COST_FTS, COST_HEADER };

struct sk {
	enum sk_type type;
	int cost;
	struct sk *child, *next; /* AND, OR, NOT */
	uint32_t set, unset;     /* SK_FLAGS */
	int64_t num;             /* day number, size, modseq */
	const uint32_t *idx;     /* SK_SET: ascending view indices */
	size_t n_idx;
	const char *str;  /* keyword, FTS needle, header field name */
	struct slice val; /* HEADER: folded needle */
	size_t *kmp;      /* HEADER: failure table of val */
	enum store_fts_field field;
};

void
search_init(struct search *q, struct imap_session *s)
{
	memset(q, 0, sizeof(*q));
	q->s = s;
	q->v = s->view;
	q->a = s->cmd_arena;
	q->hdr_idx = SIZE_MAX;
	q->nwords = q->v != NULL ? (q->v->n + 63) / 64 : 0;
	if (q->nwords == 0)
		q->nwords = 1;
	buf_init(&q->val, SEARCH_HDR_MAX);
	buf_init(&q->dec, SEARCH_HDR_MAX);
	buf_init(&q->fold, SEARCH_HDR_MAX);
}

void
search_clear(struct search *q)
{
	size_t i;

	for (i = 0; i < sizeof(q->level) / sizeof(q->level[0]); i++) {
		xfree(&q->level[i]);
		xfree(&q->level2[i]);
	}
	xfree(&q->hdr);
	buf_clear(&q->val);
	buf_clear(&q->dec);
	buf_clear(&q->fold);
}

/* --- small helpers ----------------------------------------------------- */

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* RFC 9051 "date": d-Mon-yyyy or dd-Mon-yyyy (quotes already gone). */
static bool
parse_date(struct slice s, int64_t *day_out)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	unsigned d = 0, m, y = 0;
	size_t i = 0, k;

	while (i < s.len && i < 2 && s.p[i] >= '0' && s.p[i] <= '9')
		d = d * 10 + (unsigned)(s.p[i++] - '0');
	if (i == 0 || d < 1 || d > 31 || i + 9 != s.len || s.p[i] != '-' ||
	    s.p[i + 4] != '-')
		return false;
	for (m = 0; m < 12; m++) {
		for (k = 0; k < 3; k++)
			if ((s.p[i + 1 + k] | 0x20) != months[m * 3 + k])
				break;
		if (k == 3)
			break;
	}
	if (m == 12)
		return false;
	for (k = i + 5; k < s.len; k++) {
		if (s.p[k] < '0' || s.p[k] > '9')
			return false;
		y = y * 10 + (unsigned)(s.p[k] - '0');
	}
	*day_out = days_from_civil(y, m + 1, d);
	return true;
}

/* Appends the UTF-8 text in with a simple case fold (ASCII, Latin-1,
 * Latin Extended-A pairs, Greek and Cyrillic capitals) for
 * case-insensitive substring matching; invalid bytes pass through. */
int
search_fold_utf8(struct slice in, struct buf *out)
{
	size_t i = 0;
	unsigned char c;
	uint32_t cp;
	char enc[4];
	size_t n;
	int rc;

	while (i < in.len) {
		c = (unsigned char)in.p[i];
		if (c < 0x80) {
			char l = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);

			if ((rc = buf_append(out, &l, 1)) != 0)
				return rc;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf && i + 1 < in.len &&
		    ((unsigned char)in.p[i + 1] & 0xc0) == 0x80) {
			cp = ((uint32_t)(c & 0x1f) << 6) |
			    ((unsigned char)in.p[i + 1] & 0x3f);
			if ((cp >= 0xc0 && cp <= 0xde && cp != 0xd7) ||
			    (cp >= 0x391 && cp <= 0x3a9) ||
			    (cp >= 0x410 && cp <= 0x42f))
				cp += 0x20;
			else if (cp >= 0x400 && cp <= 0x40f)
				cp += 0x50;
			else if (cp >= 0x100 && cp <= 0x17f && cp % 2 == 0 &&
			    !(cp >= 0x138 && cp <= 0x148))
				cp += 1;
			enc[0] = (char)(0xc0 | (cp >> 6));
			enc[1] = (char)(0x80 | (cp & 0x3f));
			n = 2;
			if ((rc = buf_append(out, enc, n)) != 0)
				return rc;
			i += 2;
			continue;
		}
		if ((rc = buf_append(out, in.p + i, 1)) != 0)
			return rc;
		i++;
	}
	return 0;
}

/* Knuth-Morris-Pratt: linear in haystack + needle, whatever the input. */
static size_t *
kmp_table(struct arena *a, struct slice pat)
{
	size_t *f, i, k = 0;

	f = arena_alloc(a, (pat.len + 1) * sizeof(*f));
	if (f == NULL)
		return NULL;
	f[0] = 0;
	for (i = 1; i < pat.len; i++) {
		while (k > 0 && pat.p[i] != pat.p[k])
			k = f[k - 1];
		if (pat.p[i] == pat.p[k])
			k++;
		f[i] = k;
	}
	return f;
}

static bool
kmp_find(struct slice hay, struct slice pat, const size_t *f)
{
	size_t i, k = 0;

	if (pat.len == 0)
		return true;
	for (i = 0; i < hay.len; i++) {
		while (k > 0 && hay.p[i] != pat.p[k])
			k = f[k - 1];
		if (hay.p[i] == pat.p[k])
			k++;
		if (k == pat.len)
			return true;
	}
	return false;
}

/* --- parsing the search program ----------------------------------------- */

static struct sk *
sk_new(struct search *q, enum sk_type type, int cost)
{
	struct sk *k = arena_calloc(q->a, sizeof(*k));

	if (k == NULL) {
		q->bad = "search program too large";
		return NULL;
	}
	k->type = type;
	k->cost = cost;
	return k;
}

/* An astring argument as a C string in the arena (no NUL inside). */
static const char *
arg_cstr(struct search *q, const struct imap_arg *a, const char *what)
{
	struct slice s;
	char *p;

	if (a == NULL || !imap_arg_string(a, &s) ||
	    memchr(s.p, '\0', s.len) != NULL) {
		q->bad = what;
		return NULL;
	}
	p = arena_strndup(q->a, s.p, s.len);
	if (p == NULL)
		q->bad = "search program too large";
	return p;
}

static bool
is_seqset_atom(const struct imap_arg *a)
{
	char c;

	if (a->type != IMAP_ARG_ATOM || a->str.len == 0)
		return false;
	c = a->str.p[0];
	return (c >= '0' && c <= '9') || c == '*' || c == '$';
}

static const struct {
	const char *name;
	uint32_t set, unset;
} flag_keys[] = {
	{ "ANSWERED", IMAP_F_ANSWERED, 0 },
	{ "DELETED", IMAP_F_DELETED, 0 },
	{ "DRAFT", IMAP_F_DRAFT, 0 },
	{ "FLAGGED", IMAP_F_FLAGGED, 0 },
	{ "SEEN", IMAP_F_SEEN, 0 },
	{ "RECENT", IMAP_F_RECENT, 0 },
	{ "NEW", IMAP_F_RECENT, IMAP_F_SEEN },
	{ "OLD", 0, IMAP_F_RECENT },
	{ "UNANSWERED", 0, IMAP_F_ANSWERED },
	{ "UNDELETED", 0, IMAP_F_DELETED },
	{ "UNDRAFT", 0, IMAP_F_DRAFT },
	{ "UNFLAGGED", 0, IMAP_F_FLAGGED },
	{ "UNSEEN", 0, IMAP_F_SEEN },
};

static const struct {
	const char *name;
	enum store_fts_field field;
} fts_keys[] = {
	{ "FROM", STORE_FTS_FROM },
	{ "TO", STORE_FTS_TO },
	{ "CC", STORE_FTS_CC },
	{ "BCC", STORE_FTS_BCC },
	{ "SUBJECT", STORE_FTS_SUBJECT },
	{ "BODY", STORE_FTS_BODY },
	{ "TEXT", STORE_FTS_TEXT },
};

static const struct {
	const char *name;
	enum sk_type type;
} date_keys[] = {
	{ "BEFORE", SK_BEFORE },
	{ "ON", SK_ON },
	{ "SINCE", SK_SINCE },
	{ "SENTBEFORE", SK_SENTBEFORE },
	{ "SENTON", SK_SENTON },
	{ "SENTSINCE", SK_SENTSINCE },
};

#define NELEM(x) (sizeof(x) / sizeof((x)[0]))

static struct sk *parse_key(struct search *q, const struct imap_arg **ap,
    int depth);

/* Keys of an AND, cheapest first (stable insertion by cost). */
static void
and_add(struct sk *and, struct sk *k)
{
	struct sk **pp = &and->child;

	while (*pp != NULL && (*pp)->cost <= k->cost)
		pp = &(*pp)->next;
	k->next = *pp;
	*pp = k;
	if (k->cost > and->cost)
		and->cost = k->cost;
}

/* All keys from a up to the end of its list, as one AND. */
static struct sk *
parse_and(struct search *q, const struct imap_arg *a, int depth)
{
	struct sk *and, *k;

	if (depth > SEARCH_DEPTH_MAX) {
		q->bad = "search program nested too deeply";
		return NULL;
	}
	if (a == NULL) {
		q->bad = "missing search key";
		return NULL;
	}
	if ((and = sk_new(q, SK_AND, COST_VIEW)) == NULL)
		return NULL;
	while (a != NULL) {
		if ((k = parse_key(q, &a, depth)) == NULL)
			return NULL;
		and_add(and, k);
	}
	return and;
}

static struct sk *
parse_set(struct search *q, const struct imap_arg *a, bool uid)
{
	struct sk *k;
	uint32_t *idx;
	size_t n;

	if (a == NULL || a->type != IMAP_ARG_ATOM) {
		q->bad = "invalid sequence set";
		return NULL;
	}
	if (!imap_view_resolve(q->s, a->str, uid, &idx, &n)) {
		q->bad = "invalid sequence set";
		return NULL;
	}
	if ((k = sk_new(q, SK_SET, COST_VIEW)) == NULL)
		return NULL;
	k->idx = idx;
	k->n_idx = n;
	return k;
}

static struct sk *
parse_modseq(struct search *q, const struct imap_arg **ap)
{
	const struct imap_arg *a = *ap;
	struct sk *k;
	uint64_t v;

	/* [SP entry-name SP entry-type-req]: the entry is a quoted
	 * "/flags/..." and the type priv, shared or all; modseqs are kept
	 * per message here, so the entry does not narrow anything. */
	if (a != NULL && a->type == IMAP_ARG_QUOTED) {
		a = a->next;
		if (a == NULL ||
		    !(imap_arg_atom_is(a, "priv") ||
		        imap_arg_atom_is(a, "shared") ||
		        imap_arg_atom_is(a, "all"))) {
			q->bad = "invalid MODSEQ entry type";
			return NULL;
		}
		a = a->next;
	}
	if (a == NULL || !imap_arg_number(a, INT64_MAX, &v)) {
		q->bad = "invalid MODSEQ value";
		return NULL;
	}
	*ap = a->next;
	if ((k = sk_new(q, SK_MODSEQ, COST_VIEW)) == NULL)
		return NULL;
	k->num = (int64_t)v;
	q->uses_modseq = true;
	return k;
}

/* Parses one search key at *ap and its arguments; advances *ap. */
static struct sk *
parse_key(struct search *q, const struct imap_arg **ap, int depth)
{
	const struct imap_arg *a = *ap, *arg;
	struct sk *k, *c1, *c2;
	struct slice w;
	uint64_t v;
	int64_t day;
	size_t i;

	if (depth > SEARCH_DEPTH_MAX) {
		q->bad = "search program nested too deeply";
		return NULL;
	}
	*ap = a->next;
	if (a->type == IMAP_ARG_LIST)
		return parse_and(q, a->list, depth + 1);
	if (is_seqset_atom(a))
		return parse_set(q, a, false);
	if (a->type != IMAP_ARG_ATOM) {
		q->bad = "invalid search key";
		return NULL;
	}
	w = a->str;
	arg = a->next; /* the key's first argument, if it takes one */

	for (i = 0; i < NELEM(flag_keys); i++) {
		if (!slice_eq_ci(w, slice_cstr(flag_keys[i].name)))
			continue;
		if ((k = sk_new(q, SK_FLAGS, COST_VIEW)) == NULL)
			return NULL;
		k->set = flag_keys[i].set;
		k->unset = flag_keys[i].unset;
		return k;
	}
	for (i = 0; i < NELEM(fts_keys); i++) {
		if (!slice_eq_ci(w, slice_cstr(fts_keys[i].name)))
			continue;
		if ((k = sk_new(q, SK_FTS, COST_FTS)) == NULL)
			return NULL;
		k->field = fts_keys[i].field;
		if ((k->str = arg_cstr(q, arg, "invalid search string")) ==
		    NULL)
			return NULL;
		*ap = arg->next;
		return k;
	}
	for (i = 0; i < NELEM(date_keys); i++) {
		struct slice ds;

		if (!slice_eq_ci(w, slice_cstr(date_keys[i].name)))
			continue;
		if (arg == NULL || !imap_arg_string(arg, &ds) ||
		    !parse_date(ds, &day)) {
			q->bad = "invalid date";
			return NULL;
		}
		*ap = arg->next;
		k = sk_new(q, date_keys[i].type,
		    date_keys[i].type >= SK_SENTBEFORE ? COST_HEADER
		                                       : COST_VIEW);
		if (k != NULL)
			k->num = day;
		return k;
	}
	if (slice_eq_ci(w, SLICE_LIT("ALL")))
		return sk_new(q, SK_ALL, COST_VIEW);
	if (slice_eq_ci(w, SLICE_LIT("NOT"))) {
		if (arg == NULL) {
			q->bad = "NOT needs a search key";
			return NULL;
		}
		if ((c1 = parse_key(q, ap, depth + 1)) == NULL)
			return NULL;
		if ((k = sk_new(q, SK_NOT, c1->cost)) != NULL)
			k->child = c1;
		return k;
	}
	if (slice_eq_ci(w, SLICE_LIT("OR"))) {
		if (arg == NULL || arg->next == NULL) {
			q->bad = "OR needs two search keys";
			return NULL;
		}
		if ((c1 = parse_key(q, ap, depth + 1)) == NULL)
			return NULL;
		if (*ap == NULL) {
			q->bad = "OR needs two search keys";
			return NULL;
		}
		if ((c2 = parse_key(q, ap, depth + 1)) == NULL)
			return NULL;
		if ((k = sk_new(q, SK_OR,
		         c1->cost > c2->cost ? c1->cost : c2->cost)) == NULL)
			return NULL;
		k->child = c1;
		c1->next = c2;
		c2->next = NULL;
		return k;
	}
	if (slice_eq_ci(w, SLICE_LIT("LARGER")) ||
	    slice_eq_ci(w, SLICE_LIT("SMALLER"))) {
		if (arg == NULL || !imap_arg_number(arg, INT64_MAX, &v)) {
			q->bad = "invalid size";
			return NULL;
		}
		*ap = arg->next;
		k = sk_new(q,
		    slice_eq_ci(w, SLICE_LIT("LARGER")) ? SK_LARGER
		                                        : SK_SMALLER,
		    COST_VIEW);
		if (k != NULL)
			k->num = (int64_t)v;
		return k;
	}
	if (slice_eq_ci(w, SLICE_LIT("UID"))) {
		*ap = arg != NULL ? arg->next : NULL;
		return parse_set(q, arg, true);
	}
	if (slice_eq_ci(w, SLICE_LIT("KEYWORD")) ||
	    slice_eq_ci(w, SLICE_LIT("UNKEYWORD"))) {
		bool un = slice_eq_ci(w, SLICE_LIT("UNKEYWORD"));

		if (arg == NULL || arg->type != IMAP_ARG_ATOM) {
			q->bad = "invalid keyword";
			return NULL;
		}
		*ap = arg->next;
		/* a system flag given as a keyword (Dovecot allows it) */
		for (i = 0; i < 5; i++) {
			static const char *const sys[] = { "\\Answered",
				"\\Deleted", "\\Draft", "\\Flagged", "\\Seen" };
			static const uint32_t bit[] = { IMAP_F_ANSWERED,
				IMAP_F_DELETED, IMAP_F_DRAFT, IMAP_F_FLAGGED,
				IMAP_F_SEEN };

			if (!slice_eq_ci(arg->str, slice_cstr(sys[i])))
				continue;
			if ((k = sk_new(q, SK_FLAGS, COST_VIEW)) == NULL)
				return NULL;
			if (un)
				k->unset = bit[i];
			else
				k->set = bit[i];
			return k;
		}
		if ((k = sk_new(q, un ? SK_UNKEYWORD : SK_KEYWORD,
		         COST_VIEW)) == NULL)
			return NULL;
		k->str = arena_strndup(q->a, arg->str.p, arg->str.len);
		if (k->str == NULL) {
			q->bad = "search program too large";
			return NULL;
		}
		return k;
	}
	if (slice_eq_ci(w, SLICE_LIT("HEADER"))) {
		const char *val;

		if ((k = sk_new(q, SK_HEADER, COST_HEADER)) == NULL)
			return NULL;
		if ((k->str = arg_cstr(q, arg, "invalid header name")) == NULL)
			return NULL;
		if ((val = arg_cstr(q, arg->next, "invalid search string")) ==
		    NULL)
			return NULL;
		*ap = arg->next->next;
		buf_reset(&q->fold);
		if (search_fold_utf8(slice_cstr(val), &q->fold) != 0) {
			q->bad = "search string too long";
			return NULL;
		}
		k->val.p = arena_strndup(q->a, q->fold.p, q->fold.len);
		k->val.len = q->fold.len;
		if (k->val.p == NULL ||
		    (k->kmp = kmp_table(q->a, k->val)) == NULL) {
			q->bad = "search program too large";
			return NULL;
		}
		return k;
	}
	if (slice_eq_ci(w, SLICE_LIT("MODSEQ"))) {
		*ap = arg;
		return parse_modseq(q, ap);
	}
	q->bad = "unknown search key";
	return NULL;
}

/* RETURN (...) of ESEARCH / ESORT: a = the list. */
bool
search_parse_return(struct search *q, const struct imap_arg *a, struct ret *r)
{
	const struct imap_arg *o;

	r->esearch = true;
	if (a == NULL || a->type != IMAP_ARG_LIST) {
		q->bad = "RETURN needs a list of options";
		return false;
	}
	for (o = a->list; o != NULL; o = o->next) {
		if (imap_arg_atom_is(o, "MIN"))
			r->min = true;
		else if (imap_arg_atom_is(o, "MAX"))
			r->max = true;
		else if (imap_arg_atom_is(o, "ALL"))
			r->all = true;
		else if (imap_arg_atom_is(o, "COUNT"))
			r->count = true;
		else if (imap_arg_atom_is(o, "SAVE"))
			r->save = true;
		else {
			q->bad = "unknown RETURN option";
			return false;
		}
	}
	/* RFC 4731 §3.1: "RETURN ()" means ALL */
	if (!r->min && !r->max && !r->all && !r->count && !r->save)
		r->all = true;
	return true;
}

/* CHARSET name at *ap (required: SORT, THREAD) */
bool
search_parse_charset(struct search *q, const struct imap_arg **ap)
{
	struct slice cs;

	if (*ap == NULL || !imap_arg_string(*ap, &cs)) {
		q->bad = "missing charset";
		return false;
	}
	*ap = (*ap)->next;
	if (!slice_eq_ci(cs, SLICE_LIT("UTF-8")) &&
	    !slice_eq_ci(cs, SLICE_LIT("US-ASCII"))) {
		q->badcharset = true;
		return false;
	}
	return true;
}

/* --- evaluation ------------------------------------------------------------
 */

#define BIT_GET(b, i) (((b)[(i) >> 6] >> ((i)&63)) & 1u)
#define BIT_SET(b, i) ((b)[(i) >> 6] |= (uint64_t)1 << ((i)&63))

static uint64_t *
level_buf(struct search *q, int depth)
{
	if (q->level[depth] == NULL)
		q->level[depth] = xcalloc(q->nwords, sizeof(uint64_t));
	return q->level[depth];
}

static uint64_t *
level_buf2(struct search *q, int depth)
{
	if (q->level2[depth] == NULL)
		q->level2[depth] = xcalloc(q->nwords, sizeof(uint64_t));
	return q->level2[depth];
}

/* Loads the header block of view message i into q->hdr. */
int
search_load_header(struct search *q, size_t i)
{
	int rc;

	if (q->hdr_idx == i)
		return 0;
	if (q->hdr == NULL)
		q->hdr = xmalloc(SEARCH_HDR_MAX);
	q->hdr_idx = SIZE_MAX;
	rc = store_msg_header_block(q->s->st, q->v->msgs[i].message_id, q->hdr,
	    SEARCH_HDR_MAX, &q->hdr_len, &q->err);
	if (rc == ERR_NOTFOUND) { /* gone meanwhile: no header at all */
		q->hdr_len = 0;
		rc = 0;
	}
	if (rc == 0)
		q->hdr_idx = i;
	return rc;
}

/* The sent date of message i as a day number: the Date: field in its
 * own time zone (RFC 9051 §6.4.4 disregards time and zone), else the
 * INTERNALDATE's UTC day. */
static int
sent_day(struct search *q, size_t i, int64_t *day_out)
{
	int64_t t;
	int tz, rc;

	if ((rc = search_load_header(q, i)) != 0)
		return rc;
	if (mime_header_get(slice_make(q->hdr, q->hdr_len), "Date", &q->val) &&
	    mime_date_parse(buf_slice(&q->val), &t, &tz))
		*day_out = floor_div(t + (int64_t)tz * 60, 86400);
	else
		*day_out = floor_div(q->v->msgs[i].internaldate, 86400);
	return 0;
}

static bool
has_keyword(const struct imap_view *v, const struct imap_msg *m, const char *kw)
{
	const char *p = imap_msg_keywords(v, m), *e;
	size_t n = strlen(kw);

	while (*p != '\0') {
		e = strchr(p, ' ');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) == n &&
		    slice_eq_ci(slice_make(p, n), slice_make(kw, n)))
			return true;
		p = *e == ' ' ? e + 1 : e;
	}
	return false;
}

/* The next field of a header block at *pos: its name and its value
 * (raw, folding CRLFs still in). false at the end. */
static bool
header_next(struct slice hb, size_t *pos, struct slice *name_out,
    struct slice *value_out)
{
	size_t i = *pos, start, colon, end;

	while (i < hb.len) {
		start = i;
		/* the field runs to a CRLF not followed by WSP */
		end = i;
		for (;;) {
			while (end < hb.len && hb.p[end] != '\n')
				end++;
			if (end + 1 < hb.len &&
			    (hb.p[end + 1] == ' ' || hb.p[end + 1] == '\t')) {
				end++;
				continue;
			}
			break;
		}
		i = end < hb.len ? end + 1 : hb.len;
		if (end - start <= 1) /* the blank line: the end */
			break;
		for (colon = start; colon < end && hb.p[colon] != ':'; colon++)
			;
		if (colon == end || colon == start)
			continue; /* not a field (e.g. an mbox From line) */
		*name_out = slice_trim(slice_make(hb.p + start, colon - start));
		*value_out = slice_make(hb.p + colon + 1, end - colon - 1);
		*pos = i;
		return true;
	}
	*pos = hb.len;
	return false;
}

/* HEADER name string: any field of that name whose decoded, unfolded
 * value contains the string (RFC 9051 §6.4.4; case-insensitive). Every
 * field of the name counts, not only the first (Received, Comments). */
static int
header_match(struct search *q, const struct sk *k)
{
	struct slice hb = slice_make(q->hdr, q->hdr_len), name, value;
	struct slice want = slice_cstr(k->str);
	size_t pos = 0, j;

	while (header_next(hb, &pos, &name, &value)) {
		if (!slice_eq_ci(name, want))
			continue;
		if (k->val.len == 0) /* RFC 9051: any message with the field */
			return 1;
		/* unfold: CR and LF go, the WSP after them stays */
		buf_reset(&q->val);
		for (j = 0; j < value.len; j++)
			if (value.p[j] != '\r' && value.p[j] != '\n')
				(void)buf_append(&q->val, value.p + j, 1);
		buf_reset(&q->dec);
		buf_reset(&q->fold);
		if (mime_header_decode(slice_trim(buf_slice(&q->val)),
		        &q->dec) != 0) { /* too long to decode: search it raw */
			buf_reset(&q->dec);
			(void)buf_append_slice(&q->dec, buf_slice(&q->val));
		}
		(void)search_fold_utf8(buf_slice(&q->dec), &q->fold);
		if (kmp_find(buf_slice(&q->fold), k->val, k->kmp))
			return 1;
	}
	return 0;
}

/* Leaf keys evaluated per message. Returns 1 match, 0 no, <0 error. */
static int
leaf_match(struct search *q, const struct sk *k, size_t i)
{
	const struct imap_msg *m = &q->v->msgs[i];
	int64_t day;
	int rc;

	switch (k->type) {
	case SK_FLAGS:
		return (m->sysflags & k->set) == k->set &&
		    (m->sysflags & k->unset) == 0;
	case SK_KEYWORD:
		return has_keyword(q->v, m, k->str);
	case SK_UNKEYWORD:
		return !has_keyword(q->v, m, k->str);
	case SK_BEFORE:
		/* RFC 9051 §6.4.4 compares dates "disregarding time and
		 * timezone": INTERNALDATE is taken as its UTC day (the store
		 * keeps unix seconds, not the zone of the APPEND). */
		return floor_div(m->internaldate, 86400) < k->num;
	case SK_ON:
		return floor_div(m->internaldate, 86400) == k->num;
	case SK_SINCE:
		return floor_div(m->internaldate, 86400) >= k->num;
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE:
		if ((rc = sent_day(q, i, &day)) != 0)
			return rc;
		return k->type == SK_SENTBEFORE ? day < k->num
		    : k->type == SK_SENTON      ? day == k->num
		                                : day >= k->num;
	case SK_LARGER:
		return m->size > (uint64_t)k->num;
	case SK_SMALLER:
		return m->size < (uint64_t)k->num;
	case SK_MODSEQ:
		return m->modseq >= (uint64_t)k->num;
	case SK_HEADER:
		if ((rc = search_load_header(q, i)) != 0)
			return rc;
		return header_match(q, k);
	default:
		return 0;
	}
}

struct fts_ctx {
	const struct imap_view *v;
	uint64_t *out;
};

static void
fts_hit(void *vctx, uint32_t uid)
{
	struct fts_ctx *c = vctx;
	size_t lo = 0, hi = c->v->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->v->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->v->n && c->v->msgs[lo].uid == uid)
		BIT_SET(c->out, lo);
}

/* out = the messages of cand that match k. Recursion is bounded by
 * SEARCH_DEPTH_MAX (the parse refused deeper programs); each level uses
 * two scratch bitmaps, so memory is 2 x depth x view size / 8. */
static int
eval(struct search *q, const struct sk *k, const uint64_t *cand, uint64_t *out,
    int depth)
{
	uint64_t *tmp, *rest, bits;
	const struct sk *c;
	struct fts_ctx fc;
	size_t w, i, nw = q->nwords;
	int rc;

	switch (k->type) {
	case SK_AND:
		tmp = level_buf(q, depth);
		memcpy(out, cand, nw * sizeof(*out));
		for (c = k->child; c != NULL; c = c->next) {
			if ((rc = eval(q, c, out, tmp, depth + 1)) != 0)
				return rc;
			memcpy(out, tmp, nw * sizeof(*out));
		}
		return 0;
	case SK_OR:
		/* the second key only looks at what the first left */
		tmp = level_buf(q, depth);
		rest = level_buf2(q, depth);
		memset(out, 0, nw * sizeof(*out));
		for (c = k->child; c != NULL; c = c->next) {
			for (w = 0; w < nw; w++)
				rest[w] = cand[w] & ~out[w];
			if ((rc = eval(q, c, rest, tmp, depth + 1)) != 0)
				return rc;
			for (w = 0; w < nw; w++)
				out[w] |= tmp[w];
		}
		return 0;
	case SK_NOT:
		tmp = level_buf(q, depth);
		if ((rc = eval(q, k->child, cand, tmp, depth + 1)) != 0)
			return rc;
		for (w = 0; w < nw; w++)
			out[w] = cand[w] & ~tmp[w];
		return 0;
	case SK_ALL:
		memcpy(out, cand, nw * sizeof(*out));
		return 0;
	case SK_SET:
		memset(out, 0, nw * sizeof(*out));
		for (i = 0; i < k->n_idx; i++)
			if (k->idx[i] < q->v->n && BIT_GET(cand, k->idx[i]))
				BIT_SET(out, k->idx[i]);
		return 0;
	case SK_FTS:
		if (k->str[0] == '\0') { /* the empty string is in any text */
			memcpy(out, cand, nw * sizeof(*out));
			return 0;
		}
		memset(out, 0, nw * sizeof(*out));
		fc.v = q->v;
		fc.out = out;
		rc = store_fts_search(q->s->st, q->v->mailbox_id, k->field,
		    k->str, fts_hit, &fc, &q->err);
		if (rc != 0)
			return rc;
		for (w = 0; w < nw; w++)
			out[w] &= cand[w];
		return 0;
	default:
		memset(out, 0, nw * sizeof(*out));
		for (w = 0; w < nw; w++) {
			bits = cand[w];
			while (bits != 0) {
				i = w * 64 + (size_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				if (i >= q->v->n)
					break;
				rc = leaf_match(q, k, i);
				if (rc < 0)
					return rc;
				if (rc > 0)
					BIT_SET(out, i);
			}
		}
		return 0;
	}
}

int
search_run(struct search *q, const struct sk *prog, uint32_t **idx_out,
    size_t *n_out)
{
	uint64_t *all, *res;
	uint32_t *idx = NULL;
	size_t i, n = 0, nv = q->v->n;
	int rc;

	*idx_out = NULL;
	*n_out = 0;
	all = xcalloc(q->nwords, sizeof(*all));
	res = xcalloc(q->nwords, sizeof(*res));
	for (i = 0; i < nv; i++)
		BIT_SET(all, i);
	rc = eval(q, prog, all, res, 0);
	if (rc == 0) {
		for (i = 0; i < nv; i++)
			n += BIT_GET(res, i);
		if (n > 0)
			idx = xcalloc(n, sizeof(*idx));
		n = 0;
		for (i = 0; i < nv; i++)
			if (BIT_GET(res, i))
				idx[n++] = (uint32_t)i;
		*idx_out = idx;
		*n_out = n;
	}
	xfree(&all);
	xfree(&res);
	return rc;
}

struct sk *
search_parse(struct search *q, const struct imap_arg *a)
{
	return parse_and(q, a, 0);
}
