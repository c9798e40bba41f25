/* SPDX-License-Identifier: MIT */
/* SQLite connections of the embedded store: pragmas, the schema and its
 * migrations, and a per-connection cache of prepared statements. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dio.h"
#include "lib/str.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

/* Schema version 1. Layout notes:
 * - Addresses and domain names are stored lowercased; lookups lowercase
 *   their input, so plain `=` comparisons suffice.
 * - blobs.hash is the BLAKE2b-256 content id; blobs.id (rowid) is what
 *   other tables reference, 8 bytes instead of 32 per reference.
 * - Inline blob bytes live in blob_inline so that scans of blobs (stats,
 *   GC, verify) never page through blob contents.
 * - refcount = messages whose skeleton is the blob + part references to
 *   it. Triggers keep it right on every delete path (user removal now,
 *   expunge later); the increments at commit happen through the same
 *   triggers. A blob reaching 0 gets unreferenced_since for the GC grace.
 * - Deleting a mailbox's last entry of a message deletes the message
 *   (trigger entries_gone), which drops its part references (cascade).
 *   From v4 on, only if no outbound queue row refers to it either.
 * - No WITHOUT ROWID tables: SQLite 3.40 (Debian 12) reports false "NULL
 *   value in" errors from PRAGMA quick_check on such tables with NOT NULL
 *   columns outside the key, which would make `store verify` cry wolf. */
static const char *const schema_v1 =
    "CREATE TABLE domains(id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE users(id INTEGER PRIMARY KEY,"
    " domain INTEGER NOT NULL REFERENCES domains(id),"
    " address TEXT NOT NULL UNIQUE, pwhash TEXT NOT NULL);"
    "CREATE INDEX users_domain ON users(domain);"
    "CREATE TABLE aliases(address TEXT NOT NULL,"
    " domain INTEGER NOT NULL REFERENCES domains(id),"
    " target INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " UNIQUE(address, target));"
    "CREATE INDEX aliases_target ON aliases(target);"
    "CREATE INDEX aliases_domain ON aliases(domain);"
    "CREATE TABLE mailboxes(id INTEGER PRIMARY KEY,"
    " user INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, special_use TEXT,"
    " uidvalidity INTEGER NOT NULL, uidnext INTEGER NOT NULL DEFAULT 1,"
    " highestmodseq INTEGER NOT NULL DEFAULT 1, UNIQUE(user, name));"
    "CREATE TABLE blobs(id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
    " size INTEGER NOT NULL, stored_size INTEGER NOT NULL,"
    " location INTEGER NOT NULL, compression INTEGER NOT NULL,"
    " refcount INTEGER NOT NULL DEFAULT 0, unreferenced_since INTEGER);"
    "CREATE INDEX blobs_unreferenced ON blobs(unreferenced_since)"
    " WHERE refcount = 0;"
    "CREATE TABLE blob_inline(blob INTEGER PRIMARY KEY"
    " REFERENCES blobs(id) ON DELETE CASCADE, data BLOB NOT NULL);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, size INTEGER NOT NULL,"
    " skeleton INTEGER NOT NULL REFERENCES blobs(id),"
    " internaldate INTEGER NOT NULL, from_hdr TEXT NOT NULL,"
    " subject TEXT NOT NULL, message_id TEXT NOT NULL);"
    "CREATE INDEX messages_skeleton ON messages(skeleton);"
    "CREATE TABLE message_parts("
    " message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " blob INTEGER NOT NULL REFERENCES blobs(id),"
    " UNIQUE(message, blob));"
    "CREATE INDEX message_parts_blob ON message_parts(blob);"
    "CREATE TABLE entries("
    " mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
    " uid INTEGER NOT NULL, message INTEGER NOT NULL REFERENCES messages(id),"
    " flags TEXT NOT NULL DEFAULT '', modseq INTEGER NOT NULL,"
    " UNIQUE(mailbox, uid));"
    "CREATE INDEX entries_message ON entries(message);"
    "CREATE TABLE state(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TRIGGER entries_gone AFTER DELETE ON entries"
    " WHEN NOT EXISTS (SELECT 1 FROM entries WHERE message = OLD.message)"
    " BEGIN DELETE FROM messages WHERE id = OLD.message; END;"
    "CREATE TRIGGER messages_ref AFTER INSERT ON messages BEGIN"
    " UPDATE blobs SET refcount = refcount + 1, unreferenced_since = NULL"
    " WHERE id = NEW.skeleton; END;"
    "CREATE TRIGGER messages_unref AFTER DELETE ON messages BEGIN"
    " UPDATE blobs SET refcount = refcount - 1, unreferenced_since ="
    " CASE WHEN refcount = 1 THEN CAST(strftime('%s', 'now') AS INTEGER)"
    " ELSE unreferenced_since END WHERE id = OLD.skeleton; END;"
    "CREATE TRIGGER parts_ref AFTER INSERT ON message_parts BEGIN"
    " UPDATE blobs SET refcount = refcount + 1, unreferenced_since = NULL"
    " WHERE id = NEW.blob; END;"
    "CREATE TRIGGER parts_unref AFTER DELETE ON message_parts BEGIN"
    " UPDATE blobs SET refcount = refcount - 1, unreferenced_since ="
    " CASE WHEN refcount = 1 THEN CAST(strftime('%s', 'now') AS INTEGER)"
    " ELSE unreferenced_since END WHERE id = OLD.blob; END;";

