/* SPDX-License-Identifier: MIT */
/* despatch_fold(text): text case-folded exactly as the full-text index
 * folds it, so that messages still queued for the index (fts_index.c)
 * match a search by the index's rule, not SQLite LIKE's ASCII-only one. */
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

/* The index's own tokenizer (FTS5 trigram, case_sensitive 0), used for
 * its folding: it emits, for each character, that character and the
 * next two, folded (sqlite3Fts5UnicodeFold, no diacritic removal). The
 * first character of every token, then the rest of the last token, is
 * the folded text. Like the index, it stops at a NUL character. */
struct fold {
	fts5_tokenizer cls;
	Fts5Tokenizer *tok;
};

struct fold_out {
	struct buf b;
	char last[16]; /* the latest token: 3 characters, <= 12 bytes */
	int n_last, first_len;
};

static int
utf8_len(unsigned char c)
{
	return c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

static int
on_token(void *ctx, int flags, const char *p, int n, int start, int end)
{
	struct fold_out *o = ctx;
	int k = utf8_len((unsigned char)p[0]);

	(void)flags;
	(void)start;
	(void)end;
	if (k > n)
		k = n;
	if (n > (int)sizeof(o->last))
		n = (int)sizeof(o->last);
	if (buf_append(&o->b, p, (size_t)k) != 0)
		return SQLITE_TOOBIG;
	memcpy(o->last, p, (size_t)n);
	o->n_last = n;
	o->first_len = k;
	return SQLITE_OK;
}

static void
fold_fn(sqlite3_context *c, int argc, sqlite3_value **v)
{
	struct fold *f = sqlite3_user_data(c);
	const char *t = (const char *)sqlite3_value_text(v[0]);
	int n = sqlite3_value_bytes(v[0]), rc;
	struct fold_out o = { 0 };

	(void)argc;
	if (t == NULL) {
		sqlite3_result_null(c);
		return;
	}
	/* Folding turns a character into one of at most 1.5 times its
	 * bytes (2 -> 3). */
	buf_init(&o.b, (size_t)n * 2 + 64);
	rc = f->cls.xTokenize(f->tok, &o, FTS5_TOKENIZE_DOCUMENT, t, n,
	    on_token);
	if (rc == SQLITE_OK && o.n_last > 0)
		rc = buf_append(&o.b, o.last + o.first_len,
		         (size_t)(o.n_last - o.first_len)) == 0
		    ? SQLITE_OK
		    : SQLITE_TOOBIG;
	else if (rc == SQLITE_OK) /* under 3 characters: no token */
		rc = buf_append(&o.b, t, (size_t)n) == 0 ? SQLITE_OK
		                                         : SQLITE_TOOBIG;
	if (rc != SQLITE_OK)
		sqlite3_result_error_code(c, rc);
	else if (o.b.p == NULL)
		sqlite3_result_text(c, "", 0, SQLITE_STATIC);
	else {
		sqlite3_result_text64(c, o.b.p, o.b.len, free, SQLITE_UTF8);
		o.b.p = NULL; /* now SQLite's */
	}
	buf_clear(&o.b);
}

static void
fold_free(void *p)
{
	struct fold *f = p;

	f->cls.xDelete(f->tok);
	free(f);
}

int
fts_fold_register(sqlite3 *db, struct err *err)
{
	static const char *const args[] = { "case_sensitive", "0" };
	fts5_api *api = NULL;
	sqlite3_stmt *s;
	struct fold *f;
	void *ud = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return err_set(err, ERR_TEMP, "fts5 api: %s",
		    sqlite3_errmsg(db));
	(void)sqlite3_bind_pointer(s, 1, (void *)&api, "fts5_api_ptr", NULL);
	(void)sqlite3_step(s);
	sqlite3_finalize(s);
	if (api == NULL)
		return err_set(err, ERR_INTERNAL, "no fts5 api");
	f = xcalloc(1, sizeof(*f));
	if (api->xFindTokenizer(api, "trigram", &ud, &f->cls) != SQLITE_OK ||
	    f->cls.xCreate(ud, (const char **)args, 2, &f->tok) != SQLITE_OK) {
		free(f);
		return err_set(err, ERR_INTERNAL, "no trigram tokenizer");
	}
	rc = sqlite3_create_function_v2(db, "despatch_fold", 1,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC, f, fold_fn, NULL, NULL,
	    fold_free);
	if (rc != SQLITE_OK) /* fold_free has run */
		return err_set(err, ERR_INTERNAL, "despatch_fold: %s",
		    sqlite3_errstr(rc));
	return 0;
}
