/* SPDX-License-Identifier: MIT */
/* The IMAP side of the embedded store's metadata: mailbox listing and
 * status, the synchronous mailbox mutations (create, delete, rename,
 * subscribe), entry ranges, expunge history, usage and full-text search.
 * Everything here runs on the owner connection; each mutation is one
 * BEGIN IMMEDIATE transaction, so a concurrent commit batch waits on the
 * busy timeout rather than failing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

/* Needles shorter than this (in characters) cannot use the trigram
 * index and are matched with LIKE over the indexed text (ASCII-only
 * case folding there; SQLite's LIKE). */
#define FTS_TRIGRAM 3

static sqlite3_stmt *
q(struct store *st, const char *sql, struct err *err)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->rd.db, sql, -1, &s, NULL);

	if (rc != SQLITE_OK) {
		(void)db_fail(&st->rd, rc, "prepare", err);
		return NULL;
	}
	return s;
}

/* Steps s to its end, finalizes it. ERR_EXISTS on a constraint. */
static int
q_run(struct store *st, sqlite3_stmt *s, struct err *err)
{
	int rc;

	if (s == NULL)
		return err->code;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return err_set(err, ERR_EXISTS, "already exists");
	return db_fail(&st->rd, rc, "step", err);
}

static int
begin(struct store *st, struct err *err)
{
	return db_exec(&st->rd, "BEGIN IMMEDIATE", err);
}

static int
finish(struct store *st, int rc, struct err *err)
{
	if (rc == 0 && db_commit(&st->rd, err) == 0)
		return 0;
	(void)sqlite3_exec(st->rd.db, "ROLLBACK", NULL, NULL, NULL);
	return rc != 0 ? rc : err->code;
}

/* --- names ------------------------------------------------------------ */

/* Characters (code points) of valid UTF-8. */
static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static bool
utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;
	uint32_t c;

	while (i < n) {
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, c &= 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, c &= 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, c &= 0x07;
		else
			return false;
		if (i + len > n)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
		    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
			return false;
		i += len;
	}
	return true;
}

/* Checks a name and copies it into out with INBOX (and an "INBOX/"
 * prefix) in upper case. */
static int
norm_name(const char *in, char out[STORE_MAILBOX_NAME_MAX + 1], struct err *err)
{
	size_t n, i;

	if (in == NULL || (n = strlen(in)) == 0)
		return err_set(err, ERR_INPUT, "empty mailbox name");
	if (n > STORE_MAILBOX_NAME_MAX)
		return err_set(err, ERR_INPUT, "mailbox name too long");
	if (!utf8_ok((const unsigned char *)in, n))
		return err_set(err, ERR_INPUT, "mailbox name not UTF-8");
	if (in[0] == '/' || in[n - 1] == '/' || strstr(in, "//") != NULL)
		return err_set(err, ERR_INPUT, "empty mailbox name level");
	for (i = 0; i < n; i++)
		if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f)
			return err_set(err, ERR_INPUT,
			    "control character in mailbox name");
	memcpy(out, in, n + 1);
	if (strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return 0;
}

/* Loose form for lookups by a client's name: INBOX any case. */
static const char *
lookup_name(const char *in, char out[STORE_MAILBOX_NAME_MAX + 1])
{
	struct err e;

	if (norm_name(in, out, &e) != 0)
		return in != NULL ? in : "";
	return out;
}

int
mailbox_next_uidvalidity(struct dbconn *c, uint32_t *out, struct err *err)
{
	int64_t last = 0, now = (int64_t)time(NULL), v;
	char sql[160];

	if (db_int(c,
	        "SELECT coalesce((SELECT value FROM state"
	        " WHERE key = 'uidvalidity'), 0)",
	        &last, err) != 0)
		return err->code;
	v = now > last ? now : last + 1;
	/* UIDVALIDITY is a non-zero 32-bit number (RFC 9051 §2.3.1.1). */
	if (v > 0xffffffffLL || v <= 0)
		v = 1;
	(void)str_fmt(sql, sizeof(sql),
	    "INSERT INTO state(key, value) VALUES('uidvalidity', %lld)"
	    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	    (long long)v);
	if (db_exec(c, sql, err) != 0)
		return err->code;
	*out = (uint32_t)v;
	return 0;
}

