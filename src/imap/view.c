/* SPDX-License-Identifier: MIT */
/* The selected mailbox as one session knows it: loaded at SELECT, folded
 * forward only by imap_view_sync (at command end, and at once in IDLE),
 * so that sequence numbers move only when the client is told. Keyword
 * sets are interned per view: each message holds one index. */
#include <stdlib.h>
#include <string.h>

#include "imap/session_int.h"
#include "lib/mem.h"
#include "lib/str.h"

#include "lib/banned.h"

/* Distinct keyword sets kept per view; past this, more sets share the
 * last slot's memory growth (bounded by messages anyway). */
#define KWSETS_MAX 100000

static const struct {
	const char *name;
	uint32_t bit;
} sysflags[] = {
	{ "\\Seen", IMAP_F_SEEN },
	{ "\\Answered", IMAP_F_ANSWERED },
	{ "\\Flagged", IMAP_F_FLAGGED },
	{ "\\Deleted", IMAP_F_DELETED },
	{ "\\Draft", IMAP_F_DRAFT },
};

void
imap_view_free(struct imap_view **vp)
{
	struct imap_view *v = *vp;
	size_t i;

	if (v == NULL)
		return;
	*vp = NULL;
	for (i = 0; i < v->n_kwsets; i++)
		free(v->kwsets[i]);
	free(v->kwsets);
	free(v->msgs);
	free(v->name);
	free(v);
}

uint32_t
imap_view_intern(struct imap_view *v, const char *kw)
{
	size_t i;

	if (kw[0] == '\0')
		return 0;
	for (i = 1; i < v->n_kwsets; i++)
		if (strcmp(v->kwsets[i], kw) == 0)
			return (uint32_t)i;
	if (v->n_kwsets >= KWSETS_MAX)
		return 0; /* XXX(session): keywords beyond this are hidden */
	v->kwsets = xrealloc(v->kwsets, (v->n_kwsets + 1) * sizeof(char *));
	v->kwsets[v->n_kwsets] = xstrdup(kw);
	return (uint32_t)v->n_kwsets++;
}

void
imap_view_parse_flags(struct imap_view *v, const char *flags, uint32_t *sys_out,
    uint32_t *kw_out)
{
	struct buf kw;
	const char *p = flags, *e;
	size_t i, n;
	uint32_t sys = 0;
	bool matched;

	buf_init(&kw, 1024 * 1024);
	while (p != NULL && *p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		e = strchr(p, ' ');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		matched = false;
		for (i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++)
			if (strlen(sysflags[i].name) == n &&
			    slice_eq_ci(slice_make(p, n),
			        slice_cstr(sysflags[i].name))) {
				sys |= sysflags[i].bit;
				matched = true;
			}
		if (!matched && p[0] != '\\') {
			if (kw.len > 0)
				(void)buf_append(&kw, " ", 1);
			(void)buf_append(&kw, p, n);
		}
		p += n;
	}
	*sys_out = sys;
	*kw_out = imap_view_intern(v, kw.p != NULL ? kw.p : "");
	buf_clear(&kw);
}

const char *
imap_msg_keywords(const struct imap_view *v, const struct imap_msg *m)
{
	if (m->kw == 0 || m->kw >= v->n_kwsets)
		return "";
	return v->kwsets[m->kw];
}

void
imap_msg_flags(const struct imap_view *v, const struct imap_msg *m,
    struct buf *out)
{
	const char *kw = imap_msg_keywords(v, m);
	bool first = true;
	size_t i;

	(void)buf_append(out, "(", 1);
	for (i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++)
		if (m->sysflags & sysflags[i].bit) {
			if (!first)
				(void)buf_append(out, " ", 1);
			(void)buf_append_slice(out,
			    slice_cstr(sysflags[i].name));
			first = false;
		}
	if (m->sysflags & IMAP_F_RECENT) {
		if (!first)
			(void)buf_append(out, " ", 1);
		(void)buf_append_slice(out, SLICE_LIT("\\Recent"));
		first = false;
	}
	if (kw[0] != '\0') {
		if (!first)
			(void)buf_append(out, " ", 1);
		(void)buf_append_slice(out, slice_cstr(kw));
	}
	(void)buf_append(out, ")", 1);
}

