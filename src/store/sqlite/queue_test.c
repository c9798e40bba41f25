/* SPDX-License-Identifier: MIT */
/* Unit tests for the outbound queue: store_msg_commit_out (local and
 * remote recipients in one transaction, done and notified rows), the
 * message's life while entries or queue rows refer to it, the due reads,
 * store_queue_update through the group commit, the admin changes,
 * store_addr_owned, the v3 -> v4 migration and store verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>

#include "store/sqlite/test_util.h"

struct fx {
	char base[256], dir[300];
	struct store *st;
	uv_loop_t loop;
	bool with_loop;
	int64_t a, b; /* user ids */
};

static int
open_store(struct fx *f)
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

static void
close_store(struct fx *f)
{
	store_close(&f->st);
	if (f->with_loop)
		assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
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
	if (open_store(f) != 0)
		return -1;
	if (store_domain_add(f->st, "example.test", &e) != 0 ||
	    store_user_add(f->st, "a@example.test", "h", &f->a, &e) != 0 ||
	    store_user_add(f->st, "b@example.test", "h", &f->b, &e) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
setup_loop(void **state)
{
	return setup_common(state, true);
}

static int
setup_inline(void **state)
{
	return setup_common(state, false);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	close_store(f);
	if (f->with_loop)
		assert_int_equal(uv_loop_close(&f->loop), 0);
	tu_rmtree(f->base);
	free(f);
	return 0;
}

/* --- helpers ------------------------------------------------------------ */

struct result {
	int calls, status;
	int64_t message_id;
	uint32_t uid;
};

static void
on_commit(void *ctx, const struct store_commit_result *res)
{
	struct result *r = ctx;

	r->calls++;
	r->status = res->status;
	r->message_id = res->message_id;
	r->uid = res->uid;
}

struct op_res {
	int calls, status;
};

static void
on_op(void *ctx, const struct store_op_result *res)
{
	struct op_res *r = ctx;

	r->calls++;
	r->status = res->status;
}

/* A copy of a queue row that outlives the callback. */
struct qrow {
	int64_t id, message_id, user_id;
	char sender[64], rcpt[64], domain[64], orcpt[64], envid[64];
	char last_reply[STORE_REPLY_MAX + 1];
	bool has_orcpt, has_envid;
	unsigned notify, attempts;
	enum store_dsn_ret ret;
	bool smtputf8, body_8bit, held, delay_notified;
	int64_t created, next_attempt, last_attempt;
	uint64_t size;
};

struct qrows {
	struct qrow v[64];
	size_t n;
};

static void
on_row(void *ctx, const struct store_queue_entry *e)
{
	struct qrows *l = ctx;
	struct qrow *r = &l->v[l->n++];

	assert_true(l->n <= 64);
	memset(r, 0, sizeof(*r));
	r->id = e->id;
	r->message_id = e->message_id;
	r->user_id = e->user_id;
	assert_non_null(e->sender);
	assert_non_null(e->last_reply);
	(void)str_copy(r->sender, sizeof(r->sender), e->sender);
	(void)str_copy(r->rcpt, sizeof(r->rcpt), e->rcpt);
	(void)str_copy(r->domain, sizeof(r->domain), e->domain);
	r->has_orcpt = e->orcpt != NULL;
	if (e->orcpt != NULL)
		(void)str_copy(r->orcpt, sizeof(r->orcpt), e->orcpt);
	r->has_envid = e->envid != NULL;
	if (e->envid != NULL)
		(void)str_copy(r->envid, sizeof(r->envid), e->envid);
	(void)str_copy(r->last_reply, sizeof(r->last_reply), e->last_reply);
	r->notify = e->notify;
	r->attempts = e->attempts;
	r->ret = e->ret;
	r->smtputf8 = e->smtputf8;
	r->body_8bit = e->body_8bit;
	r->held = e->held;
	r->delay_notified = e->delay_notified;
	r->created = e->created;
	r->next_attempt = e->next_attempt;
	r->last_attempt = e->last_attempt;
	r->size = e->size;
}

static struct qrows *
list(struct fx *f)
{
	static struct qrows l;
	struct err e;

	l.n = 0;
	assert_int_equal(store_queue_list(f->st, on_row, &l, &e), 0);
	return &l;
}

static struct qrow
get(struct fx *f, int64_t id)
{
	struct qrows l = { 0 };
	struct err e;

	assert_int_equal(store_queue_get(f->st, id, on_row, &l, &e), 0);
	assert_int_equal(l.n, 1);
	return l.v[0];
}

static struct store_stats
stats(struct fx *f)
{
	struct store_stats s;
	struct err e;

	assert_int_equal(store_stats_get(f->st, &s, &e), 0);
	return s;
}

static void
print_problem(void *ctx, const char *problem)
{
	(void)ctx;
	fprintf(stderr, "verify: %s\n", problem);
}

static void
verify_clean(struct fx *f)
{
	struct err e;

	if (store_verify(f->st, print_problem, NULL, &e) != 0)
		fail_msg("verify: %s", e.msg);
}

static void
on_problem(void *ctx, const char *problem)
{
	(void)problem;
	(*(int *)ctx)++;
}

static int64_t
count(struct fx *f, const char *sql)
{
	int64_t n = -1;
	struct err e;

	assert_int_equal(db_int(&f->st->rd, sql, &n, &e), 0);
	return n;
}

/* The text of the message named tag. */
static void
msg_text(const char *tag, char *out, size_t cap)
{
	(void)str_fmt(out, cap,
	    "From: a@example.test\r\nTo: x@remote.example\r\n"
	    "Subject: %s\r\n\r\nbody of %s\r\n",
	    tag, tag);
}

/* A finished message through the ingest. */
static struct store_msg *
msg(struct fx *f, const char *tag)
{
	struct store_msg *m;
	char text[512];
	struct err e;

	msg_text(tag, text, sizeof(text));
	assert_int_equal(store_msg_new(f->st, &m, &e), 0);
	assert_int_equal(store_msg_write(m, text, strlen(text), &e), 0);
	assert_int_equal(store_msg_finish(m, &e), 0);
	return m;
}

/* Blobs a message refers to (skeleton and parts). */
static int64_t
msg_blobs(struct fx *f, int64_t id)
{
	char sql[256];

	(void)str_fmt(sql, sizeof(sql),
	    "SELECT count(*) FROM (SELECT skeleton FROM messages"
	    " WHERE id = %lld UNION SELECT blob FROM message_parts"
	    " WHERE message = %lld)",
	    (long long)id, (long long)id);
	return count(f, sql);
}

/* Commits tag to the local deliveries d (n) and the remote rcpts, with
 * the given done and notified rows; waits for the callback. */
static struct result
commit_out(struct fx *f, const char *tag, const struct store_delivery *d,
    size_t n, struct store_envelope *env)
{
	struct store_msg *m = msg(f, tag);
	struct result r = { 0 };

	assert_int_equal(store_msg_commit_out(&m, d, n, env, on_commit, &r), 0);
	assert_null(m);
	if (f->with_loop)
		assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(r.calls, 1);
	return r;
}

/* Queues tag for the remote rcpts (no local delivery) at `now`. */
static int64_t
queue_remote(struct fx *f, const char *tag, int64_t now,
    const char *const *rcpts, size_t n)
{
	struct store_outbound o[8];
	struct store_envelope env = { 0 };
	struct result r;
	size_t i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++)
		o[i] = (struct store_outbound){ rcpts[i], NULL, 0 };
	env.sender = "a@example.test";
	env.user_id = f->a;
	env.now = now;
	env.rcpts = o;
	env.n_rcpts = n;
	r = commit_out(f, tag, NULL, 0, &env);
	assert_int_equal(r.status, 0);
	return r.message_id;
}

static struct op_res
update(struct fx *f, const struct store_queue_update *u, size_t n)
{
	struct op_res o = { 0 };

	assert_int_equal(store_queue_update(f->st, u, n, on_op, &o), 0);
	if (f->with_loop) {
		assert_int_equal(o.calls, 0); /* only once durable */
		assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	}
	assert_int_equal(o.calls, 1);
	return o;
}

/* --- commit_out ----------------------------------------------------------- */

static void
test_commit_out_local_and_remote(void **state)
{
	struct fx *f = *state;
	struct store_delivery d = { f->b, "INBOX", NULL, 0 };
	struct store_outbound o[2] = {
		{ "Bob@Remote.EXAMPLE", "rfc822;Bob@Remote.EXAMPLE",
		    STORE_NOTIFY_SUCCESS | STORE_NOTIFY_FAILURE },
		{ "carol@other.example", NULL, 0 },
	};
	struct store_envelope env = { 0 };
	struct store_stats s;
	struct qrows *l;
	struct result r;
	char text[512];
	struct err e;

	env.sender = "a@example.test";
	env.envid = "ENV-1";
	env.ret = STORE_RET_FULL;
	env.smtputf8 = true;
	env.body_8bit = true;
	env.user_id = f->a;
	env.now = 1700000000;
	env.rcpts = o;
	env.n_rcpts = 2;
	r = commit_out(f, "mixed", &d, 1, &env);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.uid, 1);

	s = stats(f);
	assert_int_equal(s.messages, 1);
	assert_int_equal(s.entries, 1);
	assert_int_equal(s.queue_rows, 2);
	l = list(f);
	assert_int_equal(l->n, 2);
	assert_true(l->v[0].id < l->v[1].id);
	assert_int_equal(l->v[0].message_id, r.message_id);
	assert_int_equal(l->v[1].message_id, r.message_id);
	assert_string_equal(l->v[0].rcpt, "Bob@Remote.EXAMPLE");
	assert_string_equal(l->v[0].domain, "remote.example");
	assert_true(l->v[0].has_orcpt);
	assert_string_equal(l->v[0].orcpt, "rfc822;Bob@Remote.EXAMPLE");
	assert_int_equal(l->v[0].notify,
	    STORE_NOTIFY_SUCCESS | STORE_NOTIFY_FAILURE);
	assert_string_equal(l->v[1].domain, "other.example");
	assert_false(l->v[1].has_orcpt);
	assert_int_equal(l->v[1].notify, 0);
	assert_string_equal(l->v[1].sender, "a@example.test");
	assert_true(l->v[1].has_envid);
	assert_string_equal(l->v[1].envid, "ENV-1");
	assert_int_equal(l->v[1].ret, STORE_RET_FULL);
	assert_true(l->v[1].smtputf8);
	assert_true(l->v[1].body_8bit);
	assert_int_equal(l->v[1].user_id, f->a);
	assert_int_equal(l->v[1].created, 1700000000);
	assert_int_equal(l->v[1].next_attempt, 1700000000);
	assert_int_equal(l->v[1].last_attempt, 0);
	assert_int_equal(l->v[1].attempts, 0);
	assert_string_equal(l->v[1].last_reply, "");
	assert_false(l->v[1].held);
	assert_false(l->v[1].delay_notified);
	msg_text("mixed", text, sizeof(text));
	assert_int_equal(l->v[1].size, strlen(text));
	/* The local copy is indexed as any delivery. */
	assert_int_equal(count(f, "SELECT count(*) FROM fts_queue") +
	        count(f, "SELECT count(*) FROM fts"),
	    1);
	verify_clean(f);

	/* The local entry going leaves the message to its queue rows. */
	assert_int_equal(store_user_remove(f->st, "b@example.test", &e), 0);
	s = stats(f);
	assert_int_equal(s.messages, 1);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.queue_rows, 2);
	assert_int_equal(s.unreferenced_blobs, 0);
	verify_clean(f);
	/* The submitting user going leaves the rows, without a user. */
	assert_int_equal(store_user_remove(f->st, "a@example.test", &e), 0);
	l = list(f);
	assert_int_equal(l->n, 2);
	assert_int_equal(l->v[0].user_id, 0);
	verify_clean(f);
}

