/* SPDX-License-Identifier: MIT */
/* Domains, users, aliases, recipient resolution and the mailbox/entry
 * listings of the embedded store. Each admin call is one transaction on
 * the owner connection (BEGIN IMMEDIATE, so that a concurrent `serve`
 * commit waits on busy_timeout instead of failing). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/str.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

#define ADDR_MAX   320 /* 64 local + '@' + 255 domain */
#define DOMAIN_MAX 253

/* The folders every new user gets, with their RFC 6154 special use. */
static const struct {
	const char *name, *special_use;
} default_mailboxes[] = {
	{ "INBOX", NULL },
	{ "Sent", "\\Sent" },
	{ "Drafts", "\\Drafts" },
	{ "Trash", "\\Trash" },
	{ "Junk", "\\Junk" },
	{ "Archive", "\\Archive" },
};

static bool
domain_ok(const char *d)
{
	size_t len = strlen(d), label = 0, i;

	if (len == 0 || len > DOMAIN_MAX || d[0] == '.' || d[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = d[i];

		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

/* Lowercases and checks a domain name into out. */
static int
norm_domain(const char *in, char out[DOMAIN_MAX + 1], struct err *err)
{
	if (in == NULL || !str_copy(out, DOMAIN_MAX + 1, in))
		return err_set(err, ERR_INPUT, "domain name too long");
	str_lower(out);
	if (!domain_ok(out))
		return err_set(err, ERR_INPUT, "bad domain name: %s", out);
	return 0;
}

/* Lowercases and checks local@domain into out; *domain_out points into
 * out. Quoted local parts are not accepted for local accounts. */
static int
norm_address(const char *in, char out[ADDR_MAX + 1], const char **domain_out,
    struct err *err)
{
	char *at;
	size_t i, local;

	if (in == NULL || !str_copy(out, ADDR_MAX + 1, in))
		return err_set(err, ERR_INPUT, "address too long");
	str_lower(out);
	at = strrchr(out, '@');
	if (at == NULL)
		return err_set(err, ERR_INPUT, "address without @: %s", out);
	local = (size_t)(at - out);
	if (local == 0 || local > 64 || !domain_ok(at + 1))
		return err_set(err, ERR_INPUT, "bad address: %s", out);
	for (i = 0; i < local; i++) {
		unsigned char c = (unsigned char)out[i];

		/* RFC 5322 atext and dots; 8-bit for SMTPUTF8 local parts. */
		if (c <= 0x20 || c == 0x7f || strchr("\"\\(),:;<>@[]", c))
			return err_set(err, ERR_INPUT, "bad address: %s", out);
	}
	*domain_out = at + 1;
	return 0;
}

/* Prepares sql and binds the C strings in args (NULL-terminated). */
static sqlite3_stmt *
prep(struct store *st, const char *sql, struct err *err,
    const char *const *args)
{
	sqlite3_stmt *s;
	int rc, i;

	rc = sqlite3_prepare_v2(st->rd.db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		(void)db_fail(&st->rd, rc, "prepare", err);
		return NULL;
	}
	for (i = 0; args != NULL && args[i] != NULL; i++)
		(void)sqlite3_bind_text(s, i + 1, args[i], -1, SQLITE_STATIC);
	return s;
}

/* Runs a statement to completion; ERR_EXISTS on a uniqueness clash. */
static int
run(struct store *st, sqlite3_stmt *s, struct err *err)
{
	int rc;

	if (s == NULL)
		return err->code;
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_CONSTRAINT)
		return err_set(err, ERR_EXISTS, "already exists");
	return db_fail(&st->rd, rc, "step", err);
}

/* One int64 column of the first row; ERR_NOTFOUND without a row. */
static int
one_int(struct store *st, sqlite3_stmt *s, int64_t *out, struct err *err)
{
	int rc;

	if (s == NULL)
		return err->code;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return ERR_NOTFOUND;
	return db_fail(&st->rd, rc, "step", err);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

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

static int
domain_id(struct store *st, const char *domain, int64_t *id, struct err *err)
{
	int rc = one_int(st,
	    prep(st, "SELECT id FROM domains WHERE name = ?1", err,
	        ARGS(domain)),
	    id, err);

	if (rc == ERR_NOTFOUND)
		return err_set(err, ERR_NOTFOUND, "no domain %s", domain);
	return rc;
}

static int
user_id(struct store *st, const char *address, int64_t *id, struct err *err)
{
	int rc = one_int(st,
	    prep(st, "SELECT id FROM users WHERE address = ?1", err,
	        ARGS(address)),
	    id, err);

	if (rc == ERR_NOTFOUND)
		return err_set(err, ERR_NOTFOUND, "no user %s", address);
	return rc;
}

int
store_domain_add(struct store *st, const char *domain, struct err *err)
{
	char d[DOMAIN_MAX + 1];
	int rc;

	if ((rc = norm_domain(domain, d, err)) != 0)
		return rc;
	rc = run(st,
	    prep(st, "INSERT INTO domains(name) VALUES(?1)", err, ARGS(d)),
	    err);
	if (rc == ERR_EXISTS)
		return err_set(err, ERR_EXISTS, "domain %s exists", d);
	return rc;
}

int
store_domain_remove(struct store *st, const char *domain, struct err *err)
{
	char d[DOMAIN_MAX + 1], idbuf[32];
	int64_t id, n = 0;
	int rc;

	if ((rc = norm_domain(domain, d, err)) != 0)
		return rc;
	if ((rc = begin(st, err)) != 0)
		return rc;
	if ((rc = domain_id(st, d, &id, err)) != 0)
		return finish(st, rc, err);
	(void)str_fmt(idbuf, sizeof(idbuf), "%lld", (long long)id);
	rc = one_int(st,
	    prep(st,
	        "SELECT (SELECT count(*) FROM users WHERE domain = ?1) +"
	        " (SELECT count(*) FROM aliases WHERE domain = ?1)",
	        err, ARGS(idbuf)),
	    &n, err);
	if (rc == 0 && n > 0)
		rc = err_set(err, ERR_EXISTS,
		    "domain %s still has %lld users or aliases", d,
		    (long long)n);
	if (rc == 0)
		rc = run(st,
		    prep(st, "DELETE FROM domains WHERE id = ?1", err,
		        ARGS(idbuf)),
		    err);
	return finish(st, rc, err);
}

int
store_domain_list(struct store *st, void (*cb)(void *ctx, const char *domain),
    void *ctx, struct err *err)
{
	sqlite3_stmt *s =
	    prep(st, "SELECT name FROM domains ORDER BY name", err, NULL);
	int rc;

	if (s == NULL)
		return err->code;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cb(ctx, (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "domains", err);
}

int
store_user_add(struct store *st, const char *address, const char *pwhash,
    int64_t *id_out, struct err *err)
{
	char a[ADDR_MAX + 1], buf[32], uv[32];
	const char *dom;
	int64_t did, uid, n = 0;
	size_t i;
	int rc;

	if ((rc = norm_address(address, a, &dom, err)) != 0)
		return rc;
	if (pwhash == NULL)
		return err_set(err, ERR_INPUT, "no password hash");
	if ((rc = begin(st, err)) != 0)
		return rc;
	if ((rc = domain_id(st, dom, &did, err)) != 0)
		return finish(st, rc, err);
	rc = one_int(st,
	    prep(st, "SELECT count(*) FROM aliases WHERE address = ?1", err,
	        ARGS(a)),
	    &n, err);
	if (rc == 0 && n > 0)
		rc = err_set(err, ERR_EXISTS, "%s is an alias", a);
	(void)str_fmt(buf, sizeof(buf), "%lld", (long long)did);
	if (rc == 0)
		rc = run(st,
		    prep(st,
		        "INSERT INTO users(domain, address, pwhash)"
		        " VALUES(?1, ?2, ?3)",
		        err, ARGS(buf, a, pwhash)),
		    err);
	if (rc == ERR_EXISTS && n == 0)
		rc = err_set(err, ERR_EXISTS, "user %s exists", a);
	if (rc != 0)
		return finish(st, rc, err);
	uid = sqlite3_last_insert_rowid(st->rd.db);
	(void)str_fmt(buf, sizeof(buf), "%lld", (long long)uid);
	/* UIDVALIDITY from the clock, but never one handed out before
	 * (mailbox.c), so that a mailbox deleted and created again gets a
	 * different one (RFC 9051 §2.3.1.1). The defaults start
	 * subscribed. */
	for (i = 0; rc == 0 &&
	     i < sizeof(default_mailboxes) / sizeof(default_mailboxes[0]);
	     i++) {
		uint32_t v = 0;
		sqlite3_stmt *s;

		if ((rc = mailbox_next_uidvalidity(&st->rd, &v, err)) != 0)
			break;
		(void)str_fmt(uv, sizeof(uv), "%lu", (unsigned long)v);
		s = prep(st,
		    "INSERT INTO mailboxes(user, name, special_use,"
		    " uidvalidity) VALUES(?1, ?2, ?3, ?4)",
		    err,
		    ARGS(buf, default_mailboxes[i].name,
		        default_mailboxes[i].special_use));
		if (s != NULL)
			(void)sqlite3_bind_text(s, 4, uv, -1, SQLITE_STATIC);
		if ((rc = run(st, s, err)) != 0)
			break;
		rc = run(st,
		    prep(st,
		        "INSERT INTO subscriptions(user, name) VALUES(?1, ?2)",
		        err, ARGS(buf, default_mailboxes[i].name)),
		    err);
	}
	if ((rc = finish(st, rc, err)) == 0 && id_out != NULL)
		*id_out = uid;
	return rc;
}

int
store_user_passwd(struct store *st, const char *address, const char *pwhash,
    struct err *err)
{
	char a[ADDR_MAX + 1];
	const char *dom;
	int rc;

	if ((rc = norm_address(address, a, &dom, err)) != 0)
		return rc;
	if (pwhash == NULL)
		return err_set(err, ERR_INPUT, "no password hash");
	rc = run(st,
	    prep(st, "UPDATE users SET pwhash = ?2 WHERE address = ?1", err,
	        ARGS(a, pwhash)),
	    err);
	if (rc == 0 && sqlite3_changes(st->rd.db) == 0)
		return err_set(err, ERR_NOTFOUND, "no user %s", a);
	return rc;
}

int
store_user_remove(struct store *st, const char *address, struct err *err)
{
	char a[ADDR_MAX + 1], buf[32];
	const char *dom;
	int64_t id;
	int rc;

	if ((rc = norm_address(address, a, &dom, err)) != 0)
		return rc;
	if ((rc = begin(st, err)) != 0)
		return rc;
	if ((rc = user_id(st, a, &id, err)) != 0)
		return finish(st, rc, err);
	(void)str_fmt(buf, sizeof(buf), "%lld", (long long)id);
	/* Cascades: mailboxes, their entries, messages left without
	 * entries (trigger), their part references, alias targets. The
	 * refcount triggers start the blobs' GC grace. */
	rc = run(st,
	    prep(st, "DELETE FROM users WHERE id = ?1", err, ARGS(buf)), err);
	return finish(st, rc, err);
}

int
store_user_list(struct store *st, const char *domain,
    void (*cb)(void *ctx, const struct store_user *u), void *ctx,
    struct err *err)
{
	char d[DOMAIN_MAX + 1];
	struct store_user u;
	sqlite3_stmt *s;
	int64_t did;
	int rc;

	if (domain != NULL) {
		if ((rc = norm_domain(domain, d, err)) != 0 ||
		    (rc = domain_id(st, d, &did, err)) != 0)
			return rc;
		s = prep(st,
		    "SELECT u.id, u.address, u.pwhash FROM users u"
		    " JOIN domains d ON d.id = u.domain WHERE d.name = ?1"
		    " ORDER BY u.address",
		    err, ARGS(d));
	} else {
		s = prep(st,
		    "SELECT id, address, pwhash FROM users ORDER BY address",
		    err, NULL);
	}
	if (s == NULL)
		return err->code;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		u.id = sqlite3_column_int64(s, 0);
		u.address = (const char *)sqlite3_column_text(s, 1);
		u.pwhash = (const char *)sqlite3_column_text(s, 2);
		cb(ctx, &u);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "users", err);
}

int
store_user_get(struct store *st, const char *address, int64_t *id_out,
    char *pwhash_out, size_t pwhash_size, struct err *err)
{
	char a[ADDR_MAX + 1];
	const char *dom;
	sqlite3_stmt *s;
	int rc;
	bool fits = true;

	if ((rc = norm_address(address, a, &dom, err)) != 0)
		return rc;
	s = prep(st, "SELECT id, pwhash FROM users WHERE address = ?1", err,
	    ARGS(a));
	if (s == NULL)
		return err->code;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (id_out != NULL)
			*id_out = sqlite3_column_int64(s, 0);
		if (pwhash_out != NULL)
			fits = str_copy(pwhash_out, pwhash_size,
			    (const char *)sqlite3_column_text(s, 1));
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return err_set(err, ERR_NOTFOUND, "no user %s", a);
	if (rc != SQLITE_ROW)
		return db_fail(&st->rd, rc, "user", err);
	if (!fits)
		return err_set(err, ERR_INTERNAL, "password hash too long");
	return 0;
}

int
store_alias_add(struct store *st, const char *alias, const char *target,
    struct err *err)
{
	char a[ADDR_MAX + 1], t[ADDR_MAX + 1], dbuf[32], tbuf[32];
	const char *adom, *tdom;
	int64_t did, tid, n = 0;
	int rc;

	if ((rc = norm_address(alias, a, &adom, err)) != 0 ||
	    (rc = norm_address(target, t, &tdom, err)) != 0)
		return rc;
	if ((rc = begin(st, err)) != 0)
		return rc;
	if ((rc = domain_id(st, adom, &did, err)) != 0)
		return finish(st, rc, err);
	rc = user_id(st, a, &tid, err);
	if (rc == 0)
		return finish(st, err_set(err, ERR_EXISTS, "%s is a user", a),
		    err);
	if (rc != ERR_NOTFOUND)
		return finish(st, rc, err);
	if ((rc = user_id(st, t, &tid, err)) != 0)
		return finish(st, rc, err);
	rc = one_int(st,
	    prep(st, "SELECT count(*) FROM aliases WHERE address = ?1", err,
	        ARGS(a)),
	    &n, err);
	if (rc == 0 && n >= STORE_TARGETS_MAX)
		rc = err_set(err, ERR_LIMIT, "alias %s has %d targets already",
		    a, STORE_TARGETS_MAX);
	(void)str_fmt(dbuf, sizeof(dbuf), "%lld", (long long)did);
	(void)str_fmt(tbuf, sizeof(tbuf), "%lld", (long long)tid);
	if (rc == 0)
		rc = run(st,
		    prep(st,
		        "INSERT INTO aliases(address, domain, target)"
		        " VALUES(?1, ?2, ?3)",
		        err, ARGS(a, dbuf, tbuf)),
		    err);
	if (rc == ERR_EXISTS)
		err_set(err, ERR_EXISTS, "alias %s -> %s exists", a, t);
	return finish(st, rc, err);
}

int
store_alias_remove(struct store *st, const char *alias, const char *target,
    struct err *err)
{
	char a[ADDR_MAX + 1], t[ADDR_MAX + 1];
	const char *dom;
	int rc;

	if ((rc = norm_address(alias, a, &dom, err)) != 0)
		return rc;
	if (target != NULL) {
		if ((rc = norm_address(target, t, &dom, err)) != 0)
			return rc;
		rc = run(st,
		    prep(st,
		        "DELETE FROM aliases WHERE address = ?1 AND target ="
		        " (SELECT id FROM users WHERE address = ?2)",
		        err, ARGS(a, t)),
		    err);
	} else {
		rc = run(st,
		    prep(st, "DELETE FROM aliases WHERE address = ?1", err,
		        ARGS(a)),
		    err);
	}
	if (rc == 0 && sqlite3_changes(st->rd.db) == 0)
		return err_set(err, ERR_NOTFOUND, "no alias %s%s%s", a,
		    target != NULL ? " -> " : "", target != NULL ? t : "");
	return rc;
}

int
store_alias_list(struct store *st,
    void (*cb)(void *ctx, const char *alias, const char *target), void *ctx,
    struct err *err)
{
	sqlite3_stmt *s = prep(st,
	    "SELECT a.address, u.address FROM aliases a"
	    " JOIN users u ON u.id = a.target ORDER BY 1, 2",
	    err, NULL);
	int rc;

	if (s == NULL)
		return err->code;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cb(ctx, (const char *)sqlite3_column_text(s, 0),
		    (const char *)sqlite3_column_text(s, 1));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "aliases", err);
}

int
store_addr_resolve(struct store *st, struct slice address,
    enum store_addr_status *status_out, int64_t *user_ids_out, size_t max_ids,
    size_t *n_out, struct err *err)
{
	char a[ADDR_MAX + 1], d[DOMAIN_MAX + 2];
	size_t at = address.len, i;
	sqlite3_stmt *s;
	int64_t id;
	int rc;

	*n_out = 0;
	*status_out = STORE_ADDR_FOREIGN;
	for (i = address.len; i > 0; i--)
		if (address.p[i - 1] == '@') {
			at = i - 1;
			break;
		}
	/* No @ (a bare "postmaster") or a domain we could never have
	 * stored: not ours. */
	if (at == address.len ||
	    !str_from_slice(d, sizeof(d), slice_skip(address, at + 1)))
		return 0;
	str_lower(d);
	rc = domain_id(st, d, &id, err);
	if (rc == ERR_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	*status_out = STORE_ADDR_UNKNOWN_USER;
	if (!str_from_slice(a, sizeof(a), address) || memchr(a, '\0', at))
		return 0;
	str_lower(a);
	rc = user_id(st, a, &id, err);
	if (rc == 0) {
		*status_out = STORE_ADDR_LOCAL;
		if (max_ids > 0) {
			user_ids_out[0] = id;
			*n_out = 1;
		}
		return 0;
	}
	if (rc != ERR_NOTFOUND)
		return rc;
	s = prep(st,
	    "SELECT target FROM aliases WHERE address = ?1 ORDER BY target",
	    err, ARGS(a));
	if (s == NULL)
		return err->code;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*status_out = STORE_ADDR_LOCAL;
		if (*n_out < max_ids)
			user_ids_out[(*n_out)++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		*status_out = STORE_ADDR_FOREIGN;
		*n_out = 0;
		return db_fail(&st->rd, rc, "aliases", err);
	}
	return 0;
}

int
store_addr_owned(struct store *st, int64_t user_id, struct slice address,
    bool *owned_out, struct err *err)
{
	char a[ADDR_MAX + 1], buf[32];
	sqlite3_stmt *s;
	int64_t n = 0;
	int rc;

	*owned_out = false;
	/* Longer than any address we store, or with a NUL: owned by nobody. */
	if (!str_from_slice(a, sizeof(a), address) ||
	    memchr(a, '\0', address.len) != NULL || address.len == 0)
		return 0;
	str_lower(a);
	(void)str_fmt(buf, sizeof(buf), "%lld", (long long)user_id);
	s = prep(st,
	    "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1"
	    " AND address = ?2) OR EXISTS (SELECT 1 FROM aliases"
	    " WHERE address = ?2 AND target = ?1)",
	    err, ARGS(buf, a));
	if ((rc = one_int(st, s, &n, err)) != 0)
		return rc == ERR_NOTFOUND ? 0 : rc;
	*owned_out = n != 0;
	return 0;
}

int
store_entry_list(struct store *st, int64_t user, const char *mailbox,
    void (*cb)(void *ctx, const struct store_entry *e), void *ctx,
    struct err *err)
{
	struct store_entry e;
	const char *name;
	sqlite3_stmt *s;
	int64_t mbox = 0;
	int rc;

	name = strcasecmp(mailbox, "INBOX") == 0 ? "INBOX" : mailbox;
	s = prep(st, "SELECT id FROM mailboxes WHERE user = ?1 AND name = ?2",
	    err, NULL);
	if (s != NULL) {
		(void)sqlite3_bind_int64(s, 1, user);
		(void)sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	}
	rc = one_int(st, s, &mbox, err);
	if (rc == ERR_NOTFOUND)
		return err_set(err, ERR_NOTFOUND, "no mailbox %s", name);
	if (rc != 0)
		return rc;
	s = prep(st,
	    "SELECT e.uid, e.message, m.size, m.internaldate, e.modseq,"
	    " e.flags, m.from_hdr, m.subject FROM entries e"
	    " JOIN messages m ON m.id = e.message WHERE e.mailbox = ?1"
	    " ORDER BY e.uid",
	    err, NULL);
	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_int64(s, 1, mbox);
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
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(&st->rd, rc, "entries", err);
}