void
imap_view_all_keywords(const struct imap_view *v, struct buf *out)
{
	const char *p, *e;
	size_t i, n;
	bool *used = xcalloc(v->n_kwsets + 1, sizeof(bool));
	struct buf seen;

	/* Only sets some message still carries. */
	for (i = 0; i < v->n; i++)
		if (v->msgs[i].kw < v->n_kwsets)
			used[v->msgs[i].kw] = true;
	buf_init(&seen, 1024 * 1024);
	for (i = 1; i < v->n_kwsets; i++) {
		if (!used[i])
			continue;
		for (p = v->kwsets[i]; *p != '\0'; p += n) {
			while (*p == ' ')
				p++;
			e = strchr(p, ' ');
			n = e != NULL ? (size_t)(e - p) : strlen(p);
			if (n == 0)
				break;
			/* " kw " lookup in what was written already */
			{
				char key[256];

				if (n + 3 > sizeof(key))
					continue;
				key[0] = ' ';
				memcpy(key + 1, p, n);
				key[n + 1] = ' ';
				key[n + 2] = '\0';
				if (seen.p != NULL &&
				    strstr(seen.p, key) != NULL)
					continue;
				if (seen.len == 0)
					(void)buf_append(&seen, " ", 1);
				(void)buf_append(&seen, key + 1, n + 1);
			}
			(void)buf_append(out, " ", 1);
			(void)buf_append(out, p, n);
		}
	}
	buf_clear(&seen);
	free(used);
}

uint32_t
imap_view_seq(const struct imap_view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v->msgs[mid].uid == uid)
			return (uint32_t)mid + 1;
		if (v->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static void
msg_from_entry(struct imap_view *v, struct imap_msg *m,
    const struct store_entry *e)
{
	m->uid = e->uid;
	m->message_id = e->message_id;
	m->size = e->size;
	m->internaldate = e->internaldate;
	m->modseq = e->modseq;
	imap_view_parse_flags(v, e->flags, &m->sysflags, &m->kw);
}

static void
push_msg(struct imap_view *v, const struct store_entry *e)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->msgs = xrealloc(v->msgs, v->cap * sizeof(*v->msgs));
	}
	memset(&v->msgs[v->n], 0, sizeof(v->msgs[0]));
	msg_from_entry(v, &v->msgs[v->n], e);
	v->n++;
}

static void
load_cb(void *ctx, const struct store_entry *e)
{
	struct imap_view *v = ctx;

	if (v->n > 0 && e->uid <= v->msgs[v->n - 1].uid)
		return;
	push_msg(v, e);
	if (e->modseq > v->highestmodseq)
		v->highestmodseq = e->modseq;
}

/* --- the server's cache of loaded views -------------------------------- */

static size_t
view_bytes(const struct imap_view *v)
{
	size_t b = v->n * sizeof(*v->msgs) + v->n_kwsets * sizeof(char *), i;

	for (i = 0; i < v->n_kwsets; i++)
		b += strlen(v->kwsets[i]) + 1;
	return b;
}

/* A deep copy of msgs and keyword sets (the name is not copied). */
static struct imap_view *
view_copy(const struct imap_view *src)
{
	struct imap_view *v = xcalloc(1, sizeof(*v));
	size_t i;

	*v = *src;
	v->name = NULL;
	v->cap = src->n;
	v->msgs = src->n > 0 ? xmalloc(src->n * sizeof(*v->msgs)) : NULL;
	if (src->n > 0)
		memcpy(v->msgs, src->msgs, src->n * sizeof(*v->msgs));
	v->kwsets = xcalloc(src->n_kwsets, sizeof(char *));
	for (i = 0; i < src->n_kwsets; i++)
		v->kwsets[i] = xstrdup(src->kwsets[i]);
	return v;
}