/* Remote recipients only: a message without entries (n == 0), never
 * indexed; rows completed by a later commit's done_ids, the message
 * going with its last row and its blobs losing their references. */
static void
test_commit_out_remote_only_and_done(void **state)
{
	struct fx *f = *state;
	const char *rc[] = { "x@remote.example", "y@remote.example" };
	struct store_delivery d = { f->a, "INBOX", NULL, 0 };
	struct store_envelope env = { 0 };
	struct store_stats s;
	struct qrows *l;
	struct result r;
	int64_t msg_id, ids[2], again[1], blobs;
	struct store_queue_update u = { 0 };
	struct err e;

	msg_id = queue_remote(f, "remote only", 100, rc, 2);
	s = stats(f);
	assert_int_equal(s.messages, 1);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.queue_rows, 2);
	assert_int_equal(s.unreferenced_blobs, 0);
	assert_int_equal(s.fts_pending, 0);
	assert_int_equal(count(f, "SELECT count(*) FROM fts"), 0);
	verify_clean(f);
	l = list(f);
	ids[0] = l->v[0].id;
	ids[1] = l->v[1].id;
	assert_int_equal(l->v[0].message_id, msg_id);

	/* A delay notice to a (local) completes nothing but marks row 2. */
	env.sender = "";
	env.now = 200;
	env.notified_ids = &ids[1];
	env.n_notified = 1;
	r = commit_out(f, "delay notice", &d, 1, &env);
	assert_int_equal(r.status, 0);
	assert_false(get(f, ids[0]).delay_notified);
	assert_true(get(f, ids[1]).delay_notified);

	/* A bounce for row 1, delivered locally: row 1 goes in the same
	 * transaction; the message stays for row 2. */
	env.notified_ids = NULL;
	env.n_notified = 0;
	env.done_ids = &ids[0];
	env.n_done = 1;
	r = commit_out(f, "bounce", &d, 1, &env);
	assert_int_equal(r.status, 0);
	l = list(f);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->v[0].id, ids[1]);
	s = stats(f);
	assert_int_equal(s.messages, 3);
	assert_int_equal(s.unreferenced_blobs, 0);
	verify_clean(f);
	/* done_ids that no longer exist are skipped. */
	again[0] = ids[0];
	env.done_ids = again;
	r = commit_out(f, "bounce again", &d, 1, &env);
	assert_int_equal(r.status, 0);

	/* Row 2 delivered: its message has nothing left and goes; its
	 * blobs (skeleton, body) lose their last reference. */
	blobs = msg_blobs(f, msg_id);
	assert_true(blobs >= 2);
	u.id = ids[1];
	u.done = true;
	assert_int_equal(update(f, &u, 1).status, 0);
	s = stats(f);
	assert_int_equal(s.queue_rows, 0);
	assert_int_equal(s.messages, 3);
	assert_int_equal(s.unreferenced_blobs, blobs);
	assert_int_equal(store_queue_get(f->st, ids[1], on_row, l, &e),
	    ERR_NOTFOUND);
	verify_clean(f);
}

