/* SPDX-License-Identifier: MIT */
/* Unit tests for the IMAP half of store.h on the embedded backend:
 * flags (modes, modseq, UNCHANGEDSINCE), expunge history, copy and move,
 * mailbox create/rename/delete/subscribe, status, watchers (inline and
 * through the loop), the migration of a version 1 store, and a mailbox
 * delete and an expunge too large for an in-memory sub-journal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/sqlite/test_util.h"

struct fx {
	char base[256], dir[300];
	struct store *st;
	uv_loop_t loop;
	bool with_loop;
	int64_t a, b;
};

static int
open_fx(struct fx *f)
{
	struct store_opts o = { 0 };
	struct err e;

	o.dir = f->dir;
	o.batch_max = 64;
	o.loop = f->with_loop ? &f->loop : NULL;
	o.gc_grace_seconds = 3600;
	if (store_open(&o, &f->st, &e) != 0) {
		fprintf(stderr, "store_open: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int
setup_common(void **state, bool with_loop)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct err e;

	tu_tmpdir(f->base, f->dir);
	f->with_loop = with_loop;
	if (with_loop && uv_loop_init(&f->loop) != 0)
		return -1;
	if (open_fx(f) != 0 ||
	    store_domain_add(f->st, "example.test", &e) != 0 ||
	    store_user_add(f->st, "a@example.test", "h", &f->a, &e) != 0 ||
	    store_user_add(f->st, "b@example.test", "h", &f->b, &e) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_common(state, false);
}

static int
setup_loop(void **state)
{
	return setup_common(state, true);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(&f->st);
	if (f->with_loop) {
		assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
		assert_int_equal(uv_loop_close(&f->loop), 0);
	}
	tu_rmtree(f->base);
	free(f);
	return 0;
}

/* --- helpers ----------------------------------------------------------- */

struct commit_res {
	int calls, status;
	uint32_t uid, uidvalidity;
	int64_t message_id;
};

static void
on_commit(void *ctx, const struct store_commit_result *res)
{
	struct commit_res *r = ctx;

	r->calls++;
	r->status = res->status;
	r->uid = res->uid;
	r->uidvalidity = res->uidvalidity;
	r->message_id = res->message_id;
}

/* Delivers one message (inline store) and returns its UID. */
static uint32_t
deliver(struct fx *f, int64_t user, const char *mailbox, const char *flags,
    int64_t internaldate, const char *tag)
{
	static const char body[] = "body";
	const void *parts[] = { body };
	size_t lens[] = { sizeof(body) - 1 };
	struct store_msg *m = tu_msg(f->st, tag, parts, lens, 1);
	struct store_delivery d = { user, mailbox, flags, internaldate };
	struct commit_res r = { 0 };

	assert_int_equal(store_msg_commit(&m, &d, 1, on_commit, &r), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 0);
	return r.uid;
}

struct ent {
	uint32_t uid[64];
	uint64_t modseq[64];
	char flags[64][128];
	int64_t date[64];
	size_t n;
};

static void
on_ent(void *ctx, const struct store_entry *e)
{
	struct ent *x = ctx;

	x->uid[x->n] = e->uid;
	x->modseq[x->n] = e->modseq;
	x->date[x->n] = e->internaldate;
	(void)str_copy(x->flags[x->n++], sizeof(x->flags[0]), e->flags);
}

static struct ent
entries(struct fx *f, int64_t mbox)
{
	struct ent x;
	struct err e;

	memset(&x, 0, sizeof(x));
	assert_int_equal(store_entry_range(f->st, mbox, 1, UINT32_MAX, 0,
	                     on_ent, &x, &e),
	    0);
	return x;
}

static struct store_mailbox_status
status(struct fx *f, int64_t user, const char *name)
{
	struct store_mailbox_status s;
	struct err e;

	assert_int_equal(store_mailbox_status(f->st, user, name, &s, &e), 0);
	return s;
}

struct op_res {
	int calls, status;
	uint64_t modseq;
	uint32_t uids[64], new_uids[64], failed[64], uidvalidity;
	size_t n, n_new, n_failed;
};

static void
on_op(void *ctx, const struct store_op_result *r)
{
	struct op_res *o = ctx;

	o->calls++;
	o->status = r->status;
	o->modseq = r->modseq;
	o->uidvalidity = r->uidvalidity;
	o->n = r->n_uids;
	o->n_new = r->n_new_uids;
	o->n_failed = r->n_failed_uids;
	if (r->n_uids)
		memcpy(o->uids, r->uids, r->n_uids * sizeof(uint32_t));
	if (r->n_new_uids)
		memcpy(o->new_uids, r->new_uids,
		    r->n_new_uids * sizeof(uint32_t));
	if (r->n_failed_uids)
		memcpy(o->failed, r->failed_uids,
		    r->n_failed_uids * sizeof(uint32_t));
}

static struct op_res
flags(struct fx *f, int64_t mbox, const uint32_t *uids, size_t n,
    enum store_flags_mode mode, const char *fl, uint64_t unchangedsince)
{
	struct op_res o;

	memset(&o, 0, sizeof(o));
	assert_int_equal(store_flags_update(f->st, mbox, uids, n, mode, fl,
	                     unchangedsince, on_op, &o),
	    0);
	assert_int_equal(o.calls, 1);
	return o;
}

/* --- tests ------------------------------------------------------------- */

static void
test_append_flags_and_date(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status s;
	struct ent x;
	uint32_t uid;

	uid = deliver(f, f->a, "inbox", "\\seen foo \\Recent FOO \\SEEN bar",
	    1000000000, "m1");
	assert_int_equal(uid, 1);
	s = status(f, f->a, "INBOX");
	x = entries(f, s.id);
	assert_int_equal(x.n, 1);
	assert_string_equal(x.flags[0], "\\Seen foo bar");
	assert_int_equal(x.date[0], 1000000000);
	assert_int_equal(s.messages, 1);
	assert_int_equal(s.unseen, 0);
	assert_int_equal(s.first_unseen, 0);
	assert_true(s.subscribed);
	assert_int_equal(deliver(f, f->a, "INBOX", NULL, 0, "m2"), 2);
	s = status(f, f->a, "Inbox");
	assert_int_equal(s.messages, 2);
	assert_int_equal(s.unseen, 1);
	assert_int_equal(s.first_unseen, 2);
	assert_int_equal(s.uidnext, 3);
	assert_true(s.size > 0);
}