void
imap_view_cache_clear(struct imap_server *srv)
{
	size_t i;

	for (i = 0; i < IMAP_VCACHE_MAX; i++)
		imap_view_free(&srv->vcache[i]);
	srv->vcache_bytes = 0;
}

static void
cache_drop(struct imap_server *srv, size_t i)
{
	if (srv->vcache[i] == NULL)
		return;
	srv->vcache_bytes -= view_bytes(srv->vcache[i]);
	imap_view_free(&srv->vcache[i]);
}

/* A copy of the cached view of this mailbox state, or NULL. */
static struct imap_view *
cache_get(struct imap_server *srv, const struct store_mailbox_status *st)
{
	size_t i;

	for (i = 0; i < IMAP_VCACHE_MAX; i++) {
		struct imap_view *c = srv->vcache[i];

		if (c == NULL || c->mailbox_id != st->id)
			continue;
		if (c->uidvalidity != st->uidvalidity ||
		    c->uidnext != st->uidnext ||
		    c->highestmodseq != st->highestmodseq) {
			cache_drop(srv, i); /* stale: the mailbox moved on */
			continue;
		}
		srv->vcache_tick[i] = ++srv->vcache_clock;
		return view_copy(c);
	}
	return NULL;
}

/* Keeps a copy of v, freshly loaded in the state st, for the next SELECT
 * (replacing the least recently used entry; none if it is too big). */
static void
cache_put(struct imap_server *srv, const struct imap_view *v,
    const struct store_mailbox_status *st)
{
	size_t i, slot = 0, bytes = view_bytes(v);
	struct imap_view *c;

	if (bytes > IMAP_VCACHE_BYTES_MAX / 4)
		return;
	for (i = 0; i < IMAP_VCACHE_MAX; i++)
		if (srv->vcache[i] != NULL &&
		    srv->vcache[i]->mailbox_id == v->mailbox_id)
			cache_drop(srv, i);
	for (;;) {
		uint64_t oldest = UINT64_MAX;

		for (i = 0; i < IMAP_VCACHE_MAX; i++) {
			if (srv->vcache[i] == NULL) {
				slot = i;
				oldest = 0;
				break;
			}
			if (srv->vcache_tick[i] < oldest) {
				oldest = srv->vcache_tick[i];
				slot = i;
			}
		}
		if (srv->vcache[slot] == NULL &&
		    srv->vcache_bytes + bytes <= IMAP_VCACHE_BYTES_MAX)
			break;
		cache_drop(srv, slot);
	}
	c = view_copy(v);
	/* The key is the state the entries were read in. */
	c->uidnext = st->uidnext;
	c->highestmodseq = st->highestmodseq;
	c->readonly = false;
	srv->vcache[slot] = c;
	srv->vcache_tick[slot] = ++srv->vcache_clock;
	srv->vcache_bytes += bytes;
}

int
imap_view_open(struct imap_session *s, const char *name, bool readonly,
    struct imap_view **out, struct store_mailbox_status *st_out)
{
	struct imap_view *v;
	struct err err = { 0 };
	uint32_t hw, i;
	int rc;

	*out = NULL;
	rc = store_mailbox_peek(s->st, s->user_id, name, st_out, &err);
	if (rc != 0)
		return rc;
	if ((v = cache_get(s->srv, st_out)) != NULL) {
		v->name = xstrdup(name);
		v->readonly = readonly;
		goto loaded;
	}
	v = xcalloc(1, sizeof(*v));
	v->mailbox_id = st_out->id;
	v->name = xstrdup(name);
	v->readonly = readonly;
	v->uidvalidity = st_out->uidvalidity;
	v->uidnext = st_out->uidnext;
	v->highestmodseq = st_out->highestmodseq;
	v->kwsets = xcalloc(1, sizeof(char *));
	v->kwsets[0] = xstrdup("");
	v->n_kwsets = 1;
	rc = store_entry_range(s->st, v->mailbox_id, 1, UINT32_MAX, 0, load_cb,
	    v, &err);
	if (rc != 0) {
		log_warn(&s->log, "event=select-failed err=\"%s\"", err.msg);
		imap_view_free(&v);
		return rc;
	}
	cache_put(s->srv, v, st_out);
loaded:
	if (v->n > 0 && v->msgs[v->n - 1].uid >= v->uidnext)
		v->uidnext = v->msgs[v->n - 1].uid + 1;
	/* \Recent: a SELECT claims what no session has claimed; only rev1
	 * sessions see the flag (IMAP4rev2 dropped it). */
	if (!readonly && v->n > 0) {
		hw = imap_server_recent_claim(s->srv, v->mailbox_id,
		    v->uidvalidity, v->msgs[v->n - 1].uid);
		for (i = 0; i < v->n; i++)
			if (v->msgs[i].uid > hw &&
			    !(s->enabled & IMAP_ENABLED_REV2))
				v->msgs[i].sysflags |= IMAP_F_RECENT;
	}
	*out = v;
	return 0;
}