/* A commit that fails leaves nothing: no message, no queue rows, and
 * the rows it would have completed are still there. */
static void
test_commit_out_failure_is_atomic(void **state)
{
	struct fx *f = *state;
	const char *rc[] = { "x@remote.example" };
	struct store_delivery d = { f->a, "NoSuchMailbox", NULL, 0 };
	struct store_outbound o = { "y@remote.example", NULL, 0 };
	struct store_envelope env = { 0 };
	struct store_stats s;
	struct result r;
	int64_t id;

	(void)queue_remote(f, "first", 10, rc, 1);
	id = list(f)->v[0].id;
	env.sender = "";
	env.now = 20;
	env.rcpts = &o;
	env.n_rcpts = 1;
	env.done_ids = &id;
	env.n_done = 1;
	env.notified_ids = &id;
	env.n_notified = 1;
	r = commit_out(f, "fails", &d, 1, &env);
	assert_int_equal(r.status, ERR_TEMP);
	s = stats(f);
	assert_int_equal(s.messages, 1);
	assert_int_equal(s.queue_rows, 1);
	assert_int_equal(list(f)->v[0].id, id);
	assert_false(list(f)->v[0].delay_notified);
	verify_clean(f);
}

/* Many commit_out calls queued at once share group commits: fewer
 * batches (each one transaction and one WAL sync) than messages. */
