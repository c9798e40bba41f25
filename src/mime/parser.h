/* SPDX-License-Identifier: MIT */
/* The streaming RFC 5322 / MIME (RFC 2045, 2046) parser: a push state
 * machine that turns a message's bytes, split anywhere, into events. The
 * `data` of all events, concatenated, is exactly the input; nothing is
 * held beyond one header field and one boundary look-ahead. */
#ifndef DESPATCH_MIME_PARSER_H
#define DESPATCH_MIME_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/slice.h"
#include "mime/limits.h"

#define MIME_TOKEN_MAX 64

enum mime_cte {
	MIME_CTE_7BIT, /* also when absent (RFC 2045 §6.1) */
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_BASE64,
	MIME_CTE_QP,
	MIME_CTE_OTHER, /* unknown token: the part is opaque */
};

/* A parsed Content-Type. Type and subtype are lower-cased; parameter
 * values are as given (quotes and escapes removed). */
struct mime_content_type {
	char type[MIME_TOKEN_MAX];
	char subtype[MIME_TOKEN_MAX];
	char charset[MIME_TOKEN_MAX]; /* "" when absent or too long */
	char boundary[MIME_BOUNDARY_MAX + 1];
	size_t boundary_len; /* 0: absent, empty or over MIME_BOUNDARY_MAX */
};

/* What the parser knows about a part once its header is complete. */
struct mime_part_info {
	struct mime_content_type ct; /* the default if absent or invalid */
	bool ct_present;             /* a Content-Type field parsed */
	enum mime_cte cte;
	bool is_multipart; /* multipart/ with a usable boundary: has children */
};

enum mime_event_kind {
	MIME_EV_PART_BEGIN, /* a part starts (depth 0: the message) */
	MIME_EV_FIELD,      /* one header field: data = its raw bytes */
	MIME_EV_HEADER_END, /* data = the blank line, "" if there was none */
	MIME_EV_BODY,       /* bytes of a leaf part's body */
	MIME_EV_PREAMBLE,   /* multipart bytes before the first boundary */
	MIME_EV_BOUNDARY,   /* a delimiter line, see below */
	MIME_EV_EPILOGUE,   /* multipart bytes after the close delimiter */
	MIME_EV_PART_END,   /* a part ends (also when its end is missing) */
};

/* One event. `data` borrows the parser's or the caller's bytes for the
 * duration of the callback only. Body-like data (BODY, PREAMBLE, EPILOGUE)
 * arrives in pieces whose cut points depend on how the input was split;
 * everything else comes whole.
 * BOUNDARY data: the line break before the delimiter (RFC 2046 §5.1.1: it
 * belongs to the delimiter, not to the part before), "--" boundary, "--"
 * if `close`, transport padding, and the line break after it (absent at
 * the end of input). `depth` is that of the multipart it belongs to. */
struct mime_event {
	enum mime_event_kind kind;
	unsigned depth;
	struct slice data;
	struct slice name;  /* FIELD: the field name */
	struct slice value; /* FIELD: after ':' up to the final line break */
	const struct mime_part_info *part; /* HEADER_END only */
	bool close;                        /* BOUNDARY: "--b--" */
};

/* Returns 0 to go on; any other value stops the parser and is returned by
 * mime_parser_push / _finish (ingest passes ERR_TEMP from the store). */
typedef int mime_event_fn(void *ctx, const struct mime_event *ev);

struct mime_parser;

/* A new parser calling fn(ctx, ...) for each event. Never NULL (aborts on
 * OOM like xmalloc); about 70 KiB at most (the field buffer grows on
 * demand to MIME_FIELD_MAX). */
struct mime_parser *mime_parser_new(mime_event_fn *fn, void *ctx);
/* Consumes all of `in` (*used_out = in.len on success), emitting events as
 * far as they are certain. Returns 0, ERR_LIMIT (a limit of limits.h; err
 * says which), or the callback's non-zero value. After a failure every
 * later call returns the same value. Bytes may arrive in any split. */
int mime_parser_push(struct mime_parser *p, struct slice in, size_t *used_out,
    struct err *err);
/* Ends the input: flushes what was held, closes every open part (a
 * missing close delimiter is not an error). Same returns as push. */
int mime_parser_finish(struct mime_parser *p, struct err *err);
/* Accepts NULL; sets *pp = NULL. */
void mime_parser_free(struct mime_parser **pp);

/* Parses a Content-Type field value (RFC 2045 §5.1: comments, quoted
 * strings, folding). ERR_INPUT if there is no type/subtype (ct_out then
 * holds text/plain); parameters after a syntax error are ignored. */
int mime_content_type_parse(struct slice value,
    struct mime_content_type *ct_out);
/* Parses a Content-Transfer-Encoding value (case-insensitive). */
enum mime_cte mime_cte_parse(struct slice value);

#endif