/* The id of user's mailbox `name` (normalised); ERR_NOTFOUND. */
static int
mailbox_id(struct store *st, int64_t user, const char *name, int64_t *id,
    struct err *err)
{
	sqlite3_stmt *s = q(st,
	    "SELECT id FROM mailboxes WHERE user = ?1 AND name = ?2", err);
	int rc;

	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, user);
	(void)sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return err_set(err, ERR_NOTFOUND, "no mailbox %s", name);
	return db_fail(&st->rd, rc, "mailbox", err);
}

/* Inserts a mailbox (inside a transaction). ERR_EXISTS. */
static int
insert_mailbox(struct store *st, int64_t user, const char *name,
    const char *special_use, uint32_t uidnext, uint64_t modseq, int64_t *id_out,
    struct err *err)
{
	uint32_t uv;
	sqlite3_stmt *s;
	int rc;

	if (mailbox_next_uidvalidity(&st->rd, &uv, err) != 0)
		return err->code;
	s = q(st,
	    "INSERT INTO mailboxes(user, name, special_use, uidvalidity,"
	    " uidnext, highestmodseq) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	    err);
	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, user);
	(void)sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	if (special_use != NULL)
		(void)sqlite3_bind_text(s, 3, special_use, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(s, 4, uv);
	(void)sqlite3_bind_int64(s, 5, uidnext);
	(void)sqlite3_bind_int64(s, 6, (int64_t)modseq);
	if ((rc = q_run(st, s, err)) != 0)
		return rc == ERR_EXISTS
		    ? err_set(err, ERR_EXISTS, "mailbox %s exists", name)
		    : rc;
	if (id_out != NULL)
		*id_out = sqlite3_last_insert_rowid(st->rd.db);
	return 0;
}

/* Creates the missing parents of name ("a", "a/b" for "a/b/c"). */
static int
create_parents(struct store *st, int64_t user, const char *name,
    struct err *err)
{
	char parent[STORE_MAILBOX_NAME_MAX + 1];
	int64_t id;
	size_t i;
	int rc;

	for (i = 0; name[i] != '\0'; i++) {
		if (name[i] != '/')
			continue;
		memcpy(parent, name, i);
		parent[i] = '\0';
		rc = mailbox_id(st, user, parent, &id, err);
		if (rc == ERR_NOTFOUND)
			rc = insert_mailbox(st, user, parent, NULL, 1, 1, NULL,
			    err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The canonical spelling of a special use (RFC 6154), NULL if unknown. */
static const char *
special_use_canon(const char *su)
{
	static const char *const ok[] = { "\\Archive", "\\Drafts", "\\Junk",
		"\\Sent", "\\Trash", "\\All", "\\Flagged" };
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(*ok); i++)
		if (strcasecmp(su, ok[i]) == 0)
			return ok[i];
	return NULL;
}

/* --- listing and status ----------------------------------------------- */

int
store_mailbox_list(struct store *st, int64_t user,
    void (*cb)(void *ctx, const struct store_mailbox *mb), void *ctx,
    struct err *err)
{
	struct store_mailbox mb;
	sqlite3_stmt *s;
	int rc;

	/* Children: names in [name + "/", name + "0"), "0" being the byte
	 * after "/", which the UNIQUE(user, name) index answers. */
	s = q(st,
	    "SELECT m.id, m.name, m.special_use, m.uidvalidity, m.uidnext,"
	    " m.highestmodseq,"
	    " (SELECT count(*) FROM entries e WHERE e.mailbox = m.id),"
	    " EXISTS (SELECT 1 FROM subscriptions s WHERE s.user = m.user"
	    " AND s.name = m.name),"
	    " EXISTS (SELECT 1 FROM mailboxes c WHERE c.user = m.user"
	    " AND c.name >= m.name || '/' AND c.name < m.name || '0')"
	    " FROM mailboxes m WHERE m.user = ?1 ORDER BY m.id",
	    err);
	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, user);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&mb, 0, sizeof(mb));
		mb.id = sqlite3_column_int64(s, 0);
		mb.name = (const char *)sqlite3_column_text(s, 1);
		mb.special_use = (const char *)sqlite3_column_text(s, 2);
		mb.uidvalidity = (uint32_t)sqlite3_column_int64(s, 3);
		mb.uidnext = (uint32_t)sqlite3_column_int64(s, 4);
		mb.highestmodseq = (uint64_t)sqlite3_column_int64(s, 5);
		mb.messages = (uint32_t)sqlite3_column_int64(s, 6);
		mb.subscribed = sqlite3_column_int(s, 7) != 0;
		mb.has_children = sqlite3_column_int(s, 8) != 0;
		cb(ctx, &mb);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "mailboxes", err);
}