static void
test_bad_flags_refused(void **state)
{
	struct fx *f = *state;
	struct store_msg *m = tu_msg(f->st, "x", NULL, NULL, 0);
	struct store_delivery d = { f->a, "INBOX", "(bad", 0 };
	struct commit_res r = { 0 };
	struct op_res o = { 0 };
	uint32_t uid = 1;

	assert_int_equal(store_msg_commit(&m, &d, 1, on_commit, &r), ERR_INPUT);
	assert_non_null(m); /* not taken */
	store_msg_free(&m);
	assert_int_equal(store_flags_update(f->st, 1, &uid, 1, STORE_FLAGS_ADD,
	                     "a\\b", 0, on_op, &o),
	    ERR_INPUT);
	assert_int_equal(o.calls, 0);
}

static void
test_flags_modes_and_modseq(void **state)
{
	struct fx *f = *state;
	uint32_t all[] = { 1, 2, 3 }, two[] = { 1, 2 }, gone[] = { 2, 99 };
	struct store_mailbox_status s;
	struct op_res o;
	struct ent x;
	uint64_t m0;

	deliver(f, f->a, "INBOX", NULL, 0, "1");
	deliver(f, f->a, "INBOX", "\\Flagged", 0, "2");
	deliver(f, f->a, "INBOX", NULL, 0, "3");
	s = status(f, f->a, "INBOX");
	m0 = s.highestmodseq;

	o = flags(f, s.id, two, 2, STORE_FLAGS_ADD, "\\flagged kw", 0);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.modseq, m0 + 1);
	assert_int_equal(status(f, f->a, "INBOX").highestmodseq, m0 + 1);
	x = entries(f, s.id);
	assert_string_equal(x.flags[0], "\\Flagged kw");
	assert_string_equal(x.flags[1], "\\Flagged kw");
	assert_string_equal(x.flags[2], "");
	assert_int_equal(x.modseq[0], m0 + 1);
	assert_int_equal(x.modseq[1], m0 + 1);
	assert_true(x.modseq[2] <= m0);

	/* Only entry 3 really changes: it alone gets the new modseq. */
	o = flags(f, s.id, all, 3, STORE_FLAGS_ADD, "kw \\Flagged", 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.uids[0], 3);
	assert_int_equal(o.modseq, m0 + 2);
	x = entries(f, s.id);
	assert_int_equal(x.modseq[0], m0 + 1);
	assert_int_equal(x.modseq[2], m0 + 2);

	/* Nothing changes: no modseq taken. */
	o = flags(f, s.id, all, 3, STORE_FLAGS_ADD, "\\FLAGGED", 0);
	assert_int_equal(o.n, 0);
	assert_int_equal(o.modseq, 0);
	assert_int_equal(status(f, f->a, "INBOX").highestmodseq, m0 + 2);

	o = flags(f, s.id, all, 3, STORE_FLAGS_REMOVE, "KW", 0);
	assert_int_equal(o.n, 3);
	x = entries(f, s.id);
	assert_string_equal(x.flags[0], "\\Flagged");
	assert_string_equal(x.flags[2], "\\Flagged");

	o = flags(f, s.id, all, 3, STORE_FLAGS_SET, "\\Seen \\Recent \\seen",
	    0);
	assert_int_equal(o.n, 3);
	x = entries(f, s.id);
	assert_string_equal(x.flags[1], "\\Seen");
	assert_int_equal(status(f, f->a, "INBOX").unseen, 0);

	/* Missing UIDs are skipped. */
	o = flags(f, s.id, gone, 2, STORE_FLAGS_SET, "", 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.uids[0], 2);
	assert_int_equal(status(f, f->a, "INBOX").first_unseen, 2);

	/* A mailbox that is gone. */
	o = flags(f, 999999, two, 2, STORE_FLAGS_SET, "", 0);
	assert_int_equal(o.status, ERR_NOTFOUND);
}

static void
test_flags_limits(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status s;
	uint32_t one[] = { 1 };
	struct buf many, more;
	struct op_res o;
	int i;

	deliver(f, f->a, "INBOX", NULL, 0, "1");
	s = status(f, f->a, "INBOX");
	buf_init(&many, 1 << 20);
	buf_init(&more, 1 << 20);
	for (i = 0; i < STORE_FLAGS_COUNT_MAX; i++)
		assert_int_equal(buf_printf(&many, "k%d ", i), 0);
	assert_int_equal(buf_printf(&more, "%sextra", many.p), 0);
	o = flags(f, s.id, one, 1, STORE_FLAGS_SET, many.p, 0);
	assert_int_equal(o.n, 1);
	/* One more would pass the limit: refused up front for SET, the
	 * entry left alone for ADD. */
	assert_int_equal(store_flags_update(f->st, s.id, one, 1,
	                     STORE_FLAGS_SET, more.p, 0, on_op, &o),
	    ERR_INPUT);
	o = flags(f, s.id, one, 1, STORE_FLAGS_ADD, "extra", 0);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.n, 0);
	o = flags(f, s.id, one, 1, STORE_FLAGS_REMOVE, "k0", 0);
	assert_int_equal(o.n, 1);
	buf_clear(&many);
	buf_clear(&more);
}