static void
test_commit_out_group_commit(void **state)
{
	struct fx *f = *state;
	struct store_outbound o = { "x@remote.example", NULL, 0 };
	struct store_envelope env = { 0 };
	struct result r[32];
	struct store_msg *m;
	struct store_stats s0, s1;
	char tag[32];
	size_t i;

	memset(r, 0, sizeof(r));
	env.sender = "a@example.test";
	env.user_id = f->a;
	env.now = 10;
	env.rcpts = &o;
	env.n_rcpts = 1;
	s0 = stats(f);
	for (i = 0; i < 32; i++) {
		(void)str_fmt(tag, sizeof(tag), "group %zu", i);
		m = msg(f, tag);
		assert_int_equal(store_msg_commit_out(&m, NULL, 0, &env,
		                     on_commit, &r[i]),
		    0);
	}
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	for (i = 0; i < 32; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, 0);
	}
	s1 = stats(f);
	assert_int_equal(s1.queue_rows, 32);
	assert_int_equal(s1.commit_messages - s0.commit_messages, 32);
	assert_true(s1.commit_batches - s0.commit_batches < 32);
	verify_clean(f);
}

static void
test_commit_out_input_errors(void **state)
{
	struct fx *f = *state;
	struct store_outbound bad[] = { { "no-at-sign", NULL, 0 } };
	struct store_outbound empty_dom[] = { { "x@", NULL, 0 } };
	struct store_outbound crlf[] = { { "x@a.example\r\n", NULL, 0 } };
	struct store_outbound good[] = { { "x@a.example", NULL, 0 } };
	char envid[STORE_ENVID_MAX + 2];
	struct store_envelope env = { 0 };
	struct store_msg *m = msg(f, "bad");
	struct result r = { 0 };

	env.sender = "a@example.test";
	/* Nothing to do at all. */
	assert_int_equal(store_msg_commit_out(&m, NULL, 0, &env, on_commit, &r),
	    ERR_INPUT);
	assert_int_equal(store_msg_commit_out(&m, NULL, 0, NULL, on_commit, &r),
	    ERR_INPUT);
	env.n_rcpts = 1;
	env.rcpts = bad;
	assert_int_equal(store_msg_commit_out(&m, NULL, 0, &env, on_commit, &r),
	    ERR_INPUT);
	env.rcpts = empty_dom;
	assert_int_equal(store_msg_commit_out(&m, NULL, 0, &env, on_commit, &r),
	    ERR_INPUT);
	env.rcpts = crlf;
	assert_int_equal(store_msg_commit_out(&m, NULL, 0, &env, on_commit, &r),
	    ERR_INPUT);
	env.rcpts = good;
	memset(envid, 'e', sizeof(envid) - 1);
	envid[sizeof(envid) - 1] = '\0';
	env.envid = envid; /* STORE_ENVID_MAX + 1 */
	assert_int_equal(store_msg_commit_out(&m, NULL, 0, &env, on_commit, &r),
	    ERR_INPUT);
	envid[STORE_ENVID_MAX] = '\0'; /* at the limit */
	assert_non_null(m);
	assert_int_equal(r.calls, 0);
	assert_int_equal(store_msg_commit_out(&m, NULL, 0, &env, on_commit, &r),
	    0);
	assert_null(m);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(list(f)->n, 1);
	/* store_msg_commit is unchanged: n == 0 is refused. */
	m = msg(f, "plain");
	assert_int_equal(store_msg_commit(&m, NULL, 0, on_commit, &r),
	    ERR_INPUT);
	store_msg_free(&m);
}

