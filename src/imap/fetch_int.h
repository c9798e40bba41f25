/* SPDX-License-Identifier: MIT */
/* Internals of the message commands (cmd_fetch.c, cmd_store.c,
 * cmd_append.c) shared between those files and fetch_test.c: the parsed
 * FETCH request, date and flag helpers, UID set building. Not for other
 * files. */
#ifndef DESPATCH_IMAP_FETCH_INT_H
#define DESPATCH_IMAP_FETCH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/parse.h"
#include "imap/seqset.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/slice.h"

enum fetch_kind {
	FETCH_FLAGS,
	FETCH_UID,
	FETCH_INTERNALDATE,
	FETCH_RFC822_SIZE,
	FETCH_ENVELOPE,
	FETCH_BODY, /* non-extended BODYSTRUCTURE */
	FETCH_BODYSTRUCTURE,
	FETCH_MODSEQ,
	FETCH_PREVIEW,
	FETCH_SECTION, /* BODY[...], BINARY[...], RFC822{,.HEADER,.TEXT} */
	FETCH_BINARY_SIZE,
};

/* What follows the part number in a section (RFC 9051 §6.4.5). */
enum fetch_text {
	FETCH_TEXT_ALL, /* BODY[] / BODY[1.2] */
	FETCH_TEXT_HEADER,
	FETCH_TEXT_FIELDS,
	FETCH_TEXT_FIELDS_NOT,
	FETCH_TEXT_TEXT,
	FETCH_TEXT_MIME,
};

struct fetch_item {
	enum fetch_kind kind;
	bool peek;         /* BODY.PEEK, BINARY.PEEK, RFC822.HEADER */
	bool binary;       /* BINARY[...] (decoded content) */
	bool partial;      /* <origin.count> given */
	struct slice part; /* "1.2.3", "" for the whole message */
	enum fetch_text text;
	struct slice *fields; /* HEADER.FIELDS names (arena) */
	size_t n_fields;
	uint64_t origin, count;
	const char *label; /* response name without <origin>, e.g.
	                    * "BODY[1.MIME]", "RFC822.HEADER" (arena) */
};

struct fetch_spec {
	struct fetch_item *items; /* arena */
	size_t n;
	bool has_flags, has_uid, has_modseq;
	bool need_header;    /* top-level header block */
	bool need_structure; /* mime_structure of the whole message */
	bool sets_seen;      /* a non-PEEK body item */
	bool changedsince_set;
	uint64_t changedsince;
	bool vanished;
};

/* Parses FETCH's items argument (an atom: one item or ALL/FAST/FULL; or a
 * list) and the optional modifier list (CHANGEDSINCE n, VANISHED) into
 * out, everything in arena. mods may be NULL. Returns false with *why
 * set (static text for BAD) on a syntax error. VANISHED is checked by
 * the caller (it needs UID FETCH and QRESYNC). */
bool fetch_spec_parse(struct arena *a, const struct imap_arg *items,
    const struct imap_arg *mods, struct fetch_spec *out, const char **why);

/* INTERNALDATE text (without quotes): "dd-Mon-yyyy hh:mm:ss +0000" in
 * UTC. out has room for FETCH_DATE_LEN + 1 bytes. */
#define FETCH_DATE_LEN 26
void fetch_format_date(int64_t t, char *out);
/* Parses an IMAP date-time ("d-Mon-yyyy hh:mm:ss +zzzz", day may be
 * space-padded; RFC 9051 §9) to unix seconds. */
bool fetch_parse_date(struct slice s, int64_t *t_out);

/* The byte range of a <origin.count> partial of a len-byte string. */
void fetch_partial(uint64_t len, bool partial, uint64_t origin, uint64_t count,
    uint64_t *off_out, uint64_t *n_out);

/* PREVIEW (RFC 8970): crude HTML to text (tags dropped, head, style
 * and script content dropped, a few entities), in place; then
 * whitespace collapsed and the text cut at 200 characters (UTF-8). */
#define FETCH_PREVIEW_CHARS 200
void fetch_html_strip(struct buf *b);
void fetch_preview_tidy(struct buf *b);

/* Appends ascending values as a compact IMAP set ("1:3,7") to out. */
int fetch_uidset_format(const uint32_t *v, size_t n, struct buf *out);
/* Builds a resolved seqset of ascending values in arena. */
void fetch_uidset_build(struct arena *a, const uint32_t *v, size_t n,
    struct seqset *out);
bool fetch_uidset_has(const struct seqset *set, uint32_t v);

/* Parses STORE / APPEND flags: the args from first on (STORE, atoms_ok:
 * a list as the last argument or one or more flag atoms; APPEND: the
 * list `first`, whatever follows it) into a space-separated string in out,
 * system flags in canonical case. \Recent: an error for STORE, dropped
 * when drop_recent. false with *why on a bad flag. */
bool imap_flags_parse(const struct imap_arg *first, bool atoms_ok,
    bool drop_recent, struct buf *out, const char **why);

/* APPEND: normalises bare LF to CRLF. *cr is whether the previous byte
 * (of earlier calls) was CR. out has room for 2 * n. Returns bytes
 * written. */
size_t append_crlf(bool *cr, const char *in, size_t n, char *out);

#endif
