/* SPDX-License-Identifier: MIT */
/* Store-layer internals of the embedded backend (SQLite metadata + local
 * blob files): the struct store itself, the message being written, the
 * blob stage, and the helpers shared by store.c, the commit thread and the
 * ingest glue. Nothing outside src/store includes this. */
#ifndef DESPATCH_STORE_SQLITE_STORE_INT_H
#define DESPATCH_STORE_SQLITE_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <sqlite3.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "store/blob.h"
#include "store/store.h"

/* Blob placement thresholds. A blob whose content fits in
 * BLOB_MEM_MAX bytes is held in memory by its writer and, if the stage's
 * memory budget allows, stored inline in SQLite: SQLite's own measurements
 * (sqlite.org/intern-v-extern-blob.html) show small blobs read faster from
 * the database than from separate files, and above all an inline blob
 * costs no file fsync, no rename and no directory fsync at commit; it
 * rides in the batch's single WAL sync. 128 KiB keeps typical text and
 * HTML parts and small attachments inline while bounding a writer's
 * memory; a 5 KB message is then one WAL append. Larger content spills to
 * a temporary file as it streams (memory stays bounded) and becomes a file
 * under blobs/xx/yy/<hex>, zstd-streamed. */
#define BLOB_MEM_MAX (128u * 1024u)
/* In-memory staged bytes one message may hold before further small blobs
 * are staged as files instead: a message of 10 000 small parts must not
 * pin 1.2 GiB until commit. */
#define BLOB_STAGE_MEM_MAX (2u * 1024u * 1024u)
/* zstd level 3 (zstd's default): ~300 MB/s per core to compress, good
 * ratio on text; incompressible input costs only block headers. */
#define BLOB_ZSTD_LEVEL 3

enum blob_location { BLOB_LOC_INLINE = 0, BLOB_LOC_FILE = 1 };
enum blob_compression { BLOB_COMP_NONE = 0, BLOB_COMP_ZSTD = 1 };

/* The lazily prepared statements of one connection (see db.c). */
enum sql_id {
	SQL_BLOB_LOOKUP,
	SQL_BLOB_INLINE_GET,
	SQL_BLOB_INSERT,
	SQL_BLOB_INLINE_INSERT,
	SQL_BLOB_ROWID,
	SQL_MSG_INSERT,
	SQL_PART_INSERT,
	SQL_MAILBOX_FIND,
	SQL_MAILBOX_NEXT_UID,
	SQL_ENTRY_INSERT,
	SQL_FTS_QUEUE_INSERT,
	SQL_FTS_INSERT,
	SQL_FTS_QUEUE_SCAN,
	SQL_FTS_QUEUE_DROP,
	/* The outbound queue (queue.c): rows written by the commit thread,
	 * and the due poll on the owner connection (once a second). */
	SQL_QUEUE_INSERT,
	SQL_QUEUE_DONE,
	SQL_QUEUE_NOTIFIED,
	SQL_QUEUE_UPDATE,
	SQL_QUEUE_NEXT_DUE,
	/* Owner-connection reads on IMAP's per-message paths (FETCH,
	 * SEARCH HEADER, SORT, THREAD, IDLE's status poll): prepared once,
	 * not per call. */
	SQL_BLOB_READ,
	SQL_MSG_SKELETON,
	SQL_ENTRY_SKELETON,
	SQL_ENTRY_RANGE,
	SQL_MAILBOX_ROW,
	SQL_MAILBOX_COUNTS,
	SQL_READ_BEGIN,
	SQL_READ_END,
	SQL_COUNT
};

struct dbconn {
	sqlite3 *db;
	sqlite3_stmt *stmts[SQL_COUNT];
};

struct commit_job;
struct store_watch;

/* The entry counts of a mailbox as store_mailbox_status last computed
 * them, good while the key is unchanged: every change to a mailbox's
 * entries (delivery, flags, expunge, copy, move, INBOX rename) takes a
 * new modseq in the same transaction (ops.c, commit.c, mailbox.c), and a
 * mailbox created again under a reused id has a new UIDVALIDITY. */
struct status_memo {
	int64_t id; /* 0: empty slot */
	uint32_t uidvalidity, uidnext;
	uint64_t modseq;
	uint32_t messages, unseen, deleted, first_unseen;
	uint64_t size;
};
/* Direct-mapped by mailbox id: IDLE polls each selected mailbox's status
 * once a second, and counting 10 000 entries takes milliseconds. */
#define STATUS_MEMO_N 64

/* Columns of the full-text index, in the order of store_fts_field (TEXT
 * aside) and of the fts table's columns (db.c). */