/* The entry counts of status memo m (key filled in), computed unless
 * the memo has them for that key already. */
static int
mailbox_counts(struct store *st, struct status_memo *m, struct err *err)
{
	struct status_memo *slot =
	    &st->status_memo[(uint64_t)m->id % STATUS_MEMO_N];
	sqlite3_stmt *s;
	int rc;

	if (slot->id == m->id && slot->uidvalidity == m->uidvalidity &&
	    slot->uidnext == m->uidnext && slot->modseq == m->modseq) {
		*m = *slot;
		return 0;
	}
	if ((s = db_stmt(&st->rd, SQL_MAILBOX_COUNTS, err)) == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, m->id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		m->messages = (uint32_t)sqlite3_column_int64(s, 0);
		m->unseen = (uint32_t)sqlite3_column_int64(s, 1);
		m->deleted = (uint32_t)sqlite3_column_int64(s, 2);
		m->first_unseen = (uint32_t)sqlite3_column_int64(s, 3);
		m->size = (uint64_t)sqlite3_column_int64(s, 4);
	}
	(void)sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return db_fail(&st->rd, rc, "status", err);
	*slot = *m;
	return 0;
}

/* The mailbox row, and with want_counts its entry counts (a pass over
 * the entries unless memoised). */
static int
status_get(struct store *st, int64_t user_id, const char *name,
    bool want_counts, struct store_mailbox_status *out, struct err *err)
{
	char nb[STORE_MAILBOX_NAME_MAX + 1];
	const char *n = lookup_name(name, nb);
	struct status_memo m = { 0 };
	bool txn;
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((s = db_stmt(&st->rd, SQL_MAILBOX_ROW, err)) == NULL)
		return err->code;
	/* The row and the counts from one snapshot: the counts are memoised
	 * under the row's modseq. */
	txn = db_read_begin(&st->rd);
	(void)sqlite3_bind_int64(s, 1, user_id);
	(void)sqlite3_bind_text(s, 2, n, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		m.id = out->id = sqlite3_column_int64(s, 0);
		m.uidvalidity = out->uidvalidity =
		    (uint32_t)sqlite3_column_int64(s, 1);
		m.uidnext = out->uidnext = (uint32_t)sqlite3_column_int64(s, 2);
		m.modseq = out->highestmodseq =
		    (uint64_t)sqlite3_column_int64(s, 3);
		(void)str_copy(out->special_use, sizeof(out->special_use),
		    (const char *)sqlite3_column_text(s, 4));
		out->subscribed = sqlite3_column_int(s, 5) != 0;
	}
	(void)sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		rc = err_set(err, ERR_NOTFOUND, "no mailbox %s", n);
	else if (rc != SQLITE_ROW)
		rc = db_fail(&st->rd, rc, "status", err);
	else if (!want_counts)
		rc = 0;
	else if ((rc = mailbox_counts(st, &m, err)) == 0) {
		out->messages = m.messages;
		out->unseen = m.unseen;
		out->deleted = m.deleted;
		out->first_unseen = m.first_unseen;
		out->size = m.size;
	}
	db_read_end(&st->rd, txn);
	return rc;
}

int
store_mailbox_status(struct store *st, int64_t user_id, const char *name,
    struct store_mailbox_status *out, struct err *err)
{
	return status_get(st, user_id, name, true, out, err);
}

int
store_mailbox_peek(struct store *st, int64_t user_id, const char *name,
    struct store_mailbox_status *out, struct err *err)
{
	return status_get(st, user_id, name, false, out, err);
}

/* --- mutations --------------------------------------------------------- */

int
store_mailbox_create(struct store *st, int64_t user_id, const char *name,
    const char *special_use, struct err *err)
{
	char n[STORE_MAILBOX_NAME_MAX + 1];
	int rc;

	if ((rc = norm_name(name, n, err)) != 0)
		return rc;
	if (special_use != NULL &&
	    (special_use = special_use_canon(special_use)) == NULL)
		return err_set(err, ERR_INPUT, "bad special use");
	if (strcmp(n, "INBOX") == 0)
		return err_set(err, ERR_EXISTS, "INBOX exists");
	if ((rc = begin(st, err)) != 0)
		return rc;
	rc = create_parents(st, user_id, n, err);
	if (rc == 0)
		rc = insert_mailbox(st, user_id, n, special_use, 1, 1, NULL,
		    err);
	return finish(st, rc, err);
}