/* Migrations: migrations[v] takes the schema from version v to v + 1.
 * Append only; a released entry never changes. */
static const char *const migrations[] = {
	NULL, /* 0 -> 1 is schema_v1 itself */
	/* 1 -> 2 (IMAP):
	 * - subscriptions by name (RFC 9051 §6.3.7: a subscription outlives
	 *   its mailbox); every existing mailbox starts subscribed.
	 * - expunged: UIDs removed with the modseq of their removal, for
	 *   QRESYNC VANISHED and other sessions' views. A mailbox's
	 *   expunged_floor is the highest modseq whose history was pruned
	 *   (0: complete).
	 * - fts: the full-text index (FTS5 trigram, case-insensitive), one
	 *   row per message row (rowid = messages.id), dropped with it.
	 *   Messages stored before v2 get their From and Subject indexed
	 *   from the listing columns; their bodies are not indexed.
	 * - state.uidvalidity: the last UIDVALIDITY handed out, so that a
	 *   mailbox created again under a deleted one's name never gets
	 *   the old value even within the same second. */
	"CREATE TABLE subscriptions(id INTEGER PRIMARY KEY,"
	" user INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" name TEXT NOT NULL, UNIQUE(user, name));"
	"INSERT INTO subscriptions(user, name) SELECT user, name"
	" FROM mailboxes;"
	"CREATE TABLE expunged("
	" mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
	" uid INTEGER NOT NULL, modseq INTEGER NOT NULL);"
	"CREATE INDEX expunged_mailbox ON expunged(mailbox, modseq);"
	"ALTER TABLE mailboxes ADD COLUMN expunged_floor INTEGER NOT NULL"
	" DEFAULT 0;"
	"CREATE INDEX entries_modseq ON entries(mailbox, modseq);"
	"CREATE VIRTUAL TABLE fts USING fts5(hfrom, hto, hcc, hbcc, subject,"
	" body, headers, tokenize = 'trigram case_sensitive 0');"
	"INSERT INTO fts(rowid, hfrom, hto, hcc, hbcc, subject, body, headers)"
	" SELECT id, from_hdr, '', '', '', subject, '',"
	" 'From: ' || from_hdr || char(10) || 'Subject: ' || subject"
	" FROM messages;"
	"CREATE TRIGGER messages_fts_gone AFTER DELETE ON messages BEGIN"
	" DELETE FROM fts WHERE rowid = OLD.id; END;"
	"INSERT INTO state(key, value) SELECT 'uidvalidity',"
	" coalesce(max(uidvalidity), 0) FROM mailboxes WHERE true"
	" ON CONFLICT(key) DO NOTHING;",
	/* 2 -> 3: fts_queue, the text of messages not yet in the full-text
	 * index, in the fts table's columns. A commit queues a message's
	 * text here (one plain row) and the commit thread moves it into fts
	 * when it has nothing else to do (fts_index.c): FTS5 work is most of
	 * what a stored message costs, and a 250 must not wait for a search
	 * index. Searches read both (mailbox.c, store_fts_search). A
	 * message's queue row goes with the message (the foreign key
	 * cascades; every connection turns foreign keys on, db_open).
	 * Existing messages are indexed already: nothing is queued. */
	"CREATE TABLE fts_queue(message INTEGER PRIMARY KEY"
	" REFERENCES messages(id) ON DELETE CASCADE,"
	" hfrom TEXT NOT NULL, hto TEXT NOT NULL, hcc TEXT NOT NULL,"
	" hbcc TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,"
	" headers TEXT NOT NULL);",
	/* 3 -> 4: the outbound queue (store.h), one row per remote
	 * recipient of a stored message. Addresses are kept as given
	 * (a remote local part is case-sensitive, RFC 5321 §2.4); domain
	 * is the part after the last '@', lowercased, for grouping by
	 * destination. user: the submitting user, NULL when none or once
	 * that user is removed (the mail still leaves). Times are unix
	 * seconds from the caller's clock; last_attempt 0: never.
	 * queue_due serves store_queue_due and store_queue_next_due (rows
	 * not held, by next_attempt).
	 * A message row now lives while mailbox entries OR queue rows
	 * refer to it: entries_gone is replaced to check queue rows too,
	 * and queue_gone deletes a message left with neither when its
	 * last queue row goes. The blob refcounts follow through
	 * messages_unref and parts_unref as before. */
	"CREATE TABLE queue(id INTEGER PRIMARY KEY,"
	" message INTEGER NOT NULL REFERENCES messages(id),"
	" sender TEXT NOT NULL, rcpt TEXT NOT NULL, domain TEXT NOT NULL,"
	" orcpt TEXT, envid TEXT, notify INTEGER NOT NULL DEFAULT 0,"
	" ret INTEGER NOT NULL DEFAULT 0,"
	" smtputf8 INTEGER NOT NULL DEFAULT 0,"
	" body_8bit INTEGER NOT NULL DEFAULT 0,"
	" user INTEGER REFERENCES users(id) ON DELETE SET NULL,"
	" created INTEGER NOT NULL, next_attempt INTEGER NOT NULL,"
	" last_attempt INTEGER NOT NULL DEFAULT 0,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" last_reply TEXT NOT NULL DEFAULT '',"
	" held INTEGER NOT NULL DEFAULT 0,"
	" delay_notified INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX queue_due ON queue(next_attempt) WHERE held = 0;"
	"CREATE INDEX queue_message ON queue(message);"
	"CREATE INDEX queue_user ON queue(user);"
	"DROP TRIGGER entries_gone;"
	"CREATE TRIGGER entries_gone AFTER DELETE ON entries"
	" WHEN NOT EXISTS (SELECT 1 FROM entries WHERE message = OLD.message)"
	" AND NOT EXISTS (SELECT 1 FROM queue WHERE message = OLD.message)"
	" BEGIN DELETE FROM messages WHERE id = OLD.message; END;"
	"CREATE TRIGGER queue_gone AFTER DELETE ON queue"
	" WHEN NOT EXISTS (SELECT 1 FROM queue WHERE message = OLD.message)"
	" AND NOT EXISTS (SELECT 1 FROM entries WHERE message = OLD.message)"
	" BEGIN DELETE FROM messages WHERE id = OLD.message; END;",
};
#define SCHEMA_VERSION 4

