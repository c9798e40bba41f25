/* SPDX-License-Identifier: MIT */
/* Fault walks over the store (SQLite's do_faultsim_test, for files): for
 * each operation, count its durable-I/O calls (lib/dio.c and the SQLite
 * VFS shim) once, then fail call N = 1, 2, ... K in turn with EIO, ENOSPC,
 * a short write and a power loss, each run in a forked child; the parent
 * reopens the store (recovery) and checks the rule: success reported =>
 * the data is there, byte-identical; failure reported => nothing is
 * visible; no report (the child died) => all or nothing; and the store
 * always passes store_verify. Built only with -Dtest_hooks=true. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "lib/dio.h"
#include "lib/fault.h"
#include "store/sqlite/test_util.h"

/* Decoded attachment bytes: over BLOB_MEM_MAX, so that the message has a
 * blob file (tmp/, fsync, rename, folder fsync) as well as inline rows. */
#define ATT_LEN (150u * 1000u)
/* A walk longer than this means the counting is broken, not the store. */
#define WALK_MAX 2000

struct fx {
	char base[256], dir[300];
	char tmpl_base[256], tmpl[300]; /* the starting state, copied per run */
	int64_t a, b;        /* users */
	int64_t inbox_a;     /* a's INBOX */
	uint32_t old_uid;    /* expunge: the \Deleted entry in a's INBOX */
	int64_t q_done, q_failed; /* queue rows */
	int64_t q_msg;
	char *msg;
	size_t msg_len;
};

/* What a child reports through its pipe right after the operation. */
struct report {
	int status;   /* 0 or ERR_* as the store reported it */
	uint32_t uid; /* ingest/append: the first delivery's UID */
	bool fired;   /* the fault had fired by then */
	uint64_t count; /* calls counted by then */
};

struct scenario {
	const char *name;
	/* Parent, before the fork, on an open store: the state the
	 * operation starts from. */
	void (*setup)(struct fx *f, struct store *st);
	/* Child, armed: the operation. */
	struct report (*op)(struct fx *f, struct store *st);
	/* Parent, after recovery. rep NULL: the child died unreported. */
	void (*check)(struct fx *f, struct store *st, const struct report *rep,
	    const char *ctx);
};

static char *
make_message(size_t *len_out)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	                          "qrstuvwxyz0123456789+/";
	size_t cap = ATT_LEN * 2 + 4096, len, i, col = 0;
	char *p = xmalloc(cap);
	uint32_t x = 12345;
	unsigned char t[3];
	int r;

	r = snprintf(p, cap,
	    "Return-Path: <s@example.org>\r\n"
	    "From: Sender <s@example.org>\r\n"
	    "To: a@example.test, b@example.test\r\n"
	    "Subject: fault walk\r\n"
	    "Message-ID: <walk@example.org>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	    "\r\n"
	    "--b1\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "Hello, nothing acknowledged is ever lost.\r\n"
	    "--b1\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n");
	len = (size_t)r;
	for (i = 0; i + 2 < ATT_LEN; i += 3) {
		uint32_t v;

		for (int k = 0; k < 3; k++) { /* xorshift: incompressible */
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			t[k] = (unsigned char)x;
		}
		v = (uint32_t)t[0] << 16 | (uint32_t)t[1] << 8 | t[2];
		p[len++] = b64[v >> 18];
		p[len++] = b64[(v >> 12) & 63];
		p[len++] = b64[(v >> 6) & 63];
		p[len++] = b64[v & 63];
		if ((col += 4) == 76) {
			p[len++] = '\r';
			p[len++] = '\n';
			col = 0;
		}
	}
	r = snprintf(p + len, cap - len, "\r\n--b1--\r\n");
	len += (size_t)r;
	*len_out = len;
	return p;
}

static struct store *
open_store(struct fx *f)
{
	struct store_opts o = { 0 };
	struct store *st = NULL;
	struct err e;

	o.dir = f->dir;
	o.batch_max = 8;
	if (store_open(&o, &st, &e) != 0)
		fail_msg("store_open: %s", e.msg);
	return st;
}

/* --- shared pieces ------------------------------------------------------ */