int
store_mailbox_delete(struct store *st, int64_t user_id, const char *name,
    struct err *err)
{
	char n[STORE_MAILBOX_NAME_MAX + 1];
	sqlite3_stmt *s;
	int64_t id = 0, kids = 0;
	int rc;

	if ((rc = norm_name(name, n, err)) != 0)
		return rc;
	if (strcmp(n, "INBOX") == 0)
		return err_set(err, ERR_INPUT, "INBOX cannot be deleted");
	if ((rc = begin(st, err)) != 0)
		return rc;
	if ((rc = mailbox_id(st, user_id, n, &id, err)) != 0)
		return finish(st, rc, err);
	s = q(st,
	    "SELECT count(*) FROM mailboxes WHERE user = ?1"
	    " AND name >= ?2 || '/' AND name < ?2 || '0'",
	    err);
	if (s == NULL)
		return finish(st, err->code, err);
	(void)sqlite3_bind_int64(s, 1, user_id);
	(void)sqlite3_bind_text(s, 2, n, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		kids = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (kids > 0)
		return finish(st,
		    err_set(err, ERR_EXISTS, "mailbox %s has children", n),
		    err);
	/* Entries cascade; messages left without entries go (trigger
	 * entries_gone), their index rows and blob references with them. */
	s = q(st, "DELETE FROM mailboxes WHERE id = ?1", err);
	if (s != NULL)
		(void)sqlite3_bind_int64(s, 1, id);
	rc = finish(st, q_run(st, s, err), err);
	if (rc == 0)
		watch_notify(st, user_id, id);
	return rc;
}

/* Renames INBOX: its entries move to a new mailbox `to` (same UIDs,
 * fresh UIDVALIDITY) and are recorded as expunged from INBOX. */
static int
rename_inbox(struct store *st, int64_t user_id, const char *to,
    int64_t *inbox_out, int64_t *new_out, struct err *err)
{
	sqlite3_stmt *s;
	int64_t inbox, uidnext = 1, modseq = 1;
	int rc;

	if ((rc = mailbox_id(st, user_id, "INBOX", &inbox, err)) != 0)
		return rc;
	s = q(st,
	    "UPDATE mailboxes SET highestmodseq = highestmodseq + 1"
	    " WHERE id = ?1 RETURNING uidnext, highestmodseq",
	    err);
	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, inbox);
	if (sqlite3_step(s) == SQLITE_ROW) {
		uidnext = sqlite3_column_int64(s, 0);
		modseq = sqlite3_column_int64(s, 1);
	}
	if ((rc = q_run(st, s, err)) != 0)
		return rc;
	if ((rc = create_parents(st, user_id, to, err)) != 0 ||
	    (rc = insert_mailbox(st, user_id, to, NULL, (uint32_t)uidnext,
	         (uint64_t)modseq, new_out, err)) != 0)
		return rc;
	s = q(st,
	    "INSERT INTO expunged(mailbox, uid, modseq)"
	    " SELECT ?1, uid, ?2 FROM entries WHERE mailbox = ?1",
	    err);
	if (s != NULL) {
		(void)sqlite3_bind_int64(s, 1, inbox);
		(void)sqlite3_bind_int64(s, 2, modseq);
	}
	if ((rc = q_run(st, s, err)) != 0)
		return rc;
	s = q(st, "UPDATE entries SET mailbox = ?2 WHERE mailbox = ?1", err);
	if (s != NULL) {
		(void)sqlite3_bind_int64(s, 1, inbox);
		(void)sqlite3_bind_int64(s, 2, *new_out);
	}
	*inbox_out = inbox;
	return q_run(st, s, err);
}

