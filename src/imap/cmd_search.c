/* SPDX-License-Identifier: MIT */
/* SEARCH, UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4) with ESEARCH
 * (RFC 4731), SEARCHRES (RFC 5182) and CONDSTORE's MODSEQ (RFC 7162
 * §3.1.5); SORT and ESORT (RFC 5256, RFC 5267, RFC 5957 DISPLAYFROM/TO);
 * THREAD REFERENCES and ORDEREDSUBJECT (RFC 5256). The search program
 * itself is search_eval.c's; the ordering and threading are
 * search_thread.c's; this file reads the arguments, the header data SORT
 * and THREAD need, and writes the responses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_int.h"
#include "imap/search_int.h"
#include "imap/search_thread.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "mime/imapdata.h"

#include "lib/banned.h"

/* Bytes of header data SORT and THREAD keep for all the messages they
 * order (subjects, addresses, message ids, references). */
#define SEARCH_POOL_MAX ((size_t)256 * 1024 * 1024)

#define NELEM(x) (sizeof(x) / sizeof((x)[0]))

/* --- output -------------------------------------------------------------- */

static uint32_t
out_id(const struct search *q, uint32_t i, bool uid)
{
	return uid ? q->v->msgs[i].uid : i + 1;
}

static uint64_t
max_modseq(const struct search *q, const uint32_t *idx, size_t n)
{
	uint64_t m = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (q->v->msgs[idx[i]].modseq > m)
			m = q->v->msgs[idx[i]].modseq;
	return m;
}

/* Sends b when it grows large, so output of any size needs no more
 * than a chunk in memory here. */
static void
flush_maybe(struct imap_session *s, struct buf *b, bool force)
{
	if (b->len > 0 && (force || b->len >= 16384)) {
		imap_write(s, b->p, b->len);
		buf_reset(b);
	}
}

/* ids as "a:b,c" (ranges only for ascending consecutive runs, so that
 * an ESORT ALL keeps its order). */
static void
append_set(struct imap_session *s, struct buf *b, const uint32_t *ids, size_t n)
{
	size_t i = 0, j;

	while (i < n) {
		j = i;
		while (j + 1 < n && ids[j + 1] == ids[j] + 1)
			j++;
		if (j > i)
			(void)buf_printf(b, "%s%u:%u", i ? "," : "",
			    (unsigned)ids[i], (unsigned)ids[j]);
		else
			(void)buf_printf(b, "%s%u", i ? "," : "",
			    (unsigned)ids[i]);
		flush_maybe(s, b, false);
		i = j + 1;
	}
}

/* The ESEARCH response for ids in result order: ascending for SEARCH,
 * sort order for ESORT. Either way MIN and MAX are the first and the
 * last (RFC 5267 §3.1: for ESORT, the first and last in sort order). */
static void
write_esearch(struct search *q, const struct imap_command *cmd,
    const struct ret *r, const uint32_t *ids, size_t n, uint64_t modseq)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	(void)buf_printf(&b, "* ESEARCH (TAG \"%.*s\")%s", (int)cmd->tag.len,
	    cmd->tag.p, cmd->uid ? " UID" : "");
	if (n > 0 && r->min)
		(void)buf_printf(&b, " MIN %u", (unsigned)ids[0]);
	if (n > 0 && r->max)
		(void)buf_printf(&b, " MAX %u", (unsigned)ids[n - 1]);
	if (r->count)
		(void)buf_printf(&b, " COUNT %zu", n);
	if (n > 0 && r->all) {
		(void)buf_append(&b, " ALL ", 5);
		append_set(q->s, &b, ids, n);
	}
	if (n > 0 && q->uses_modseq)
		(void)buf_printf(&b, " MODSEQ %llu",
		    (unsigned long long)modseq);
	(void)buf_append(&b, "\r\n", 2);
	flush_maybe(q->s, &b, true);
	buf_clear(&b);
}