/* --- resolving sets ---------------------------------------------------- */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

bool
imap_view_resolve(struct imap_session *s, struct slice set, bool uid,
    uint32_t **idx_out, size_t *n_out)
{
	struct imap_view *v = s->view;
	struct seqset ss;
	uint32_t *idx, seq;
	size_t i, j, n = 0, total = 0;
	bool has_star;

	*idx_out = NULL;
	*n_out = 0;
	if (v == NULL)
		return false;
	if (set.len == 1 && set.p[0] == '$') {
		/* SEARCHRES: saved UIDs, whatever the command's kind. */
		idx = arena_alloc(s->cmd_arena,
		    (s->n_searchres + 1) * sizeof(*idx));
		if (idx == NULL)
			return false;
		for (i = 0; i < s->n_searchres; i++) {
			seq = imap_view_seq(v, s->searchres[i]);
			if (seq != 0)
				idx[n++] = seq - 1;
		}
		qsort(idx, n, sizeof(*idx), cmp_u32);
		*idx_out = idx;
		*n_out = n;
		return true;
	}
	if (!seqset_parse(s->cmd_arena, set, &ss))
		return false;
	has_star = false;
	for (i = 0; i < ss.n; i++)
		if (ss.r[i].lo == SEQSET_STAR || ss.r[i].hi == SEQSET_STAR)
			has_star = true;
	if (uid) {
		seqset_resolve(&ss, v->n > 0 ? v->msgs[v->n - 1].uid : 0);
		idx = arena_alloc(s->cmd_arena, (v->n + 1) * sizeof(*idx));
		if (idx == NULL)
			return false;
		/* Walk ranges and messages together (both ascending). */
		j = 0;
		for (i = 0; i < v->n && j < ss.n; i++) {
			while (j < ss.n && ss.r[j].hi < v->msgs[i].uid)
				j++;
			if (j < ss.n && ss.r[j].lo <= v->msgs[i].uid)
				idx[n++] = (uint32_t)i;
		}
		*idx_out = idx;
		*n_out = n;
		return true;
	}
	if (v->n == 0)
		return has_star ? (*idx_out = NULL, *n_out = 0, true) : false;
	seqset_resolve(&ss, (uint32_t)v->n);
	for (i = 0; i < ss.n; i++) {
		if (ss.r[i].lo == 0 || ss.r[i].hi > v->n)
			return false;
		total += (size_t)(ss.r[i].hi - ss.r[i].lo) + 1;
	}
	idx = arena_alloc(s->cmd_arena, (total + 1) * sizeof(*idx));
	if (idx == NULL)
		return false;
	for (i = 0; i < ss.n; i++)
		for (seq = ss.r[i].lo;; seq++) {
			idx[n++] = seq - 1;
			if (seq == ss.r[i].hi)
				break;
		}
	*idx_out = idx;
	*n_out = n;
	return true;
}

/* --- sync -------------------------------------------------------------- */

