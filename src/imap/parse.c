/* SPDX-License-Identifier: MIT */
/* The IMAP command parser: a byte-at-a-time state machine (Dovecot
 * imap-parser.c, nginx ngx_mail_parse.c) that builds the argument tree
 * in the command arena, with an explicit list stack instead of recursion.
 *
 * Grammar accepted (RFC 9051 §9, RFC 3501 §9, RFC 7888, RFC 3516):
 * - tag: 1* ASTRING-CHAR except "+" (7-bit, no CTL, SP, ( ) { % * " \);
 *   one SP; the command name: 1* ATOM-CHAR; "UID" SP name sets uid.
 * - arguments separated by SP (several SP, SP after "(" or before ")"
 *   and before the CRLF are tolerated); atoms (any byte but CTL, SP,
 *   ( ) { " ; 8-bit allowed, "\" allowed for flags; an atom holding "["
 *   runs to the matching "]" whatever lies between, except CTL, then
 *   goes on), NIL, quoted strings (only \" and \\ escapes; no CR, LF or
 *   NUL), literals {n} {n+} ~{n} ~{n+}, and ( ) lists.
 * - lines end in CRLF. An empty line (CRLF alone) before a tag is
 *   ignored.
 *
 * Limits: line_max counts every byte of command text except literal
 * data and the CR LF ending each line; literals_max counts announced
 * literals (buffered or streamed); depth_max is "(" nesting; {n+} over
 * 4096 without literal_plus is an error (RFC 7888 LITERAL-). A literal
 * accepted with n over literal_max is an error (the caller should have
 * rejected it; the parser then assumes the "+" went out and discards n
 * bytes). The arena failing an allocation is a limit error.
 *
 * Errors and resynchronisation (what imap_parser_push does after it
 * returns IMAP_PARSE_ERROR; the byte that caused the error is consumed
 * and counted in *used_out; the tag is reported once complete, i.e. the
 * SP or CR after it read, "*" before):
 * - the rest of the line is discarded up to and including the next LF.
 *   A bare LF is an error ("CRLF required") and ends the line it is on
 *   (the bytes after it are the next command, as they would be for a
 *   server that took LF as a line end); a CR not followed by LF is an
 *   error and discarding goes on to the next LF;
 * - if the discarded part ends in a literal announcement "{n+}" (CRLF or
 *   bare LF after the "}"), its n bytes are discarded too and discarding
 *   goes on to the end of the line after them (the next LF, however far),
 *   repeatedly; a "{n}" (synchronizing) ends the discarded command, since
 *   the client waits for a "+" that never comes and gets the BAD instead;
 *   a size that overflows 64 bits discards everything that follows;
 * - an error inside accepted literal data (NUL in a non-binary literal)
 *   discards the rest of the literal, then the rest of the line;
 * - an error found at the end of a literal announcement (literals_max,
 *   LITERAL- over 4096) discards that literal's bytes if it was
 *   non-synchronizing, then the rest of the line;
 * - a literal accepted over literal_max, or whose buffer the arena
 *   refuses: the next push returns ERROR at once (0 bytes used), then n
 *   bytes (sync or not: the "+" went out) and the rest of the line are
 *   discarded.
 * After imap_parser_literal_reject no error is returned (the caller has
 * answered): a synchronizing literal ends the command at once (the
 * client sends nothing more for it); a non-synchronizing one is
 * discarded with the rest of its line as above. A push while a literal
 * awaits the caller's answer returns LITERAL again with 0 bytes used.
 * Discarding never touches the arena, which the caller may reset as soon
 * as it has read the error (tag and reason).
 */
#include <string.h>

#include "imap/parse.h"
#include "lib/mem.h"

#include "lib/banned.h"

/* RFC 7888 §4: LITERAL- caps non-synchronizing literals. */
#define LITERAL_MINUS_MAX 4096