static void
test_unchangedsince(void **state)
{
	struct fx *f = *state;
	uint32_t all[] = { 1, 2 }, one[] = { 1 };
	struct store_mailbox_status s;
	struct op_res o;
	struct ent x;

	deliver(f, f->a, "INBOX", NULL, 0, "1");
	deliver(f, f->a, "INBOX", NULL, 0, "2");
	s = status(f, f->a, "INBOX");
	o = flags(f, s.id, one, 1, STORE_FLAGS_ADD, "\\Seen", 0);
	x = entries(f, s.id);
	/* Entry 1 changed after x.modseq[1]: it fails, 2 goes ahead. */
	o = flags(f, s.id, all, 2, STORE_FLAGS_ADD, "\\Answered", x.modseq[1]);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.n_failed, 1);
	assert_int_equal(o.failed[0], 1);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.uids[0], 2);
	x = entries(f, s.id);
	assert_string_equal(x.flags[0], "\\Seen");
	assert_string_equal(x.flags[1], "\\Answered");
	/* With its current modseq it succeeds. */
	o = flags(f, s.id, one, 1, STORE_FLAGS_ADD, "\\Answered", x.modseq[0]);
	assert_int_equal(o.n_failed, 0);
	assert_int_equal(o.n, 1);
}

struct uidlist {
	uint32_t v[64];
	size_t n;
};

static void
on_uid(void *ctx, uint32_t uid)
{
	struct uidlist *l = ctx;

	l->v[l->n++] = uid;
}

static void
test_expunge_recorded(void **state)
{
	struct fx *f = *state;
	uint32_t del[] = { 1, 3 }, two[] = { 2 }, four[] = { 2, 4 };
	struct store_mailbox_status s;
	struct uidlist l = { 0 };
	struct op_res o = { 0 };
	struct ent x;
	struct err e;
	uint64_t before;
	bool complete = false;
	int i;

	for (i = 0; i < 4; i++)
		deliver(f, f->a, "INBOX", NULL, 0, "m");
	s = status(f, f->a, "INBOX");
	(void)flags(f, s.id, del, 2, STORE_FLAGS_ADD, "\\Deleted", 0);
	(void)flags(f, s.id, four, 2, STORE_FLAGS_ADD, "\\Deleted", 0);
	before = status(f, f->a, "INBOX").highestmodseq;
	assert_int_equal(status(f, f->a, "INBOX").deleted, 4);

	/* Only the listed UIDs that carry \Deleted. */
	assert_int_equal(store_expunge(f->st, s.id, del, 2, on_op, &o), 0);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.uids[0], 1);
	assert_int_equal(o.uids[1], 3);
	assert_int_equal(o.modseq, before + 1);
	x = entries(f, s.id);
	assert_int_equal(x.n, 2);

	assert_int_equal(store_expunged_since(f->st, s.id, before, on_uid, &l,
	                     &complete, &e),
	    0);
	assert_true(complete);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0], 1);
	assert_int_equal(l.v[1], 3);
	l.n = 0;
	assert_int_equal(store_expunged_since(f->st, s.id, before + 1, on_uid,
	                     &l, &complete, &e),
	    0);
	assert_int_equal(l.n, 0);

	/* Removing \Deleted from 2 keeps it; expunge-all takes 4 only. */
	(void)flags(f, s.id, two, 1, STORE_FLAGS_REMOVE, "\\Deleted", 0);
	memset(&o, 0, sizeof(o));
	assert_int_equal(store_expunge(f->st, s.id, NULL, 0, on_op, &o), 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.uids[0], 4);
	x = entries(f, s.id);
	assert_int_equal(x.n, 1);
	assert_int_equal(x.uid[0], 2);

	/* Nothing to expunge: no modseq. */
	memset(&o, 0, sizeof(o));
	before = status(f, f->a, "INBOX").highestmodseq;
	assert_int_equal(store_expunge(f->st, s.id, NULL, 0, on_op, &o), 0);
	assert_int_equal(o.n, 0);
	assert_int_equal(status(f, f->a, "INBOX").highestmodseq, before);
}

static void
test_expunged_pruned(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status s;
	struct uidlist l = { 0 };
	uint32_t uid;
	uint64_t m[6];
	struct op_res o;
	struct err e;
	bool complete = false;
	int i;

	s = status(f, f->a, "INBOX");
	for (i = 0; i < 6; i++) {
		uid = deliver(f, f->a, "INBOX", "\\Deleted", 0, "m");
		memset(&o, 0, sizeof(o));
		assert_int_equal(store_expunge(f->st, s.id, &uid, 1, on_op, &o),
		    0);
		m[i] = o.modseq;
	}
	assert_int_equal(expunged_prune(&f->st->rd, 4, &e), 0);
	/* Newest 4 kept; from before them the history is incomplete. */
	assert_int_equal(store_expunged_since(f->st, s.id, m[1], on_uid, &l,
	                     &complete, &e),
	    0);
	assert_true(complete);
	assert_int_equal(l.n, 4);
	l.n = 0;
	assert_int_equal(store_expunged_since(f->st, s.id, m[0], on_uid, &l,
	                     &complete, &e),
	    0);
	assert_false(complete);
	assert_int_equal(l.n, 4);
	l.n = 0;
	assert_int_equal(store_expunged_since(f->st, s.id, 0, on_uid, &l,
	                     &complete, &e),
	    0);
	assert_false(complete);
	/* Nothing more to prune. */
	assert_int_equal(expunged_prune(&f->st->rd, 4, &e), 0);
	l.n = 0;
	assert_int_equal(store_expunged_since(f->st, s.id, m[1], on_uid, &l,
	                     &complete, &e),
	    0);
	assert_true(complete);
	assert_int_equal(l.n, 4);
}