/* --- due, next_due, update ------------------------------------------------ */

static void
test_due_order_and_next_due(void **state)
{
	struct fx *f = *state;
	const char *r1[] = { "p@zeta.example", "q@alpha.example" };
	const char *r2[] = { "r@alpha.example", "s@Mid.example" };
	const char *r3[] = { "t@alpha.example" };
	struct qrows l = { 0 };
	int64_t m1, m2, when;
	size_t n;
	struct err e;

	assert_int_equal(store_queue_next_due(f->st, &when, &e), 0);
	assert_int_equal(when, INT64_MAX);
	m1 = queue_remote(f, "m1", 1000, r1, 2);
	m2 = queue_remote(f, "m2", 900, r2, 2);
	(void)queue_remote(f, "m3", 5000, r3, 1);
	assert_int_equal(store_queue_next_due(f->st, &when, &e), 0);
	assert_int_equal(when, 900);

	/* Due at 1000: m1 and m2 rows, by domain, message, id. */
	assert_int_equal(store_queue_due(f->st, 1000, 100, on_row, &l, &e), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].rcpt, "q@alpha.example");
	assert_int_equal(l.v[0].message_id, m1);
	assert_string_equal(l.v[1].rcpt, "r@alpha.example");
	assert_int_equal(l.v[1].message_id, m2);
	assert_string_equal(l.v[2].domain, "mid.example");
	assert_string_equal(l.v[3].domain, "zeta.example");
	/* At most max rows. */
	l.n = 0;
	assert_int_equal(store_queue_due(f->st, 1000, 2, on_row, &l, &e), 0);
	assert_int_equal(l.n, 2);
	l.n = 0;
	assert_int_equal(store_queue_due(f->st, 899, 100, on_row, &l, &e), 0);
	assert_int_equal(l.n, 0);

	/* Held rows are neither due nor next. */
	assert_int_equal(store_queue_hold(f->st, 0, true, &n, &e), 0);
	assert_int_equal(n, 5);
	assert_int_equal(store_queue_next_due(f->st, &when, &e), 0);
	assert_int_equal(when, INT64_MAX);
	l.n = 0;
	assert_int_equal(store_queue_due(f->st, 10000, 100, on_row, &l, &e), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(list(f)->n, 5);
	assert_true(list(f)->v[0].held);
	verify_clean(f);
}

struct watched {
	int calls;
	int64_t user;
};

static void
on_watch(void *ctx, int64_t user_id, int64_t mailbox_id)
{
	struct watched *w = ctx;

	(void)mailbox_id;
	w->calls++;
	w->user = user_id;
}

/* Through the loop: the callback only after the batch, deferrals and
 * completions recorded, missing rows skipped, replies cut at the
 * limit; commits and updates share batches; watchers fire for local
 * deliveries of commit_out. */
