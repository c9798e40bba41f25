/* SPDX-License-Identifier: MIT */
/* SORT ordering and THREAD algorithms of RFC 5256 over plain arrays (see
 * search_thread.h). Every walk over a thread tree is iterative: the
 * depth of a reference chain comes from mail headers, not from the
 * bounded command parser. */
#include "imap/search_thread.h"

#include <stdint.h>
#include <string.h>

#include "lib/err.h"
#include "lib/mem.h"

#include "lib/banned.h"

/* --- generic stable merge sort of index arrays ------------------------ */

typedef int cmp_fn(const void *ctx, uint32_t a, uint32_t b);

static void
msort(uint32_t *a, size_t n, cmp_fn *cmp, const void *ctx)
{
	uint32_t *tmp, *src, *dst, *t;
	size_t width, i, lo, mid, hi, x, y, k;

	if (n < 2)
		return;
	tmp = xcalloc(n, sizeof(*tmp));
	src = a;
	dst = tmp;
	for (width = 1; width < n; width *= 2) {
		for (lo = 0; lo < n; lo += 2 * width) {
			mid = lo + width < n ? lo + width : n;
			hi = lo + 2 * width < n ? lo + 2 * width : n;
			x = lo;
			y = mid;
			for (k = lo; k < hi; k++) {
				if (x < mid &&
				    (y >= hi || cmp(ctx, src[x], src[y]) <= 0))
					dst[k] = src[x++];
				else
					dst[k] = src[y++];
			}
		}
		t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		for (i = 0; i < n; i++)
			a[i] = src[i];
	xfree(&tmp);
}

static int
slice_cmp(struct slice a, struct slice b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int r = n ? memcmp(a.p, b.p, n) : 0;

	if (r != 0)
		return r < 0 ? -1 : 1;
	return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

#define CMP3(x, y) ((x) < (y) ? -1 : (x) > (y) ? 1 : 0)

/* --- SORT ------------------------------------------------------------- */

struct sort_ctx {
	const struct sort_msg *msgs;
	const struct sort_crit *crit;
	size_t n_crit;
};

static int
sort_cmp(const void *vctx, uint32_t ia, uint32_t ib)
{
	const struct sort_ctx *ctx = vctx;
	const struct sort_msg *a = &ctx->msgs[ia], *b = &ctx->msgs[ib];
	size_t i;
	int r = 0;

	for (i = 0; i < ctx->n_crit; i++) {
		switch (ctx->crit[i].key) {
		case SORT_ARRIVAL:
			r = CMP3(a->arrival, b->arrival);
			break;
		case SORT_CC:
			r = slice_cmp(a->cc, b->cc);
			break;
		case SORT_DATE:
			r = CMP3(a->date, b->date);
			break;
		case SORT_FROM:
			r = slice_cmp(a->from, b->from);
			break;
		case SORT_SIZE:
			r = CMP3(a->size, b->size);
			break;
		case SORT_SUBJECT:
			r = slice_cmp(a->subject, b->subject);
			break;
		case SORT_TO:
			r = slice_cmp(a->to, b->to);
			break;
		case SORT_DISPLAYFROM:
			r = slice_cmp(a->displayfrom, b->displayfrom);
			break;
		case SORT_DISPLAYTO:
			r = slice_cmp(a->displayto, b->displayto);
			break;
		}
		if (r != 0)
			return ctx->crit[i].reverse ? -r : r;
	}
	/* RFC 5256 §3: exact matches keep mailbox order, never reversed. */
	return CMP3(a->seq, b->seq);
}

void
sort_msgs(const struct sort_msg *msgs, uint32_t *order, size_t n,
    const struct sort_crit *crit, size_t n_crit)
{
	struct sort_ctx ctx = { msgs, crit, n_crit };

	msort(order, n, sort_cmp, &ctx);
}

/* --- subjects and message ids ----------------------------------------- */

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Skips whitespace and "[...]" blobs from i; returns the new index. */
static size_t
skip_ws_blobs(struct slice s, size_t i)
{
	size_t j;

	for (;;) {
		while (i < s.len && is_ws(s.p[i]))
			i++;
		if (i >= s.len || s.p[i] != '[')
			return i;
		for (j = i + 1; j < s.len && s.p[j] != ']' && s.p[j] != '[';
		     j++)
			;
		if (j >= s.len || s.p[j] != ']')
			return i;
		i = j + 1;
	}
}

bool
subject_is_reply(struct slice s)
{
	static const char *const leaders[] = { "fwd", "fw", "re" };
	size_t i, j, k, n;

	/* trailing "(fwd)" (subj-trailer) */
	n = s.len;
	while (n > 0 && is_ws(s.p[n - 1]))
		n--;
	if (n >= 5) {
		for (k = 0; k < 5; k++)
			if (lower(s.p[n - 5 + k]) != "(fwd)"[k])
				break;
		if (k == 5)
			return true;
	}
	/* subj-leader: (*subj-blob subj-refwd) */
	i = skip_ws_blobs(s, 0);
	for (k = 0; k < sizeof(leaders) / sizeof(leaders[0]); k++) {
		size_t ll = strlen(leaders[k]);

		if (s.len - i < ll)
			continue;
		for (j = 0; j < ll; j++)
			if (lower(s.p[i + j]) != leaders[k][j])
				break;
		if (j < ll)
			continue;
		j = skip_ws_blobs(s, i + ll);
		if (j < s.len && s.p[j] == ':')
			return true;
	}
	return false;
}

bool
msgid_next(struct slice v, size_t *pos, struct slice *id_out)
{
	size_t i = *pos, lt, gt, a, b;

	for (;;) {
		while (i < v.len && v.p[i] != '<')
			i++;
		if (i >= v.len) {
			*pos = v.len;
			return false;
		}
		lt = i;
		for (gt = lt + 1;
		     gt < v.len && v.p[gt] != '>' && v.p[gt] != '<'; gt++)
			;
		if (gt >= v.len) {
			*pos = v.len;
			return false;
		}
		if (v.p[gt] == '<') { /* "<a <b>": restart at the second */
			i = gt;
			continue;
		}
		a = lt + 1;
		b = gt;
		while (a < b && is_ws(v.p[a]))
			a++;
		while (b > a && is_ws(v.p[b - 1]))
			b--;
		i = gt + 1;
		if (a == b)
			continue; /* "<>" is no id */
		*pos = i;
		*id_out = slice_make(v.p + a, b - a);
		return true;
	}
}

struct slice
msgid_first(struct slice value)
{
	struct slice id = { "", 0 };
	size_t pos = 0;

	if (!msgid_next(value, &pos, &id))
		id = slice_make("", 0);
	return id;
}

/* --- THREAD ------------------------------------------------------------ */

#define NONE UINT32_MAX
#define DEAD (UINT32_MAX - 1) /* parent of a container merged away */

struct cont {
	uint32_t parent, child, next; /* first child, next sibling */
	uint32_t msg;                 /* index into msgs, NONE: dummy */
};

struct tree {
	const struct sort_msg *msgs;
	struct cont *c;
	size_t n, cap;
	/* message id -> container, open addressing (ids borrowed) */
	struct slice *hkey;
	uint32_t *hval;
	size_t hcap, hused;
};

static uint32_t
cont_new(struct tree *t, uint32_t msg)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->c = xrealloc(t->c, t->cap * sizeof(*t->c));
	}
	t->c[t->n] = (struct cont){ NONE, NONE, NONE, msg };
	return (uint32_t)t->n++;
}