static void
test_copy_and_move(void **state)
{
	struct fx *f = *state;
	uint32_t uids[] = { 1, 3, 50 };
	struct store_mailbox_status in, sent, other;
	struct uidlist l = { 0 };
	struct op_res o = { 0 };
	struct store_stats st;
	struct ent x;
	struct err e;
	bool complete;
	int i;

	for (i = 0; i < 3; i++)
		deliver(f, f->a, "INBOX", i == 2 ? "\\Seen k" : NULL, 1000 + i,
		    "m");
	deliver(f, f->a, "Sent", NULL, 0, "s");
	in = status(f, f->a, "INBOX");
	sent = status(f, f->a, "Sent");

	assert_int_equal(store_copy(f->st, in.id, uids, 3, sent.id, false,
	                     on_op, &o),
	    0);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.n_new, 2);
	assert_int_equal(o.uids[0], 1);
	assert_int_equal(o.uids[1], 3);
	assert_int_equal(o.new_uids[0], 2);
	assert_int_equal(o.new_uids[1], 3);
	assert_int_equal(o.uidvalidity, sent.uidvalidity);
	x = entries(f, sent.id);
	assert_int_equal(x.n, 3);
	assert_string_equal(x.flags[2], "\\Seen k");
	assert_int_equal(x.date[2], 1002);
	assert_int_equal(x.modseq[1], o.modseq);
	assert_int_equal(entries(f, in.id).n, 3);
	assert_int_equal(store_stats_get(f->st, &st, &e), 0);
	assert_int_equal(st.messages, 4); /* rows shared, never copied */

	/* Move: copies, then the source entries are expunged. */
	memset(&o, 0, sizeof(o));
	assert_int_equal(store_copy(f->st, in.id, uids, 3, sent.id, true, on_op,
	                     &o),
	    0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.new_uids[0], 4);
	assert_int_equal(o.new_uids[1], 5);
	x = entries(f, in.id);
	assert_int_equal(x.n, 1);
	assert_int_equal(x.uid[0], 2);
	assert_int_equal(store_expunged_since(f->st, in.id, 0, on_uid, &l,
	                     &complete, &e),
	    0);
	assert_int_equal(l.n, 2);
	assert_int_equal(store_stats_get(f->st, &st, &e), 0);
	assert_int_equal(st.messages, 4);

	/* Another user's mailbox is not a destination. */
	other = status(f, f->b, "INBOX");
	memset(&o, 0, sizeof(o));
	assert_int_equal(store_copy(f->st, sent.id, uids, 1, other.id, false,
	                     on_op, &o),
	    0);
	assert_int_equal(o.status, ERR_NOTFOUND);
	assert_int_equal(entries(f, other.id).n, 0);

	/* Nothing left to copy: no UIDs, still the UIDVALIDITY. */
	memset(&o, 0, sizeof(o));
	assert_int_equal(store_copy(f->st, in.id, uids, 1, sent.id, false,
	                     on_op, &o),
	    0);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.n, 0);
	assert_int_equal(o.uidvalidity, sent.uidvalidity);
}

struct names {
	char v[32][64];
	bool sub[32], kids[32];
	size_t n;
};

static void
on_mb(void *ctx, const struct store_mailbox *mb)
{
	struct names *l = ctx;

	(void)str_copy(l->v[l->n], sizeof(l->v[0]), mb->name);
	l->sub[l->n] = mb->subscribed;
	l->kids[l->n++] = mb->has_children;
}

static int
find(const struct names *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return (int)i;
	return -1;
}

static struct names
list(struct fx *f)
{
	struct names l;
	struct err e;

	memset(&l, 0, sizeof(l));
	assert_int_equal(store_mailbox_list(f->st, f->a, on_mb, &l, &e), 0);
	return l;
}

static void
test_mailbox_create_rename_delete(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status s;
	struct names l;
	struct err e;
	uint32_t uv;
	char longname[STORE_MAILBOX_NAME_MAX + 2];

	assert_int_equal(store_mailbox_create(f->st, f->a, "a/b/c", NULL, &e),
	    0);
	l = list(f);
	assert_true(find(&l, "a") >= 0);
	assert_true(find(&l, "a/b") >= 0);
	assert_true(l.kids[find(&l, "a")]);
	assert_false(l.kids[find(&l, "a/b/c")]);
	assert_false(l.sub[find(&l, "a")]);
	assert_true(l.sub[find(&l, "INBOX")]);
	assert_int_equal(store_mailbox_create(f->st, f->a, "a/b", NULL, &e),
	    ERR_EXISTS);
	assert_int_equal(store_mailbox_create(f->st, f->a, "inbox", NULL, &e),
	    ERR_EXISTS);
	assert_int_equal(store_mailbox_create(f->st, f->a, "x//y", NULL, &e),
	    ERR_INPUT);
	assert_int_equal(store_mailbox_create(f->st, f->a, "/x", NULL, &e),
	    ERR_INPUT);
	assert_int_equal(store_mailbox_create(f->st, f->a, "x/", NULL, &e),
	    ERR_INPUT);
	assert_int_equal(store_mailbox_create(f->st, f->a, "", NULL, &e),
	    ERR_INPUT);
	assert_int_equal(store_mailbox_create(f->st, f->a, "bad\xff", NULL, &e),
	    ERR_INPUT);
	assert_int_equal(store_mailbox_create(f->st, f->a, "\xc3\xa9t\xc3\xa9",
	                     "\\flagged", &e),
	    0);
	assert_string_equal(status(f, f->a, "\xc3\xa9t\xc3\xa9").special_use,
	    "\\Flagged");
	assert_int_equal(store_mailbox_create(f->st, f->a, "z", "\\Bogus", &e),
	    ERR_INPUT);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(store_mailbox_create(f->st, f->a, longname, NULL, &e),
	    ERR_INPUT);
	longname[STORE_MAILBOX_NAME_MAX] = '\0';
	assert_int_equal(store_mailbox_create(f->st, f->a, longname, NULL, &e),
	    0);

	/* Rename with children; subscriptions follow. */
	assert_int_equal(store_mailbox_subscribe(f->st, f->a, "a/b", true, &e),
	    0);
	deliver(f, f->a, "a/b", NULL, 0, "in a/b");
	uv = status(f, f->a, "a/b").uidvalidity;
	assert_int_equal(store_mailbox_rename(f->st, f->a, "a", "Sent", &e),
	    ERR_EXISTS);
	assert_int_equal(store_mailbox_rename(f->st, f->a, "a", "a/q", &e),
	    ERR_INPUT);
	assert_int_equal(store_mailbox_rename(f->st, f->a, "nope", "q", &e),
	    ERR_NOTFOUND);
	assert_int_equal(store_mailbox_rename(f->st, f->a, "a", "p/x", &e), 0);
	l = list(f);
	assert_true(find(&l, "a") < 0);
	assert_true(find(&l, "a/b") < 0);
	assert_true(find(&l, "p") >= 0);
	assert_true(find(&l, "p/x") >= 0);
	assert_true(find(&l, "p/x/b") >= 0);
	assert_true(find(&l, "p/x/b/c") >= 0);
	assert_true(l.sub[find(&l, "p/x/b")]);
	s = status(f, f->a, "p/x/b");
	assert_int_equal(s.uidvalidity, uv);
	assert_int_equal(s.messages, 1);

	/* Delete: children first, INBOX never. */
	assert_int_equal(store_mailbox_delete(f->st, f->a, "p/x", &e),
	    ERR_EXISTS);
	assert_int_equal(store_mailbox_delete(f->st, f->a, "INBOX", &e),
	    ERR_INPUT);
	assert_int_equal(store_mailbox_delete(f->st, f->a, "nope", &e),
	    ERR_NOTFOUND);
	assert_int_equal(store_mailbox_delete(f->st, f->a, "p/x/b/c", &e), 0);
	{
		struct uidlist ul = { 0 };
		bool complete = true;
		int64_t gone = status(f, f->a, "p/x/b").id;

		assert_int_equal(store_mailbox_delete(f->st, f->a, "p/x/b", &e),
		    0);
		assert_int_equal(store_expunged_since(f->st, gone, 0, on_uid,
		                     &ul, &complete, &e),
		    0);
		assert_false(complete);
	}
	assert_int_equal(store_mailbox_status(f->st, f->a, "p/x/b", &s, &e),
	    ERR_NOTFOUND);
	/* Same name again: a different UIDVALIDITY, at once. */
	assert_int_equal(store_mailbox_create(f->st, f->a, "p/x/b", NULL, &e),
	    0);
	assert_int_not_equal(status(f, f->a, "p/x/b").uidvalidity, uv);
	assert_int_equal(status(f, f->a, "p/x/b").messages, 0);
}