void
imap_view_write_fetch(struct imap_session *s, const struct imap_msg *m,
    bool with_uid, bool with_modseq)
{
	struct buf b;
	const struct imap_view *v = s->view;

	buf_init(&b, 2 * 1024 * 1024);
	(void)buf_printf(&b, "* %u FETCH (", imap_view_seq(v, m->uid));
	if (with_uid)
		(void)buf_printf(&b, "UID %u ", m->uid);
	(void)buf_append_slice(&b, SLICE_LIT("FLAGS "));
	imap_msg_flags(v, m, &b);
	if (with_modseq)
		(void)buf_printf(&b, " MODSEQ (%llu)",
		    (unsigned long long)m->modseq);
	(void)buf_append_slice(&b, SLICE_LIT(")\r\n"));
	imap_write(s, b.p, b.len);
	buf_clear(&b);
}

struct sync_ctx {
	struct imap_session *s;
	struct imap_view *v;
	uint32_t *changed; /* UIDs with new flags (xmalloc) */
	size_t n_changed, cap_changed;
	size_t appended;
	uint64_t maxmodseq;
};

static void
sync_entry_cb(void *ctx, const struct store_entry *e)
{
	struct sync_ctx *c = ctx;
	struct imap_view *v = c->v;
	uint32_t seq = imap_view_seq(v, e->uid), sys, kw;
	struct imap_msg *m;

	if (e->modseq > c->maxmodseq)
		c->maxmodseq = e->modseq;
	if (seq == 0) {
		if (v->n == 0 || e->uid > v->msgs[v->n - 1].uid) {
			push_msg(v, e);
			c->appended++;
		}
		return;
	}
	m = &v->msgs[seq - 1];
	imap_view_parse_flags(v, e->flags, &sys, &kw);
	sys |= m->sysflags & IMAP_F_RECENT;
	if (sys == m->sysflags && kw == m->kw && e->modseq == m->modseq)
		return;
	m->sysflags = sys;
	m->kw = kw;
	m->modseq = e->modseq;
	if (c->n_changed == c->cap_changed) {
		c->cap_changed = c->cap_changed ? c->cap_changed * 2 : 32;
		c->changed =
		    xrealloc(c->changed, c->cap_changed * sizeof(*c->changed));
	}
	c->changed[c->n_changed++] = e->uid;
}

static void
pend_add(struct imap_session_priv *pv, uint32_t uid)
{
	size_t i;

	for (i = 0; i < pv->n_pend_exp; i++)
		if (pv->pend_exp[i] == uid)
			return;
	if (pv->n_pend_exp == pv->cap_pend_exp) {
		pv->cap_pend_exp = pv->cap_pend_exp ? pv->cap_pend_exp * 2 : 32;
		pv->pend_exp = xrealloc(pv->pend_exp,
		    pv->cap_pend_exp * sizeof(*pv->pend_exp));
	}
	pv->pend_exp[pv->n_pend_exp++] = uid;
}

static void
expunged_cb(void *ctx, uint32_t uid)
{
	struct sync_ctx *c = ctx;

	if (imap_view_seq(c->v, uid) != 0)
		pend_add(c->s->priv, uid);
}

/* Reports and removes the pending expunges (descending sequence numbers
 * so that each EXPUNGE names a number valid when it is read). */