/* "* SEARCH 1 2 3 [(MODSEQ n)]" or "* SORT ..." */
static void
write_list(struct search *q, const char *name, const uint32_t *ids, size_t n,
    uint64_t modseq)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	(void)buf_printf(&b, "* %s", name);
	for (i = 0; i < n; i++) {
		(void)buf_printf(&b, " %u", (unsigned)ids[i]);
		flush_maybe(q->s, &b, false);
	}
	if (n > 0 && q->uses_modseq)
		(void)buf_printf(&b, " (MODSEQ %llu)",
		    (unsigned long long)modseq);
	(void)buf_append(&b, "\r\n", 2);
	flush_maybe(q->s, &b, true);
	buf_clear(&b);
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* RFC 5182: SAVE keeps the result as UIDs (MIN and/or MAX alone when
 * those were asked for with it). */
static void
save_result(struct search *q, const struct ret *r, const uint32_t *idx,
    size_t n)
{
	struct imap_session *s = q->s;
	uint32_t *u = NULL;
	size_t i, k = 0;

	xfree(&s->searchres);
	s->n_searchres = 0;
	if (n == 0)
		return;
	u = xcalloc(n, sizeof(*u));
	if ((r->min || r->max) && !r->all && !r->count) {
		if (r->min)
			u[k++] = q->v->msgs[idx[0]].uid;
		if (r->max && (k == 0 || n > 1))
			u[k++] = q->v->msgs[idx[n - 1]].uid;
	} else {
		for (i = 0; i < n; i++)
			u[k++] = q->v->msgs[idx[i]].uid;
	}
	/* "$" is a set: ascending UIDs whatever order SORT gave */
	qsort(u, k, sizeof(*u), uid_cmp);
	s->searchres = u;
	s->n_searchres = k;
}

static void
clear_saved(struct imap_session *s)
{
	xfree(&s->searchres);
	s->n_searchres = 0;
}

/* Ends a command that failed in parsing or evaluation. */
static void
finish_error(struct search *q, const char *what, bool saving)
{
	struct imap_session *s = q->s;
	const char *bad = q->bad;
	bool badcharset = q->badcharset;
	int rc = q->rc;

	if (saving) /* RFC 5182 §2.1: a failed SAVE empties "$" */
		clear_saved(s);
	if (rc != 0) {
		char safe[256];

		log_warn(&s->log, "event=search_failed cmd=%s error=%s", what,
		    log_safe(safe, sizeof(safe), slice_cstr(q->err.msg)));
	}
	search_clear(q);
	if (badcharset)
		imap_cmd_finish(s, "NO", "[BADCHARSET (UTF-8 US-ASCII)] %s",
		    "unsupported charset");
	else if (rc != 0)
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] %s failed", what);
	else
		imap_cmd_finish(s, "BAD", "%s", bad != NULL ? bad : "syntax");
}

/* --- SEARCH -------------------------------------------------------------- */

