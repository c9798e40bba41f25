/* SPDX-License-Identifier: MIT */
/* Group commit: finished messages queue to the store's commit thread,
 * which makes a batch of them durable with one SQLite transaction (one WAL
 * sync) and one fsync per touched blob folder, then hands the results back
 * to the loop thread through a uv_async_t. Without a loop the same batch
 * code runs inline for a batch of one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dio.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

/* The commit thread also collects garbage this often (serve only). */
#define COMMIT_GC_INTERVAL 3600

/* Deferred indexing (fts_index.c) on the commit thread. Idle: once no
 * job has come for FTS_IDLE_WAIT_NS after the last, slices of at most
 * FTS_IDLE_SLICE_NS (one row at least: a 100 KB message of random text
 * is ~40 ms of FTS5 work), checking for jobs between slices, so a commit
 * waits for one slice at most. Under load (jobs keep coming), each batch
 * earns 1/FTS_LOAD_SHARE of its own time as indexing credit, spent in a
 * slice once FTS_LOAD_MIN_NS have gathered: indexing then takes at most
 * about a fifth of the thread (plus one row's overrun, paid back from
 * later credit), and the backlog shrinks even when mail never stops. */
#define FTS_IDLE_WAIT_NS  (5 * 1000000)
#define FTS_IDLE_SLICE_NS (20 * 1000000)
#define FTS_LOAD_SHARE    4
#define FTS_LOAD_MIN_NS   (5 * 1000000)

struct delivery {
	int64_t user_id;
	char *mailbox;
	char *flags;     /* normalised */
	int64_t mbox_id; /* filled by the commit */
};

/* A job is a message commit (m set) or an op (op set). */
struct commit_job {
	struct commit_job *next;
	struct store_op *op;
	struct store_msg *m;
	struct delivery *d;
	size_t n;
	struct out_env *out; /* store_msg_commit_out: queue rows; NULL */
	int64_t internaldate;
	store_commit_cb cb;
	void *ctx;
	struct store_commit_result res;
};

/* A folder under blobs/ the batch created entries in: fsynced once. */
struct touched {
	char rel[8]; /* "xx" or "xx/yy" */
};

struct batch {
	struct commit_job **jobs;
	size_t n;
	struct touched *dirs;
	size_t n_dirs, cap_dirs;
	char (*created)[BLOB_HEX_LEN + 8]; /* files this batch put in place */
	struct blob_id *created_ids;
	size_t n_created, cap_created;
};

struct store_msg *
store_msg_alloc(struct store *st)
{
	struct store_msg *m = xcalloc(1, sizeof(*m));

	m->st = st;
	m->stage = blob_stage_new(st);
	return m;
}

void
store_msg_destroy(struct store_msg *m)
{
	if (m == NULL)
		return;
	if (m->release != NULL)
		m->release(m);
	blob_stage_free(&m->stage);
	for (size_t i = 0; i < FTS_COL_N; i++)
		buf_clear(&m->text[i]);
	free(m->parts);
	free(m);
}

static void
job_free(struct commit_job *j)
{
	size_t i;

	store_msg_destroy(j->m);
	for (i = 0; i < j->n; i++) {
		free(j->d[i].mailbox);
		free(j->d[i].flags);
	}
	free(j->d);
	out_env_free(&j->out);
	free(j);
}

static void
job_fail(struct commit_job *j, int code, const struct err *e)
{
	if (j->res.status != 0)
		return; /* keep the first reason */
	j->res.status = code == ERR_FULL            ? ERR_FULL
	    : code == ERR_NOTFOUND && j->op != NULL ? ERR_NOTFOUND
	    : code == ERR_INPUT && j->op != NULL    ? ERR_INPUT
	                                            : ERR_TEMP;
	j->res.err = *e;
	j->res.err.code = j->res.status;
}

static void
touch_dir(struct batch *b, const char *rel)
{
	size_t i;

	for (i = 0; i < b->n_dirs; i++)
		if (strcmp(b->dirs[i].rel, rel) == 0)
			return;
	if (b->n_dirs == b->cap_dirs) {
		b->cap_dirs = b->cap_dirs ? b->cap_dirs * 2 : 16;
		b->dirs = xrealloc(b->dirs, b->cap_dirs * sizeof(*b->dirs));
	}
	(void)str_copy(b->dirs[b->n_dirs++].rel, sizeof(b->dirs[0].rel), rel);
}