enum fts_col {
	FTS_COL_FROM,
	FTS_COL_TO,
	FTS_COL_CC,
	FTS_COL_BCC,
	FTS_COL_SUBJECT,
	FTS_COL_BODY,
	FTS_COL_HEADERS,
	FTS_COL_N
};

struct store {
	char *dir;
	int dirfd, blobs_fd, tmp_fd;
	int lock_fd;      /* store.lock: LOCK_SH while open */
	int gc_lock_fd;   /* gc.lock: commit thread's shared lock */
	bool uncounted;   /* opened on a full disk: not in state.opens */
	struct dbconn rd; /* the owner thread: reads, admin, lookups */
	struct dbconn wr; /* the commit path: the one write connection */
	uv_loop_t *loop;
	uv_async_t *async; /* freed in its close callback */
	uint64_t gc_grace;
	unsigned batch_max;
	struct log_ctx log;
	struct ZSTD_CCtx_s *cctx; /* owner thread: small-blob compression */
	/* Owner thread (blob readers use the owner connection): one context
	 * for the one-shot decompression of inline blobs, and one streaming
	 * context kept back from a closed file-blob reader for the next. A
	 * fresh ZSTD_DCtx per read cost a third of a SEARCH HEADER. */
	struct ZSTD_DCtx_s *dctx, *dctx_spare;
	struct status_memo status_memo[STATUS_MEMO_N]; /* owner thread */

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct commit_job *queue_head, *queue_tail; /* under mu */
	struct commit_job *done_head, *done_tail;   /* under mu */
	bool stopping;                              /* under mu */
	size_t pending; /* owner thread: commits whose cb has not run */
	time_t last_gc; /* commit thread */

	_Atomic uint64_t n_fsyncs, n_batches, n_committed, tmp_seq;

	/* The deferred full-text index (fts_index.c). Commit thread (the
	 * owner thread without a loop): fts_backlog is set when fts_queue
	 * may hold rows (at open, after a batch queued some) and cleared
	 * once a slice found it empty or failed; fts_credit_ns is the
	 * indexing time earned under load. fts_hold (tests only, set before
	 * anything is committed) keeps the indexer from running at all. */
	bool fts_backlog;
	_Atomic bool fts_hold;
	int64_t fts_credit_ns;
	_Atomic uint64_t n_indexed; /* since open: rows moved into fts */
	bool fold_ready;            /* owner thread: despatch_fold on rd */

	/* Watchers (owner thread only). A watcher removed while the list
	 * is being walked is only marked; the walk frees it. */
	struct store_watch *watches;
	unsigned watch_walking;
};

/* The message being written: its stage and, once finished, what the
 * commit needs. `release` (set by the ingest glue) frees what the glue
 * hung on `glue`. */
struct store_msg {
	struct store *st;
	struct blob_stage *stage;
	void *glue;
	void (*release)(struct store_msg *m);
	bool finished, failed;
	uint64_t size;
	struct blob_id skeleton;
	struct blob_id *parts; /* owned, n_parts */
	size_t n_parts;
	char from[256], subject[256], message_id[256];
	struct buf text[FTS_COL_N]; /* for the full-text index */
};

/* An entry mutation run by the commit thread inside the batch
 * transaction, in its own SAVEPOINT (ops.c). */
struct store_op {
	/* Commit thread, write connection. 0, or an error (the savepoint
	 * is rolled back). Fills what `done` reports. */
	int (*run)(struct store *st, struct store_op *op, struct err *err);
	/* Owner (loop) thread, exactly once: reports and frees op. status
	 * 0 only if the batch committed. */
	void (*done)(struct store_op *op, int status, const struct err *err);
	/* For watchers, filled by run: the user and the (at most two)
	 * mailboxes changed; 0 when none. */
	int64_t user_id, mailbox_ids[2];
};

/* --- blob stage (blob.c) --- */

/* A stage for one message's new blobs. Never fails (aborts on OOM). */
struct blob_stage *blob_stage_new(struct store *st);
/* Frees the stage and unlinks its temporary files that were not
 * committed. Accepts NULL; sets *sp = NULL. */
void blob_stage_free(struct blob_stage **sp);

/* One blob the stage references, for the commit. */
struct staged_blob {
	struct blob_id id;
	uint64_t size;        /* content bytes */
	uint64_t stored_size; /* bytes as stored */
	int compression;      /* enum blob_compression */
	bool is_new;          /* false: a blob the store held at writer end */
	bool in_file;         /* new: staged as tmp/<tmpname> */
	bool renamed;         /* commit moved it to blobs/ */
	unsigned char *data;  /* new, !in_file: stored bytes */
	char tmpname[64];
};
/* The stage's blobs, for the commit thread (which owns the stage then). */
struct staged_blob *blob_stage_blobs(struct blob_stage *stage, size_t *n_out);
/* Looks id up in the stage; NULL if absent. */
struct staged_blob *blob_stage_find(struct blob_stage *stage,
    const struct blob_id *id);