int
store_mailbox_rename(struct store *st, int64_t user_id, const char *from,
    const char *to, struct err *err)
{
	char f[STORE_MAILBOX_NAME_MAX + 1], t[STORE_MAILBOX_NAME_MAX + 1];
	int64_t id = 0, other = 0;
	size_t fl;
	static const char *const sql[] = {
		"UPDATE mailboxes SET name = ?3 || substr(name, ?4 + 1)"
		" WHERE user = ?1 AND (name = ?2 OR (name >= ?2 || '/'"
		" AND name < ?2 || '0'))",
		"UPDATE OR REPLACE subscriptions SET name = ?3 ||"
		" substr(name, ?4 + 1) WHERE user = ?1 AND (name = ?2 OR"
		" (name >= ?2 || '/' AND name < ?2 || '0'))",
	};
	sqlite3_stmt *s;
	int rc;

	if ((rc = norm_name(from, f, err)) != 0 ||
	    (rc = norm_name(to, t, err)) != 0)
		return rc;
	fl = strlen(f);
	if (strcmp(t, "INBOX") == 0 || strcmp(f, t) == 0)
		return err_set(err, ERR_EXISTS, "mailbox %s exists", t);
	/* INBOX's children stay where they are when it is renamed, so
	 * "INBOX" to "INBOX/old" is fine. */
	if (strcmp(f, "INBOX") != 0 && strncmp(t, f, fl) == 0 && t[fl] == '/')
		return err_set(err, ERR_INPUT, "cannot rename %s into itself",
		    f);
	if ((rc = begin(st, err)) != 0)
		return rc;
	rc = mailbox_id(st, user_id, t, &other, err);
	if (rc == 0)
		rc = err_set(err, ERR_EXISTS, "mailbox %s exists", t);
	else if (rc == ERR_NOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = mailbox_id(st, user_id, f, &id, err);
	if (rc != 0)
		return finish(st, rc, err);
	if (strcmp(f, "INBOX") == 0) {
		rc = finish(st, rename_inbox(st, user_id, t, &id, &other, err),
		    err);
		if (rc == 0) {
			watch_notify(st, user_id, id);
			watch_notify(st, user_id, other);
		}
		return rc;
	}
	if ((rc = create_parents(st, user_id, t, err)) != 0)
		return finish(st, rc, err);
	/* The mailbox and its children, and their subscriptions (as
	 * Dovecot does), in one statement each. UIDVALIDITY stays: no
	 * mailbox ever had it under the new name (mailbox.c hands each
	 * value out once). */
	for (size_t i = 0; rc == 0 && i < 2; i++) {
		s = q(st, sql[i], err);
		if (s != NULL) {
			(void)sqlite3_bind_int64(s, 1, user_id);
			(void)sqlite3_bind_text(s, 2, f, -1, SQLITE_STATIC);
			(void)sqlite3_bind_text(s, 3, t, -1, SQLITE_STATIC);
			/* substr counts characters, not bytes. */
			(void)sqlite3_bind_int64(s, 4, (int64_t)utf8_chars(f));
		}
		rc = q_run(st, s, err);
	}
	if (rc == ERR_EXISTS)
		err_set(err, ERR_EXISTS, "a child of %s exists under %s", f, t);
	rc = finish(st, rc, err);
	if (rc == 0)
		watch_notify(st, user_id, id);
	return rc;
}

int
store_mailbox_subscribe(struct store *st, int64_t user_id, const char *name,
    bool on, struct err *err)
{
	char n[STORE_MAILBOX_NAME_MAX + 1];
	sqlite3_stmt *s;
	int rc;

	if ((rc = norm_name(name, n, err)) != 0)
		return rc;
	s = q(st,
	    on ? "INSERT OR IGNORE INTO subscriptions(user, name)"
	         " VALUES(?1, ?2)"
	       : "DELETE FROM subscriptions WHERE user = ?1 AND name = ?2",
	    err);
	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, user_id);
	(void)sqlite3_bind_text(s, 2, n, -1, SQLITE_STATIC);
	return q_run(st, s, err);
}