static void
test_rename_inbox(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status in, old;
	struct uidlist l = { 0 };
	struct ent x;
	struct err e;
	bool complete;

	deliver(f, f->a, "INBOX", "\\Seen", 0, "1");
	deliver(f, f->a, "INBOX", NULL, 0, "2");
	assert_int_equal(store_mailbox_create(f->st, f->a, "INBOX/kid", NULL,
	                     &e),
	    0);
	in = status(f, f->a, "INBOX");
	assert_int_equal(store_mailbox_rename(f->st, f->a, "inbox", "Old/in",
	                     &e),
	    0);
	old = status(f, f->a, "Old/in");
	assert_int_equal(old.messages, 2);
	assert_int_equal(old.uidnext, 3);
	assert_int_not_equal(old.uidvalidity, in.uidvalidity);
	x = entries(f, old.id);
	assert_string_equal(x.flags[0], "\\Seen");
	assert_int_equal(status(f, f->a, "INBOX").messages, 0);
	assert_int_equal(status(f, f->a, "INBOX").id, in.id);
	assert_int_equal(status(f, f->a, "INBOX").uidnext, 3);
	assert_int_equal(status(f, f->a, "INBOX/kid").messages, 0);
	assert_int_equal(store_expunged_since(f->st, in.id, in.highestmodseq,
	                     on_uid, &l, &complete, &e),
	    0);
	assert_int_equal(l.n, 2);
	/* New mail still lands in INBOX, with the next UID. */
	assert_int_equal(deliver(f, f->a, "INBOX", NULL, 0, "3"), 3);
}

struct subs {
	char v[8][64];
	size_t n;
};

static void
on_sub(void *ctx, const char *name)
{
	struct subs *s = ctx;

	(void)str_copy(s->v[s->n++], sizeof(s->v[0]), name);
}

static void
test_subscriptions(void **state)
{
	struct fx *f = *state;
	struct subs s = { 0 };
	struct err e;

	assert_int_equal(store_subscription_list(f->st, f->a, on_sub, &s, &e),
	    0);
	assert_int_equal(s.n, 0); /* defaults exist and are subscribed */
	assert_int_equal(store_mailbox_subscribe(f->st, f->a, "ghost", true,
	                     &e),
	    0);
	assert_int_equal(store_mailbox_subscribe(f->st, f->a, "ghost", true,
	                     &e),
	    0);
	assert_int_equal(store_mailbox_subscribe(f->st, f->a, "Trash", false,
	                     &e),
	    0);
	assert_int_equal(store_subscription_list(f->st, f->a, on_sub, &s, &e),
	    0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.v[0], "ghost");
	assert_false(status(f, f->a, "Trash").subscribed);
	assert_true(status(f, f->a, "Sent").subscribed);
	/* Deleting a mailbox keeps its subscription (RFC 9051 §6.3.7). */
	assert_int_equal(store_mailbox_delete(f->st, f->a, "Sent", &e), 0);
	s.n = 0;
	assert_int_equal(store_subscription_list(f->st, f->a, on_sub, &s, &e),
	    0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[0], "Sent");
	assert_string_equal(s.v[1], "ghost");
}

static void
test_usage(void **state)
{
	struct fx *f = *state;
	uint64_t bytes, msgs;
	struct err e;

	deliver(f, f->a, "INBOX", NULL, 0, "1");
	deliver(f, f->a, "Sent", NULL, 0, "2");
	deliver(f, f->b, "INBOX", NULL, 0, "3");
	assert_int_equal(store_user_usage(f->st, f->a, &bytes, &msgs, &e), 0);
	assert_int_equal(msgs, 2);
	assert_true(bytes > 8);
}