static int
fsync_at(struct store *st, int dirfd, const char *rel, int flags,
    struct err *err)
{
	int fd = dio_openat(dirfd, rel, O_RDONLY | O_CLOEXEC | flags, 0);
	int rc = 0;

	if (fd == -1)
		return err_set(err, errno_code(errno), "open %s: %s", rel,
		    strerror(errno));
	if (dio_fsync(fd) == -1)
		rc = err_set(err, errno_code(errno), "fsync %s: %s", rel,
		    strerror(errno));
	(void)dio_close(fd);
	atomic_fetch_add(&st->n_fsyncs, 1);
	return rc;
}

/* Makes blobs/xx/yy exist; records created folders' parents as touched
 * (a new directory entry is durable only once its parent is fsynced). */
static int
ensure_dir(struct store *st, struct batch *b, const char *rel, struct err *err)
{
	char top[3] = { rel[0], rel[1], '\0' };

	/* blobs/xx exist from store_open; only xx/yy is created here. */
	if (dio_mkdirat(st->blobs_fd, rel, 0700) == 0)
		touch_dir(b, top);
	else if (errno != EEXIST)
		return err_set(err, errno_code(errno), "mkdir blobs/%s: %s",
		    rel, strerror(errno));
	touch_dir(b, rel);
	return 0;
}

/* Moves a staged file into blobs/ without replacing an existing one: a
 * file already there holds the same content (files appear there only
 * by rename after fsync), and it may be another message's committed
 * blob, which a failure of ours must never unlink. */
static int
place_file(struct store *st, struct batch *b, struct staged_blob *sb,
    struct err *err)
{
	char rel[BLOB_HEX_LEN + 8], dir[8];
	int r;

	blob_rel_path(&sb->id, rel);
	memcpy(dir, rel, 5);
	dir[5] = '\0';
	if (ensure_dir(st, b, dir, err) != 0)
		return err->code;
	r = dio_renameat2(st->tmp_fd, sb->tmpname, st->blobs_fd, rel,
	    RENAME_NOREPLACE);
	if (r == -1 && (errno == EINVAL || errno == ENOSYS)) {
		/* Filesystem without RENAME_NOREPLACE: link refuses to
		 * replace, too. */
		r = dio_linkat(st->tmp_fd, sb->tmpname, st->blobs_fd, rel, 0);
		if (r == 0)
			(void)dio_unlinkat(st->tmp_fd, sb->tmpname, 0);
	}
	if (r == -1 && errno == EEXIST) {
		(void)dio_unlinkat(st->tmp_fd, sb->tmpname, 0);
		sb->renamed = true;
		return 0;
	}
	if (r == -1)
		return err_set(err, errno_code(errno), "rename to blobs/%s: %s",
		    rel, strerror(errno));
	sb->renamed = true;
	if (b->n_created == b->cap_created) {
		b->cap_created = b->cap_created ? b->cap_created * 2 : 16;
		b->created =
		    xrealloc(b->created, b->cap_created * sizeof(*b->created));
		b->created_ids = xrealloc(b->created_ids,
		    b->cap_created * sizeof(*b->created_ids));
	}
	memcpy(b->created[b->n_created], rel, sizeof(rel));
	b->created_ids[b->n_created++] = sb->id;
	return 0;
}

/* The rowid of a committed blob; ERR_TEMP if it has vanished (a GC pass
 * removed it between the writer's lookup and this commit). */