enum pstate {
	S_START,    /* before a tag (CRLF alone is skipped) */
	S_START_CR, /* CR of an empty line */
	S_TAG,
	S_NAME_START,
	S_NAME,
	S_ARG_START, /* where an argument may begin */
	S_ARG_SEP,   /* after an argument: SP, ")" or CR */
	S_ATOM,
	S_ATOM_BRACKET, /* inside "[...]" of an atom */
	S_TILDE,        /* "~" at an argument's start */
	S_QUOTED,
	S_QUOTED_ESC,
	S_LIT_BRACE, /* after "{": a digit */
	S_LIT_DIGITS,
	S_LIT_PLUS,   /* after "+": "}" */
	S_LIT_RBRACE, /* after "}": CR */
	S_LIT_CR,     /* LF */
	S_LIT_WAIT,   /* LITERAL returned, the caller answers */
	S_LIT_READ,
	S_EOL_CR,      /* CR ending the command: LF */
	S_SKIP,        /* discarding to the end of the line */
	S_SKIP_LIT,    /* discarding literal data, then S_SKIP */
	S_ERR_PENDING, /* an error to report at the next push */
};

/* Literal announcements seen while discarding a line. */
enum tstate { T_NONE, T_BRACE, T_DIGITS, T_PLUS, T_RBRACE, T_CR };

struct frame {
	struct imap_arg *list;
	struct imap_arg **tail;
	struct frame *up;
};

struct imap_parser {
	struct arena *arena;
	struct imap_parse_limits lim;
	enum pstate st;

	struct imap_command cmd;
	struct imap_arg **top_tail;
	struct frame *frame; /* innermost open list, NULL at top level */
	size_t depth;
	size_t line_len; /* command text so far, literal data excluded */
	size_t n_literals;

	/* token text: tokens are slices of arena blocks; the one being
	 * read is tok[tok_start, tok_len) */
	char *tok;
	size_t tok_start, tok_len, tok_cap;
	size_t bracket; /* "[" nesting inside an atom */

	/* literal being announced or read */
	uint64_t lit_n;
	bool lit_plus, lit_binary;
	struct imap_arg *lit_arg;
	uint64_t lit_left;

	/* discarding */
	enum tstate t;
	uint64_t t_n;
	bool t_plus;
	uint64_t skip_left;

	const char *err;
	bool err_limit, err_tag;
};

static bool
is_ctl(int c)
{
	return c < 0x20 || c == 0x7f;
}

/* ATOM-CHAR (RFC 9051 §9): 7-bit, no atom-specials. */
static bool
is_atom_char(int c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool
is_tag_char(int c)
{
	return c == ']' || (is_atom_char(c) && c != '+');
}

/* Characters of an argument atom: wider than ATOM-CHAR for what
 * arguments carry (list wildcards, "\" of flags, "]" of astrings, 8-bit
 * UTF-8 names). */
static bool
is_arg_atom_char(int c)
{
	return c > 0x20 && c != 0x7f && c != '(' && c != ')' && c != '{' &&
	    c != '"';
}

struct imap_parser *
imap_parser_new(struct arena *arena, const struct imap_parse_limits *lim)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	p->arena = arena;
	p->lim = *lim;
	p->st = S_START;
	return p;
}

void
imap_parser_set_limits(struct imap_parser *p,
    const struct imap_parse_limits *lim)
{
	p->lim = *lim;
}

void
imap_parser_free(struct imap_parser **pp)
{
	if (*pp == NULL)
		return;
	xfree(pp);
}

static void
cmd_begin(struct imap_parser *p)
{
	memset(&p->cmd, 0, sizeof(p->cmd));
	p->top_tail = &p->cmd.args;
	p->frame = NULL;
	p->depth = 0;
	p->line_len = 0;
	p->n_literals = 0;
	p->tok = NULL;
	p->tok_start = p->tok_len = p->tok_cap = 0;
	p->bracket = 0;
	p->lit_arg = NULL;
	p->err = NULL;
	p->err_limit = false;
	p->err_tag = false;
}