void
cmd_search(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *a = cmd->args;
	struct search q;
	struct ret r;
	struct sk *prog = NULL;
	uint32_t *idx = NULL, *ids = NULL;
	size_t n = 0, i;
	uint64_t modseq;

	memset(&r, 0, sizeof(r));
	search_init(&q, s);
	if (q.v == NULL) {
		q.bad = "no mailbox selected";
		finish_error(&q, "SEARCH", false);
		return;
	}
	if (a != NULL && imap_arg_atom_is(a, "RETURN")) {
		if (!search_parse_return(&q, a->next, &r)) {
			finish_error(&q, "SEARCH", false);
			return;
		}
		a = a->next->next;
	}
	if (a != NULL && imap_arg_atom_is(a, "CHARSET")) {
		a = a->next;
		if (!search_parse_charset(&q, &a)) {
			finish_error(&q, "SEARCH", r.save);
			return;
		}
	}
	prog = search_parse(&q, a);
	if (prog == NULL) {
		finish_error(&q, "SEARCH", r.save);
		return;
	}
	if (q.uses_modseq)
		imap_condstore_enable(s);
	q.rc = search_run(&q, prog, &idx, &n);
	if (q.rc != 0) {
		finish_error(&q, "SEARCH", r.save);
		return;
	}
	modseq = max_modseq(&q, idx, n);
	if (n > 0) {
		ids = xcalloc(n, sizeof(*ids));
		for (i = 0; i < n; i++)
			ids[i] = out_id(&q, idx[i], cmd->uid);
	}
	/* RFC 9051 §6.4.4: a rev2 SEARCH without RETURN is ESEARCH ALL */
	if (!r.esearch && (s->enabled & IMAP_ENABLED_REV2) != 0) {
		r.esearch = true;
		r.all = true;
	}
	if (!r.esearch)
		write_list(&q, "SEARCH", ids, n, modseq);
	else if (r.min || r.max || r.all || r.count)
		write_esearch(&q, cmd, &r, ids, n, modseq);
	/* RFC 5182: SAVE alone sends no ESEARCH */
	if (r.save)
		save_result(&q, &r, idx, n);
	xfree(&idx);
	xfree(&ids);
	search_clear(&q);
	imap_cmd_finish(s, "OK", "%sSEARCH completed", cmd->uid ? "UID " : "");
}

/* --- SORT and THREAD: header data of the matching messages ---------------- */

struct pref {
	size_t off, len;
};

struct hdrdata {
	struct pref subject, from, to, cc, dfrom, dto, mid, refs, irt;
};

struct pool {
	struct buf b;
	bool full;
};

static struct pref
pool_add(struct pool *p, struct slice s)
{
	struct pref r = { p->b.len, s.len };

	if (buf_append(&p->b, s.p, s.len) != 0) {
		p->full = true;
		r.off = r.len = 0;
	}
	return r;
}

static struct slice
pool_get(const struct pool *p, struct pref r)
{
	return r.len == 0 ? slice_make("", 0)
	                  : slice_make(p->b.p + r.off, r.len);
}

/* Lowercased ASCII copy into the pool (i;ascii-casemap). */
static struct pref
pool_add_lower(struct pool *p, struct slice s)
{
	struct pref r = pool_add(p, s);
	size_t i;

	if (r.len > 0)
		for (i = 0; i < r.len; i++)
			if (p->b.p[r.off + i] >= 'A' &&
			    p->b.p[r.off + i] <= 'Z')
				p->b.p[r.off + i] += 32;
	return r;
}

/* RFC 5256 §3: "the addr-mailbox of the first address"; RFC 5957: the
 * decoded display name, else the addr-spec. */
static void
address_keys(struct search *q, struct pool *p, const char *field,
    struct pref *mailbox_out, struct pref *display_out)
{
	struct mime_address ad[4];
	struct slice name;
	size_t n, i;

	*mailbox_out = (struct pref){ 0, 0 };
	if (display_out != NULL)
		*display_out = (struct pref){ 0, 0 };
	if (!mime_header_get(slice_make(q->hdr, q->hdr_len), field, &q->val))
		return;
	n = mime_address_parse(buf_slice(&q->val), ad, NELEM(ad));
	for (i = 0; i < n; i++)
		if (!ad[i].group_start && !ad[i].group_end)
			break;
	if (i == n)
		return;
	*mailbox_out = pool_add_lower(p, ad[i].mailbox);
	if (display_out == NULL)
		return;
	name = slice_trim(ad[i].name);
	if (name.len >= 2 && name.p[0] == '"' && name.p[name.len - 1] == '"')
		name = slice_make(name.p + 1, name.len - 2);
	buf_reset(&q->dec);
	buf_reset(&q->fold);
	if (name.len > 0 && mime_header_decode(name, &q->dec) == 0 &&
	    q->dec.len > 0) {
		(void)search_fold_utf8(buf_slice(&q->dec), &q->fold);
	} else {
		(void)search_fold_utf8(ad[i].mailbox, &q->fold);
		if (ad[i].host.len > 0) {
			(void)buf_append(&q->fold, "@", 1);
			(void)search_fold_utf8(ad[i].host, &q->fold);
		}
	}
	*display_out = pool_add(p, buf_slice(&q->fold));
}

