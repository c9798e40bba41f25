/* SPDX-License-Identifier: MIT */
/* The search engine shared by SEARCH, SORT and THREAD (cmd_search.c):
 * a search program parsed from the argument tree (search_eval.c) and
 * evaluated as bitmaps over the selected view. Internal to src/imap. */
#ifndef DESPATCH_IMAP_SEARCH_INT_H
#define DESPATCH_IMAP_SEARCH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_int.h"
#include "imap/limits.h"
#include "lib/buf.h"
#include "lib/err.h"

/* Nesting of the search program: parentheses, NOT and OR each add one.
 * The argument tree is already bounded by IMAP_DEPTH_MAX, but "NOT NOT
 * NOT ..." or "OR OR OR ..." chains are not lists, so they are bounded
 * here; parse and evaluation recurse at most this deep. */
#define SEARCH_DEPTH_MAX (2 * IMAP_DEPTH_MAX)

/* The top-level header block of one message (store.h: at most 1 MiB
 * plus the blank line). */
#define SEARCH_HDR_MAX ((size_t)1024 * 1024 + 2)

/* One key of a parsed program (search_eval.c); in the command arena. */
struct sk;

/* The state of one SEARCH/SORT/THREAD command. */
struct search {
	struct imap_session *s;
	struct imap_view *v;
	struct arena *a;
	const char *bad;  /* parse error: BAD with this text */
	bool badcharset;  /* NO [BADCHARSET ...] */
	bool uses_modseq; /* the program has a MODSEQ key */
	int rc;           /* store failure during evaluation */
	size_t nwords;    /* of a bitmap over the view */
	uint64_t *level[SEARCH_DEPTH_MAX + 3]; /* scratch bitmaps by depth */
	uint64_t *level2[SEARCH_DEPTH_MAX + 3];
	char *hdr; /* header block of message hdr_idx */
	size_t hdr_len, hdr_idx;
	struct buf val, dec, fold;
	struct err err;
};

/* RETURN options (RFC 4731, RFC 5267) */
struct ret {
	bool esearch; /* answer with ESEARCH */
	bool min, max, all, count, save;
};

/* Sets q up for the session's selected view (q->v NULL when none). */
void search_init(struct search *q, struct imap_session *s);
/* Frees what evaluation allocated (never the command arena). */
void search_clear(struct search *q);

/* Parses RETURN's option list a into r; false with q->bad set. */
bool search_parse_return(struct search *q, const struct imap_arg *a,
    struct ret *r);
/* Parses the charset at *ap and advances; false with q->bad set, or
 * with q->badcharset for one other than UTF-8 and US-ASCII. */
bool search_parse_charset(struct search *q, const struct imap_arg **ap);
/* Parses the search keys from a to the end of its list as one program;
 * NULL with q->bad set. Sets q->uses_modseq for a MODSEQ key. */
struct sk *search_parse(struct search *q, const struct imap_arg *a);
/* Runs the program over the whole view: ascending view indices
 * (xmalloc, NULL when none). 0, or the store's error (q->err). */
int search_run(struct search *q, const struct sk *prog, uint32_t **idx_out,
    size_t *n_out);

/* Loads the header block of view message i into q->hdr / q->hdr_len
 * (a message gone meanwhile has an empty one). 0 or ERR_TEMP. */
int search_load_header(struct search *q, size_t i);
/* Appends UTF-8 text with a simple case fold (ASCII, Latin-1, Latin
 * Extended-A, Greek, Cyrillic); 0 or ERR_LIMIT. */
int search_fold_utf8(struct slice in, struct buf *out);

#endif
