/* SPDX-License-Identifier: MIT */
/* The IMAP command parser (RFC 9051 §9, RFC 3501 §9): an incremental
 * state machine that turns "tag SP command [SP args] CRLF", literals
 * included, into a tree of arguments allocated from the command arena.
 * It never blocks, never recurses on input depth, and enforces the
 * limits of imap/limits.h (line length excluding literals, literal
 * size, literal count, list nesting), which the session sets tighter
 * before login. */
#ifndef DESPATCH_IMAP_PARSE_H
#define DESPATCH_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/slice.h"

enum imap_arg_type {
	IMAP_ARG_ATOM,	  /* also "BODY[HEADER.FIELDS (A B)]<0.10>": an
			   * atom containing '[' runs to the matching ']'
			   * (spaces and parentheses included), then goes on
			   * with atom characters */
	IMAP_ARG_QUOTED,  /* "..." with escapes removed */
	IMAP_ARG_LITERAL, /* {n} / {n+} / ~{n} (literal8: binary true) */
	IMAP_ARG_NIL,	  /* the atom NIL */
	IMAP_ARG_LIST,	  /* ( ... ) */
	IMAP_ARG_STREAMED, /* a literal the session consumed itself
			    * (APPEND's message): size only */
};

struct imap_arg {
	enum imap_arg_type type;
	struct slice str;	 /* ATOM, QUOTED, LITERAL (bytes, may hold
				  * NUL only if binary) */
	bool binary;		 /* literal8 */
	uint64_t size;		 /* LITERAL, STREAMED: bytes */
	struct imap_arg *list;	 /* LIST: first child */
	size_t n;		 /* LIST: children */
	struct imap_arg *next;	 /* next sibling */
};

struct imap_parse_limits {
	size_t line_max;     /* bytes of command text, literals excluded */
	uint64_t literal_max; /* one buffered literal */
	size_t literals_max; /* literals in one command */
	size_t depth_max;    /* parenthesis nesting */
	bool literal_plus;   /* {n+} allowed without limit (LITERAL+);
			      * false: LITERAL- (n+ only up to 4096) */
};

enum imap_parse_rc {
	IMAP_PARSE_MORE,    /* consumed what it could; feed more */
	IMAP_PARSE_DONE,    /* a whole command: see imap_parser_command */
	IMAP_PARSE_LITERAL, /* a literal announced: the caller decides
			     * (imap_parser_literal_info), see below */
	IMAP_PARSE_ERROR,   /* syntax or limit: see imap_parser_error;
			     * the rest of the line (and any literal it
			     * announced as non-synchronizing) is skipped
			     * by the parser before the next command */
};

struct imap_parser;

struct imap_command {
	struct slice tag;  /* never empty on DONE */
	struct slice name; /* command name, as sent (compare ci) */
	bool uid;	   /* "UID" prefix: name is the command after it */
	struct imap_arg *args; /* first argument or NULL */
	size_t n_args;
};

/* A parser whose command trees live in `arena` (reset by the caller
 * after each command, after which pointers into it are gone). */
struct imap_parser *imap_parser_new(struct arena *arena,
    const struct imap_parse_limits *lim);
void imap_parser_set_limits(struct imap_parser *p,
    const struct imap_parse_limits *lim);
void imap_parser_free(struct imap_parser **pp);

/* Consumes bytes of `in`; *used_out is how many (the caller drops them
 * and calls again with what is left). */
enum imap_parse_rc imap_parser_push(struct imap_parser *p, struct slice in,
    size_t *used_out);

/* After IMAP_PARSE_DONE: the command (valid until the arena reset). The
 * next push starts a new command. */
const struct imap_command *imap_parser_command(const struct imap_parser *p);

/* After IMAP_PARSE_LITERAL: the literal's size, whether it is
 * non-synchronizing ({n+}, the client sends it without waiting for "+")
 * and binary (~{n}); and the command so far (tag and name known once
 * the name has been read, args parsed before the literal). */
struct imap_literal_info {
	uint64_t size;
	bool sync;	/* the client waits for a "+" continuation */
	bool binary;
	const struct imap_command *so_far;
};
void imap_parser_literal_info(const struct imap_parser *p,
    struct imap_literal_info *out);
/* The caller's answer to IMAP_PARSE_LITERAL:
 * - imap_parser_literal_accept(p): the parser reads the literal into the
 *   command (it must be within literal_max; the caller sends "+ ..."
 *   first if sync);
 * - imap_parser_literal_streamed(p): the caller has consumed the
 *   literal's bytes itself (APPEND); the parser records a STREAMED arg
 *   and continues with the rest of the line;
 * - imap_parser_literal_reject(p): the caller answers the command
 *   (NO/BAD, e.g. [TOOBIG]); for a non-synchronizing literal the parser
 *   then skips its bytes, and the rest of the command line, silently. */
void imap_parser_literal_accept(struct imap_parser *p);
void imap_parser_literal_streamed(struct imap_parser *p);
void imap_parser_literal_reject(struct imap_parser *p);

/* After IMAP_PARSE_ERROR: a short reason for "BAD" (static), the tag if
 * one was read (else "*"), and whether the error was a limit (counted
 * more severely; the session may close). */
const char *imap_parser_error(const struct imap_parser *p,
    struct slice *tag_out, bool *is_limit_out);

/* Helpers for command handlers on parsed args. */
/* ATOM, QUOTED or LITERAL as a string (astring); NIL and LIST: false. */
bool imap_arg_string(const struct imap_arg *a, struct slice *out);
/* astring as a NUL-terminated copy in arena (NUL inside: false). */
char *imap_arg_cstr(struct arena *a, const struct imap_arg *arg);
bool imap_arg_atom_is(const struct imap_arg *a, const char *word);
/* number (RFC 9051 "number"/"number64"). */
bool imap_arg_number(const struct imap_arg *a, uint64_t max, uint64_t *out);

#endif