/* Fills m (and h, offsets into the pool) for view message i. */
static int
load_sort_msg(struct search *q, struct pool *p, size_t i, uint32_t id,
    bool need_hdr, struct sort_msg *m, struct hdrdata *h)
{
	const struct imap_msg *vm = &q->v->msgs[i];
	struct slice hb;
	int64_t t;
	int tz, rc;

	memset(m, 0, sizeof(*m));
	memset(h, 0, sizeof(*h));
	m->id = id;
	m->seq = (uint32_t)i + 1;
	m->arrival = vm->internaldate;
	m->date = vm->internaldate;
	m->size = vm->size;
	if (!need_hdr)
		return 0;
	if ((rc = search_load_header(q, i)) != 0)
		return rc;
	hb = slice_make(q->hdr, q->hdr_len);
	if (mime_header_get(hb, "Date", &q->val) &&
	    mime_date_parse(buf_slice(&q->val), &t, &tz))
		m->date = t;
	if (mime_header_get(hb, "Subject", &q->val)) {
		buf_reset(&q->dec);
		if (mime_header_decode(buf_slice(&q->val), &q->dec) != 0) {
			buf_reset(&q->dec);
			(void)buf_append_slice(&q->dec, buf_slice(&q->val));
		}
		m->is_reply = subject_is_reply(buf_slice(&q->dec));
		buf_reset(&q->fold);
		if (mime_base_subject(buf_slice(&q->dec), &q->fold) == 0)
			h->subject = pool_add(p, buf_slice(&q->fold));
	}
	address_keys(q, p, "From", &h->from, &h->dfrom);
	address_keys(q, p, "To", &h->to, &h->dto);
	address_keys(q, p, "Cc", &h->cc, NULL);
	if (mime_header_get(hb, "Message-ID", &q->val))
		h->mid = pool_add(p, msgid_first(buf_slice(&q->val)));
	if (mime_header_get(hb, "References", &q->val))
		h->refs = pool_add(p, buf_slice(&q->val));
	if (mime_header_get(hb, "In-Reply-To", &q->val))
		h->irt = pool_add(p, buf_slice(&q->val));
	return 0;
}

/* The sort_msg array of the matching messages (xmalloc; pool holds the
 * strings it points into). */
static int
load_sort_msgs(struct search *q, const uint32_t *idx, size_t n, bool uid,
    bool need_hdr, struct pool *p, struct sort_msg **out)
{
	struct sort_msg *m;
	struct hdrdata *h;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (n == 0)
		return 0;
	m = xcalloc(n, sizeof(*m));
	h = xcalloc(n, sizeof(*h));
	for (i = 0; i < n && rc == 0; i++)
		rc = load_sort_msg(q, p, idx[i], out_id(q, idx[i], uid),
		    need_hdr, &m[i], &h[i]);
	if (rc == 0 && p->full) {
		rc = ERR_LIMIT;
		(void)err_set(&q->err, rc, "sort data over %zu bytes",
		    (size_t)SEARCH_POOL_MAX);
	}
	if (rc == 0) /* the pool has stopped moving: make the slices */
		for (i = 0; i < n; i++) {
			m[i].subject = pool_get(p, h[i].subject);
			m[i].from = pool_get(p, h[i].from);
			m[i].to = pool_get(p, h[i].to);
			m[i].cc = pool_get(p, h[i].cc);
			m[i].displayfrom = pool_get(p, h[i].dfrom);
			m[i].displayto = pool_get(p, h[i].dto);
			m[i].message_id = pool_get(p, h[i].mid);
			m[i].references = pool_get(p, h[i].refs);
			m[i].in_reply_to = pool_get(p, h[i].irt);
		}
	xfree(&h);
	if (rc != 0)
		xfree(&m);
	*out = m;
	return rc;
}