static uint64_t
hash_id(struct slice s)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < s.len; i++) {
		h ^= (unsigned char)s.p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void
hash_grow(struct tree *t)
{
	struct slice *ok = t->hkey;
	uint32_t *ov = t->hval;
	size_t ocap = t->hcap, i, j;

	t->hcap = ocap ? ocap * 2 : 256;
	t->hkey = xcalloc(t->hcap, sizeof(*t->hkey));
	t->hval = xcalloc(t->hcap, sizeof(*t->hval));
	for (i = 0; i < t->hcap; i++)
		t->hval[i] = NONE;
	for (i = 0; i < ocap; i++) {
		if (ov[i] == NONE)
			continue;
		j = hash_id(ok[i]) & (t->hcap - 1);
		while (t->hval[j] != NONE)
			j = (j + 1) & (t->hcap - 1);
		t->hkey[j] = ok[i];
		t->hval[j] = ov[i];
	}
	xfree(&ok);
	xfree(&ov);
}

/* The slot of id: its container, or the empty slot where it goes. */
static size_t
hash_slot(struct tree *t, struct slice id)
{
	size_t j;

	if ((t->hused + 1) * 2 > t->hcap)
		hash_grow(t);
	j = hash_id(id) & (t->hcap - 1);
	while (t->hval[j] != NONE && !slice_eq(t->hkey[j], id))
		j = (j + 1) & (t->hcap - 1);
	return j;
}

/* The container of id, created as a dummy when new. */
static uint32_t
cont_for_id(struct tree *t, struct slice id)
{
	size_t j = hash_slot(t, id);

	if (t->hval[j] == NONE) {
		t->hkey[j] = id;
		t->hval[j] = cont_new(t, NONE);
		t->hused++;
	}
	return t->hval[j];
}

/* true if a is b or one of b's ancestors. */
static bool
is_ancestor(const struct tree *t, uint32_t a, uint32_t b)
{
	if (t->c[a].child == NONE) /* a leaf is nobody's ancestor: the
	                            * common case costs no walk */
		return a == b;
	while (b != NONE && b != DEAD) {
		if (a == b)
			return true;
		b = t->c[b].parent;
	}
	return false;
}

static void
link_child(struct tree *t, uint32_t parent, uint32_t child)
{
	t->c[child].parent = parent;
	t->c[child].next = t->c[parent].child;
	t->c[parent].child = child;
}

static void
unlink_child(struct tree *t, uint32_t child)
{
	uint32_t p = t->c[child].parent, *pp;

	if (p == NONE || p == DEAD)
		return;
	for (pp = &t->c[p].child; *pp != NONE; pp = &t->c[*pp].next)
		if (*pp == child) {
			*pp = t->c[child].next;
			break;
		}
	t->c[child].parent = NONE;
	t->c[child].next = NONE;
}

/* RFC 5256 §2.5 step (1). */
static void
thread_link(struct tree *t, size_t n)
{
	const struct sort_msg *m;
	struct slice id;
	uint32_t c, r, prev;
	size_t i, j, pos;
	bool any;

	for (i = 0; i < n; i++) {
		m = &t->msgs[i];
		c = NONE;
		if (m->message_id.len > 0) {
			j = hash_slot(t, m->message_id);
			if (t->hval[j] == NONE) {
				t->hkey[j] = m->message_id;
				t->hval[j] = c = cont_new(t, (uint32_t)i);
				t->hused++;
			} else if (t->c[t->hval[j]].msg == NONE) {
				c = t->hval[j];
				t->c[c].msg = (uint32_t)i;
			}
		}
		if (c == NONE) /* no id, or a duplicate: a unique one */
			c = cont_new(t, (uint32_t)i);

		/* (1A) link the references in order, parent before child,
		 * never changing an existing link nor making a loop */
		prev = NONE;
		pos = 0;
		any = false;
		while (msgid_next(m->references, &pos, &id)) {
			any = true;
			r = cont_for_id(t, id);
			if (prev != NONE && r != prev &&
			    t->c[r].parent == NONE && !is_ancestor(t, r, prev))
				link_child(t, prev, r);
			prev = r;
		}
		if (!any) {
			id = msgid_first(m->in_reply_to);
			if (id.len > 0)
				prev = cont_for_id(t, id);
		}
		/* (1B) the message's parent is the last reference */
		if (t->c[c].parent != NONE)
			unlink_child(t, c);
		if (prev != NONE && prev != c && !is_ancestor(t, c, prev))
			link_child(t, prev, c);
	}
}

/* RFC 5256 §2.5 step (4), iteratively over a stack of containers whose
 * child lists need pruning; root is the sentinel holding the root set. */
static void
thread_prune(struct tree *t, uint32_t root)
{
	uint32_t *stack, p, c, next, prev, first, last = NONE, x;
	size_t sp = 0;

	stack = xcalloc(t->n + 1, sizeof(*stack));
	stack[sp++] = root;
	while (sp > 0) {
		p = stack[--sp];
		prev = NONE;
		c = t->c[p].child;
		while (c != NONE) {
			next = t->c[c].next;
			if (t->c[c].msg == NONE && t->c[c].child == NONE) {
				/* a dummy without children goes */
				if (prev == NONE)
					t->c[p].child = next;
				else
					t->c[prev].next = next;
				t->c[c].parent = DEAD;
				c = next;
				continue;
			}
			if (t->c[c].msg == NONE &&
			    (p != root || t->c[t->c[c].child].next == NONE)) {
				/* promote its children to this level (at the
				 * root only when there is one child) */
				first = t->c[c].child;
				for (x = first; x != NONE; x = t->c[x].next) {
					t->c[x].parent = p;
					last = x;
				}
				t->c[last].next = next;
				if (prev == NONE)
					t->c[p].child = first;
				else
					t->c[prev].next = first;
				t->c[c].parent = DEAD;
				t->c[c].child = NONE;
				c = first; /* look at them again */
				continue;
			}
			stack[sp++] = c; /* each container is pushed once */
			prev = c;
			c = next;
		}
	}
	xfree(&stack);
}

static const struct sort_msg *
cont_subject_msg(const struct tree *t, uint32_t c)
{
	if (t->c[c].msg == NONE)
		c = t->c[c].child;
	return c == NONE || t->c[c].msg == NONE ? NULL : &t->msgs[t->c[c].msg];
}

static bool
cont_is_reply(const struct tree *t, uint32_t c)
{
	return t->c[c].msg != NONE && t->msgs[t->c[c].msg].is_reply;
}

/* RFC 5256 §2.5 step (5): group the root set by base subject. */
static void
thread_subjects(struct tree *t, uint32_t root)
{
	struct tree st = { 0 }; /* only its hash table is used */
	const struct sort_msg *sm;
	uint32_t *roots, *extra, c, e, d, x, nx;
	size_t n_roots = 0, n_extra = 0, i, j;

	for (c = t->c[root].child; c != NONE; c = t->c[c].next)
		n_roots++;
	roots = xcalloc(n_roots + 1, sizeof(*roots));
	extra = xcalloc(n_roots + 1, sizeof(*extra));
	i = 0;
	for (c = t->c[root].child; c != NONE; c = t->c[c].next)
		roots[i++] = c;

	/* (5B) the subject table, preferring dummies and non-replies */
	for (i = 0; i < n_roots; i++) {
		c = roots[i];
		sm = cont_subject_msg(t, c);
		if (sm == NULL || sm->subject.len == 0)
			continue;
		j = hash_slot(&st, sm->subject);
		if (st.hval[j] == NONE) {
			st.hkey[j] = sm->subject;
			st.hval[j] = c;
			st.hused++;
			continue;
		}
		e = st.hval[j];
		if ((t->c[c].msg == NONE && t->c[e].msg != NONE) ||
		    (cont_is_reply(t, e) && t->c[c].msg != NONE &&
		        !cont_is_reply(t, c)))
			st.hval[j] = c;
	}

	/* (5C) merge roots that share a base subject. The root list is
	 * rebuilt afterwards from roots[] and extra[] by parent. */
	for (i = 0; i < n_roots; i++) {
		c = roots[i];
		if (t->c[c].parent != root)
			continue;
		sm = cont_subject_msg(t, c);
		if (sm == NULL || sm->subject.len == 0)
			continue;
		j = hash_slot(&st, sm->subject);
		e = st.hval[j];
		if (e == NONE || e == c)
			continue;
		if (t->c[c].msg == NONE && t->c[e].msg == NONE) {
			for (x = t->c[c].child; x != NONE; x = nx) {
				nx = t->c[x].next;
				link_child(t, e, x);
			}
			t->c[c].child = NONE;
			t->c[c].parent = DEAD;
		} else if (t->c[e].msg == NONE) {
			link_child(t, e, c);
		} else if (t->c[c].msg == NONE) {
			link_child(t, c, e);
			st.hval[j] = c;
		} else if (!cont_is_reply(t, e) && cont_is_reply(t, c)) {
			link_child(t, e, c);
		} else if (cont_is_reply(t, e) && !cont_is_reply(t, c)) {
			link_child(t, c, e);
			st.hval[j] = c;
		} else {
			d = cont_new(t, NONE);
			t->c[d].parent = root;
			link_child(t, d, e);
			link_child(t, d, c);
			extra[n_extra++] = d;
			st.hval[j] = d;
		}
	}

	t->c[root].child = NONE;
	for (i = n_roots; i > 0; i--)
		if (t->c[roots[i - 1]].parent == root)
			link_child(t, root, roots[i - 1]);
	for (i = n_extra; i > 0; i--)
		link_child(t, root, extra[i - 1]);
	xfree(&roots);
	xfree(&extra);
	xfree(&st.hkey);
	xfree(&st.hval);
}

/* Sort key of a container: its message's (date, seq), or for a dummy
 * that of its first child (children are sorted first). */
static const struct sort_msg *
cont_date_msg(const struct tree *t, uint32_t c)
{
	while (c != NONE && t->c[c].msg == NONE)
		c = t->c[c].child;
	return c == NONE ? NULL : &t->msgs[t->c[c].msg];
}

static int
date_cmp(const void *vt, uint32_t a, uint32_t b)
{
	const struct tree *t = vt;
	const struct sort_msg *ma = cont_date_msg(t, a),
	                      *mb = cont_date_msg(t, b);

	if (ma == NULL || mb == NULL)
		return ma == mb ? 0 : ma == NULL ? 1 : -1;
	if (ma->date != mb->date)
		return CMP3(ma->date, mb->date);
	return CMP3(ma->seq, mb->seq);
}

static void
sort_children(struct tree *t, uint32_t p, uint32_t *scratch)
{
	size_t k = 0, i;
	uint32_t c;

	for (c = t->c[p].child; c != NONE; c = t->c[c].next)
		scratch[k++] = c;
	if (k < 2)
		return;
	msort(scratch, k, date_cmp, t);
	t->c[p].child = scratch[0];
	for (i = 0; i + 1 < k; i++)
		t->c[scratch[i]].next = scratch[i + 1];
	t->c[scratch[k - 1]].next = NONE;
}

/* RFC 5256 §2.5 step (6): siblings by sent date, deepest levels first so
 * that a dummy's first child is known before the dummy is compared.
 * Containers are visited in an order where children precede parents:
 * a pre-order list read backwards. */
static void
thread_sort(struct tree *t, uint32_t root)
{
	uint32_t *order, *stack, *scratch, c, x;
	size_t n_order = 0, sp = 0, i;

	order = xcalloc(t->n + 1, sizeof(*order));
	stack = xcalloc(t->n + 1, sizeof(*stack));
	scratch = xcalloc(t->n + 1, sizeof(*scratch));
	stack[sp++] = root;
	while (sp > 0) {
		c = stack[--sp];
		order[n_order++] = c;
		for (x = t->c[c].child; x != NONE; x = t->c[x].next)
			stack[sp++] = x;
	}
	for (i = n_order; i > 0; i--)
		sort_children(t, order[i - 1], scratch);
	xfree(&order);
	xfree(&stack);
	xfree(&scratch);
}

/* Output, iteratively: a stack of actions. */
enum { ACT_EMIT, ACT_OPEN, ACT_CLOSE };

struct act {
	uint32_t kind, c;
};

static int
thread_emit(const struct tree *t, uint32_t root, struct buf *out)
{
	struct act *stack;
	size_t sp = 0, cap = 3 * (t->n + 1), k;
	uint32_t c, x, nkids;
	int rc = 0;

	stack = xcalloc(cap, sizeof(*stack));
	/* roots in reverse so that the first is emitted first */
	k = 0;
	for (x = t->c[root].child; x != NONE; x = t->c[x].next)
		k++;
	sp = 3 * k;
	for (x = t->c[root].child; x != NONE; x = t->c[x].next) {
		k--;
		stack[3 * k + 2] = (struct act){ ACT_OPEN, 0 };
		stack[3 * k + 1] = (struct act){ ACT_EMIT, x };
		stack[3 * k] = (struct act){ ACT_CLOSE, 0 };
	}
	while (sp > 0 && rc == 0) {
		struct act a = stack[--sp];

		if (a.kind == ACT_OPEN) {
			rc = buf_append(out, "(", 1);
			continue;
		}
		if (a.kind == ACT_CLOSE) {
			rc = buf_append(out, ")", 1);
			continue;
		}
		c = a.c;
		nkids = 0;
		for (x = t->c[c].child; x != NONE; x = t->c[x].next)
			nkids++;
		if (t->c[c].msg != NONE) {
			rc = buf_printf(out, "%u",
			    (unsigned)t->msgs[t->c[c].msg].id);
			if (rc == 0 && nkids > 0)
				rc = buf_append(out, " ", 1);
		}
		if (nkids == 1) { /* a chain goes on without parentheses */
			stack[sp++] = (struct act){ ACT_EMIT, t->c[c].child };
			continue;
		}
		/* several children: "(a)(b)" pushed in reverse */
		k = nkids;
		sp += 3 * k;
		for (x = t->c[c].child; x != NONE; x = t->c[x].next) {
			k--;
			stack[sp - 3 * nkids + 3 * k + 2] =
			    (struct act){ ACT_OPEN, 0 };
			stack[sp - 3 * nkids + 3 * k + 1] =
			    (struct act){ ACT_EMIT, x };
			stack[sp - 3 * nkids + 3 * k] =
			    (struct act){ ACT_CLOSE, 0 };
		}
	}
	xfree(&stack);
	return rc;
}

static void
tree_free(struct tree *t)
{
	xfree(&t->c);
	xfree(&t->hkey);
	xfree(&t->hval);
}

int
thread_references(const struct sort_msg *msgs, size_t n, struct buf *out)
{
	struct tree t = { 0 };
	uint32_t root, c;
	size_t i;
	int rc;

	t.msgs = msgs;
	thread_link(&t, n);
	/* (2) the root set under a sentinel; (3) the id table goes */
	root = cont_new(&t, NONE);
	for (i = t.n; i > 0; i--) { /* prepending: keep container order */
		c = (uint32_t)(i - 1);
		if (c != root && t.c[c].parent == NONE)
			link_child(&t, root, c);
	}
	xfree(&t.hkey);
	xfree(&t.hval);
	t.hcap = t.hused = 0;
	thread_prune(&t, root);
	thread_subjects(&t, root);
	thread_sort(&t, root);
	rc = thread_emit(&t, root, out);
	tree_free(&t);
	return rc;
}

int
thread_orderedsubject(const struct sort_msg *msgs, size_t n, struct buf *out)
{
	static const struct sort_crit crit[] = { { SORT_SUBJECT, false },
		{ SORT_DATE, false } };
	struct tree t = { 0 };
	uint32_t *order, root, c, parent = NONE;
	size_t i;
	int rc;

	order = xcalloc(n + 1, sizeof(*order));
	for (i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	sort_msgs(msgs, order, n, crit, 2);
	t.msgs = msgs;
	root = cont_new(&t, NONE);
	/* RFC 5256 §2.4: each run of one base subject is a thread whose
	 * first message is the parent of all the others. Container i + 1
	 * holds order[i]; link_child prepends, so link backwards. */
	for (i = 0; i < n; i++) {
		c = cont_new(&t, order[i]);
		if (i == 0 ||
		    slice_cmp(msgs[order[i]].subject,
		        msgs[order[i - 1]].subject) != 0)
			parent = c;
		t.c[c].parent = c == parent ? root : parent;
	}
	for (i = n; i > 0; i--)
		link_child(&t, t.c[i].parent, (uint32_t)i);
	/* threads by the date of their first message; the children are
	 * already in date order within a subject */
	thread_sort(&t, root);
	rc = thread_emit(&t, root, out);
	tree_free(&t);
	xfree(&order);
	return rc;
}