static void
report_expunges(struct imap_session *s)
{
	struct imap_session_priv *pv = s->priv;
	struct imap_view *v = s->view;
	struct buf b;
	uint32_t seq;
	size_t i, j, k;
	bool qresync = (s->enabled & IMAP_ENABLED_QRESYNC) != 0;

	if (pv->n_pend_exp == 0)
		return;
	qsort(pv->pend_exp, pv->n_pend_exp, sizeof(uint32_t), cmp_u32);
	if (qresync) {
		struct seqset set;

		seqset_from_sorted(s->cmd_arena, pv->pend_exp, pv->n_pend_exp,
		    &set);
		buf_init(&b, 16 * 1024 * 1024);
		(void)buf_append_slice(&b, SLICE_LIT("* VANISHED "));
		{
			size_t cap = 24 * pv->n_pend_exp + 16;
			char *txt = xmalloc(cap);

			if (set.r != NULL && seqset_format(&set, txt, cap))
				(void)buf_append_slice(&b, slice_cstr(txt));
			else
				for (i = 0; i < pv->n_pend_exp; i++)
					(void)buf_printf(&b, "%s%u",
					    i > 0 ? "," : "", pv->pend_exp[i]);
			free(txt);
		}
		(void)buf_append_slice(&b, SLICE_LIT("\r\n"));
		imap_write(s, b.p, b.len);
		buf_clear(&b);
	} else {
		for (i = pv->n_pend_exp; i-- > 0;) {
			seq = imap_view_seq(v, pv->pend_exp[i]);
			if (seq != 0)
				imap_printf(s, "* %u EXPUNGE\r\n", seq);
		}
	}
	/* Compact the view. */
	for (i = 0, j = 0, k = 0; i < v->n; i++) {
		while (k < pv->n_pend_exp && pv->pend_exp[k] < v->msgs[i].uid)
			k++;
		if (k < pv->n_pend_exp && pv->pend_exp[k] == v->msgs[i].uid)
			continue;
		v->msgs[j++] = v->msgs[i];
	}
	v->n = j;
	pv->n_pend_exp = 0;
}

struct present {
	const struct imap_view *v;
	bool *seen; /* per view index */
};

static void
present_cb(void *ctx, const struct store_entry *e)
{
	struct present *p = ctx;
	uint32_t seq = imap_view_seq(p->v, e->uid);

	if (seq != 0)
		p->seen[seq - 1] = true;
}

/* The expunge history since the view's modseq was pruned: whatever the
 * view holds and the mailbox no longer does was expunged. */
static int
expunged_by_listing(struct imap_session *s, struct err *err)
{
	struct imap_view *v = s->view;
	struct present p = { v, xcalloc(v->n + 1, sizeof(bool)) };
	size_t i;
	int rc;

	rc = store_entry_range(s->st, v->mailbox_id, 1, UINT32_MAX, 0,
	    present_cb, &p, err);
	for (i = 0; rc == 0 && i < v->n; i++)
		if (!p.seen[i])
			pend_add(s->priv, v->msgs[i].uid);
	free(p.seen);
	return rc;
}

static size_t
count_recent(const struct imap_view *v)
{
	size_t i, n = 0;

	for (i = 0; i < v->n; i++)
		if (v->msgs[i].sysflags & IMAP_F_RECENT)
			n++;
	return n;
}

struct find_ctx {
	int64_t id;
	uint32_t uidvalidity;
	char *name; /* xmalloc, NULL: not found */
};

static void
find_cb(void *ctx, const struct store_mailbox *mb)
{
	struct find_ctx *f = ctx;

	if (mb->id == f->id && mb->uidvalidity == f->uidvalidity &&
	    f->name == NULL && mb->name != NULL)
		f->name = xstrdup(mb->name);
}

/* The selected mailbox is no longer under its name: another session
 * renamed it (the view follows the mailbox id to its new name, as this
 * session's own RENAME does) or deleted it (ERR_NOTFOUND; deleted and
 * re-created under the same name counts as deleted: a new UIDVALIDITY,
 * and the store may give the new mailbox the old one's id). */
static int
follow_rename(struct imap_session *s, struct store_mailbox_status *st,
    struct err *err)
{
	struct imap_view *v = s->view;
	struct find_ctx f = { v->mailbox_id, v->uidvalidity, NULL };
	int rc;

	rc = store_mailbox_list(s->st, s->user_id, find_cb, &f, err);
	if (rc != 0) {
		free(f.name);
		return rc == ERR_NOTFOUND ? ERR_TEMP : rc;
	}
	if (f.name == NULL)
		return ERR_NOTFOUND;
	rc = store_mailbox_peek(s->st, s->user_id, f.name, st, err);
	if (rc == 0 &&
	    (st->id != v->mailbox_id || st->uidvalidity != v->uidvalidity))
		rc = ERR_TEMP; /* renamed again meanwhile: next time */
	if (rc == 0) {
		log_info(&s->log, "event=selected-renamed");
		free(v->name);
		v->name = f.name;
		return 0;
	}
	free(f.name);
	return rc;
}

