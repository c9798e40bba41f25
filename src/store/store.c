/* SPDX-License-Identifier: MIT */
/* The embedded store's life cycle: open (folders, locks, schema, crash
 * recovery), close, statistics and blob garbage collection.
 *
 * Several processes may open one store at once (`serve` and CLI commands).
 * store.lock tells them apart: each holds it shared while open, and only a
 * process that can take it exclusively (nobody else has the store open)
 * runs recovery, because tmp/ files and freshly renamed blob files of a
 * live `serve` look exactly like crash leftovers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "lib/dio.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

static int
open_dir(int at, const char *rel, bool *created, struct err *err)
{
	int fd;

	if (dio_mkdirat(at, rel, 0700) == 0) {
		if (created != NULL)
			*created = true;
	} else if (errno != EEXIST) {
		return err_set(err, errno_code(errno), "mkdir %s: %s", rel,
		    strerror(errno));
	}
	fd = dio_openat(at, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd == -1)
		return err_set(err, ERR_TEMP, "open %s: %s", rel,
		    strerror(errno));
	return fd;
}

/* Empties tmp/: blobs staged by a process that is gone. */
static size_t
recover_tmp(struct store *st)
{
	DIR *d;
	struct dirent *de;
	size_t n = 0;
	int fd = dup(st->tmp_fd);

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			(void)close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' ||
		        (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (dio_unlinkat(st->tmp_fd, de->d_name, 0) == 0) {
			log_info(&st->log, "event=recovery removed=tmp/%s",
			    de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* Is rel (blobs/xx/yy/<name>) a committed file blob? */
static bool
is_committed_file(struct store *st, const char *name)
{
	struct blob_id id;
	sqlite3_stmt *s;
	struct err e;
	int rc, loc;

	if (strlen(name) != BLOB_HEX_LEN || !str_unhex(id.h, BLOB_ID_LEN, name))
		return false;
	if ((s = db_stmt(&st->rd, SQL_BLOB_LOOKUP, &e)) == NULL)
		return true; /* cannot tell: keep it */
	(void)sqlite3_bind_blob(s, 1, id.h, BLOB_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(s);
	loc = rc == SQLITE_ROW ? sqlite3_column_int(s, 3) : -1;
	(void)sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return true;
	return loc == BLOB_LOC_FILE;
}

/* Deletes blob files without a row saying they are files: a crash between
 * the rename into blobs/ and the commit of their batch. */
static size_t
recover_orphans(struct store *st)
{
	char top[3], mid[6], rel[BLOB_HEX_LEN + 8];
	DIR *d1, *d2;
	struct dirent *e1, *e2;
	size_t n = 0;
	int fd;
	unsigned i;

	for (i = 0; i < 256; i++) {
		(void)str_fmt(top, sizeof(top), "%02x", i);
		fd = openat(st->blobs_fd, top,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1 || (d1 = fdopendir(fd)) == NULL) {
			if (fd != -1)
				(void)close(fd);
			continue;
		}
		while ((e1 = readdir(d1)) != NULL) {
			if (e1->d_name[0] == '.' || strlen(e1->d_name) != 2)
				continue;
			(void)str_fmt(mid, sizeof(mid), "%s/%s", top,
			    e1->d_name);
			fd = openat(st->blobs_fd, mid,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd == -1 || (d2 = fdopendir(fd)) == NULL) {
				if (fd != -1)
					(void)close(fd);
				continue;
			}
			while ((e2 = readdir(d2)) != NULL) {
				if (strcmp(e2->d_name, ".") == 0 ||
				    strcmp(e2->d_name, "..") == 0 ||
				    is_committed_file(st, e2->d_name))
					continue;
				if (!str_fmt(rel, sizeof(rel), "%s/%s", mid,
				        e2->d_name))
					continue;
				if (dio_unlinkat(st->blobs_fd, rel, 0) == 0) {
					log_info(&st->log,
					    "event=recovery removed=blobs/%s "
					    "reason=uncommitted",
					    rel);
					n++;
				}
			}
			closedir(d2);
		}
		closedir(d1);
	}
	return n;
}

static int
state_set(struct store *st, const char *key, int64_t v, struct err *err)
{
	char sql[128];

	(void)str_fmt(sql, sizeof(sql),
	    "INSERT INTO state(key, value) VALUES('%s', %lld)"
	    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	    key, (long long)v);
	return db_exec_write(&st->rd, sql, err);
}

/* Runs with store.lock held exclusively, so no other process has the
 * store open. The orphan scan walks every blob folder, so it runs only if
 * some process did not close cleanly: each open adds one to state.opens
 * and each close takes one away, so a crashed process leaves it above 0.
 * (A crashed commit may have renamed blob files whose batch never
 * committed; nothing else leaves files without rows.) */
static int
recover(struct store *st, struct err *err)
{
	int64_t opens = 0;
	size_t tmp, orphans = 0;

	tmp = recover_tmp(st);
	if (db_int(&st->rd,
	        "SELECT coalesce((SELECT value FROM state"
	        " WHERE key = 'opens'), 0)",
	        &opens, err) != 0)
		return err->code;
	if (opens != 0)
		orphans = recover_orphans(st);
	if (tmp > 0 || orphans > 0 || opens != 0)
		log_info(&st->log,
		    "event=recovery tmp_removed=%zu orphans_removed=%zu "
		    "clean_shutdown=%s",
		    tmp, orphans, opens == 0 ? "yes" : "no");
	return state_set(st, "opens", 0, err);
}

/* Counts this handle in (+1) or out (-1) of state.opens. */
static int
count_open(struct store *st, int delta, struct err *err)
{
	char sql[160];

	(void)str_fmt(sql, sizeof(sql),
	    "INSERT INTO state(key, value) VALUES('opens', %d)"
	    " ON CONFLICT(key) DO UPDATE SET value = value + %d",
	    delta, delta);
	return db_exec_write(&st->rd, sql, err);
}

static int
make_dirs(struct store *st, struct err *err)
{
	bool created = false, sub = false;
	char top[3];
	unsigned i;
	int fd;

	if ((fd = dio_openat(AT_FDCWD, st->dir,
	         O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)) == -1) {
		if (dio_mkdirat(AT_FDCWD, st->dir, 0700) == -1 &&
		    errno != EEXIST)
			return err_set(err, errno_code(errno), "mkdir %s: %s",
			    st->dir, strerror(errno));
		fd = dio_openat(AT_FDCWD, st->dir,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		if (fd == -1)
			return err_set(err, ERR_TEMP, "open %s: %s", st->dir,
			    strerror(errno));
	}
	st->dirfd = fd;
	if ((st->blobs_fd = open_dir(fd, "blobs", &created, err)) < 0)
		return err->code;
	if ((st->tmp_fd = open_dir(fd, "tmp", &created, err)) < 0)
		return err->code;
	/* The 256 top folders exist from the start so that a commit only
	 * ever creates second-level ones (one parent fsync). */
	for (i = 0; i < 256; i++) {
		(void)str_fmt(top, sizeof(top), "%02x", i);
		if (dio_mkdirat(st->blobs_fd, top, 0700) == 0)
			sub = true;
		else if (errno != EEXIST)
			return err_set(err, errno_code(errno),
			    "mkdir blobs/%s: %s", top, strerror(errno));
	}
	if ((sub && dio_fsync(st->blobs_fd) == -1) ||
	    (created && dio_fsync(st->dirfd) == -1))
		return err_set(err, errno_code(errno), "fsync %s: %s", st->dir,
		    strerror(errno));
	return 0;
}

static int
open_lock(struct store *st, const char *name, struct err *err)
{
	int fd = dio_openat(st->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);

	if (fd == -1)
		return err_set(err, errno_code(errno), "open %s: %s", name,
		    strerror(errno));
	return fd;
}

int
store_open(const struct store_opts *opts, struct store **out, struct err *err)
{
	struct store *st;
	char path[4096];
	bool exclusive;
	struct err e;

	if (opts == NULL || opts->dir == NULL)
		return err_set(err, ERR_INTERNAL, "store_open: no folder");
	st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(opts->dir);
	st->dirfd = st->blobs_fd = st->tmp_fd = -1;
	st->lock_fd = st->gc_lock_fd = -1;
	st->loop = opts->loop;
	st->gc_grace = opts->gc_grace_seconds;
	st->batch_max = opts->batch_max >= 1 ? opts->batch_max : 1;
	st->log.proto = "store";
	if (make_dirs(st, err) != 0)
		goto fail;
	if ((st->lock_fd = open_lock(st, "store.lock", err)) < 0 ||
	    (st->gc_lock_fd = open_lock(st, "gc.lock", err)) < 0)
		goto fail;
	exclusive = flock(st->lock_fd, LOCK_EX | LOCK_NB) == 0;
	if (!str_fmt(path, sizeof(path), "%s/meta.db", st->dir)) {
		err_set(err, ERR_INTERNAL, "path too long: %s", st->dir);
		goto fail;
	}
	/* The commit thread's connection gets a 32 MiB page cache (SQLite's
	 * default is 2 MiB): FTS5 merges read back the index segments of
	 * earlier commits, and with the default most of those reads were
	 * preads of pages it had just written. Its commits checkpoint the
	 * WAL into meta.db once it holds 8192 pages (32 MiB) instead of
	 * 1000: the FTS index writes tens of pages per message, so at 1000
	 * a checkpoint (two fsyncs, and every page copied) came every few
	 * batches, and pages rewritten batch after batch (the index's
	 * structure record, b-tree interiors) are now copied once per
	 * checkpoint. Each commit still syncs the WAL (synchronous=FULL):
	 * durability is unchanged. */
	if (db_open(&st->rd, path, err) != 0 || db_migrate(&st->rd, err) != 0 ||
	    db_open(&st->wr, path, err) != 0 ||
	    db_exec(&st->wr, "PRAGMA cache_size=-32768", err) != 0 ||
	    db_exec(&st->wr, "PRAGMA wal_autocheckpoint=8192", err) != 0)
		goto fail;
	/* On a full disk the open still succeeds, so that serve can start
	 * (answering 452 and serving IMAP reads) and the admin can look:
	 * only the crash accounting is off until the next open. */
	if (exclusive && recover(st, err) != 0) {
		if (err->code != ERR_FULL)
			goto fail;
		log_warn(&st->log, "event=open-full msg=\"%s\"", err->msg);
	}
	/* Shared from here on; a process in recovery holds it exclusively
	 * and we wait for it. */
	if (flock(st->lock_fd, LOCK_SH) == -1) {
		err_set(err, ERR_TEMP, "flock store.lock: %s", strerror(errno));
		goto fail;
	}
	if (count_open(st, 1, err) != 0) {
		if (err->code != ERR_FULL)
			goto fail;
		log_warn(&st->log, "event=open-full msg=\"%s\"", err->msg);
		st->uncounted = true;
	}
	if (commit_start(st, err) != 0) {
		if (!st->uncounted)
			(void)count_open(st, -1, &e);
		goto fail;
	}
	*out = st;
	return 0;
fail:
	st->loop = NULL;
	db_close(&st->wr);
	db_close(&st->rd);
	if (st->lock_fd != -1)
		(void)dio_close(st->lock_fd);
	if (st->gc_lock_fd != -1)
		(void)dio_close(st->gc_lock_fd);
	if (st->tmp_fd != -1)
		(void)dio_close(st->tmp_fd);
	if (st->blobs_fd != -1)
		(void)dio_close(st->blobs_fd);
	if (st->dirfd != -1)
		(void)dio_close(st->dirfd);
	free(st->dir);
	free(st);
	return err->code;
}

void
store_close(struct store **sp)
{
	struct store *st = *sp;
	struct err e;

	if (st == NULL)
		return;
	commit_stop(st);
	watch_free_all(st);
	/* Nothing of ours is between rename and commit any more. */
	if (!st->uncounted && count_open(st, -1, &e) != 0)
		log_warn(&st->log, "event=close msg=\"%s\"", e.msg);
	db_close(&st->wr);
	db_close(&st->rd);
	ZSTD_freeCCtx(st->cctx);
	ZSTD_freeDCtx(st->dctx);
	ZSTD_freeDCtx(st->dctx_spare);
	(void)dio_close(st->lock_fd);
	(void)dio_close(st->gc_lock_fd);
	(void)dio_close(st->tmp_fd);
	(void)dio_close(st->blobs_fd);
	(void)dio_close(st->dirfd);
	free(st->dir);
	free(st);
	*sp = NULL;
}

int
store_stats_get(struct store *st, struct store_stats *out, struct err *err)
{
	int64_t v;

	memset(out, 0, sizeof(*out));
	if (db_exec(&st->rd, "BEGIN", err) != 0)
		return err->code;
#define Q(sql, field)                                                          \
	do {                                                                   \
		if (db_int(&st->rd, sql, &v, err) != 0)                        \
			goto fail;                                             \
		out->field = (uint64_t)v;                                      \
	} while (0)
	Q("SELECT count(*) FROM messages", messages);
	Q("SELECT count(*) FROM entries", entries);
	Q("SELECT coalesce(sum(size), 0) FROM messages", logical_bytes);
	Q("SELECT count(*) FROM blobs", unique_parts);
	Q("SELECT coalesce(sum(stored_size), 0) FROM blobs", physical_bytes);
	Q("SELECT count(*) FROM blobs WHERE refcount = 0", unreferenced_blobs);
	Q("SELECT count(*) FROM blobs WHERE location = 1", file_blobs);
	Q("SELECT count(*) FROM fts_queue", fts_pending);
	Q("SELECT count(*) FROM queue", queue_rows);
#undef Q
	(void)db_exec(&st->rd, "COMMIT", err);
	out->fsyncs = atomic_load(&st->n_fsyncs);
	out->commit_batches = atomic_load(&st->n_batches);
	out->commit_messages = atomic_load(&st->n_committed);
	return 0;
fail:
	(void)sqlite3_exec(st->rd.db, "ROLLBACK", NULL, NULL, NULL);
	return err->code;
}

struct gc_victim {
	int64_t rowid;
	struct blob_id id;
	bool file;
};

int
store_gc_conn(struct store *st, struct dbconn *c, uint64_t grace, int64_t now,
    uint64_t *removed_out, struct err *err)
{
	struct gc_victim *v = NULL;
	size_t n = 0, cap = 0, i;
	sqlite3_stmt *s = NULL;
	char rel[BLOB_HEX_LEN + 8];
	int64_t cutoff = now - (int64_t)grace;
	int fd, rc, ret = 0;

	*removed_out = 0;
	/* Exclusive against every commit that places files (their shared
	 * lock): between our COMMIT and unlink, nobody may put a file for
	 * a blob we deleted back in place. */
	fd = dio_openat(st->dirfd, "gc.lock", O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return err_set(err, ERR_TEMP, "open gc.lock: %s",
		    strerror(errno));
	(void)flock(fd, LOCK_EX);
	if ((ret = db_exec(c, "BEGIN IMMEDIATE", err)) != 0)
		goto out;
	rc = sqlite3_prepare_v2(c->db,
	    "SELECT id, hash, location FROM blobs WHERE refcount = 0"
	    " AND unreferenced_since <= ?1",
	    -1, &s, NULL);
	if (rc != SQLITE_OK) {
		ret = db_fail(c, rc, "gc select", err);
		goto rollback;
	}
	(void)sqlite3_bind_int64(s, 1, cutoff);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(s, 1) != BLOB_ID_LEN)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n].rowid = sqlite3_column_int64(s, 0);
		memcpy(v[n].id.h, sqlite3_column_blob(s, 1), BLOB_ID_LEN);
		v[n].file = sqlite3_column_int(s, 2) == BLOB_LOC_FILE;
		n++;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (rc != SQLITE_DONE) {
		ret = db_fail(c, rc, "gc select", err);
		goto rollback;
	}
	rc = sqlite3_prepare_v2(c->db,
	    "DELETE FROM blobs WHERE id = ?1 AND refcount = 0", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		ret = db_fail(c, rc, "gc delete", err);
		goto rollback;
	}
	for (i = 0; i < n; i++) {
		(void)sqlite3_reset(s);
		(void)sqlite3_bind_int64(s, 1, v[i].rowid);
		if ((rc = sqlite3_step(s)) != SQLITE_DONE) {
			ret = db_fail(c, rc, "gc delete", err);
			goto rollback;
		}
	}
	sqlite3_finalize(s);
	s = NULL;
	/* Rows first, committed; files after. A crash in between leaves
	 * files without rows, which recovery removes. */
	if ((ret = db_commit(c, err)) != 0)
		goto rollback;
	for (i = 0; i < n; i++) {
		if (!v[i].file)
			continue;
		blob_rel_path(&v[i].id, rel);
		if (dio_unlinkat(st->blobs_fd, rel, 0) == -1 && errno != ENOENT)
			log_warn(&st->log,
			    "event=gc unlink=blobs/%s error=\"%s\"", rel,
			    strerror(errno));
	}
	*removed_out = n;
	goto out;
rollback:
	if (s != NULL)
		sqlite3_finalize(s);
	(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
out:
	(void)flock(fd, LOCK_UN);
	(void)dio_close(fd);
	free(v);
	return ret;
}

int
store_gc(struct store *st, uint64_t grace_seconds, uint64_t *removed_out,
    struct err *err)
{
	uint64_t removed = 0;
	struct timespec now;
	int rc;

	/* SQLite stamps unreferenced_since from gettimeofday(); time() reads
	 * the kernel's coarse clock, which can still show the previous
	 * second for a few milliseconds after gettimeofday() has moved on,
	 * so a blob unreferenced just then looked newer than "now" (the
	 * commit test's GC with grace 0 failed that way, now and then). */
	(void)clock_gettime(CLOCK_REALTIME, &now);
	rc = store_gc_conn(st, &st->rd, grace_seconds, (int64_t)now.tv_sec,
	    &removed, err);
	if (removed_out != NULL)
		*removed_out = removed;
	return rc;
}