static int
blob_rowid(struct store *st, const struct blob_id *id, int64_t *out,
    struct err *err)
{
	sqlite3_stmt *s = db_stmt(&st->wr, SQL_BLOB_ROWID, err);
	char hex[BLOB_HEX_LEN + 1];
	int rc;

	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_blob(s, 1, id->h, BLOB_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	(void)sqlite3_reset(s);
	if (rc == SQLITE_DONE) {
		blob_id_hex(id, hex);
		return err_set(err, ERR_TEMP, "blob %s vanished", hex);
	}
	if (rc != SQLITE_ROW)
		return db_fail(&st->wr, rc, "blob rowid", err);
	return 0;
}

static int
step_done(struct store *st, sqlite3_stmt *s, const char *what, struct err *err)
{
	int rc = sqlite3_step(s);

	(void)sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_fail(&st->wr, rc, what, err);
	return 0;
}

static int
insert_new_blobs(struct store *st, struct store_msg *m, struct err *err)
{
	struct staged_blob *v, *b;
	sqlite3_stmt *s;
	size_t n, i;

	v = blob_stage_blobs(m->stage, &n);
	for (i = 0; i < n; i++) {
		b = &v[i];
		if (!b->is_new)
			continue;
		if ((s = db_stmt(&st->wr, SQL_BLOB_INSERT, err)) == NULL)
			return err->code;
		(void)sqlite3_bind_blob(s, 1, b->id.h, BLOB_ID_LEN,
		    SQLITE_STATIC);
		(void)sqlite3_bind_int64(s, 2, (int64_t)b->size);
		(void)sqlite3_bind_int64(s, 3, (int64_t)b->stored_size);
		(void)sqlite3_bind_int(s, 4,
		    b->in_file ? BLOB_LOC_FILE : BLOB_LOC_INLINE);
		(void)sqlite3_bind_int(s, 5, b->compression);
		if (step_done(st, s, "blob insert", err) != 0)
			return err->code;
		/* ON CONFLICT DO NOTHING: the row exists (another message of
		 * this batch, or committed meanwhile) and keeps its form. */
		if (sqlite3_changes(st->wr.db) == 0 || b->in_file)
			continue;
		if ((s = db_stmt(&st->wr, SQL_BLOB_INLINE_INSERT, err)) == NULL)
			return err->code;
		(void)sqlite3_bind_int64(s, 1,
		    sqlite3_last_insert_rowid(st->wr.db));
		(void)sqlite3_bind_blob64(s, 2, b->data, b->stored_size,
		    SQLITE_STATIC);
		if (step_done(st, s, "inline insert", err) != 0)
			return err->code;
	}
	return 0;
}

/* Everything of one message inside its SAVEPOINT. */
static int
commit_one(struct store *st, struct commit_job *j, struct err *err)
{
	struct store_msg *m = j->m;
	sqlite3_stmt *s;
	int64_t skel, msg_id, blob, mbox, uid, modseq;
	size_t i;
	int rc;

	if (insert_new_blobs(st, m, err) != 0)
		return err->code;
	if (blob_rowid(st, &m->skeleton, &skel, err) != 0)
		return err->code;
	if ((s = db_stmt(&st->wr, SQL_MSG_INSERT, err)) == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, (int64_t)m->size);
	(void)sqlite3_bind_int64(s, 2, skel);
	(void)sqlite3_bind_int64(s, 3, j->internaldate);
	(void)sqlite3_bind_text(s, 4, m->from, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(s, 5, m->subject, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(s, 6, m->message_id, -1, SQLITE_STATIC);
	if (step_done(st, s, "message insert", err) != 0)
		return err->code;
	msg_id = sqlite3_last_insert_rowid(st->wr.db);
	for (i = 0; i < m->n_parts; i++) {
		if (blob_rowid(st, &m->parts[i], &blob, err) != 0)
			return err->code;
		if ((s = db_stmt(&st->wr, SQL_PART_INSERT, err)) == NULL)
			return err->code;
		(void)sqlite3_bind_int64(s, 1, msg_id);
		(void)sqlite3_bind_int64(s, 2, blob);
		if (step_done(st, s, "part insert", err) != 0)
			return err->code;
	}
	for (i = 0; i < j->n; i++) {
		if ((s = db_stmt(&st->wr, SQL_MAILBOX_FIND, err)) == NULL)
			return err->code;
		(void)sqlite3_bind_int64(s, 1, j->d[i].user_id);
		(void)sqlite3_bind_text(s, 2, j->d[i].mailbox, -1,
		    SQLITE_STATIC);
		rc = sqlite3_step(s);
		mbox = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		(void)sqlite3_reset(s);
		if (rc == SQLITE_DONE)
			return err_set(err, ERR_TEMP,
			    "no mailbox %s for user %lld", j->d[i].mailbox,
			    (long long)j->d[i].user_id);
		if (rc != SQLITE_ROW)
			return db_fail(&st->wr, rc, "mailbox", err);
		/* UIDs come from uidnext under the write lock: strictly
		 * ascending, never reused (RFC 9051 §2.3.1.1). */
		if ((s = db_stmt(&st->wr, SQL_MAILBOX_NEXT_UID, err)) == NULL)
			return err->code;
		(void)sqlite3_bind_int64(s, 1, mbox);
		rc = sqlite3_step(s);
		uid = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		modseq = rc == SQLITE_ROW ? sqlite3_column_int64(s, 1) : 0;
		if (rc == SQLITE_ROW && i == 0) {
			j->res.uid = (uint32_t)uid;
			j->res.uidvalidity =
			    (uint32_t)sqlite3_column_int64(s, 2);
		}
		if (rc == SQLITE_ROW)
			rc = sqlite3_step(s); /* finish the RETURNING */
		(void)sqlite3_reset(s);
		if (uid == 0 && rc == SQLITE_DONE)
			return err_set(err, ERR_TEMP,
			    "mailbox %lld: UIDs spent", (long long)mbox);
		if (rc != SQLITE_DONE)
			return db_fail(&st->wr, rc, "uidnext", err);
		if ((s = db_stmt(&st->wr, SQL_ENTRY_INSERT, err)) == NULL)
			return err->code;
		(void)sqlite3_bind_int64(s, 1, mbox);
		(void)sqlite3_bind_int64(s, 2, uid);
		(void)sqlite3_bind_int64(s, 3, msg_id);
		(void)sqlite3_bind_int64(s, 4, modseq);
		(void)sqlite3_bind_text(s, 5, j->d[i].flags, -1, SQLITE_STATIC);
		if (step_done(st, s, "entry insert", err) != 0)
			return err->code;
		j->d[i].mbox_id = mbox;
	}
	/* Queue rows (and the completion of earlier ones) ride in the same
	 * savepoint: local delivery and queueing are one transaction. */
	if (j->out != NULL && queue_commit_env(st, j->out, msg_id, err) != 0)
		return err->code;
	j->res.message_id = msg_id;
	/* A message only for remote recipients is never in a mailbox, so
	 * nothing searches it: it is not indexed (verify knows). */
	if (j->n == 0)
		return 0;
	/* The message's text for the full-text index, queued: fts_index.c
	 * moves it into the index later, off the 250's path. Should an op
	 * later in the batch delete the message again (APPEND with
	 * \Deleted, then EXPUNGE), the row goes with it (foreign key). */
	if ((s = db_stmt(&st->wr, SQL_FTS_QUEUE_INSERT, err)) == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, msg_id);
	for (i = 0; i < FTS_COL_N; i++)
		(void)sqlite3_bind_text(s, (int)i + 2,
		    m->text[i].p != NULL ? m->text[i].p : "",
		    (int)m->text[i].len, SQLITE_STATIC);
	if (step_done(st, s, "fts queue insert", err) != 0)
		return err->code;
	return 0;
}

/* Stage 1: every staged file of every message on stable storage. */
static void
sync_files(struct store *st, struct batch *b)
{
	struct staged_blob *v;
	struct err e;
	size_t i, k, n;

	for (i = 0; i < b->n; i++) {
		if (b->jobs[i]->m == NULL)
			continue;
		v = blob_stage_blobs(b->jobs[i]->m->stage, &n);
		for (k = 0; k < n && b->jobs[i]->res.status == 0; k++)
			if (v[k].is_new && v[k].in_file &&
			    fsync_at(st, st->tmp_fd, v[k].tmpname, 0, &e) != 0)
				job_fail(b->jobs[i], e.code, &e);
	}
}

/* Stage 2: rename into place, then fsync each touched folder once. */
static bool
place_files(struct store *st, struct batch *b)
{
	struct staged_blob *v;
	struct err e;
	size_t i, k, n;
	bool any = false;

	for (i = 0; i < b->n; i++) {
		if (b->jobs[i]->m == NULL)
			continue;
		v = blob_stage_blobs(b->jobs[i]->m->stage, &n);
		for (k = 0; k < n && b->jobs[i]->res.status == 0; k++) {
			if (!v[k].is_new || !v[k].in_file)
				continue;
			any = true;
			if (place_file(st, b, &v[k], &e) != 0)
				job_fail(b->jobs[i], e.code, &e);
		}
	}
	for (k = 0; k < b->n_dirs; k++) {
		if (fsync_at(st, st->blobs_fd, b->dirs[k].rel, O_DIRECTORY,
		        &e) == 0)
			continue;
		/* Cannot tell which files' entries are durable: every
		 * message that placed files fails. */
		for (i = 0; i < b->n; i++) {
			if (b->jobs[i]->m == NULL)
				continue;
			v = blob_stage_blobs(b->jobs[i]->m->stage, &n);
			for (size_t x = 0; x < n; x++)
				if (v[x].is_new && v[x].in_file)
					job_fail(b->jobs[i], e.code, &e);
		}
		break;
	}
	return any;
}

/* Stage 4: a file this batch put in place is kept only if a committed
 * row says the blob lives in a file; otherwise (its message failed, or
 * the row was inline already) it goes. */
static void
unlink_unused(struct store *st, struct batch *b)
{
	sqlite3_stmt *s;
	struct err e;
	size_t i;
	int rc, loc;

	for (i = 0; i < b->n_created; i++) {
		if ((s = db_stmt(&st->wr, SQL_BLOB_LOOKUP, &e)) == NULL)
			return;
		(void)sqlite3_bind_blob(s, 1, b->created_ids[i].h, BLOB_ID_LEN,
		    SQLITE_STATIC);
		rc = sqlite3_step(s);
		loc = rc == SQLITE_ROW ? sqlite3_column_int(s, 3) : -1;
		(void)sqlite3_reset(s);
		if (rc == SQLITE_ROW && loc == BLOB_LOC_FILE)
			continue;
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			continue; /* unsure: recovery decides later */
		(void)dio_unlinkat(st->blobs_fd, b->created[i], 0);
	}
}

/* 0 while st->dir still names the folder the store opened; else
 * ERR_TEMP: unmounted (even lazily), deleted or renamed under us. The
 * open descriptors would go on working, so without this every commit
 * would "succeed" into a file system that is gone once serve exits. */
static int
store_present(struct store *st, struct err *e)
{
	struct stat held, named;

	if (fstat(st->dirfd, &held) == -1)
		return err_set(e, ERR_TEMP, "store %s: fstat: %s", st->dir,
		    strerror(errno));
	if (stat(st->dir, &named) == -1)
		return err_set(e, ERR_TEMP, "store %s is gone (%s): unmounted, "
		    "moved or deleted while open", st->dir, strerror(errno));
	if (held.st_dev != named.st_dev || held.st_ino != named.st_ino)
		return err_set(e, ERR_TEMP, "store %s is gone: the path names "
		    "another folder now (unmounted or replaced while open)",
		    st->dir);
	return 0;
}

static void
commit_batch(struct store *st, struct commit_job **jobs, size_t n)
{
	struct batch b = { .jobs = jobs, .n = n };
	struct err e;
	char sp[32];
	size_t i, ok = 0;
	bool locked = false;

	sync_files(st, &b);
	/* A GC pass (this or another process) deletes rows, commits, then
	 * unlinks files: it must not unlink a file we just put back in
	 * place for a blob it had deleted. It holds gc.lock exclusively. */
	for (i = 0; i < n && !locked; i++) {
		size_t nb = 0, k;
		struct staged_blob *v = jobs[i]->m == NULL
		    ? NULL
		    : blob_stage_blobs(jobs[i]->m->stage, &nb);

		for (k = 0; k < nb; k++)
			if (v[k].is_new && v[k].in_file)
				locked = true;
	}
	if (locked)
		(void)flock(st->gc_lock_fd, LOCK_SH);
	(void)place_files(st, &b);

	if (store_present(st, &e) != 0 ||
	    db_exec(&st->wr, "BEGIN IMMEDIATE", &e) != 0) {
		for (i = 0; i < n; i++)
			job_fail(jobs[i], e.code, &e);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (jobs[i]->res.status != 0)
			continue;
		(void)str_fmt(sp, sizeof(sp), "SAVEPOINT m%zu", i);
		if (db_exec(&st->wr, sp, &e) != 0) {
			job_fail(jobs[i], e.code, &e);
			continue;
		}
		if ((jobs[i]->op != NULL ? jobs[i]->op->run(st, jobs[i]->op, &e)
		                         : commit_one(st, jobs[i], &e)) != 0) {
			job_fail(jobs[i], e.code, &e);
			(void)str_fmt(sp, sizeof(sp), "ROLLBACK TO m%zu", i);
			(void)db_exec(&st->wr, sp, &e);
		}
		(void)str_fmt(sp, sizeof(sp), "RELEASE m%zu", i);
		(void)db_exec(&st->wr, sp, &e);
	}
	if (db_commit(&st->wr, &e) != 0) {
		(void)sqlite3_exec(st->wr.db, "ROLLBACK", NULL, NULL, NULL);
		for (i = 0; i < n; i++)
			job_fail(jobs[i], e.code, &e);
	}
	atomic_fetch_add(&st->n_batches, 1);
	atomic_fetch_add(&st->n_fsyncs, 1); /* the WAL sync of COMMIT */
out:
	unlink_unused(st, &b);
	if (locked)
		(void)flock(st->gc_lock_fd, LOCK_UN);
	for (i = 0; i < n; i++)
		if (jobs[i]->res.status == 0 && jobs[i]->m != NULL)
			ok++;
	atomic_fetch_add(&st->n_committed, ok);
	if (ok > 0)
		st->fts_backlog = true;
	free(b.dirs);
	free(b.created);
	free(b.created_ids);
}

/* --- the thread and the hand-back ------------------------------------ */

struct pair {
	int64_t user, mbox;
};

static void
pair_add(struct pair **v, size_t *n, size_t *cap, int64_t user, int64_t mbox)
{
	size_t i;

	if (user == 0 || mbox == 0)
		return;
	for (i = 0; i < *n; i++)
		if ((*v)[i].user == user && (*v)[i].mbox == mbox)
			return;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = (struct pair){ user, mbox };
}

/* Owner thread: tells the watchers what the jobs changed (once per
 * user and mailbox), then runs the jobs' callbacks and frees them. The
 * watchers go first, so a session learns of its own change before its
 * command completes. */
static size_t
finish_jobs(struct store *st, struct commit_job *j)
{
	struct commit_job *x, *next;
	struct pair *v = NULL;
	size_t n = 0, cap = 0, i, done = 0;

	for (x = j; x != NULL; x = x->next) {
		if (x->res.status != 0)
			continue;
		if (x->op != NULL) {
			pair_add(&v, &n, &cap, x->op->user_id,
			    x->op->mailbox_ids[0]);
			pair_add(&v, &n, &cap, x->op->user_id,
			    x->op->mailbox_ids[1]);
			continue;
		}
		for (i = 0; i < x->n; i++)
			pair_add(&v, &n, &cap, x->d[i].user_id,
			    x->d[i].mbox_id);
	}
	for (i = 0; i < n; i++)
		watch_notify(st, v[i].user, v[i].mbox);
	free(v);
	for (; j != NULL; j = next) {
		next = j->next;
		done++;
		if (j->op != NULL)
			j->op->done(j->op, j->res.status, &j->res.err);
		else
			j->cb(j->ctx, &j->res);
		job_free(j);
	}
	return done;
}

static void
run_callbacks(struct store *st)
{
	struct commit_job *j;

	pthread_mutex_lock(&st->mu);
	j = st->done_head;
	st->done_head = st->done_tail = NULL;
	pthread_mutex_unlock(&st->mu);
	st->pending -= finish_jobs(st, j);
	/* The handle keeps the loop alive only while commits are out, so
	 * that a loop with nothing else to do can still end. */
	if (st->pending == 0 && st->async != NULL)
		uv_unref((uv_handle_t *)st->async);
}

static void
on_async(uv_async_t *h)
{
	run_callbacks(h->data);
}

static void
on_async_closed(uv_handle_t *h)
{
	free(h);
}

static void
maybe_gc(struct store *st)
{
	time_t now = time(NULL);
	uint64_t removed = 0;
	struct err e;

	if (now - st->last_gc < COMMIT_GC_INTERVAL)
		return;
	st->last_gc = now;
	if (expunged_prune(&st->wr, STORE_EXPUNGED_KEEP, &e) != 0)
		log_warn(&st->log, "event=expunged_prune status=%s msg=\"%s\"",
		    err_name(e.code), e.msg);
	if (store_gc_conn(st, &st->wr, st->gc_grace, now, &removed, &e) != 0)
		log_warn(&st->log, "event=gc status=%s msg=\"%s\"",
		    err_name(e.code), e.msg);
	else if (removed > 0)
		log_info(&st->log, "event=gc removed=%llu",
		    (unsigned long long)removed);
}

/* Commit thread: one slice of deferred indexing; returns the time it
 * took. A failure (logged) stops indexing until the next batch queues
 * text: the rows stay queued and searchable. */
static int64_t
index_slice(struct store *st, int64_t budget_ns)
{
	int64_t t0 = fts_now_ns();
	struct err e;
	bool more;

	if (fts_index_slice(st, budget_ns, &more, &e) != 0) {
		log_warn(&st->log, "event=fts_index status=%s msg=\"%s\"",
		    err_name(e.code), e.msg);
		more = false;
	}
	st->fts_backlog = more;
	return fts_now_ns() - t0;
}

static void *
commit_thread(void *arg)
{
	struct store *st = arg;
	struct commit_job **jobs = xcalloc(st->batch_max, sizeof(*jobs));
	struct timespec ts;
	int64_t t0;
	size_t n, i;

	st->last_gc = time(NULL);
	for (;;) {
		pthread_mutex_lock(&st->mu);
		while (st->queue_head == NULL && !st->stopping) {
			if (st->fts_backlog && !atomic_load(&st->fts_hold)) {
				(void)clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_nsec += FTS_IDLE_WAIT_NS;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				(void)pthread_cond_timedwait(&st->cv, &st->mu,
				    &ts);
				if (st->queue_head != NULL || st->stopping)
					break;
				pthread_mutex_unlock(&st->mu);
				(void)index_slice(st, FTS_IDLE_SLICE_NS);
				pthread_mutex_lock(&st->mu);
				continue;
			}
			(void)clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 60;
			(void)pthread_cond_timedwait(&st->cv, &st->mu, &ts);
			if (st->queue_head == NULL && !st->stopping) {
				pthread_mutex_unlock(&st->mu);
				maybe_gc(st);
				pthread_mutex_lock(&st->mu);
			}
		}
		if (st->queue_head == NULL) { /* stopping, queue drained */
			pthread_mutex_unlock(&st->mu);
			break;
		}
		for (n = 0; n < st->batch_max && st->queue_head != NULL; n++) {
			jobs[n] = st->queue_head;
			st->queue_head = jobs[n]->next;
		}
		if (st->queue_head == NULL)
			st->queue_tail = NULL;
		pthread_mutex_unlock(&st->mu);

		t0 = fts_now_ns();
		commit_batch(st, jobs, n);
		st->fts_credit_ns += (fts_now_ns() - t0) / FTS_LOAD_SHARE;
		if (st->fts_credit_ns > FTS_IDLE_SLICE_NS)
			st->fts_credit_ns = FTS_IDLE_SLICE_NS;

		pthread_mutex_lock(&st->mu);
		for (i = 0; i < n; i++) {
			jobs[i]->next = NULL;
			if (st->done_tail != NULL)
				st->done_tail->next = jobs[i];
			else
				st->done_head = jobs[i];
			st->done_tail = jobs[i];
		}
		pthread_mutex_unlock(&st->mu);
		(void)uv_async_send(st->async);
		if (st->fts_backlog && !atomic_load(&st->fts_hold) &&
		    st->fts_credit_ns >= FTS_LOAD_MIN_NS)
			st->fts_credit_ns -= index_slice(st, st->fts_credit_ns);
		maybe_gc(st);
	}
	free(jobs);
	return NULL;
}

int
commit_start(struct store *st, struct err *err)
{
	int rc;

	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	/* A queue left by an earlier run (or a CLI commit) is continued;
	 * the first slice finds out whether there is one. */
	st->fts_backlog = st->loop != NULL;
	if (st->loop == NULL)
		return 0;
	st->async = xcalloc(1, sizeof(*st->async));
	if ((rc = uv_async_init(st->loop, st->async, on_async)) != 0) {
		xfree(&st->async);
		return err_set(err, ERR_INTERNAL, "uv_async_init: %s",
		    uv_strerror(rc));
	}
	st->async->data = st;
	uv_unref((uv_handle_t *)st->async);
	if ((rc = pthread_create(&st->thread, NULL, commit_thread, st)) != 0) {
		uv_close((uv_handle_t *)st->async, on_async_closed);
		st->async = NULL;
		return err_set(err, ERR_INTERNAL, "pthread_create: %s",
		    strerror(rc));
	}
	st->thread_started = true;
	return 0;
}

void
commit_stop(struct store *st)
{
	if (st->thread_started) {
		pthread_mutex_lock(&st->mu);
		st->stopping = true;
		pthread_cond_signal(&st->cv);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->thread, NULL);
		st->thread_started = false;
		run_callbacks(st); /* what the async had not delivered yet */
	}
	if (st->async != NULL) {
		st->async->data = NULL;
		uv_close((uv_handle_t *)st->async, on_async_closed);
		st->async = NULL;
	}
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
}

/* INBOX is case-insensitive (RFC 9051 §5.1); other names are exact. */
static char *
mailbox_name(const char *name)
{
	if (strcasecmp(name, "INBOX") == 0)
		return xstrdup("INBOX");
	return xstrdup(name);
}

/* Hands a job to the commit thread, or (no loop) commits it as a batch
 * of one and finishes it before returning. */
static void
enqueue(struct store *st, struct commit_job *j)
{
	if (st->loop == NULL) {
		commit_batch(st, &j, 1);
		j->next = NULL;
		(void)finish_jobs(st, j);
		fts_index_drain(st); /* no thread to do it later */
		return;
	}
	if (st->pending++ == 0)
		uv_ref((uv_handle_t *)st->async);
	pthread_mutex_lock(&st->mu);
	if (st->queue_tail != NULL)
		st->queue_tail->next = j;
	else
		st->queue_head = j;
	st->queue_tail = j;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

/* store_msg_commit and store_msg_commit_out: env NULL for the former. */
static int
msg_commit(struct store_msg **mp, const struct store_delivery *d, size_t n,
    const struct store_envelope *env, store_commit_cb cb, void *ctx)
{
	struct store_msg *m = *mp;
	struct commit_job *j;
	struct out_env *out = NULL;
	struct buf fl;
	size_t i, k;

	if (m == NULL || !m->finished || m->failed || cb == NULL ||
	    (n > 0 && d == NULL))
		return ERR_INPUT;
	if (n == 0 && (env == NULL || env->n_rcpts == 0))
		return ERR_INPUT;
	for (i = 0; i < n; i++) {
		if (d[i].mailbox == NULL)
			return ERR_INPUT;
		if (flags_normalize(d[i].flags, &fl) != 0) {
			buf_clear(&fl);
			return ERR_INPUT;
		}
		buf_clear(&fl);
	}
	if (env != NULL && (out = out_env_copy(env)) == NULL)
		return ERR_INPUT;
	j = xcalloc(1, sizeof(*j));
	j->out = out;
	j->d = xcalloc(n ? n : 1, sizeof(*j->d));
	for (i = 0; i < n; i++) {
		char *name = mailbox_name(d[i].mailbox);

		/* The same mailbox twice (an alias and its target both
		 * named) is one entry. */
		for (k = 0; k < j->n; k++)
			if (j->d[k].user_id == d[i].user_id &&
			    strcmp(j->d[k].mailbox, name) == 0)
				break;
		if (k < j->n) {
			free(name);
			continue;
		}
		(void)flags_normalize(d[i].flags, &fl);
		j->d[j->n].flags = xstrdup(fl.p);
		buf_clear(&fl);
		j->d[j->n].user_id = d[i].user_id;
		j->d[j->n++].mailbox = name;
	}
	j->m = m;
	*mp = NULL;
	j->internaldate = n > 0 && d[0].internaldate != 0 ? d[0].internaldate
	    : out != NULL && out->now != 0                ? out->now
	                                                  : (int64_t)time(NULL);
	j->cb = cb;
	j->ctx = ctx;
	enqueue(m->st, j);
	return 0;
}

int
store_msg_commit(struct store_msg **mp, const struct store_delivery *d,
    size_t n, store_commit_cb cb, void *ctx)
{
	if (n == 0)
		return ERR_INPUT;
	return msg_commit(mp, d, n, NULL, cb, ctx);
}

int
store_msg_commit_out(struct store_msg **mp, const struct store_delivery *d,
    size_t n, const struct store_envelope *env, store_commit_cb cb, void *ctx)
{
	if (env == NULL)
		return ERR_INPUT;
	return msg_commit(mp, d, n, env, cb, ctx);
}

void
commit_op(struct store *st, struct store_op *op)
{
	struct commit_job *j = xcalloc(1, sizeof(*j));

	j->op = op;
	enqueue(st, j);
}