static void
on_commit(void *ctx, const struct store_commit_result *res)
{
	struct report *r = ctx;

	r->status = res->status;
	r->uid = res->uid;
}

static void
on_op(void *ctx, const struct store_op_result *res)
{
	((struct report *)ctx)->status = res->status;
}

/* Writes f->msg as a new message; ERR_* on failure (nothing to commit). */
static int
write_msg(struct fx *f, struct store *st, struct store_msg **mp)
{
	struct err e;
	int rc;

	if ((rc = store_msg_new(st, mp, &e)) != 0)
		return rc;
	if ((rc = store_msg_write(*mp, f->msg, f->msg_len, &e)) != 0 ||
	    (rc = store_msg_finish(*mp, &e)) != 0) {
		store_msg_free(mp);
		return rc;
	}
	return 0;
}

struct count_ctx {
	size_t n;
	uint32_t uid;
};

static void
count_entry(void *ctx, const struct store_entry *e)
{
	struct count_ctx *c = ctx;

	c->n++;
	c->uid = e->uid;
}

static size_t
entries(struct store *st, int64_t user, const char *mailbox, uint32_t *uid)
{
	struct count_ctx c = { 0, 0 };
	struct err e;

	if (store_entry_list(st, user, mailbox, count_entry, &c, &e) != 0)
		fail_msg("entry list: %s", e.msg);
	if (uid != NULL)
		*uid = c.uid;
	return c.n;
}

static bool
same_bytes(struct fx *f, struct store_reader *r)
{
	char *got = xmalloc(f->msg_len + 1);
	size_t len = 0, n;
	struct err e;
	bool ok;

	for (;;) {
		if (store_reader_read(r, got + len, f->msg_len + 1 - len, &n,
		        &e) != 0) {
			free(got);
			return false;
		}
		if (n == 0 || (len += n) > f->msg_len)
			break;
	}
	ok = len == f->msg_len && memcmp(got, f->msg, len) == 0;
	free(got);
	return ok;
}

/* Exactly one entry in user's mailbox, whose bytes are f->msg. */
static void
expect_message(struct fx *f, struct store *st, int64_t user,
    const char *mailbox, const char *ctx)
{
	struct store_reader *r;
	uint32_t uid;
	struct err e;
	bool same;

	if (entries(st, user, mailbox, &uid) != 1)
		fail_msg("%s: %s has %zu entries, expected 1", ctx, mailbox,
		    entries(st, user, mailbox, NULL));
	if (store_reader_open(st, user, mailbox, uid, &r, &e) != 0)
		fail_msg("%s: open uid %u: %s", ctx, uid, e.msg);
	same = same_bytes(f, r);
	store_reader_close(&r);
	if (!same)
		fail_msg("%s: stored bytes differ", ctx);
}

static void
on_problem(void *ctx, const char *problem)
{
	print_error("verify (%s): %s\n", (const char *)ctx, problem);
}

/* store_verify is clean and no blob file is left without a row. */
static void
expect_clean(struct fx *f, struct store *st, const char *ctx)
{
	struct store_stats s;
	char blobs[320];
	size_t files;
	struct err e;

	if (store_verify(st, on_problem, (void *)ctx, &e) != 0)
		fail_msg("%s: store_verify: %s", ctx, e.msg);
	if (store_stats_get(st, &s, &e) != 0)
		fail_msg("%s: stats: %s", ctx, e.msg);
	(void)str_fmt(blobs, sizeof(blobs), "%s/blobs", f->dir);
	files = tu_count_files(blobs);
	if (files != s.file_blobs)
		fail_msg("%s: %zu files in blobs/, %llu file blobs", ctx, files,
		    (unsigned long long)s.file_blobs);
}

/* --- (a) ingest: one message for two local recipients -------------------- */

static void
ingest_setup(struct fx *f, struct store *st)
{
	(void)f;
	(void)st;
}