/* Opens blob id from the current row of s, whose columns col..col+3 are
 * blobs.size, location, compression and blob_inline.data (NULL for a
 * file), as SQL_BLOB_READ gives them: the caller found the blob in the
 * same statement as what refers to it. s stays on its row. ERR_TEMP. */
int blob_reader_from_row(struct store *st, sqlite3_stmt *s, int col,
    const struct blob_id *id, struct blob_reader **out, struct err *err);

/* "xx/yy/<hex>" relative to blobs/. */
void blob_rel_path(const struct blob_id *id, char out[BLOB_HEX_LEN + 8]);

/* --- db.c --- */

/* Opens a connection with the store's pragmas (WAL, synchronous=FULL,
 * busy_timeout, foreign_keys). ERR_TEMP. */
int db_open(struct dbconn *c, const char *path, struct err *err);
void db_close(struct dbconn *c);
/* Creates or migrates the schema to the current version. */
int db_migrate(struct dbconn *c, struct err *err);
/* The cached statement (reset, bindings cleared); NULL with err set.
 * Callers reset it once done with its rows: a statement left mid-way
 * keeps its read transaction (and an old snapshot) open. */
sqlite3_stmt *db_stmt(struct dbconn *c, enum sql_id id, struct err *err);
/* Like db_stmt, for a statement whose rows go to a callback that might
 * run the same statement again: if the cached one is in use up the
 * stack, a fresh one is prepared and *own_out set (the caller finalizes
 * it); otherwise the cached one, *own_out false. */
sqlite3_stmt *db_stmt_nested(struct dbconn *c, enum sql_id id, bool *own_out,
    struct err *err);
/* Releases what db_stmt_nested returned: resets a cached statement,
 * finalizes an own one. */
void db_stmt_done(sqlite3_stmt *s, bool own);
/* Starts a read transaction on c unless one is open already: several
 * statements of one call then take SQLite's file locks (fcntl on the
 * database and its -shm) once rather than once each, and see one
 * snapshot. Returns whether it started one (pass that to db_read_end);
 * false on failure too, when the statements simply run on their own. */
bool db_read_begin(struct dbconn *c);
/* Ends what db_read_begin started (no-op if started is false). */
void db_read_end(struct dbconn *c, bool started);
/* Runs SQL without results. */
int db_exec(struct dbconn *c, const char *sql, struct err *err);
/* COMMITs the write transaction open on c, after dio_commit_point (a
 * test build may fail it there). 0, or ERR_TEMP/ERR_FULL; the caller
 * rolls back on failure. */
int db_commit(struct dbconn *c, struct err *err);
/* Runs one writing statement outside a transaction (SQLite commits it
 * on its own), with dio_commit_point first and the same clean-up as
 * db_commit on failure. */
int db_exec_write(struct dbconn *c, const char *sql, struct err *err);
/* Maps an SQLite result to ERR_FULL (SQLITE_FULL) or ERR_TEMP and sets
 * err with what and the connection's message. */
int db_fail(struct dbconn *c, int rc, const char *what, struct err *err);
/* One statement's single integer result (0 if no row). */
int db_int(struct dbconn *c, const char *sql, int64_t *out, struct err *err);

/* --- commit.c --- */

/* A message without the ingest glue: a stage and nothing else. Tests and
 * the glue fill skeleton/parts/size and set finished. */
struct store_msg *store_msg_alloc(struct store *st);
/* Frees m, its stage (staged files go) and what the glue hung on it. */
void store_msg_destroy(struct store_msg *m);
/* Starts the commit thread and the async handle (loop stores). */
int commit_start(struct store *st, struct err *err);
/* Drains the queue, runs the remaining callbacks, stops the thread. */
void commit_stop(struct store *st);
/* Queues an op for the next batch (inline without a loop: run and done
 * before this returns). Takes op. */
void commit_op(struct store *st, struct store_op *op);

/* --- queue.c --- */