/* Feeds one byte to the discarding state machine (S_SKIP). */
static void
skip_byte(struct imap_parser *p, int c)
{
	switch (p->t) {
	case T_NONE:
		break;
	case T_BRACE:
	case T_DIGITS:
		if (c >= '0' && c <= '9') {
			unsigned d = (unsigned)(c - '0');

			p->t_n = p->t_n > (UINT64_MAX - d) / 10
			    ? UINT64_MAX
			    : p->t_n * 10 + d;
			p->t = T_DIGITS;
			return;
		}
		if (p->t == T_DIGITS && c == '+') {
			p->t_plus = true;
			p->t = T_PLUS;
			return;
		}
		if (p->t == T_DIGITS && c == '}') {
			p->t = T_RBRACE;
			return;
		}
		break;
	case T_PLUS:
		if (c == '}') {
			p->t = T_RBRACE;
			return;
		}
		break;
	case T_RBRACE:
	case T_CR:
		if (c == '\r' && p->t == T_RBRACE) {
			p->t = T_CR;
			return;
		}
		/* LF after "}" CR, or a bare LF after "}", ends it */
		if (c == '\n') {
			p->t = T_NONE;
			if (p->t_plus && p->t_n > 0) {
				p->skip_left = p->t_n;
				p->st = S_SKIP_LIT;
			} else if (p->t_plus) {
				p->st = S_SKIP;
			} else {
				p->st = S_START; /* it waits for a "+" */
			}
			return;
		}
		break;
	}
	p->t = T_NONE;
	if (c == '{') {
		p->t = T_BRACE;
		p->t_n = 0;
		p->t_plus = false;
	} else if (c == '\n') {
		p->st = S_START;
	}
}

/* Where a literal announcement stands, for discarding. */
static enum tstate
cur_t(const struct imap_parser *p)
{
	switch (p->st) {
	case S_LIT_BRACE:
		return T_BRACE;
	case S_LIT_DIGITS:
		return T_DIGITS;
	case S_LIT_PLUS:
		return T_PLUS;
	case S_LIT_RBRACE:
		return T_RBRACE;
	case S_LIT_CR:
		return T_CR;
	default:
		return T_NONE;
	}
}

/* An error at byte c (consumed): discarding starts from the state the
 * parser was in, and c is its first byte. */
static enum imap_parse_rc
fail(struct imap_parser *p, const char *why, bool limit, int c)
{
	p->err = why;
	p->err_limit = limit;
	p->t = cur_t(p);
	p->t_n = p->lit_n;
	p->t_plus = p->lit_plus;
	p->st = S_SKIP;
	skip_byte(p, c);
	return IMAP_PARSE_ERROR;
}

static bool
tok_put(struct imap_parser *p, char c)
{
	if (p->tok_len == p->tok_cap) {
		size_t cur = p->tok_len - p->tok_start;
		size_t cap = cur * 2 + 64;
		char *n = arena_alloc(p->arena, cap);

		if (n == NULL)
			return false;
		if (cur > 0)
			memcpy(n, p->tok + p->tok_start, cur);
		p->tok = n;
		p->tok_start = 0;
		p->tok_len = cur;
		p->tok_cap = cap;
	}
	p->tok[p->tok_len++] = c;
	return true;
}

static struct slice
tok_take(struct imap_parser *p)
{
	struct slice s = { p->tok != NULL ? p->tok + p->tok_start : "",
		p->tok_len - p->tok_start };

	p->tok_start = p->tok_len;
	return s;
}