static struct report
ingest_op(struct fx *f, struct store *st)
{
	struct store_delivery d[2] = { { f->a, "INBOX", NULL, 0 },
		{ f->b, "INBOX", NULL, 0 } };
	struct report r = { ERR_INTERNAL, 0, false };
	struct store_msg *m;

	if ((r.status = write_msg(f, st, &m)) != 0)
		return r;
	r.status = ERR_INTERNAL;
	if (store_msg_commit(&m, d, 2, on_commit, &r) != 0)
		fail_msg("commit refused");
	return r;
}

static void
ingest_check(struct fx *f, struct store *st, const struct report *rep,
    const char *ctx)
{
	size_t na = entries(st, f->a, "INBOX", NULL);
	size_t nb = entries(st, f->b, "INBOX", NULL);

	if ((rep != NULL && rep->status == 0) ||
	    (rep == NULL && na + nb > 0)) {
		expect_message(f, st, f->a, "INBOX", ctx);
		expect_message(f, st, f->b, "INBOX", ctx);
	} else if (na + nb != 0) {
		fail_msg("%s: failure reported (%d) but %zu+%zu entries", ctx,
		    rep->status, na, nb);
	}
}

/* --- (b) IMAP APPEND and EXPUNGE ------------------------------------------ */

static struct report
append_op(struct fx *f, struct store *st)
{
	struct store_delivery d = { f->a, "Archive", "\\Seen $Label",
		1700000000 };
	struct report r = { ERR_INTERNAL, 0, false };
	struct store_msg *m;

	if ((r.status = write_msg(f, st, &m)) != 0)
		return r;
	r.status = ERR_INTERNAL;
	if (store_msg_commit(&m, &d, 1, on_commit, &r) != 0)
		fail_msg("commit refused");
	return r;
}

static void
append_check(struct fx *f, struct store *st, const struct report *rep,
    const char *ctx)
{
	size_t n = entries(st, f->a, "Archive", NULL);

	if ((rep != NULL && rep->status == 0) || (rep == NULL && n > 0))
		expect_message(f, st, f->a, "Archive", ctx);
	else if (n != 0)
		fail_msg("%s: APPEND failed (%d) but %zu entries", ctx,
		    rep->status, n);
}