/* --- watchers ---------------------------------------------------------- */

struct watcher {
	struct fx *f;
	struct store_watch *w, **victim;
	int calls;
	int64_t user, mbox;
	bool remove_self;
};

static void
on_watch(void *ctx, int64_t user, int64_t mbox)
{
	struct watcher *w = ctx;

	w->calls++;
	w->user = user;
	w->mbox = mbox;
	if (w->remove_self)
		store_watch_remove(w->f->st, &w->w);
	if (w->victim != NULL)
		store_watch_remove(w->f->st, w->victim);
}

static void
test_watchers_inline(void **state)
{
	struct fx *f = *state;
	struct watcher a = { .f = f }, b = { .f = f }, c = { .f = f },
	               other = { .f = f };
	struct store_mailbox_status s;
	uint32_t one[] = { 1 };
	struct err e;

	a.w = store_watch_add(f->st, f->a, on_watch, &a);
	b.w = store_watch_add(f->st, f->a, on_watch, &b);
	c.w = store_watch_add(f->st, f->a, on_watch, &c);
	other.w = store_watch_add(f->st, f->b, on_watch, &other);
	b.remove_self = true;
	c.victim = &a.w; /* c is called first (newest first), removes a */

	deliver(f, f->a, "INBOX", NULL, 0, "1");
	s = status(f, f->a, "INBOX");
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.user, f->a);
	assert_int_equal(c.mbox, s.id);
	assert_int_equal(b.calls, 1);
	assert_null(b.w);
	assert_int_equal(a.calls, 0); /* removed before its turn */
	assert_null(a.w);
	assert_int_equal(other.calls, 0);

	c.victim = NULL;
	(void)flags(f, s.id, one, 1, STORE_FLAGS_ADD, "\\Seen", 0);
	assert_int_equal(c.calls, 2);
	/* A no-op change touches nothing: no call. */
	(void)flags(f, s.id, one, 1, STORE_FLAGS_ADD, "\\Seen", 0);
	assert_int_equal(c.calls, 2);
	assert_int_equal(store_mailbox_create(f->st, f->a, "new", NULL, &e), 0);
	assert_int_equal(store_mailbox_delete(f->st, f->a, "new", &e), 0);
	assert_int_equal(c.calls, 3);
	deliver(f, f->b, "INBOX", NULL, 0, "2");
	assert_int_equal(other.calls, 1);
	assert_int_equal(c.calls, 3);
	store_watch_remove(f->st, &c.w);
	store_watch_remove(f->st, &other.w);
	assert_null(c.w);
}

struct loop_ctx {
	int commits, ops, watched;
	struct fx *f;
	struct store_watch *w;
	struct op_res o;
};

static void
loop_commit(void *ctx, const struct store_commit_result *res)
{
	struct loop_ctx *l = ctx;

	assert_int_equal(res->status, 0);
	l->commits++;
}

static void
loop_op(void *ctx, const struct store_op_result *r)
{
	struct loop_ctx *l = ctx;

	on_op(&l->o, r);
	l->ops++;
}

static void
loop_watch(void *ctx, int64_t user, int64_t mbox)
{
	struct loop_ctx *l = ctx;

	(void)user;
	(void)mbox;
	l->watched++;
}