/* The selected mailbox was deleted by someone else: nothing sensible
 * remains to say about its messages, and a client cannot be moved to
 * the authenticated state unasked (RFC 9051 has no such transition), so
 * the session ends with BYE as Dovecot's does. The view stays until the
 * session is freed: running commands may still look at it. */
static void
view_gone(struct imap_session *s)
{
	s->priv->view_gone = true;
	log_info(&s->log, "event=selected-deleted");
	imap_bye(s, "Selected mailbox was deleted, have to disconnect");
}

int
imap_view_sync(struct imap_session *s, bool expunge_ok,
    const struct seqset *quiet)
{
	struct imap_view *v = s->view;
	struct imap_session_priv *pv = s->priv;
	struct store_mailbox_status st;
	struct sync_ctx c;
	struct err err = { 0 };
	size_t i;
	uint32_t hw;
	bool complete = true, condstore, rev1;
	int rc;

	if (v == NULL || pv->view_gone)
		return 0;
	pv->changes_pending = false;
	rc = store_mailbox_peek(s->st, s->user_id, v->name, &st, &err);
	if (rc == ERR_NOTFOUND ||
	    (rc == 0 &&
	        (st.id != v->mailbox_id || st.uidvalidity != v->uidvalidity))) {
		rc = follow_rename(s, &st, &err);
		if (rc == ERR_NOTFOUND) {
			view_gone(s);
			return 0;
		}
	}
	if (rc != 0)
		return ERR_TEMP;
	if (st.highestmodseq == v->highestmodseq && st.uidnext <= v->uidnext &&
	    (pv->n_pend_exp == 0 || !expunge_ok))
		return 0;
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.v = v;
	if (st.highestmodseq != v->highestmodseq || st.uidnext > v->uidnext) {
		rc = store_entry_range(s->st, v->mailbox_id, 1, UINT32_MAX,
		    v->highestmodseq, sync_entry_cb, &c, &err);
		if (rc == 0)
			rc = store_expunged_since(s->st, v->mailbox_id,
			    v->highestmodseq, expunged_cb, &c, &complete, &err);
		if (rc == 0 && !complete)
			rc = expunged_by_listing(s, &err);
		if (rc != 0) {
			free(c.changed);
			log_warn(&s->log, "event=sync-failed err=\"%s\"",
			    err.msg);
			return ERR_TEMP;
		}
		if (c.maxmodseq > st.highestmodseq)
			st.highestmodseq = c.maxmodseq;
		v->highestmodseq = st.highestmodseq;
		if (st.uidnext > v->uidnext)
			v->uidnext = st.uidnext;
		if (v->n > 0 && v->msgs[v->n - 1].uid >= v->uidnext)
			v->uidnext = v->msgs[v->n - 1].uid + 1;
	}
	rev1 = !(s->enabled & IMAP_ENABLED_REV2);
	condstore =
	    (s->enabled & (IMAP_ENABLED_CONDSTORE | IMAP_ENABLED_QRESYNC)) != 0;
	if (expunge_ok)
		report_expunges(s);
	if (c.appended > 0) {
		if (!v->readonly) {
			hw = imap_server_recent_claim(s->srv, v->mailbox_id,
			    v->uidvalidity, v->msgs[v->n - 1].uid);
			for (i = v->n - c.appended; rev1 && i < v->n; i++)
				if (v->msgs[i].uid > hw)
					v->msgs[i].sysflags |= IMAP_F_RECENT;
		}
		imap_printf(s, "* %zu EXISTS\r\n", v->n);
		if (rev1)
			imap_printf(s, "* %zu RECENT\r\n", count_recent(v));
	}
	for (i = 0; i < c.n_changed; i++) {
		uint32_t seq = imap_view_seq(v, c.changed[i]);

		if (seq == 0)
			continue;
		if (quiet != NULL && seqset_contains(quiet, c.changed[i]))
			continue;
		imap_view_write_fetch(s, &v->msgs[seq - 1], condstore,
		    condstore);
	}
	free(c.changed);
	return 0;
}