int
store_subscription_list(struct store *st, int64_t user_id,
    void (*cb)(void *ctx, const char *name), void *ctx, struct err *err)
{
	sqlite3_stmt *s = q(st,
	    "SELECT s.name FROM subscriptions s WHERE s.user = ?1"
	    " AND NOT EXISTS (SELECT 1 FROM mailboxes m WHERE m.user = s.user"
	    " AND m.name = s.name) ORDER BY s.name",
	    err);
	int rc;

	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, user_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cb(ctx, (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0
	                         : db_fail(&st->rd, rc, "subscriptions", err);
}

/* --- entries ----------------------------------------------------------- */

int
store_entry_range(struct store *st, int64_t mailbox_id, uint32_t uid_lo,
    uint32_t uid_hi, uint64_t modseq_gt,
    void (*cb)(void *ctx, const struct store_entry *e), void *ctx,
    struct err *err)
{
	struct store_entry e;
	sqlite3_stmt *s;
	bool own;
	int rc;

	/* The callback may read the store, even this range again. */
	if ((s = db_stmt_nested(&st->rd, SQL_ENTRY_RANGE, &own, err)) == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, mailbox_id);
	(void)sqlite3_bind_int64(s, 2, uid_lo);
	(void)sqlite3_bind_int64(s, 3, uid_hi);
	(void)sqlite3_bind_int64(s, 4, (int64_t)modseq_gt);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		e.uid = (uint32_t)sqlite3_column_int64(s, 0);
		e.message_id = sqlite3_column_int64(s, 1);
		e.size = (uint64_t)sqlite3_column_int64(s, 2);
		e.internaldate = sqlite3_column_int64(s, 3);
		e.modseq = (uint64_t)sqlite3_column_int64(s, 4);
		e.flags = (const char *)sqlite3_column_text(s, 5);
		e.from = (const char *)sqlite3_column_text(s, 6);
		e.subject = (const char *)sqlite3_column_text(s, 7);
		cb(ctx, &e);
	}
	db_stmt_done(s, own);
	return rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "entries", err);
}

int
store_expunged_since(struct store *st, int64_t mailbox_id, uint64_t modseq_gt,
    void (*cb)(void *ctx, uint32_t uid), void *ctx, bool *complete_out,
    struct err *err)
{
	sqlite3_stmt *s;
	int64_t floor = 0;
	int rc;

	s = q(st, "SELECT expunged_floor FROM mailboxes WHERE id = ?1", err);
	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, mailbox_id);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		floor = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(&st->rd, rc, "expunged", err);
	/* A deleted mailbox has no history left: the caller compares UID
	 * lists (all gone) instead. */
	*complete_out = rc == SQLITE_ROW && (int64_t)modseq_gt >= floor;
	s = q(st,
	    "SELECT DISTINCT uid FROM expunged WHERE mailbox = ?1"
	    " AND modseq > ?2 ORDER BY uid",
	    err);
	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, mailbox_id);
	(void)sqlite3_bind_int64(s, 2, (int64_t)modseq_gt);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cb(ctx, (uint32_t)sqlite3_column_int64(s, 0));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "expunged", err);
}

int
store_user_usage(struct store *st, int64_t user_id, uint64_t *bytes_out,
    uint64_t *messages_out, struct err *err)
{
	sqlite3_stmt *s = q(st,
	    "SELECT coalesce(sum(g.size), 0), count(*) FROM mailboxes mb"
	    " JOIN entries e ON e.mailbox = mb.id"
	    " JOIN messages g ON g.id = e.message WHERE mb.user = ?1",
	    err);
	int rc;

	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, user_id);
	rc = sqlite3_step(s);
	*bytes_out =
	    rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	*messages_out =
	    rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 1) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : db_fail(&st->rd, rc, "usage", err);
}

/* --- full-text search -------------------------------------------------- */