static struct imap_arg *
arg_add(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg *a = arena_calloc(p->arena, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->type = type;
	if (p->frame != NULL) {
		*p->frame->tail = a;
		p->frame->tail = &a->next;
		p->frame->list->n++;
	} else {
		*p->top_tail = a;
		p->top_tail = &a->next;
		p->cmd.n_args++;
	}
	return a;
}

/* NULL or the reason of an error. */
static const char *
atom_end(struct imap_parser *p)
{
	struct slice s = tok_take(p);
	struct imap_arg *a;
	bool nil = slice_eq_ci(s, SLICE_LIT("NIL"));

	a = arg_add(p, nil ? IMAP_ARG_NIL : IMAP_ARG_ATOM);
	if (a == NULL)
		return "Out of memory";
	a->str = s;
	return NULL;
}

static enum imap_parse_rc
list_open(struct imap_parser *p, int c)
{
	struct imap_arg *a;
	struct frame *f;

	if (p->depth >= p->lim.depth_max)
		return fail(p, "Too deeply nested lists", true, c);
	a = arg_add(p, IMAP_ARG_LIST);
	f = a != NULL ? arena_alloc(p->arena, sizeof(*f)) : NULL;
	if (f == NULL)
		return fail(p, "Out of memory", true, c);
	f->list = a;
	f->tail = &a->list;
	f->up = p->frame;
	p->frame = f;
	p->depth++;
	p->st = S_ARG_START;
	return IMAP_PARSE_MORE;
}

static enum imap_parse_rc
list_close(struct imap_parser *p, int c)
{
	if (p->frame == NULL)
		return fail(p, "Unexpected ')'", false, c);
	p->frame = p->frame->up;
	p->depth--;
	p->st = S_ARG_SEP;
	return IMAP_PARSE_MORE;
}

/* CR where the command may end. */
static enum imap_parse_rc
cmd_cr(struct imap_parser *p, int c)
{
	if (p->depth > 0)
		return fail(p, "Missing ')'", false, c);
	p->st = S_EOL_CR;
	return IMAP_PARSE_MORE;
}

/* At the LF of a literal announcement: limits, then LITERAL. */
static enum imap_parse_rc
lit_announced(struct imap_parser *p, int c)
{
	if (p->n_literals >= p->lim.literals_max)
		return fail(p, "Too many literals", true, c);
	if (p->lit_plus && !p->lim.literal_plus && p->lit_n > LITERAL_MINUS_MAX)
		return fail(p, "Non-synchronizing literal over 4096 octets",
		    true, c);
	p->n_literals++;
	p->st = S_LIT_WAIT;
	return IMAP_PARSE_LITERAL;
}

static enum imap_parse_rc
put(struct imap_parser *p, int c)
{
	if (!tok_put(p, (char)c))
		return fail(p, "Out of memory", true, c);
	return IMAP_PARSE_MORE;
}

static enum imap_parse_rc
atom_byte(struct imap_parser *p, int c)
{
	const char *why;

	switch (c) {
	case '[':
		p->bracket = 1;
		p->st = S_ATOM_BRACKET;
		return put(p, c);
	case ' ':
	case ')':
	case '\r':
		if ((why = atom_end(p)) != NULL)
			return fail(p, why, true, c);
		if (c == ' ') {
			p->st = S_ARG_START;
			return IMAP_PARSE_MORE;
		}
		return c == ')' ? list_close(p, c) : cmd_cr(p, c);
	default:
		if (!is_arg_atom_char(c))
			return fail(p, "Invalid character in atom", false, c);
		return put(p, c);
	}
}

static enum imap_parse_rc
arg_start(struct imap_parser *p, int c)
{
	switch (c) {
	case ' ':
		return IMAP_PARSE_MORE;
	case '\r':
		return cmd_cr(p, c);
	case '(':
		return list_open(p, c);
	case ')':
		return list_close(p, c);
	case '"':
		p->st = S_QUOTED;
		return IMAP_PARSE_MORE;
	case '{':
		p->lit_binary = false;
		p->lit_n = 0;
		p->lit_plus = false;
		p->st = S_LIT_BRACE;
		return IMAP_PARSE_MORE;
	case '~':
		p->st = S_TILDE;
		return IMAP_PARSE_MORE;
	default:
		p->st = S_ATOM;
		return atom_byte(p, c);
	}
}

static enum imap_parse_rc
name_end(struct imap_parser *p, int c)
{
	struct slice name = tok_take(p);

	if (!p->cmd.uid && slice_eq_ci(name, SLICE_LIT("UID"))) {
		p->cmd.uid = true;
		if (c == '\r')
			return fail(p, "Missing command after UID", false, c);
		p->st = S_NAME_START;
		return IMAP_PARSE_MORE;
	}
	p->cmd.name = name;
	if (c == '\r')
		return cmd_cr(p, c);
	p->st = S_ARG_START;
	return IMAP_PARSE_MORE;
}

static enum imap_parse_rc
lit_byte(struct imap_parser *p, int c)
{
	if (c >= '0' && c <= '9') {
		unsigned d = (unsigned)(c - '0');

		if (p->lit_n > (UINT64_MAX - d) / 10)
			return fail(p, "Literal size too large", true, c);
		p->lit_n = p->lit_n * 10 + d;
		p->st = S_LIT_DIGITS;
		return IMAP_PARSE_MORE;
	}
	if (p->st == S_LIT_DIGITS && c == '+') {
		p->lit_plus = true;
		p->st = S_LIT_PLUS;
		return IMAP_PARSE_MORE;
	}
	if (p->st != S_LIT_BRACE && c == '}') {
		p->st = S_LIT_RBRACE;
		return IMAP_PARSE_MORE;
	}
	return fail(p, "Invalid literal", false, c);
}

/* One byte of command text (not literal data, not discarded). */
static enum imap_parse_rc
text_byte(struct imap_parser *p, int c)
{
	if (p->st == S_START_CR) {
		if (c == '\n') {
			p->st = S_START;
			return IMAP_PARSE_MORE;
		}
		cmd_begin(p);
		return fail(p, "CR without LF", false, c);
	}
	if (p->st == S_START) {
		if (c == '\r') {
			p->st = S_START_CR;
			return IMAP_PARSE_MORE;
		}
		cmd_begin(p);
		p->st = S_TAG;
		if (!is_tag_char(c))
			return fail(p,
			    c == '\n' ? "Bare LF (CRLF required)"
			              : "Invalid tag",
			    false, c);
	}
	if (c != '\r' && c != '\n') {
		if (p->line_len >= p->lim.line_max)
			return fail(p, "Command line too long", true, c);
		p->line_len++;
	}
	if (c == 0)
		return fail(p, "NUL in command", false, c);
	if (c == '\n' && p->st != S_EOL_CR && p->st != S_LIT_CR)
		return fail(p, "Bare LF (CRLF required)", false, c);

	switch (p->st) {
	case S_TAG:
		if (c == ' ' || c == '\r') {
			p->cmd.tag = tok_take(p);
			p->err_tag = true;
			if (c == '\r')
				return fail(p, "Missing command", false, c);
			p->st = S_NAME_START;
			return IMAP_PARSE_MORE;
		}
		if (!is_tag_char(c))
			return fail(p, "Invalid tag", false, c);
		return put(p, c);
	case S_NAME_START:
		if (!is_atom_char(c))
			return fail(p, "Missing or invalid command name", false,
			    c);
		p->st = S_NAME;
		return put(p, c);
	case S_NAME:
		if (c == ' ' || c == '\r')
			return name_end(p, c);
		if (!is_atom_char(c))
			return fail(p, "Invalid command name", false, c);
		return put(p, c);
	case S_ARG_START:
		return arg_start(p, c);
	case S_TILDE:
		if (c == '{') {
			p->lit_binary = true;
			p->lit_n = 0;
			p->lit_plus = false;
			p->st = S_LIT_BRACE;
			return IMAP_PARSE_MORE;
		}
		p->st = S_ATOM;
		if (put(p, '~') != IMAP_PARSE_MORE)
			return IMAP_PARSE_ERROR;
		return atom_byte(p, c);
	case S_ATOM:
		return atom_byte(p, c);
	case S_ATOM_BRACKET:
		if (c == '[') {
			p->bracket++;
		} else if (c == ']') {
			if (--p->bracket == 0)
				p->st = S_ATOM;
		} else if (is_ctl(c)) {
			return fail(p, "Unterminated '['", false, c);
		}
		return put(p, c);
	case S_ARG_SEP:
		if (c == ' ') {
			p->st = S_ARG_START;
			return IMAP_PARSE_MORE;
		}
		if (c == ')')
			return list_close(p, c);
		if (c == '\r')
			return cmd_cr(p, c);
		return fail(p, "Missing space between arguments", false, c);
	case S_QUOTED:
		if (c == '"') {
			struct imap_arg *a = arg_add(p, IMAP_ARG_QUOTED);

			if (a == NULL)
				return fail(p, "Out of memory", true, c);
			a->str = tok_take(p);
			p->st = S_ARG_SEP;
			return IMAP_PARSE_MORE;
		}
		if (c == '\\') {
			p->st = S_QUOTED_ESC;
			return IMAP_PARSE_MORE;
		}
		if (c == '\r')
			return fail(p, "Unterminated quoted string", false, c);
		return put(p, c);
	case S_QUOTED_ESC:
		if (c != '"' && c != '\\')
			return fail(p, "Invalid escape in quoted string", false,
			    c);
		p->st = S_QUOTED;
		return put(p, c);
	case S_LIT_BRACE:
	case S_LIT_DIGITS:
	case S_LIT_PLUS:
		if (p->st == S_LIT_PLUS && c != '}')
			return fail(p, "Invalid literal", false, c);
		return lit_byte(p, c);
	case S_LIT_RBRACE:
		if (c == '\r') {
			p->st = S_LIT_CR;
			return IMAP_PARSE_MORE;
		}
		return fail(p, "Literal not at end of line", false, c);
	case S_LIT_CR:
		if (c == '\n')
			return lit_announced(p, c);
		return fail(p, "CR without LF", false, c);
	case S_EOL_CR:
		if (c == '\n') {
			p->st = S_START;
			return IMAP_PARSE_DONE;
		}
		return fail(p, "CR without LF", false, c);
	default:
		return fail(p, "Parser state", false, c); /* not reached */
	}
}

enum imap_parse_rc
imap_parser_push(struct imap_parser *p, struct slice in, size_t *used_out)
{
	size_t i = 0, n;
	enum imap_parse_rc rc;

	*used_out = 0;
	if (p->st == S_LIT_WAIT)
		return IMAP_PARSE_LITERAL;
	if (p->st == S_ERR_PENDING) {
		p->st = S_SKIP_LIT;
		if (p->skip_left == 0)
			p->st = S_SKIP;
		return IMAP_PARSE_ERROR;
	}
	while (i < in.len) {
		int c = (unsigned char)in.p[i];

		switch (p->st) {
		case S_SKIP:
			i++;
			skip_byte(p, c);
			continue;
		case S_SKIP_LIT:
			n = in.len - i;
			if (n > p->skip_left)
				n = (size_t)p->skip_left;
			i += n;
			p->skip_left -= n;
			if (p->skip_left == 0) {
				p->st = S_SKIP;
				p->t = T_NONE;
			}
			continue;
		case S_LIT_READ: {
			struct imap_arg *a = p->lit_arg;
			char *dst = (char *)a->str.p;

			n = in.len - i;
			if (n > p->lit_left)
				n = (size_t)p->lit_left;
			if (!a->binary && memchr(in.p + i, 0, n) != NULL) {
				const char *z = memchr(in.p + i, 0, n);
				size_t k = (size_t)(z - (in.p + i)) + 1;

				i += k;
				p->lit_left -= k;
				p->err = "NUL in literal";
				p->err_limit = false;
				p->t = T_NONE;
				p->skip_left = p->lit_left;
				p->st = p->lit_left > 0 ? S_SKIP_LIT : S_SKIP;
				*used_out = i;
				return IMAP_PARSE_ERROR;
			}
			memcpy(dst + a->str.len, in.p + i, n);
			a->str.len += n;
			i += n;
			p->lit_left -= n;
			if (p->lit_left == 0)
				p->st = S_ARG_SEP;
			continue;
		}
		default:
			break;
		}
		i++;
		rc = text_byte(p, c);
		if (rc != IMAP_PARSE_MORE) {
			*used_out = i;
			return rc;
		}
	}
	*used_out = i;
	return IMAP_PARSE_MORE;
}

const struct imap_command *
imap_parser_command(const struct imap_parser *p)
{
	return &p->cmd;
}

void
imap_parser_literal_info(const struct imap_parser *p,
    struct imap_literal_info *out)
{
	out->size = p->lit_n;
	out->sync = !p->lit_plus;
	out->binary = p->lit_binary;
	out->so_far = &p->cmd;
}

/* An error for the next push, after which lit_n bytes are discarded
 * (the caller has sent "+" or the client did not wait for one), then
 * the rest of the line. */
static void
fail_later(struct imap_parser *p, const char *why)
{
	p->err = why;
	p->err_limit = true;
	p->t = T_NONE;
	p->skip_left = p->lit_n;
	p->st = S_ERR_PENDING;
}

void
imap_parser_literal_accept(struct imap_parser *p)
{
	struct imap_arg *a;
	char *data;

	if (p->st != S_LIT_WAIT)
		return;
	if (p->lit_n > p->lim.literal_max || p->lit_n >= SIZE_MAX) {
		fail_later(p, "Literal too large");
		return;
	}
	a = arg_add(p, IMAP_ARG_LITERAL);
	data = a != NULL ? arena_alloc(p->arena, (size_t)p->lit_n + 1) : NULL;
	if (data == NULL) {
		fail_later(p, "Out of memory");
		return;
	}
	data[p->lit_n] = '\0';
	a->str = slice_make(data, 0);
	a->binary = p->lit_binary;
	a->size = p->lit_n;
	p->lit_arg = a;
	p->lit_left = p->lit_n;
	p->st = p->lit_n > 0 ? S_LIT_READ : S_ARG_SEP;
}

void
imap_parser_literal_streamed(struct imap_parser *p)
{
	struct imap_arg *a;

	if (p->st != S_LIT_WAIT)
		return;
	a = arg_add(p, IMAP_ARG_STREAMED);
	if (a == NULL) {
		/* the bytes are gone: only the rest of the line remains */
		p->lit_n = 0;
		fail_later(p, "Out of memory");
		return;
	}
	a->binary = p->lit_binary;
	a->size = p->lit_n;
	p->st = S_ARG_SEP;
}

void
imap_parser_literal_reject(struct imap_parser *p)
{
	if (p->st != S_LIT_WAIT)
		return;
	p->t = T_NONE;
	if (!p->lit_plus) {
		p->st = S_START;
		return;
	}
	p->skip_left = p->lit_n;
	p->st = p->lit_n > 0 ? S_SKIP_LIT : S_SKIP;
}

const char *
imap_parser_error(const struct imap_parser *p, struct slice *tag_out,
    bool *is_limit_out)
{
	if (tag_out != NULL)
		*tag_out = p->err_tag && p->cmd.tag.len > 0 ? p->cmd.tag
		                                            : SLICE_LIT("*");
	if (is_limit_out != NULL)
		*is_limit_out = p->err_limit;
	return p->err != NULL ? p->err : "Syntax error";
}

bool
imap_arg_string(const struct imap_arg *a, struct slice *out)
{
	if (a == NULL ||
	    (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_QUOTED &&
	        a->type != IMAP_ARG_LITERAL))
		return false;
	*out = a->str;
	return true;
}

char *
imap_arg_cstr(struct arena *ar, const struct imap_arg *arg)
{
	struct slice s;

	if (!imap_arg_string(arg, &s) || memchr(s.p, 0, s.len) != NULL)
		return NULL;
	return arena_strndup(ar, s.p, s.len);
}

bool
imap_arg_atom_is(const struct imap_arg *a, const char *word)
{
	return a != NULL && a->type == IMAP_ARG_ATOM &&
	    slice_eq_ci(a->str, slice_cstr(word));
}

bool
imap_arg_number(const struct imap_arg *a, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (a == NULL || a->type != IMAP_ARG_ATOM || a->str.len == 0)
		return false;
	for (i = 0; i < a->str.len; i++) {
		unsigned char c = (unsigned char)a->str.p[i];

		if (c < '0' || c > '9')
			return false;
		if (v > (UINT64_MAX - (c - '0')) / 10)
			return false;
		v = v * 10 + (c - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}