static void
test_update_through_loop(void **state)
{
	struct fx *f = *state;
	const char *rc[] = { "x@remote.example", "y@remote.example",
		"z@remote.example" };
	struct store_queue_update u[4] = { 0 };
	char longreply[STORE_REPLY_MAX + 100];
	struct store_delivery d = { f->b, "INBOX", NULL, 0 };
	struct store_outbound o1 = { "w@remote.example", NULL, 0 };
	struct store_envelope env = { 0 };
	struct watched w = { 0 };
	struct store_watch *wh;
	struct result cr = { 0 };
	struct op_res o = { 0 };
	struct store_msg *m;
	struct qrows *l;
	struct qrow q;
	int64_t ids[3], when;
	uint64_t batches;
	struct err e;

	(void)queue_remote(f, "loop", 100, rc, 3);
	l = list(f);
	assert_int_equal(l->n, 3);
	ids[0] = l->v[0].id;
	ids[1] = l->v[1].id;
	ids[2] = l->v[2].id;

	memset(longreply, 'r', sizeof(longreply) - 1);
	longreply[sizeof(longreply) - 1] = '\0';
	u[0] = (struct store_queue_update){ ids[0], false, 150, 450,
		"421 4.3.0 try later" };
	u[1] = (struct store_queue_update){ ids[1], true, 150, 0, NULL };
	u[2] = (struct store_queue_update){ 999999, false, 150, 450, "x" };
	u[3] =
	    (struct store_queue_update){ ids[2], false, 160, 460, longreply };
	assert_int_equal(update(f, u, 4).status, 0);
	q = get(f, ids[0]);
	assert_int_equal(q.attempts, 1);
	assert_int_equal(q.last_attempt, 150);
	assert_int_equal(q.next_attempt, 450);
	assert_string_equal(q.last_reply, "421 4.3.0 try later");
	q = get(f, ids[2]);
	assert_int_equal(strlen(q.last_reply), STORE_REPLY_MAX);
	assert_int_equal(list(f)->n, 2);
	assert_int_equal(store_queue_next_due(f->st, &when, &e), 0);
	assert_int_equal(when, 450);
	/* A second deferral counts on. */
	u[0].last_attempt = 450;
	u[0].next_attempt = 1050;
	assert_int_equal(update(f, u, 1).status, 0);
	assert_int_equal(get(f, ids[0]).attempts, 2);

	/* A commit with local and remote recipients and an update queued
	 * together share one batch; the local user's watcher fires. */
	wh = store_watch_add(f->st, f->b, on_watch, &w);
	batches = stats(f).commit_batches;
	env.sender = "a@example.test";
	env.user_id = f->a;
	env.now = 500;
	env.rcpts = &o1;
	env.n_rcpts = 1;
	m = msg(f, "shared batch");
	u[0] = (struct store_queue_update){ ids[0], true, 500, 0, NULL };
	assert_int_equal(store_msg_commit_out(&m, &d, 1, &env, on_commit, &cr),
	    0);
	assert_int_equal(store_queue_update(f->st, u, 1, on_op, &o), 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(cr.calls, 1);
	assert_int_equal(cr.status, 0);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.user, f->b);
	assert_true(stats(f).commit_batches - batches <= 2);
	store_watch_remove(f->st, &wh);
	l = list(f);
	assert_int_equal(l->n, 2);
	assert_int_equal(l->v[0].id, ids[2]);
	assert_string_equal(l->v[1].rcpt, "w@remote.example");
	verify_clean(f);
}

/* --- admin --------------------------------------------------------------- */