int
store_fts_search(struct store *st, int64_t mailbox_id,
    enum store_fts_field field, const char *needle,
    void (*cb)(void *ctx, uint32_t uid), void *ctx, struct err *err)
{
	static const char *const cols[] = { "hfrom", "hto", "hcc", "hbcc",
		"subject", "body", "headers" };
	struct buf sql, pat, like, cond_fts, cond_q;
	sqlite3_stmt *s = NULL;
	const char *p;
	bool phrase;
	int rc;

	if (needle == NULL || (unsigned)field > STORE_FTS_TEXT)
		return err_set(err, ERR_INPUT, "bad search");
	buf_init(&sql, 4096);
	buf_init(&pat, 4 * 65536);
	buf_init(&like, 4 * 65536);
	buf_init(&cond_fts, 512);
	buf_init(&cond_q, 512);
	/* LIKE with '\' escaping its wildcards: short needles, and the
	 * messages still queued for the index (fts_index.c). */
	rc = buf_append(&like, "%", 1);
	for (p = needle; rc == 0 && *p != '\0'; p++) {
		if (*p == '%' || *p == '_' || *p == '\\')
			rc = buf_append(&like, "\\", 1);
		if (rc == 0)
			rc = buf_append(&like, p, 1);
	}
	if (rc == 0)
		rc = buf_append(&like, "%", 1);
	phrase = utf8_chars(needle) >= FTS_TRIGRAM;
	if (rc == 0 && phrase && !st->fold_ready) {
		if ((rc = fts_fold_register(st->rd.db, err)) != 0)
			goto out;
		st->fold_ready = true;
	}
	for (int k = 0; rc == 0 && k < 2; k++) {
		struct buf *c = k == 0 ? &cond_fts : &cond_q;
		const char *t = k == 0 ? "fts" : "q";

		/* Queued rows, needles the index can take: a substring of
		 * the text folded as the index folds it. */
		if (k == 1 && phrase && field == STORE_FTS_TEXT)
			rc = buf_printf(c,
			    "(instr(despatch_fold(q.headers),"
			    " despatch_fold(?4)) > 0 OR"
			    " instr(despatch_fold(q.body), despatch_fold(?4))"
			    " > 0)");
		else if (k == 1 && phrase)
			rc = buf_printf(c,
			    "instr(despatch_fold(q.%s), despatch_fold(?4))"
			    " > 0",
			    cols[field]);
		else if (field == STORE_FTS_TEXT)
			rc = buf_printf(c,
			    "(%s.headers LIKE ?3 ESCAPE '\\'"
			    " OR %s.body LIKE ?3 ESCAPE '\\')",
			    t, t);
		else
			rc = buf_printf(c, "%s.%s LIKE ?3 ESCAPE '\\'", t,
			    cols[field]);
	}
	if (rc == 0 && phrase) {
		/* A trigram phrase query is a substring match; the phrase
		 * is an FTS5 string with its quotes doubled. */
		if (field == STORE_FTS_TEXT)
			rc = buf_printf(&pat, "{headers body} : \"");
		else
			rc = buf_printf(&pat, "%s : \"", cols[field]);
		for (p = needle; rc == 0 && *p != '\0'; p++)
			rc = *p == '"' ? buf_append(&pat, "\"\"", 2)
			               : buf_append(&pat, p, 1);
		if (rc == 0)
			rc = buf_append(&pat, "\"", 1);
		if (rc == 0)
			rc = buf_printf(&sql,
			    "SELECT e.uid FROM entries e WHERE e.mailbox = ?1"
			    " AND e.message IN (SELECT rowid FROM fts"
			    " WHERE fts MATCH ?2)");
	} else if (rc == 0) {
		rc = buf_printf(&sql,
		    "SELECT e.uid FROM entries e JOIN fts"
		    " ON fts.rowid = e.message WHERE e.mailbox = ?1"
		    " AND %s",
		    cond_fts.p);
	}
	/* Messages not indexed yet are matched in their queue rows by the
	 * same rule: a substring of the text folded as the index folds it,
	 * or for short needles LIKE (ASCII folding), as on indexed rows. A
	 * message is in exactly one of the two in any snapshot (a slice
	 * moves rows in one transaction); UNION drops duplicate UIDs all
	 * the same and sorts. */
	if (rc == 0)
		rc = buf_printf(&sql,
		    " UNION SELECT e.uid FROM fts_queue q JOIN entries e"
		    " ON e.message = q.message WHERE e.mailbox = ?1 AND %s"
		    " ORDER BY 1",
		    cond_q.p);
	if (rc != 0) {
		rc = err_set(err, ERR_INPUT, "search string too long");
		goto out;
	}
	if ((s = q(st, sql.p, err)) == NULL) {
		rc = err->code;
		goto out;
	}
	(void)sqlite3_bind_int64(s, 1, mailbox_id);
	if (phrase) {
		(void)sqlite3_bind_text(s, 2, pat.p, (int)pat.len,
		    SQLITE_STATIC);
		(void)sqlite3_bind_text(s, 4, needle, -1, SQLITE_STATIC);
	}
	(void)sqlite3_bind_text(s, 3, like.p, (int)like.len, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cb(ctx, (uint32_t)sqlite3_column_int64(s, 0));
	rc = rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "search", err);
out:
	sqlite3_finalize(s);
	buf_clear(&sql);
	buf_clear(&pat);
	buf_clear(&like);
	buf_clear(&cond_fts);
	buf_clear(&cond_q);
	return rc;
}