static void
test_ops_through_loop(void **state)
{
	struct fx *f = *state;
	struct loop_ctx l = { .f = f };
	struct store_mailbox_status s;
	uint32_t uids[] = { 1, 2, 3 };
	struct store_stats st;
	struct err e;
	int i;

	l.w = store_watch_add(f->st, f->a, loop_watch, &l);
	for (i = 0; i < 3; i++) {
		const void *parts[] = { "x" };
		size_t lens[] = { 1 };
		struct store_msg *m = tu_msg(f->st, "m", parts, lens, 1);
		struct store_delivery d = { f->a, "INBOX", "\\Draft", 0 };

		assert_int_equal(store_msg_commit(&m, &d, 1, loop_commit, &l),
		    0);
	}
	assert_int_equal(l.commits, 0); /* not before the loop runs */
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(l.commits, 3);
	assert_true(l.watched >= 1);
	s = status(f, f->a, "INBOX");
	assert_int_equal(s.messages, 3);
	/* Many ops queued at once share batches; each calls back once. */
	for (i = 0; i < 10; i++)
		assert_int_equal(store_flags_update(f->st, s.id, uids, 3,
		                     STORE_FLAGS_SET, i % 2 ? "\\Seen" : "a", 0,
		                     loop_op, &l),
		    0);
	assert_int_equal(l.ops, 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(l.ops, 10);
	assert_int_equal(l.o.n, 3);
	assert_int_equal(status(f, f->a, "INBOX").highestmodseq,
	    s.highestmodseq + 10);
	assert_int_equal(store_stats_get(f->st, &st, &e), 0);
	assert_true(st.commit_batches < 3 + 10 + 1);
	store_watch_remove(f->st, &l.w);
}

static void
verify_clean(struct fx *f)
{
	uint64_t problems = 0;
	struct err e;

	assert_int_equal(store_verify_blobs(f->st, NULL, NULL, &problems, &e),
	    0);
	assert_int_equal(problems, 0);
}

/* --- migration --------------------------------------------------------- */

/* Like deliver, with the tag as the indexed subject text too. */
static void
deliver_subject(struct fx *f, const char *tag)
{
	static const char body[] = "body";
	const void *parts[] = { body };
	size_t lens[] = { sizeof(body) - 1 };
	struct store_msg *m = tu_msg(f->st, tag, parts, lens, 1);
	struct store_delivery d = { f->a, "INBOX", NULL, 0 };
	struct commit_res r = { 0 };

	buf_init(&m->text[FTS_COL_SUBJECT], 1024);
	assert_int_equal(buf_append(&m->text[FTS_COL_SUBJECT], tag,
	                     strlen(tag)),
	    0);
	assert_int_equal(store_msg_commit(&m, &d, 1, on_commit, &r), 0);
	assert_int_equal(r.status, 0);
}

/* v2 -> v3: the index keeps its rows, nothing is queued, new mail is. */
static void
test_migration_from_v2(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status s;
	struct uidlist l = { 0 };
	char path[400];
	sqlite3 *db;
	int64_t n = -1;
	struct err e;

	deliver_subject(f, "Hello migration");
	store_close(&f->st);
	(void)str_fmt(path, sizeof(path), "%s/meta.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                     TU_UNDO_V4
	                     "DROP TABLE fts_queue;"
	                     "UPDATE schema_version SET version = 2;",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(open_fx(f), 0);
	assert_int_equal(db_int(&f->st->rd,
	                     "SELECT version FROM schema_version", &n, &e),
	    0);
	assert_int_equal(n, 4);
	assert_int_equal(db_int(&f->st->rd, "SELECT count(*) FROM fts", &n, &e),
	    0);
	assert_int_equal(n, 1);
	assert_int_equal(db_int(&f->st->rd, "SELECT count(*) FROM fts_queue",
	                     &n, &e),
	    0);
	assert_int_equal(n, 0);
	s = status(f, f->a, "INBOX");
	assert_int_equal(store_fts_search(f->st, s.id, STORE_FTS_SUBJECT,
	                     "MIGRATION", on_uid, &l, &e),
	    0);
	assert_int_equal(l.n, 1);
	atomic_store(&f->st->fts_hold, true);
	deliver_subject(f, "Second migration");
	assert_int_equal(db_int(&f->st->rd, "SELECT count(*) FROM fts_queue",
	                     &n, &e),
	    0);
	assert_int_equal(n, 1);
	l.n = 0;
	assert_int_equal(store_fts_search(f->st, s.id, STORE_FTS_SUBJECT,
	                     "MIGRATION", on_uid, &l, &e),
	    0);
	assert_int_equal(l.n, 2);
	verify_clean(f);
}

static void
test_migration_from_v1(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status s;
	struct uidlist l = { 0 };
	char path[400];
	sqlite3 *db;
	struct err e;
	uint32_t one[] = { 1 };
	struct op_res o;

	deliver(f, f->a, "INBOX", NULL, 0, "Hello migration");
	store_close(&f->st);
	/* Turn the store back into version 1's schema. */
	(void)str_fmt(path, sizeof(path), "%s/meta.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                     TU_UNDO_V4
	                     "DROP TABLE fts_queue;"
	                     "DROP TRIGGER messages_fts_gone;"
	                     "DROP TABLE fts; DROP TABLE subscriptions;"
	                     "DROP TABLE expunged; DROP INDEX entries_modseq;"
	                     "ALTER TABLE mailboxes DROP COLUMN expunged_floor;"
	                     "DELETE FROM state WHERE key = 'uidvalidity';"
	                     "UPDATE schema_version SET version = 1;",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(open_fx(f), 0);
	s = status(f, f->a, "INBOX");
	assert_true(s.subscribed);
	assert_int_equal(s.messages, 1);
	assert_int_equal(store_fts_search(f->st, s.id, STORE_FTS_SUBJECT,
	                     "MIGRATION", on_uid, &l, &e),
	    0);
	assert_int_equal(l.n, 1);
	o = flags(f, s.id, one, 1, STORE_FLAGS_ADD, "\\Deleted", 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(deliver(f, f->a, "INBOX", NULL, 0, "after"), 2);
	assert_int_equal(store_mailbox_create(f->st, f->a, "Sent2", NULL, &e),
	    0);
	assert_int_not_equal(status(f, f->a, "Sent2").uidvalidity,
	    status(f, f->a, "Sent").uidvalidity);
	verify_clean(f);
}

static void
test_verify_clean(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status s;
	uint32_t uids[] = { 1, 2 };
	struct op_res o = { 0 };
	struct err e;

	deliver(f, f->a, "INBOX", "\\Deleted", 0, "1");
	deliver(f, f->a, "INBOX", NULL, 0, "2");
	s = status(f, f->a, "INBOX");
	assert_int_equal(store_copy(f->st, s.id, uids, 2,
	                     status(f, f->a, "Trash").id, true, on_op, &o),
	    0);
	assert_int_equal(store_mailbox_subscribe(f->st, f->a, "ghost", true,
	                     &e),
	    0);
	verify_clean(f);
	assert_int_equal(store_user_remove(f->st, "a@example.test", &e), 0);
	verify_clean(f);
}

static void
test_verify_finds_index_trouble(void **state)
{
	struct fx *f = *state;
	uint64_t problems = 0;
	struct err e;

	deliver(f, f->a, "INBOX", NULL, 0, "1");
	deliver(f, f->a, "INBOX", NULL, 0, "2");
	verify_clean(f);
	assert_int_equal(db_exec(&f->st->rd,
	                     "DELETE FROM fts WHERE rowid ="
	                     " (SELECT min(id) FROM messages);"
	                     "INSERT INTO expunged(mailbox, uid, modseq)"
	                     " SELECT mailbox, uid, modseq FROM entries"
	                     " WHERE uid = 2",
	                     &e),
	    0);
	assert_int_equal(store_verify_blobs(f->st, NULL, NULL, &problems, &e),
	    0);
	assert_int_equal(problems, 2);
}

/* The status counts are memoised per mailbox under (id, uidvalidity,
 * uidnext, modseq): every change shows, including a mailbox deleted and
 * created again (SQLite may hand the new one the same id). */
static void
test_status_memo(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status s0, s1;
	uint32_t one[] = { 1 };
	struct op_res o;
	struct err e;

	assert_int_equal(store_mailbox_create(f->st, f->a, "M", NULL, &e), 0);
	(void)deliver(f, f->a, "M", NULL, 0, "m1");
	(void)deliver(f, f->a, "M", "\\Seen", 0, "m2");
	s0 = status(f, f->a, "M");
	s1 = status(f, f->a, "M"); /* from the memo */
	assert_int_equal(s1.messages, 2);
	assert_int_equal(s1.unseen, 1);
	assert_int_equal(s1.first_unseen, 1);
	assert_true(s1.size == s0.size && s1.size > 0);
	o = flags(f, s0.id, one, 1, STORE_FLAGS_ADD, "\\Seen \\Deleted", 0);
	assert_int_equal(o.n, 1);
	s1 = status(f, f->a, "M");
	assert_int_equal(s1.unseen, 0);
	assert_int_equal(s1.first_unseen, 0);
	assert_int_equal(s1.deleted, 1);
	(void)deliver(f, f->a, "M", NULL, 0, "m3");
	assert_int_equal(status(f, f->a, "M").messages, 3);
	assert_int_equal(store_mailbox_delete(f->st, f->a, "M", &e), 0);
	assert_int_equal(store_mailbox_create(f->st, f->a, "M", NULL, &e), 0);
	s1 = status(f, f->a, "M");
	assert_int_equal(s1.messages, 0);
	assert_int_equal(s1.unseen, 0);
	assert_int_equal(s1.deleted, 0);
	assert_true(s1.size == 0);
}

/* Fills mailbox `name` of user a with BIG_N messages through SQL: one
 * delivery as the seed, then copies of its message row (same skeleton
 * blob, own subject) with an entry and an index row each. Far quicker
 * than BIG_N commits, and a delete goes through the same cascades and
 * triggers. 12 000 of them made both tests below fail at the old 8 MiB
 * spill size. */
#define BIG_N 12000

static int64_t
fill_big(struct fx *f, const char *name, const char *flags)
{
	char sql[1024];
	int64_t mbox;
	struct err e;

	assert_int_equal(store_mailbox_create(f->st, f->a, name, NULL, &e), 0);
	(void)deliver(f, f->a, name, NULL, 0, "seed");
	mbox = status(f, f->a, name).id;
	assert_true(str_fmt(sql, sizeof(sql),
	    "BEGIN;"
	    "WITH RECURSIVE c(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM c"
	    " WHERE i < %d)"
	    " INSERT INTO messages(size, skeleton, internaldate, from_hdr,"
	    " subject, message_id) SELECT m.size, m.skeleton, m.internaldate,"
	    " m.from_hdr, 'subject ' || i || ' ' || hex(randomblob(16)),"
	    " '<' || i || '@example.test>' FROM c, messages m"
	    " JOIN entries s ON s.message = m.id AND s.mailbox = %lld;"
	    "INSERT INTO entries(mailbox, uid, message, flags, modseq)"
	    " SELECT %lld, 1 + id - (SELECT message FROM entries"
	    " WHERE mailbox = %lld), id, '%s', 1 FROM messages"
	    " WHERE id > (SELECT message FROM entries WHERE mailbox = %lld);"
	    "UPDATE mailboxes SET uidnext = %d + 1, highestmodseq = 2"
	    " WHERE id = %lld;"
	    "INSERT INTO fts(rowid, hfrom, hto, hcc, hbcc, subject, body,"
	    " headers) SELECT id, from_hdr, '', '', '', subject,"
	    " hex(randomblob(120)), '' FROM messages WHERE id IN (SELECT"
	    " message FROM entries WHERE mailbox = %lld AND uid > 1);"
	    "COMMIT",
	    BIG_N, (long long)mbox, (long long)mbox, (long long)mbox, flags,
	    (long long)mbox, BIG_N, (long long)mbox, (long long)mbox));
	if (sqlite3_exec(f->st->rd.db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("fill: %s", sqlite3_errmsg(f->st->rd.db));
	assert_int_equal(status(f, f->a, name).messages, BIG_N);
	return mbox;
}

static int64_t
count_messages(struct fx *f)
{
	int64_t n = -1;
	struct err e;

	assert_int_equal(db_int(&f->st->rd, "SELECT count(*) FROM messages", &n,
	                     &e),
	    0);
	return n;
}

/* Deleting a mailbox of many messages is one statement whose undo
 * record (sub-journal) outgrows memory and spills to a temporary file.
 * With the spill size at 8 MiB that spill failed with SQLITE_FULL (see
 * DB_STMTJRNL_SPILL in db.c): IMAP DELETE of such a mailbox answered
 * NO [OVERQUOTA] with the disk far from full. */
static void
test_mailbox_delete_large(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_status s;
	struct err e;

	(void)fill_big(f, "Big", "");
	assert_int_equal(store_mailbox_delete(f->st, f->a, "Big", &e), 0);
	assert_int_equal(count_messages(f), 0);
	assert_int_equal(store_mailbox_status(f->st, f->a, "Big", &s, &e),
	    ERR_NOTFOUND);
}

struct big_res {
	int calls, status;
	size_t n;
};

static void
on_big_op(void *ctx, const struct store_op_result *r)
{
	struct big_res *o = ctx;

	o->calls++;
	o->status = r->status;
	o->n = r->n_uids;
}

/* The same through an expunge of every entry: one op, one SAVEPOINT
 * whose sub-journal holds every page the deletes change. */
static void
test_expunge_large(void **state)
{
	struct fx *f = *state;
	struct big_res o = { 0 };
	int64_t mbox = fill_big(f, "Big", "\\Deleted");

	assert_int_equal(store_expunge(f->st, mbox, NULL, 0, on_big_op, &o), 0);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.n, BIG_N - 1); /* the seed has no \Deleted */
	assert_int_equal(status(f, f->a, "Big").messages, 1);
	assert_int_equal(count_messages(f), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_flags_and_date,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_flags_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_flags_modes_and_modseq,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unchangedsince, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expunge_recorded, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expunged_pruned, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_copy_and_move, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_mailbox_create_rename_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_inbox, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_memo, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mailbox_delete_large,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_large, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_watchers_inline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ops_through_loop,
		    setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_migration_from_v2, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migration_from_v1, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_verify_clean, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_verify_finds_index_trouble,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