#define DB_FTS_AUTOMERGE 8 /* see db_migrate */

static const char *const sql_text[SQL_COUNT] = {
	[SQL_BLOB_LOOKUP] = "SELECT id, size, stored_size, location,"
	                    " compression FROM blobs WHERE hash = ?1",
	[SQL_BLOB_INLINE_GET] = "SELECT data FROM blob_inline WHERE blob = ?1",
	[SQL_BLOB_INSERT] = "INSERT INTO blobs(hash, size, stored_size,"
	                    " location, compression, refcount,"
	                    " unreferenced_since) VALUES(?1, ?2, ?3, ?4, ?5, 0,"
	                    " CAST(strftime('%s', 'now') AS INTEGER))"
	                    " ON CONFLICT(hash) DO NOTHING",
	[SQL_BLOB_INLINE_INSERT] = "INSERT INTO blob_inline(blob, data)"
	                           " VALUES(?1, ?2)",
	[SQL_BLOB_ROWID] = "SELECT id FROM blobs WHERE hash = ?1",
	[SQL_MSG_INSERT] = "INSERT INTO messages(size, skeleton, internaldate,"
	                   " from_hdr, subject, message_id)"
	                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[SQL_PART_INSERT] = "INSERT OR IGNORE INTO message_parts(message, blob)"
	                    " VALUES(?1, ?2)",
	[SQL_MAILBOX_FIND] = "SELECT id FROM mailboxes WHERE user = ?1"
	                     " AND name = ?2",
	[SQL_MAILBOX_NEXT_UID] = "UPDATE mailboxes SET uidnext = uidnext + 1,"
	                         " highestmodseq = highestmodseq + 1"
	                         " WHERE id = ?1 AND uidnext < 4294967295"
	                         " RETURNING uidnext - 1, highestmodseq,"
	                         " uidvalidity",
	[SQL_ENTRY_INSERT] = "INSERT INTO entries(mailbox, uid, message, flags,"
	                     " modseq) VALUES(?1, ?2, ?3, ?5, ?4)",
	[SQL_FTS_QUEUE_INSERT] = "INSERT INTO fts_queue(message, hfrom, hto,"
	                         " hcc, hbcc, subject, body, headers)"
	                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	/* VALUES, not INSERT ... SELECT: a statement that may write
	 * several rows opens a statement savepoint, at which FTS5 writes its
	 * pending terms out as a segment (fts_index.c). */
	[SQL_FTS_INSERT] = "INSERT INTO fts(rowid, hfrom, hto, hcc, hbcc,"
	                   " subject, body, headers)"
	                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[SQL_FTS_QUEUE_SCAN] = "SELECT message, hfrom, hto, hcc, hbcc,"
	                       " subject, body, headers FROM fts_queue"
	                       " ORDER BY message",
	[SQL_FTS_QUEUE_DROP] = "DELETE FROM fts_queue WHERE message <= ?1",
	/* The submitting user only if still there (NULL otherwise: the
	 * foreign key would fail the whole commit). */
	[SQL_QUEUE_INSERT] = "INSERT INTO queue(message, sender, rcpt, domain,"
	                     " orcpt, envid, notify, ret, smtputf8, body_8bit,"
	                     " user, created, next_attempt)"
	                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
	                     " (SELECT id FROM users WHERE id = ?11), ?12,"
	                     " ?12)",
	[SQL_QUEUE_DONE] = "DELETE FROM queue WHERE id = ?1",
	[SQL_QUEUE_NOTIFIED] = "UPDATE queue SET delay_notified = 1"
	                       " WHERE id = ?1",
	[SQL_QUEUE_UPDATE] = "UPDATE queue SET attempts = attempts + 1,"
	                     " last_attempt = ?2, next_attempt = ?3,"
	                     " last_reply = ?4 WHERE id = ?1",
	[SQL_QUEUE_NEXT_DUE] = "SELECT min(next_attempt) FROM queue"
	                       " WHERE held = 0",
	/* A blob's row and, when inline, its bytes: one statement (one read
	 * transaction, one lock round) per blob opened. */
	[SQL_BLOB_READ] =
	    "SELECT b.size, b.location, b.compression, i.data"
	    " FROM blobs b LEFT JOIN blob_inline i ON i.blob = b.id"
	    " WHERE b.hash = ?1",
	/* A message's skeleton: its id, row and inline bytes together (the
	 * columns of SQL_BLOB_READ after the hash). */
	[SQL_MSG_SKELETON] = "SELECT b.hash, b.size, b.location, b.compression,"
	                     " i.data FROM messages m JOIN blobs b"
	                     " ON b.id = m.skeleton"
	                     " LEFT JOIN blob_inline i ON i.blob = b.id"
	                     " WHERE m.id = ?1",
	[SQL_ENTRY_SKELETON] = "SELECT b.hash, b.size, b.location,"
	                       " b.compression, i.data FROM mailboxes mb"
	                       " JOIN entries e ON e.mailbox = mb.id"
	                       " JOIN messages m ON m.id = e.message"
	                       " JOIN blobs b ON b.id = m.skeleton"
	                       " LEFT JOIN blob_inline i ON i.blob = b.id"
	                       " WHERE mb.user = ?1 AND mb.name = ?2"
	                       " AND e.uid = ?3",
	[SQL_ENTRY_RANGE] =
	    "SELECT e.uid, e.message, m.size, m.internaldate,"
	    " e.modseq, e.flags, m.from_hdr, m.subject"
	    " FROM entries e JOIN messages m ON m.id = e.message"
	    " WHERE e.mailbox = ?1 AND e.uid BETWEEN ?2 AND ?3"
	    " AND e.modseq > ?4 ORDER BY e.uid",
	[SQL_MAILBOX_ROW] =
	    "SELECT m.id, m.uidvalidity, m.uidnext,"
	    " m.highestmodseq, coalesce(m.special_use, ''),"
	    " EXISTS (SELECT 1 FROM subscriptions s"
	    " WHERE s.user = m.user AND s.name = m.name)"
	    " FROM mailboxes m WHERE m.user = ?1 AND m.name = ?2",
	/* One pass over the mailbox's entries. Flags are stored normalised
	 * (flags.c), so an exact token test on " flags " finds \Seen and
	 * \Deleted. */
	[SQL_MAILBOX_COUNTS] =
	    "SELECT count(e.uid),"
	    " coalesce(sum(instr(' ' || e.flags || ' ', ' \\Seen ') = 0), 0),"
	    " coalesce(sum(instr(' ' || e.flags || ' ', ' \\Deleted ') > 0),"
	    " 0),"
	    " min(CASE WHEN instr(' ' || e.flags || ' ', ' \\Seen ') = 0"
	    " THEN e.uid END),"
	    " coalesce(sum(g.size), 0)"
	    " FROM entries e LEFT JOIN messages g ON g.id = e.message"
	    " WHERE e.mailbox = ?1",
	[SQL_READ_BEGIN] = "BEGIN",
	[SQL_READ_END] = "COMMIT",
};