/* A copy of a store_envelope for the commit thread (plain owned data). */
struct out_rcpt {
	char *rcpt, *domain, *orcpt; /* orcpt NULL: none */
	unsigned notify;
};
struct out_env {
	char *sender, *envid; /* envid NULL: none */
	int ret;              /* enum store_dsn_ret */
	bool smtputf8, body_8bit;
	int64_t user_id, now;
	struct out_rcpt *rcpts;
	size_t n_rcpts;
	int64_t *done_ids, *notified_ids;
	size_t n_done, n_notified;
};
/* Checks env (non-empty rcpts with an '@' and a domain, lengths within
 * the STORE_*_MAX limits, known ret, notify bits) and copies it. NULL
 * if it is malformed. */
struct out_env *out_env_copy(const struct store_envelope *env);
void out_env_free(struct out_env **ep);
/* Commit thread, inside the message's SAVEPOINT: the queue rows of
 * message msg_id, then the done and notified changes. */
int queue_commit_env(struct store *st, const struct out_env *env,
    int64_t msg_id, struct err *err);

/* --- fts_index.c --- */

/* One slice of indexing on the write connection: moves rows from
 * fts_queue into fts, in queue order, in one transaction, until
 * budget_ns have passed (at least one row) or the queue is empty.
 * *more_out: rows may remain. 0, or ERR_TEMP/ERR_FULL (nothing moved). */
int fts_index_slice(struct store *st, int64_t budget_ns, bool *more_out,
    struct err *err);
/* Runs slices until the queue is empty or one fails (logged). Stores
 * without a loop call it after each commit: the CLI indexes inline. */
void fts_index_drain(struct store *st);
/* Monotonic nanoseconds. */
int64_t fts_now_ns(void);

/* --- fts_fold.c --- */

/* Registers despatch_fold(text) on db: text case-folded as the
 * full-text index folds it (for matching rows not indexed yet).
 * ERR_TEMP, ERR_INTERNAL. */
int fts_fold_register(sqlite3 *db, struct err *err);

/* --- ops.c --- */

/* Expunge history kept per mailbox (QRESYNC VANISHED, view sync);
 * older rows are pruned by the commit thread's hourly pass and the
 * mailbox's expunged_floor remembers how far. */
#define STORE_EXPUNGED_KEEP 50000
/* Prunes each mailbox's expunge history to its newest `keep` rows, in
 * its own transaction on c. */
int expunged_prune(struct dbconn *c, unsigned keep, struct err *err);

/* --- watch.c --- */

/* Calls the watchers of user_id about mailbox_id (owner thread). */
void watch_notify(struct store *st, int64_t user_id, int64_t mailbox_id);
/* Frees every watcher (store_close). */
void watch_free_all(struct store *st);

/* --- flags.c --- */

/* Normalises a space-separated flag list into out: \Recent dropped,
 * system flags in their canonical case, duplicates (case-insensitive)
 * removed, one space between. ERR_INPUT (a flag with bad characters),
 * ERR_LIMIT (longer than STORE_FLAGS_MAX bytes or STORE_FLAGS_COUNT_MAX
 * flags: flag sets are compared pairwise, so their size is bounded). */
#define STORE_FLAGS_MAX       8192
#define STORE_FLAGS_COUNT_MAX 256
int flags_normalize(const char *in, struct buf *out);
/* Applies mode with `arg` (normalised) to `cur` (normalised) into out;
 * returns whether the set changed (false, too, when the result would
 * pass the limits above). */
bool flags_apply(const char *cur, int mode, const char *arg, struct buf *out);
/* Whether the normalised list has `flag` (case-insensitive). */
bool flags_has(const char *list, const char *flag);

/* --- mailbox.c --- */

/* The next UIDVALIDITY (state.uidvalidity, on connection c inside its
 * transaction): max(now, last + 1). */
int mailbox_next_uidvalidity(struct dbconn *c, uint32_t *out, struct err *err);

/* --- store.c --- */

/* Deletes unreferenced blobs older than grace relative to now, on the
 * given connection. */
int store_gc_conn(struct store *st, struct dbconn *c, uint64_t grace,
    int64_t now, uint64_t *removed_out, struct err *err);
/* Maps errno to ERR_FULL (ENOSPC, EDQUOT) or ERR_TEMP. */
int errno_code(int e);

/* --- vfs.c --- */

/* Registers the "despatch" VFS (the unix VFS through the durable-I/O
 * hooks) as SQLite's default. Once, before the first open (db.c).
 * SQLITE_OK or an SQLite error. */
int vfs_register(void);

/* --- verify.c --- */

/* The blob half of store_verify: re-hash every blob, file existence,
 * sizes, refcounts against references. Adds to *problems. */
int store_verify_blobs(struct store *st,
    void (*cb)(void *ctx, const char *problem), void *ctx, uint64_t *problems,
    struct err *err);

#endif