static void
test_hold_retry_remove(void **state)
{
	struct fx *f = *state;
	const char *r1[] = { "x@remote.example", "y@remote.example" };
	const char *r2[] = { "z@other.example" };
	struct store_stats s;
	struct qrows *l;
	int64_t ids[3], when;
	size_t n;
	struct err e;
	int problems = 0;

	(void)queue_remote(f, "one", 100, r1, 2);
	(void)queue_remote(f, "two", 200, r2, 1);
	l = list(f);
	ids[0] = l->v[0].id;
	ids[1] = l->v[1].id;
	ids[2] = l->v[2].id;

	assert_int_equal(store_queue_hold(f->st, ids[0], true, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_true(get(f, ids[0]).held);
	/* Already held: not an error, nothing changed. */
	assert_int_equal(store_queue_hold(f->st, ids[0], true, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_queue_hold(f->st, 999999, true, &n, &e),
	    ERR_NOTFOUND);
	assert_int_equal(store_queue_next_due(f->st, &when, &e), 0);
	assert_int_equal(when, 100); /* ids[1] */

	/* Retry: next_attempt = now, held rows stay held. */
	assert_int_equal(store_queue_retry(f->st, 0, 50, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_int_equal(get(f, ids[0]).next_attempt, 50);
	assert_true(get(f, ids[0]).held);
	assert_int_equal(store_queue_retry(f->st, ids[2], 40, NULL, &e), 0);
	assert_int_equal(get(f, ids[2]).next_attempt, 40);
	assert_int_equal(store_queue_retry(f->st, 999999, 40, &n, &e),
	    ERR_NOTFOUND);
	assert_int_equal(store_queue_hold(f->st, 0, false, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_false(get(f, ids[0]).held);

	/* Remove one row of "one": its message stays for the other. */
	assert_int_equal(store_queue_remove(f->st, ids[0], &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_queue_remove(f->st, ids[0], &n, &e),
	    ERR_NOTFOUND);
	s = stats(f);
	assert_int_equal(s.messages, 2);
	assert_int_equal(s.queue_rows, 2);
	assert_int_equal(s.unreferenced_blobs, 0);
	verify_clean(f);
	/* Remove all: both messages and all their blobs are released. */
	assert_int_equal(store_queue_remove(f->st, 0, &n, &e), 0);
	assert_int_equal(n, 2);
	s = stats(f);
	assert_int_equal(s.messages, 0);
	assert_int_equal(s.queue_rows, 0);
	assert_int_equal(s.unreferenced_blobs, s.unique_parts);
	assert_true(s.unique_parts >= 4);
	verify_clean(f);
	assert_int_equal(store_queue_remove(f->st, 0, &n, &e), 0);
	assert_int_equal(n, 0);

	/* verify notices a message left with neither entries nor rows. */
	(void)queue_remote(f, "orphan", 300, r2, 1);
	assert_int_equal(db_exec(&f->st->rd,
	                     "DROP TRIGGER queue_gone; DELETE FROM queue", &e),
	    0);
	assert_int_equal(store_verify(f->st, on_problem, &problems, &e),
	    ERR_INPUT);
	assert_true(problems >= 1);
}

/* A second handle on the same store, as the CLI opens it while serve
 * runs: its admin changes and serve's commits see each other at once
 * (no read snapshot is kept open between calls). */
static void
test_second_process_view(void **state)
{
	struct fx *f = *state;
	const char *rc[] = { "x@remote.example", "y@remote.example" };
	struct store_opts o = { 0 };
	struct store_queue_update u = { 0 };
	struct store *cli;
	struct qrows l = { 0 };
	int64_t when;
	size_t n;
	struct err e;

	(void)queue_remote(f, "shared", 100, rc, 2);
	assert_int_equal(store_queue_next_due(f->st, &when, &e), 0);
	assert_int_equal(when, 100);
	o.dir = f->dir;
	o.batch_max = 1;
	o.gc_grace_seconds = 3600;
	assert_int_equal(store_open(&o, &cli, &e), 0);
	assert_int_equal(store_queue_list(cli, on_row, &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(store_queue_hold(cli, 0, true, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_queue_next_due(f->st, &when, &e), 0);
	assert_int_equal(when, INT64_MAX);
	assert_int_equal(store_queue_hold(cli, l.v[1].id, false, &n, &e), 0);
	assert_int_equal(store_queue_retry(cli, l.v[1].id, 7, &n, &e), 0);
	assert_int_equal(store_queue_next_due(f->st, &when, &e), 0);
	assert_int_equal(when, 7);
	/* Removed by the CLI while serve had it in flight: serve's outcome
	 * for it is skipped. */
	assert_int_equal(store_queue_remove(cli, l.v[1].id, &n, &e), 0);
	u = (struct store_queue_update){ l.v[1].id, false, 8, 9, "451 x" };
	assert_int_equal(update(f, &u, 1).status, 0);
	assert_int_equal(store_queue_next_due(f->st, &when, &e), 0);
	assert_int_equal(when, INT64_MAX);
	assert_int_equal(list(f)->n, 1);
	store_close(&cli);
	verify_clean(f);
}

static void
test_addr_owned(void **state)
{
	struct fx *f = *state;
	char big[400];
	bool owned = true;
	struct err e;

	assert_int_equal(store_alias_add(f->st, "sales@example.test",
	                     "a@example.test", &e),
	    0);
	assert_int_equal(store_alias_add(f->st, "sales@example.test",
	                     "b@example.test", &e),
	    0);
	assert_int_equal(store_alias_add(f->st, "bonly@example.test",
	                     "b@example.test", &e),
	    0);
	assert_int_equal(store_addr_owned(f->st, f->a,
	                     SLICE_LIT("A@Example.TEST"), &owned, &e),
	    0);
	assert_true(owned);
	assert_int_equal(store_addr_owned(f->st, f->a,
	                     SLICE_LIT("SALES@example.test"), &owned, &e),
	    0);
	assert_true(owned);
	assert_int_equal(store_addr_owned(f->st, f->b,
	                     SLICE_LIT("sales@example.test"), &owned, &e),
	    0);
	assert_true(owned);
	assert_int_equal(store_addr_owned(f->st, f->a,
	                     SLICE_LIT("bonly@example.test"), &owned, &e),
	    0);
	assert_false(owned);
	owned = true;
	assert_int_equal(store_addr_owned(f->st, f->a,
	                     SLICE_LIT("b@example.test"), &owned, &e),
	    0);
	assert_false(owned);
	owned = true;
	assert_int_equal(store_addr_owned(f->st, f->a,
	                     SLICE_LIT("a@example.test.evil"), &owned, &e),
	    0);
	assert_false(owned);
	owned = true;
	assert_int_equal(store_addr_owned(f->st, f->a, SLICE_LIT(""), &owned,
	                     &e),
	    0);
	assert_false(owned);
	owned = true;
	assert_int_equal(store_addr_owned(f->st, f->a,
	                     (struct slice){ "a@example.test\0x", 16 }, &owned,
	                     &e),
	    0);
	assert_false(owned);
	memset(big, 'a', sizeof(big));
	owned = true;
	assert_int_equal(store_addr_owned(f->st, f->a,
	                     (struct slice){ big, sizeof(big) }, &owned, &e),
	    0);
	assert_false(owned);
}

/* --- migration ------------------------------------------------------------ */

static void
test_migration_from_v3(void **state)
{
	struct fx *f = *state;
	const char *rc[] = { "x@remote.example" };
	struct store_delivery d = { f->b, "INBOX", NULL, 0 };
	struct store_envelope env = { 0 };
	struct store_outbound o = { "y@remote.example", NULL, 0 };
	struct store_stats s;
	struct result r;
	char path[400];
	sqlite3 *db;
	struct err e;

	env.sender = "";
	r = commit_out(f, "before", &d, 1, &env); /* n_rcpts 0: local only */
	assert_int_equal(r.status, 0);
	store_close(&f->st);
	(void)str_fmt(path, sizeof(path), "%s/meta.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                     TU_UNDO_V4
	                     "UPDATE schema_version SET version = 3;",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(open_store(f), 0);
	assert_int_equal(count(f, "SELECT version FROM schema_version"), 4);
	assert_int_equal(count(f,
	                     "SELECT count(*) FROM sqlite_master"
	                     " WHERE name IN ('queue', 'queue_due',"
	                     " 'queue_gone', 'entries_gone')"),
	    4);
	s = stats(f);
	assert_int_equal(s.messages, 1);
	assert_int_equal(s.queue_rows, 0);
	verify_clean(f);
	(void)queue_remote(f, "after", 10, rc, 1);
	/* The new entries_gone: a delivered + queued message outlives its
	 * entry. */
	env.sender = "a@example.test";
	env.now = 20;
	env.rcpts = &o;
	env.n_rcpts = 1;
	r = commit_out(f, "both", &d, 1, &env);
	assert_int_equal(r.status, 0);
	assert_int_equal(store_user_remove(f->st, "b@example.test", &e), 0);
	s = stats(f);
	assert_int_equal(s.messages, 2);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.queue_rows, 2);
	verify_clean(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_commit_out_local_and_remote, setup_inline, teardown),
		cmocka_unit_test_setup_teardown(
		    test_commit_out_local_and_remote, setup_loop, teardown),
		cmocka_unit_test_setup_teardown(
		    test_commit_out_remote_only_and_done, setup_inline,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_commit_out_remote_only_and_done, setup_loop, teardown),
		cmocka_unit_test_setup_teardown(
		    test_commit_out_failure_is_atomic, setup_inline, teardown),
		cmocka_unit_test_setup_teardown(
		    test_commit_out_failure_is_atomic, setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_commit_out_group_commit,
		    setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_commit_out_input_errors,
		    setup_inline, teardown),
		cmocka_unit_test_setup_teardown(test_due_order_and_next_due,
		    setup_inline, teardown),
		cmocka_unit_test_setup_teardown(test_update_through_loop,
		    setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_hold_retry_remove,
		    setup_inline, teardown),
		cmocka_unit_test_setup_teardown(test_second_process_view,
		    setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_addr_owned, setup_inline,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migration_from_v3,
		    setup_inline, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