static const struct {
	const char *name;
	enum sort_key key;
} sort_keys[] = {
	{ "ARRIVAL", SORT_ARRIVAL },
	{ "CC", SORT_CC },
	{ "DATE", SORT_DATE },
	{ "FROM", SORT_FROM },
	{ "SIZE", SORT_SIZE },
	{ "SUBJECT", SORT_SUBJECT },
	{ "TO", SORT_TO },
	{ "DISPLAYFROM", SORT_DISPLAYFROM },
	{ "DISPLAYTO", SORT_DISPLAYTO },
};

#define SORT_CRIT_MAX 32

static size_t
parse_sort_crit(struct search *q, const struct imap_arg *a,
    struct sort_crit *crit)
{
	const struct imap_arg *o;
	size_t n = 0, i;
	bool reverse = false;

	if (a == NULL || a->type != IMAP_ARG_LIST || a->list == NULL) {
		q->bad = "missing sort criteria";
		return 0;
	}
	for (o = a->list; o != NULL; o = o->next) {
		if (imap_arg_atom_is(o, "REVERSE")) {
			if (reverse) {
				q->bad = "REVERSE REVERSE";
				return 0;
			}
			reverse = true;
			continue;
		}
		for (i = 0; i < NELEM(sort_keys); i++)
			if (imap_arg_atom_is(o, sort_keys[i].name))
				break;
		if (i == NELEM(sort_keys) || n == SORT_CRIT_MAX) {
			q->bad = "invalid sort criterion";
			return 0;
		}
		crit[n].key = sort_keys[i].key;
		crit[n].reverse = reverse;
		reverse = false;
		n++;
	}
	if (reverse || n == 0) {
		q->bad = "REVERSE needs a sort key";
		return 0;
	}
	return n;
}