int
db_fail(struct dbconn *c, int rc, const char *what, struct err *err)
{
	int prim = rc & 0xff;

	return err_set(err, prim == SQLITE_FULL ? ERR_FULL : ERR_TEMP,
	    "sqlite %s: %s (%d)", what,
	    c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc), rc);
}

int
db_exec(struct dbconn *c, const char *sql, struct err *err)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return db_fail(c, rc, sql, err);
	return 0;
}

/* After a COMMIT that failed, makes sure its WAL frames can never come
 * back. When the WAL's fsync fails (or a write after the frames), the
 * frames of the refused transaction, commit frame included, stay in the
 * WAL file with valid checksums; SQLite does not count them (the
 * wal-index was not updated), but should the process die before another
 * commit, the next open rebuilds the index from the file and replays
 * them: a message refused with a 4xx turns up after all, an EXPUNGE that
 * said NO has happened. The fault walk found it (store/fault_test.c,
 * eio at the WAL sync, then a crash). A small write transaction right
 * away writes its frames over the refused ones from the same place and
 * syncs: recovery then stops at its commit frame, because the leftover
 * frames after it no longer continue the checksum chain. If this fails
 * too the disk is failing; the next successful commit does the same. */
static void
wal_scrub(struct dbconn *c)
{
	static const struct log_ctx lctx = { "store", 0 };
	struct err e;

	(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	if (db_exec(c,
	        "BEGIN IMMEDIATE;"
	        "INSERT INTO state(key, value) VALUES('scrubs', 1)"
	        " ON CONFLICT(key) DO UPDATE SET value = value + 1",
	        &e) != 0 ||
	    db_exec(c, "COMMIT", &e) != 0) {
		(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		log_error(&lctx, "event=wal_scrub status=%s msg=\"%s\"",
		    err_name(e.code), e.msg);
	}
}

/* Runs sql, which commits; after a failure that may have left the
 * transaction's frames whole in the WAL, scrubs. That is an I/O error
 * (the fsync after the commit frame). Not SQLITE_FULL: a write that did
 * not fit leaves the commit frame unwritten or torn, which recovery
 * ignores (and on a full disk the scrub would only fail too); not
 * SQLITE_BUSY, which wrote nothing. */
static int
exec_commit(struct dbconn *c, const char *sql, struct err *err)
{
	int rc, prim;

	if (dio_commit_point() == -1)
		return err_set(err, errno_code(errno), "commit: %s",
		    strerror(errno));
	if ((rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL)) == SQLITE_OK)
		return 0;
	(void)db_fail(c, rc, sql, err);
	prim = rc & 0xff;
	if (prim == SQLITE_IOERR)
		wal_scrub(c);
	return err->code;
}

int
db_commit(struct dbconn *c, struct err *err)
{
	return exec_commit(c, "COMMIT", err);
}

int
db_exec_write(struct dbconn *c, const char *sql, struct err *err)
{
	return exec_commit(c, sql, err);
}

int
db_int(struct dbconn *c, const char *sql, int64_t *out, struct err *err)
{
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return db_fail(c, rc, sql, err);
	rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(c, rc, sql, err);
	return 0;
}

sqlite3_stmt *
db_stmt(struct dbconn *c, enum sql_id id, struct err *err)
{
	sqlite3_stmt *s = c->stmts[id];
	int rc;

	if (s == NULL) {
		rc = sqlite3_prepare_v3(c->db, sql_text[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &s, NULL);
		if (rc != SQLITE_OK) {
			(void)db_fail(c, rc, "prepare", err);
			return NULL;
		}
		c->stmts[id] = s;
	}
	(void)sqlite3_reset(s);
	(void)sqlite3_clear_bindings(s);
	return s;
}

sqlite3_stmt *
db_stmt_nested(struct dbconn *c, enum sql_id id, bool *own_out, struct err *err)
{
	sqlite3_stmt *s;
	int rc;

	*own_out = false;
	if (c->stmts[id] == NULL || !sqlite3_stmt_busy(c->stmts[id]))
		return db_stmt(c, id, err);
	rc = sqlite3_prepare_v2(c->db, sql_text[id], -1, &s, NULL);
	if (rc != SQLITE_OK) {
		(void)db_fail(c, rc, "prepare", err);
		return NULL;
	}
	*own_out = true;
	return s;
}

bool
db_read_begin(struct dbconn *c)
{
	sqlite3_stmt *s;
	struct err e;
	int rc;

	if (!sqlite3_get_autocommit(c->db) ||
	    (s = db_stmt(c, SQL_READ_BEGIN, &e)) == NULL)
		return false;
	rc = sqlite3_step(s);
	(void)sqlite3_reset(s);
	return rc == SQLITE_DONE;
}

void
db_read_end(struct dbconn *c, bool started)
{
	sqlite3_stmt *s;
	struct err e;

	if (!started)
		return;
	if ((s = db_stmt(c, SQL_READ_END, &e)) == NULL ||
	    sqlite3_step(s) != SQLITE_DONE)
		/* A read transaction cannot fail to end for want of
		 * writing; should COMMIT fail anyway, do not leave it open. */
		(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	if (s != NULL)
		(void)sqlite3_reset(s);
}

void
db_stmt_done(sqlite3_stmt *s, bool own)
{
	if (own)
		sqlite3_finalize(s);
	else
		(void)sqlite3_reset(s);
}

/* Sub-journals (the undo record of an open SAVEPOINT or statement) are
 * held in memory up to this size before they spill to a temporary file.
 * Every message of a group commit has its own SAVEPOINT, so each page a
 * message changes is first copied into the sub-journal; at SQLite's
 * default of 64 KiB one message's changes could spill it, and from then
 * on each copy was a pwrite to a temporary file (34 of the 48 pwrite
 * calls per stored message, not counting the FTS index). At 128 KiB they
 * seldom spill (perf_bench, 4 KB random-text bodies: 0.6 writes to a
 * sub-journal file per message at BENCH_BATCH=10, 0.02 at 1; store CPU
 * per message as at 8 MiB, within noise); a larger write (a big expunge
 * or mailbox delete) spills, so memory stays bounded. Rollback only: in
 * WAL mode the sub-journal plays no part in crash recovery, so
 * durability is as before.
 * Never more than 128 KiB - 1: SQLite (3.40 at least) keeps an in-memory
 * sub-journal in chunks of the spill size and, when it spills, writes
 * each chunk with one xWrite, while the unix VFS masks every write's
 * length with 0x1ffff (seekAndWriteFd). At 8 MiB the first statement
 * whose sub-journal outgrew it (DELETE of a mailbox of ~30 000 messages
 * inside BEGIN IMMEDIATE, or an EXPUNGE of them in its SAVEPOINT) wrote
 * 131068 bytes, then 0, and failed with SQLITE_FULL ("database or disk
 * is full") on a disk with room to spare. */
#define DB_STMTJRNL_SPILL (128 * 1024 - 1)

static pthread_once_t db_config_once = PTHREAD_ONCE_INIT;

static void
db_config(void)
{
	/* Only possible before SQLite initialises (the first open in the
	 * process); should something have opened a database earlier, the
	 * default stays (SQLITE_MISUSE, ignored). */
	(void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, DB_STMTJRNL_SPILL);
	/* No allocation statistics (sqlite3_memory_used is not used): with
	 * them every sqlite3_malloc and free takes a global mutex, and the
	 * FTS5 index allocates per token. */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* SQLite's file I/O through the durable-I/O hooks (vfs.c), as the
	 * default VFS, before the first database opens. */
	if (vfs_register() != SQLITE_OK)
		abort();
}

int
db_open(struct dbconn *c, const char *path, struct err *err)
{
	int rc;

	(void)pthread_once(&db_config_once, db_config);
	memset(c, 0, sizeof(*c));
	rc = sqlite3_open_v2(path, &c->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		(void)db_fail(c, rc, "open", err);
		db_close(c);
		return err->code;
	}
	/* busy_timeout first: the journal_mode switch itself may wait for
	 * another process. 10 s covers a CLI command racing serve's commit
	 * batches and a GC pass; past it the caller gets ERR_TEMP. */
	(void)sqlite3_busy_timeout(c->db, 10000);
	/* synchronous=FULL: in WAL mode this syncs the WAL at every commit,
	 * which is what makes a 250 a promise (DESIGN.md). */
	if (db_exec(c, "PRAGMA journal_mode=WAL", err) != 0 ||
	    db_exec(c, "PRAGMA synchronous=FULL", err) != 0 ||
	    db_exec(c, "PRAGMA foreign_keys=ON", err) != 0) {
		db_close(c);
		return err->code;
	}
	return 0;
}

void
db_close(struct dbconn *c)
{
	size_t i;

	for (i = 0; i < SQL_COUNT; i++)
		if (c->stmts[i] != NULL)
			sqlite3_finalize(c->stmts[i]);
	if (c->db != NULL)
		(void)sqlite3_close(c->db);
	memset(c, 0, sizeof(*c));
}

int
db_migrate(struct dbconn *c, struct err *err)
{
	int64_t v = 0, have_table = 0, am = 0;
	char sql[128];

	if (db_exec(c, "BEGIN IMMEDIATE", err) != 0)
		return err->code;
	if (db_int(c,
	        "SELECT count(*) FROM sqlite_master WHERE name ="
	        " 'schema_version'",
	        &have_table, err) != 0)
		goto fail;
	if (have_table == 0) {
		if (db_exec(c,
		        "CREATE TABLE schema_version(version INTEGER NOT NULL);"
		        "INSERT INTO schema_version VALUES(0)",
		        err) != 0)
			goto fail;
	}
	if (db_int(c, "SELECT version FROM schema_version", &v, err) != 0)
		goto fail;
	if (v > SCHEMA_VERSION) {
		err_set(err, ERR_INTERNAL,
		    "store schema version %lld is newer than this build (%d)",
		    (long long)v, SCHEMA_VERSION);
		goto fail;
	}
	if (v == 0 && db_exec(c, schema_v1, err) != 0)
		goto fail;
	for (v = v == 0 ? 1 : v; v < SCHEMA_VERSION; v++)
		if (db_exec(c, migrations[v], err) != 0)
			goto fail;
	/* FTS5 merges an index level once DB_FTS_AUTOMERGE segments have
	 * gathered on it (its default is 4). Merging is a good part of what
	 * indexing costs, and mail text is indexed at every group commit:
	 * at 8, storing messages of random text took ~15 % less CPU, and
	 * phrase queries over 4000 messages were no slower. A setting kept
	 * in the index (fts_config), not a schema change: older builds read
	 * such a store as before. */
	if (db_int(c,
	        "SELECT coalesce((SELECT v FROM fts_config"
	        " WHERE k = 'automerge'), 4)",
	        &am, err) != 0)
		goto fail;
	if (am != DB_FTS_AUTOMERGE) {
		(void)str_fmt(sql, sizeof(sql),
		    "INSERT INTO fts(fts, rank) VALUES('automerge', %d)",
		    DB_FTS_AUTOMERGE);
		if (db_exec(c, sql, err) != 0)
			goto fail;
	}
	(void)str_fmt(sql, sizeof(sql),
	    "UPDATE schema_version SET version = %d", SCHEMA_VERSION);
	if (db_exec(c, sql, err) != 0 || db_commit(c, err) != 0)
		goto fail;
	return 0;
fail:
	(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return err->code;
}