static void
expunge_setup(struct fx *f, struct store *st)
{
	struct store_delivery d = { f->a, "INBOX", "\\Deleted", 0 };
	struct report r = { ERR_INTERNAL, 0, false };
	struct store_mailbox_status s;
	struct store_msg *m;
	struct err e;

	assert_int_equal(write_msg(f, st, &m), 0);
	assert_int_equal(store_msg_commit(&m, &d, 1, on_commit, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(store_mailbox_peek(st, f->a, "INBOX", &s, &e), 0);
	f->inbox_a = s.id;
	f->old_uid = r.uid;
}

static struct report
expunge_op(struct fx *f, struct store *st)
{
	struct report r = { ERR_INTERNAL, 0, false };

	if (store_expunge(st, f->inbox_a, &f->old_uid, 1, on_op, &r) != 0)
		fail_msg("expunge refused");
	return r;
}

static void
expunge_check(struct fx *f, struct store *st, const struct report *rep,
    const char *ctx)
{
	size_t n = entries(st, f->a, "INBOX", NULL);

	if ((rep != NULL && rep->status == 0) || (rep == NULL && n == 0)) {
		if (n != 0)
			fail_msg("%s: EXPUNGE reported done, %zu entries", ctx,
			    n);
	} else {
		expect_message(f, st, f->a, "INBOX", ctx);
	}
}

/* --- (c) outbound: one row delivered, one deferred ------------------------ */

struct qlist {
	int64_t id[4];
	unsigned attempts[4];
	int64_t msg;
	size_t n;
};

static void
on_queue(void *ctx, const struct store_queue_entry *e)
{
	struct qlist *q = ctx;

	if (q->n < 4) {
		q->id[q->n] = e->id;
		q->attempts[q->n] = e->attempts;
		q->msg = e->message_id;
		q->n++;
	}
}

static void
queue_setup(struct fx *f, struct store *st)
{
	struct store_outbound rc[2] = { { "r1@remote.test", NULL, 0 },
		{ "r2@remote.test", NULL, 0 } };
	struct store_envelope env = { .sender = "a@example.test",
		.user_id = f->a,
		.now = 1000,
		.rcpts = rc,
		.n_rcpts = 2 };
	struct report r = { ERR_INTERNAL, 0, false };
	struct store_msg *m;
	struct qlist q = { 0 };
	struct err e;

	assert_int_equal(write_msg(f, st, &m), 0);
	assert_int_equal(
	    store_msg_commit_out(&m, NULL, 0, &env, on_commit, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(store_queue_list(st, on_queue, &q, &e), 0);
	assert_int_equal(q.n, 2);
	f->q_done = q.id[0];
	f->q_failed = q.id[1];
	f->q_msg = q.msg;
}

static struct report
queue_op(struct fx *f, struct store *st)
{
	struct store_queue_update u[2] = {
		{ .id = f->q_done, .done = true },
		{ .id = f->q_failed,
		    .last_attempt = 1000,
		    .next_attempt = 1600,
		    .last_reply = "451 4.4.1 try later" },
	};
	struct report r = { ERR_INTERNAL, 0, false };

	if (store_queue_update(st, u, 2, on_op, &r) != 0)
		fail_msg("queue update refused");
	return r;
}

static void
queue_check(struct fx *f, struct store *st, const struct report *rep,
    const char *ctx)
{
	struct qlist q = { 0 };
	struct store_reader *r;
	struct err e;
	bool same;

	assert_int_equal(store_queue_list(st, on_queue, &q, &e), 0);
	if ((rep != NULL && rep->status == 0) || (rep == NULL && q.n == 1)) {
		if (q.n != 1 || q.id[0] != f->q_failed || q.attempts[0] != 1)
			fail_msg("%s: update reported done: %zu rows", ctx,
			    q.n);
	} else if (q.n != 2 || q.attempts[0] != 0 || q.attempts[1] != 0) {
		fail_msg("%s: update failed (%d) but %zu rows changed", ctx,
		    rep != NULL ? rep->status : 0, q.n);
	}
	/* Either way a row remains, and its message is intact. */
	if (store_reader_open_message(st, f->q_msg, &r, &e) != 0)
		fail_msg("%s: queued message: %s", ctx, e.msg);
	same = same_bytes(f, r);
	store_reader_close(&r);
	if (!same)
		fail_msg("%s: queued message bytes differ", ctx);
}

/* --- the walk ------------------------------------------------------------- */

static const char *const mode_name[] = { "none", "eio", "enospc", "short",
	"powerloss", "count" };

/* The template: a store with two users and the scenario's starting
 * state, closed. Each run gets a copy (building it is most of a run). */
static void
make_template(struct fx *f, const struct scenario *sc)
{
	struct store *st;
	struct err e;

	tu_tmpdir(f->tmpl_base, f->tmpl);
	(void)str_copy(f->dir, sizeof(f->dir), f->tmpl);
	st = open_store(f);
	if (store_domain_add(st, "example.test", &e) != 0 ||
	    store_user_add(st, "a@example.test", "h", &f->a, &e) != 0 ||
	    store_user_add(st, "b@example.test", "h", &f->b, &e) != 0)
		fail_msg("setup: %s", e.msg);
	sc->setup(f, st);
	store_close(&st);
}

/* Copies the tree at src to dst (folders and regular files), in
 * process: a cp per run forked this large ASan process once more. */
static void
copy_tree(const char *src, const char *dst)
{
	char s[1024], d[1024], buf[65536];
	struct dirent *e;
	struct stat sb;
	DIR *dir;
	int in, out;
	ssize_t n;

	if (mkdir(dst, 0700) == -1 || (dir = opendir(src)) == NULL)
		fail_msg("copy %s: %s", src, strerror(errno));
	while ((e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		(void)str_fmt(s, sizeof(s), "%s/%s", src, e->d_name);
		(void)str_fmt(d, sizeof(d), "%s/%s", dst, e->d_name);
		if (lstat(s, &sb) == -1)
			fail_msg("stat %s: %s", s, strerror(errno));
		if (S_ISDIR(sb.st_mode)) {
			copy_tree(s, d);
			continue;
		}
		in = open(s, O_RDONLY | O_CLOEXEC);
		out = open(d, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (in == -1 || out == -1)
			fail_msg("copy %s: %s", s, strerror(errno));
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n)
				fail_msg("write %s: %s", d, strerror(errno));
		(void)close(in);
		(void)close(out);
	}
	closedir(dir);
}

/* A fresh copy of the template in f->base/store. */
static void
prepare(struct fx *f)
{
	tu_tmpdir(f->base, f->dir);
	copy_tree(f->tmpl, f->dir);
}

/* Runs the operation in a child with mode@n. Returns whether the child
 * reported (*rep filled); *count_out: calls counted through close (0 if
 * the child died first). */
static bool
run_child(struct fx *f, const struct scenario *sc, enum fault_mode mode,
    uint64_t n, bool crash, struct report *rep, uint64_t *count_out,
    int *status_out)
{
	int p[2], st_status;
	pid_t pid;
	ssize_t r;

	if (pipe(p) == -1)
		fail_msg("pipe: %s", strerror(errno));
	if ((pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		struct store *st;
		struct report out;
		uint64_t c;

		(void)close(p[0]);
		fault_set(mode, n);
		st = open_store(f);
		fault_arm();
		out = sc->op(f, st);
		out.fired = fault_fired();
		out.count = fault_count();
		if (write(p[1], &out, sizeof(out)) != (ssize_t)sizeof(out))
			_exit(3);
		if (crash) /* as if the process died right after replying */
			_exit(0);
		store_close(&st);
		c = fault_count();
		if (write(p[1], &c, sizeof(c)) != (ssize_t)sizeof(c))
			_exit(3);
		_exit(0);
	}
	(void)close(p[1]);
	*count_out = 0;
	r = read(p[0], rep, sizeof(*rep));
	if (r == (ssize_t)sizeof(*rep) &&
	    read(p[0], count_out, sizeof(*count_out)) !=
	        (ssize_t)sizeof(*count_out))
		*count_out = 0;
	(void)close(p[0]);
	if (waitpid(pid, &st_status, 0) == -1)
		fail_msg("waitpid: %s", strerror(errno));
	*status_out = st_status;
	return r == (ssize_t)sizeof(*rep);
}

/* How many counted calls the operation makes up to its reply
 * (*op_out) and through the store's close (returned). */
static uint64_t
count_calls(struct fx *f, const struct scenario *sc, uint64_t *op_out)
{
	struct report rep;
	uint64_t k;
	int status;

	prepare(f);
	if (!run_child(f, sc, FAULT_COUNT, 0, false, &rep, &k, &status) ||
	    rep.status != 0 || k == 0)
		fail_msg("%s: counting run failed (status %d)", sc->name,
		    rep.status);
	tu_rmtree(f->base);
	*op_out = rep.count;
	return k;
}

/* eio and enospc runs end as a crash right after the reply (no
 * store_close): a failed call followed by a crash must not resurrect what
 * was refused (SQLite's WAL keeps frames of a commit whose sync failed);
 * short runs close the store after the failure. These three walk the
 * calls up to the reply (a failed call in the close after a success
 * reported loses nothing: the power-loss walk covers the close, where
 * it matters, call by call). */
static void
walk(const struct scenario *sc, enum fault_mode mode)
{
	uint64_t k, k_op, n, c;
	bool crash = mode == FAULT_EIO || mode == FAULT_ENOSPC;
	unsigned failures = 0, fired = 0, died = 0;
	struct fx f = { 0 };
	struct report rep;
	struct store *st;
	char ctx[96];
	bool reported;
	int status;

	f.msg = make_message(&f.msg_len);
	make_template(&f, sc);
	k = count_calls(&f, sc, &k_op);
	if (k > WALK_MAX)
		fail_msg("%s: %llu calls", sc->name, (unsigned long long)k);
	if (mode != FAULT_POWERLOSS)
		k = k_op;
	print_message("%s %s: %llu calls to walk (%llu to the reply)\n",
	    sc->name, mode_name[mode], (unsigned long long)k,
	    (unsigned long long)k_op);
	for (n = 1; n <= k; n++) {
		(void)str_fmt(ctx, sizeof(ctx), "%s %s@%llu/%llu", sc->name,
		    mode_name[mode], (unsigned long long)n,
		    (unsigned long long)k);
		prepare(&f);
		reported = run_child(&f, sc, mode, n, crash, &rep, &c, &status);
		if (mode == FAULT_POWERLOSS) {
			if (!WIFEXITED(status) ||
			    WEXITSTATUS(status) != FAULT_POWERLOSS_EXIT)
				fail_msg("%s: child did not die of the power "
				         "loss (status %#x)",
				    ctx, (unsigned)status);
			died++;
		} else if (!reported || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fail_msg("%s: child crashed (status %#x)", ctx,
			    (unsigned)status);
		}
		/* Without a loop the store runs no thread of its own: the
		 * calls are the same in every run, so a fault at N <= K must
		 * have fired before the reply (short: only at writes). */
		if ((mode == FAULT_EIO || mode == FAULT_ENOSPC) &&
		    (!reported || !rep.fired))
			fail_msg("%s: the fault did not fire", ctx);
		if (reported && rep.fired)
			fired++;
		if (getenv("FAULT_TEST_VERBOSE") != NULL && reported &&
		    rep.fired && rep.status == 0)
			print_message("%s: fired, success reported\n", ctx);
		if (reported && rep.status != 0)
			failures++;
		st = open_store(&f); /* recovery */
		sc->check(&f, st, reported ? &rep : NULL, ctx);
		expect_clean(&f, st, ctx);
		store_close(&st);
		tu_rmtree(f.base);
	}
	print_message("%s %s: %llu calls walked, %u failures reported, "
	              "%u faults fired before the reply, %u power losses\n",
	    sc->name, mode_name[mode], (unsigned long long)k, failures, fired,
	    died);
	tu_rmtree(f.tmpl_base);
	free(f.msg);
}

static const struct scenario ingest = { "ingest", ingest_setup, ingest_op,
	ingest_check };
static const struct scenario append = { "append", ingest_setup, append_op,
	append_check };
static const struct scenario expunge = { "expunge", expunge_setup,
	expunge_op, expunge_check };
static const struct scenario queue = { "queue", queue_setup, queue_op,
	queue_check };

#define WALKS(sc)                                                        \
	static void test_##sc##_eio(void **s)                            \
	{                                                                \
		(void)s;                                                 \
		walk(&sc, FAULT_EIO);                                    \
	}                                                                \
	static void test_##sc##_enospc(void **s)                         \
	{                                                                \
		(void)s;                                                 \
		walk(&sc, FAULT_ENOSPC);                                 \
	}                                                                \
	static void test_##sc##_short(void **s)                          \
	{                                                                \
		(void)s;                                                 \
		walk(&sc, FAULT_SHORT);                                  \
	}                                                                \
	static void test_##sc##_powerloss(void **s)                      \
	{                                                                \
		(void)s;                                                 \
		walk(&sc, FAULT_POWERLOSS);                              \
	}
WALKS(ingest)
WALKS(append)
WALKS(expunge)
WALKS(queue)

/* --- the machinery itself ---------------------------------------------- */

/* A fault at N fires at the N-th call, once, with the mode's errno; calls
 * before arming are not counted. */
static void
test_fault_fires(void **s)
{
	char base[256], dir[300];
	int fd, dfd;

	(void)s;
	tu_tmpdir(base, dir);
	dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	fault_set(FAULT_ENOSPC, 3);
	fd = dio_openat(dfd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0); /* not armed: not counted */
	fault_arm();
	assert_int_equal(dio_write_all(fd, "abc", 3), 0); /* 1 */
	assert_int_equal(dio_fsync(fd), 0);               /* 2 */
	assert_int_equal(dio_write_all(fd, "def", 3), -1); /* 3 */
	assert_int_equal(errno, ENOSPC);
	assert_true(fault_fired());
	assert_int_equal(dio_write_all(fd, "def", 3), 0); /* once only */
	assert_int_equal(dio_commit_point(), 0);
	assert_int_equal(fault_count(), 5);
	(void)dio_close(fd);
	fault_set(FAULT_NONE, 0);
	(void)close(dfd);
	tu_rmtree(base);
}

/* A short write reports about half; dio_write_all still writes it all. */
static void
test_fault_short(void **s)
{
	char base[256], dir[300], buf[16];
	int fd, dfd;

	(void)s;
	tu_tmpdir(base, dir);
	dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fault_set(FAULT_SHORT, 1);
	fault_arm();
	fd = dio_openat(dfd, "f", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0); /* 1: an open, which short leaves alone */
	assert_false(fault_fired());
	fault_set(FAULT_SHORT, 1);
	fault_arm();
	assert_int_equal(dio_write_all(fd, "abcdefgh", 8), 0);
	assert_true(fault_fired());
	assert_int_equal(fault_count(), 2); /* 4 bytes, then the rest */
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 8);
	assert_memory_equal(buf, "abcdefgh", 8);
	(void)dio_close(fd);
	fault_set(FAULT_NONE, 0);
	(void)close(dfd);
	tu_rmtree(base);
}

/* A power loss undoes unsynced writes, cuts, creations and renames, and
 * keeps what was fsynced. */
static void
test_fault_powerloss(void **s)
{
	char base[256], dir[300], buf[32], p[400];
	struct stat sb;
	int status, dfd;
	pid_t pid;

	(void)s;
	tu_tmpdir(base, dir);
	dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if ((pid = fork()) == 0) {
		int fd;

		fault_set(FAULT_POWERLOSS, 7);
		fd = dio_openat(dfd, "kept", O_RDWR | O_CREAT | O_CLOEXEC,
		    0600);
		(void)dio_write_all(fd, "synced", 6);
		(void)dio_fsync(fd);
		(void)dio_fsync(dfd);
		fault_arm();
		(void)dio_pwrite_all(fd, "XX", 2, 0);        /* 1 */
		(void)dio_write_all(fd, "-grown", 6);        /* 2 */
		(void)dio_openat(dfd, "new", O_WRONLY | O_CREAT | O_CLOEXEC,
		    0600);                                   /* 3 */
		(void)dio_mkdirat(dfd, "d", 0700);           /* 4 */
		(void)dio_renameat2(dfd, "kept", dfd, "moved", 0); /* 5 */
		(void)dio_ftruncate(fd, 3);                  /* 6 */
		(void)dio_fsync(fd);                         /* 7: dies */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), FAULT_POWERLOSS_EXIT);
	(void)str_fmt(p, sizeof(p), "%s/kept", base);
	{
		int fd = open(p, O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(read(fd, buf, sizeof(buf)), 6);
		assert_memory_equal(buf, "synced", 6);
		(void)close(fd);
	}
	(void)str_fmt(p, sizeof(p), "%s/new", base);
	assert_int_equal(stat(p, &sb), -1);
	(void)str_fmt(p, sizeof(p), "%s/d", base);
	assert_int_equal(stat(p, &sb), -1);
	(void)str_fmt(p, sizeof(p), "%s/moved", base);
	assert_int_equal(stat(p, &sb), -1);
	(void)close(dfd);
	tu_rmtree(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_fires),
		cmocka_unit_test(test_fault_short),
		cmocka_unit_test(test_fault_powerloss),
		cmocka_unit_test(test_ingest_eio),
		cmocka_unit_test(test_ingest_enospc),
		cmocka_unit_test(test_ingest_short),
		cmocka_unit_test(test_ingest_powerloss),
		cmocka_unit_test(test_append_eio),
		cmocka_unit_test(test_append_enospc),
		cmocka_unit_test(test_append_short),
		cmocka_unit_test(test_append_powerloss),
		cmocka_unit_test(test_expunge_eio),
		cmocka_unit_test(test_expunge_enospc),
		cmocka_unit_test(test_expunge_short),
		cmocka_unit_test(test_expunge_powerloss),
		cmocka_unit_test(test_queue_eio),
		cmocka_unit_test(test_queue_enospc),
		cmocka_unit_test(test_queue_short),
		cmocka_unit_test(test_queue_powerloss),
	};

	/* FAULT_TEST_FILTER=test_ingest_* runs some walks only. */
	if (getenv("FAULT_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("FAULT_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