void
cmd_sort(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *a = cmd->args;
	struct sort_crit crit[SORT_CRIT_MAX];
	struct sort_msg *m = NULL;
	struct pool pool;
	struct search q;
	struct ret r;
	struct sk *prog;
	uint32_t *idx = NULL, *order = NULL, *ids = NULL;
	size_t n = 0, n_crit, i;
	uint64_t modseq;
	bool need_hdr = false;

	memset(&r, 0, sizeof(r));
	search_init(&q, s);
	if (q.v == NULL) {
		q.bad = "no mailbox selected";
		finish_error(&q, "SORT", false);
		return;
	}
	if (a != NULL && imap_arg_atom_is(a, "RETURN")) {
		if (!search_parse_return(&q, a->next, &r)) {
			finish_error(&q, "SORT", false);
			return;
		}
		a = a->next->next;
	}
	if ((n_crit = parse_sort_crit(&q, a, crit)) == 0) {
		finish_error(&q, "SORT", r.save);
		return;
	}
	a = a->next;
	if (!search_parse_charset(&q, &a) ||
	    (prog = search_parse(&q, a)) == NULL) {
		finish_error(&q, "SORT", r.save);
		return;
	}
	if (q.uses_modseq)
		imap_condstore_enable(s);
	if ((q.rc = search_run(&q, prog, &idx, &n)) != 0) {
		finish_error(&q, "SORT", r.save);
		return;
	}
	for (i = 0; i < n_crit; i++)
		if (crit[i].key != SORT_ARRIVAL && crit[i].key != SORT_SIZE)
			need_hdr = true;
	buf_init(&pool.b, SEARCH_POOL_MAX);
	pool.full = false;
	q.rc = load_sort_msgs(&q, idx, n, cmd->uid, need_hdr, &pool, &m);
	if (q.rc != 0) {
		buf_clear(&pool.b);
		xfree(&idx);
		finish_error(&q, "SORT", r.save);
		return;
	}
	modseq = max_modseq(&q, idx, n);
	if (n > 0) {
		order = xcalloc(n, sizeof(*order));
		ids = xcalloc(n, sizeof(*ids));
	}
	for (i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	sort_msgs(m, order, n, crit, n_crit);
	for (i = 0; i < n; i++)
		ids[i] = m[order[i]].id;
	if (!r.esearch) {
		write_list(&q, "SORT", ids, n, modseq);
	} else if (r.min || r.max || r.all || r.count) {
		write_esearch(&q, cmd, &r, ids, n, modseq);
	}
	if (r.save) { /* saved in sort order's MIN/MAX sense */
		uint32_t *sidx = n > 0 ? xcalloc(n, sizeof(*sidx)) : NULL;

		for (i = 0; i < n; i++)
			sidx[i] = idx[order[i]];
		save_result(&q, &r, sidx, n);
		xfree(&sidx);
	}
	xfree(&m);
	xfree(&order);
	xfree(&ids);
	xfree(&idx);
	buf_clear(&pool.b);
	search_clear(&q);
	imap_cmd_finish(s, "OK", "%sSORT completed", cmd->uid ? "UID " : "");
}

/* --- THREAD --------------------------------------------------------------- */

void
cmd_thread(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *a = cmd->args;
	struct sort_msg *m = NULL;
	struct pool pool;
	struct search q;
	struct sk *prog;
	struct buf out;
	uint32_t *idx = NULL;
	size_t n = 0;
	bool refs;
	int rc;

	search_init(&q, s);
	if (q.v == NULL) {
		q.bad = "no mailbox selected";
		finish_error(&q, "THREAD", false);
		return;
	}
	if (a != NULL && imap_arg_atom_is(a, "REFERENCES")) {
		refs = true;
	} else if (a != NULL && imap_arg_atom_is(a, "ORDEREDSUBJECT")) {
		refs = false;
	} else {
		q.bad = "unknown threading algorithm";
		finish_error(&q, "THREAD", false);
		return;
	}
	a = a->next;
	if (!search_parse_charset(&q, &a) ||
	    (prog = search_parse(&q, a)) == NULL) {
		finish_error(&q, "THREAD", false);
		return;
	}
	if (q.uses_modseq)
		imap_condstore_enable(s);
	if ((q.rc = search_run(&q, prog, &idx, &n)) != 0) {
		finish_error(&q, "THREAD", false);
		return;
	}
	buf_init(&pool.b, SEARCH_POOL_MAX);
	pool.full = false;
	q.rc = load_sort_msgs(&q, idx, n, cmd->uid, true, &pool, &m);
	xfree(&idx);
	if (q.rc != 0) {
		buf_clear(&pool.b);
		finish_error(&q, "THREAD", false);
		return;
	}
	/* the thread list is at most a few bytes per message plus
	 * parentheses; past the cap the command fails rather than grow */
	buf_init(&out, SEARCH_POOL_MAX);
	rc = buf_append(&out, "* THREAD", 8);
	if (rc == 0 && n > 0) {
		(void)buf_append(&out, " ", 1);
		rc = refs ? thread_references(m, n, &out)
		          : thread_orderedsubject(m, n, &out);
	}
	xfree(&m);
	buf_clear(&pool.b);
	if (rc != 0) {
		buf_clear(&out);
		q.rc = rc;
		(void)err_set(&q.err, rc, "thread output too large");
		finish_error(&q, "THREAD", false);
		return;
	}
	(void)buf_append(&out, "\r\n", 2);
	imap_write(s, out.p, out.len);
	buf_clear(&out);
	search_clear(&q);
	imap_cmd_finish(s, "OK", "%sTHREAD completed", cmd->uid ? "UID " : "");
}
