/* SPDX-License-Identifier: MIT */
/* Unit tests for the IMAP command parser: every argument type, tags and
 * the UID prefix, the "[" atom rule, literals (accepted, streamed,
 * rejected), each limit at N and N+1 with both limit sets, resync after
 * errors (no command smuggled inside a discarded literal), and identical
 * results however the input is split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/limits.h"
#include "imap/parse.h"
#include "lib/buf.h"
#include "lib/mem.h"

static const struct imap_parse_limits lim_pre = { IMAP_LINE_MAX_PREAUTH,
	IMAP_LITERAL_MAX_PREAUTH, IMAP_LITERALS_MAX_PREAUTH,
	IMAP_DEPTH_MAX_PREAUTH, false };
static const struct imap_parse_limits lim_auth = { IMAP_LINE_MAX,
	IMAP_LITERAL_MAX, IMAP_LITERALS_MAX, IMAP_DEPTH_MAX, true };

static void
dump_str(struct buf *b, struct slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			assert_int_equal(buf_printf(b, "\\x%02x", c), 0);
		else
			assert_int_equal(buf_append(b, &s.p[i], 1), 0);
	}
}

/* Renders args: atom as is, "quoted", {n}lit / ~{n}lit, NIL, (list),
 * <n> streamed. */
static void
dump_args(struct buf *b, const struct imap_arg *a)
{
	for (; a != NULL; a = a->next) {
		switch (a->type) {
		case IMAP_ARG_ATOM:
			dump_str(b, a->str);
			break;
		case IMAP_ARG_NIL:
			buf_printf(b, "NIL");
			break;
		case IMAP_ARG_QUOTED:
			buf_printf(b, "\"");
			dump_str(b, a->str);
			buf_printf(b, "\"");
			break;
		case IMAP_ARG_LITERAL:
			assert_int_equal(a->size, a->str.len);
			buf_printf(b, "%s{%zu}", a->binary ? "~" : "",
			    a->str.len);
			dump_str(b, a->str);
			break;
		case IMAP_ARG_STREAMED:
			buf_printf(b, "<%llu>", (unsigned long long)a->size);
			break;
		case IMAP_ARG_LIST: {
			size_t n = 0;

			for (const struct imap_arg *c = a->list; c != NULL;
			     c = c->next)
				n++;
			assert_int_equal(n, a->n);
			buf_printf(b, "(");
			dump_args(b, a->list);
			buf_printf(b, ")");
			break;
		}
		}
		if (a->next != NULL)
			buf_printf(b, " ");
	}
}

/* Feeds `in` cut at the given points; literal answers from `policy`
 * ('a' accept, 's' stream, 'r' reject; past its end: accept). The log
 * has a line per event. */
static void
run_cuts(const struct imap_parse_limits *lim, size_t arena_budget,
    struct slice in, const char *policy, const size_t *cuts, size_t ncuts,
    struct buf *log)
{
	struct arena *ar = arena_new("test", arena_budget);
	struct imap_parser *p = imap_parser_new(ar, lim);
	size_t off = 0, k, npol = 0;
	uint64_t stream_left = 0;

	buf_init(log, 1 << 24);
	for (k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : in.len;

		while (off < end) {
			struct slice s = slice_make(in.p + off, end - off);
			size_t used = 0;
			enum imap_parse_rc rc;

			if (stream_left > 0) {
				size_t n =
				    s.len < stream_left ? s.len : stream_left;
				off += n;
				stream_left -= n;
				continue;
			}
			rc = imap_parser_push(p, s, &used);
			assert_true(used <= s.len);
			off += used;
			if (rc == IMAP_PARSE_MORE) {
				assert_int_equal(used, s.len);
				continue;
			}
			if (rc == IMAP_PARSE_DONE) {
				const struct imap_command *c =
				    imap_parser_command(p);

				assert_true(c->tag.len > 0);
				buf_printf(log, "D ");
				dump_str(log, c->tag);
				buf_printf(log, "%s ", c->uid ? " UID" : "");
				dump_str(log, c->name);
				buf_printf(log, "[");
				dump_args(log, c->args);
				buf_printf(log, "]%zu\n", c->n_args);
				arena_reset(ar);
			} else if (rc == IMAP_PARSE_ERROR) {
				struct slice tag;
				bool limit;
				const char *why =
				    imap_parser_error(p, &tag, &limit);

				buf_printf(log, "E ");
				dump_str(log, tag);
				buf_printf(log, " %s%s\n", limit ? "!" : "",
				    why);
				arena_reset(ar);
			} else {
				struct imap_literal_info li;
				char act =
				    policy != NULL && policy[npol] != '\0'
				    ? policy[npol++]
				    : 'a';

				imap_parser_literal_info(p, &li);
				buf_printf(log, "L %llu%s%s %c\n",
				    (unsigned long long)li.size,
				    li.sync ? "" : "+", li.binary ? "~" : "",
				    act);
				if (act == 'a') {
					imap_parser_literal_accept(p);
				} else if (act == 's') {
					stream_left = li.size;
					imap_parser_literal_streamed(p);
				} else {
					imap_parser_literal_reject(p);
					buf_printf(log, "R\n");
				}
			}
		}
	}
	imap_parser_free(&p);
	arena_free(&ar);
}

static char *
run(const struct imap_parse_limits *lim, const char *in, const char *pol)
{
	struct buf log;

	run_cuts(lim, 1 << 24, slice_cstr(in), pol, NULL, 0, &log);
	return log.p != NULL ? log.p : xstrdup("");
}

#define CHECK(lim, in, pol, want)                                              \
	do {                                                                   \
		char *got_ = run((lim), (in), (pol));                          \
		assert_string_equal(got_, (want));                             \
		free(got_);                                                    \
	} while (0)

/* The same log whether fed whole, byte by byte, or cut in two anywhere. */
static void
check_splits(const struct imap_parse_limits *lim, struct slice in,
    const char *pol)
{
	struct buf whole, part;
	size_t *cuts = xcalloc(in.len + 1, sizeof(*cuts));
	size_t i;

	run_cuts(lim, 1 << 24, in, pol, NULL, 0, &whole);
	for (i = 0; i < in.len; i++)
		cuts[i] = i + 1;
	run_cuts(lim, 1 << 24, in, pol, cuts, in.len, &part);
	assert_string_equal(part.p != NULL ? part.p : "",
	    whole.p != NULL ? whole.p : "");
	buf_clear(&part);
	for (i = 0; i <= in.len; i++) {
		run_cuts(lim, 1 << 24, in, pol, &i, 1, &part);
		assert_string_equal(part.p != NULL ? part.p : "",
		    whole.p != NULL ? whole.p : "");
		buf_clear(&part);
	}
	buf_clear(&whole);
	free(cuts);
}

static void
test_basic(void **state)
{
	(void)state;
	CHECK(&lim_auth, "a1 NOOP\r\n", NULL, "D a1 NOOP[]0\n");
	CHECK(&lim_auth, "a1 noop \r\n", NULL, "D a1 noop[]0\n");
	CHECK(&lim_auth, "\r\n\r\na NOOP\r\n", NULL, "D a NOOP[]0\n");
	CHECK(&lim_auth, "A001 LOGIN alice \"pass word\"\r\n", NULL,
	    "D A001 LOGIN[alice \"pass word\"]2\n");
	CHECK(&lim_auth, "x SELECT \"a\\\"b\\\\c\"\r\n", NULL,
	    "D x SELECT[\"a\"b\\x5cc\"]1\n");
	CHECK(&lim_auth, "x LIST \"\" *\r\nx LIST \"\" %\r\n", NULL,
	    "D x LIST[\"\" *]2\nD x LIST[\"\" %]2\n");
	CHECK(&lim_auth, "t STORE 1:* +FLAGS.SILENT (\\Seen \\Deleted)\r\n",
	    NULL, "D t STORE[1:* +FLAGS.SILENT (\\x5cSeen \\x5cDeleted)]3\n");
	CHECK(&lim_auth, "t X nil NIL Nil \"NIL\" NILS\r\n", NULL,
	    "D t X[NIL NIL NIL \"NIL\" NILS]5\n");
	CHECK(&lim_auth, "t X () (()) (a (b c) d)\r\n", NULL,
	    "D t X[() (()) (a (b c) d)]3\n");
	CHECK(&lim_auth, "t X ( a  b ) \r\n", NULL, "D t X[(a b)]1\n");
	CHECK(&lim_auth, "t X ~a a~ ~\r\n", NULL, "D t X[~a a~ ~]3\n");
	CHECK(&lim_auth, "t X \"caf\xc3\xa9\" \xc3\xa9t\xc3\xa9\r\n", NULL,
	    "D t X[\"caf\\xc3\\xa9\" \\xc3\\xa9t\\xc3\\xa9]2\n");
}

static void
test_tags_and_uid(void **state)
{
	(void)state;
	CHECK(&lim_auth, "a.b-c]_1 NOOP\r\n", NULL, "D a.b-c]_1 NOOP[]0\n");
	CHECK(&lim_auth, "a+b NOOP\r\n", NULL, "E * Invalid tag\n");
	CHECK(&lim_auth, "a*b NOOP\r\nok NOOP\r\n", NULL,
	    "E * Invalid tag\nD ok NOOP[]0\n");
	CHECK(&lim_auth, " NOOP\r\n", NULL, "E * Invalid tag\n");
	CHECK(&lim_auth, "a\r\n", NULL, "E a Missing command\n");
	CHECK(&lim_auth, "a \r\n", NULL,
	    "E a Missing or invalid command name\n");
	CHECK(&lim_auth, "a  NOOP\r\n", NULL,
	    "E a Missing or invalid command name\n");
	CHECK(&lim_auth, "a (NOOP)\r\n", NULL,
	    "E a Missing or invalid command name\n");
	CHECK(&lim_auth, "a NO\"OP\r\n", NULL, "E a Invalid command name\n");
	CHECK(&lim_auth, "\xc3\xa9 NOOP\r\n", NULL, "E * Invalid tag\n");
	CHECK(&lim_auth, "7 UID FETCH 1:* (FLAGS)\r\n", NULL,
	    "D 7 UID FETCH[1:* (FLAGS)]2\n");
	CHECK(&lim_auth, "7 uid expunge 4\r\n", NULL, "D 7 UID expunge[4]1\n");
	CHECK(&lim_auth, "7 UID\r\n", NULL, "E 7 Missing command after UID\n");
	CHECK(&lim_auth, "7 UID UID\r\n", NULL, "D 7 UID UID[]0\n");
	CHECK(&lim_auth, "7 UIDX 1\r\n", NULL, "D 7 UIDX[1]1\n");
}

static void
test_bracket_atom(void **state)
{
	(void)state;
	CHECK(&lim_auth,
	    "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.2048> UID)\r\n",
	    NULL,
	    "D a FETCH[1 (BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.2048> UID)]2\n");
	CHECK(&lim_auth, "a FETCH 1 BODY[]\r\n", NULL,
	    "D a FETCH[1 BODY[]]2\n");
	CHECK(&lim_auth, "a FETCH 1 (BODY[1.2.MIME] BINARY[1]<5.6>)\r\n", NULL,
	    "D a FETCH[1 (BODY[1.2.MIME] BINARY[1]<5.6>)]2\n");
	CHECK(&lim_auth, "a FETCH 1 x[a[b]c]d\r\n", NULL,
	    "D a FETCH[1 x[a[b]c]d]2\n");
	CHECK(&lim_auth, "a FETCH 1 BODY[HEADER.FIELDS (A\r\nb NOOP\r\n", NULL,
	    "E a Unterminated '['\nD b NOOP[]0\n");
	/* a lone "]" is an astring char */
	CHECK(&lim_auth, "a LOGIN a]b c\r\n", NULL, "D a LOGIN[a]b c]2\n");
}

static void
test_syntax_errors_resync(void **state)
{
	(void)state;
	CHECK(&lim_auth, "a X (a\r\nb NOOP\r\n", NULL,
	    "E a Missing ')'\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X a)\r\nb NOOP\r\n", NULL,
	    "E a Unexpected ')'\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X \"ab\r\nb NOOP\r\n", NULL,
	    "E a Unterminated quoted string\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X \"a\\nb\" c\r\nb NOOP\r\n", NULL,
	    "E a Invalid escape in quoted string\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X \"a\"b\r\nb NOOP\r\n", NULL,
	    "E a Missing space between arguments\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X (a)(b)\r\nb NOOP\r\n", NULL,
	    "E a Missing space between arguments\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X a\"b\r\nb NOOP\r\n", NULL,
	    "E a Invalid character in atom\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X a{b\r\nb NOOP\r\n", NULL,
	    "E a Invalid character in atom\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X a\tb\r\nb NOOP\r\n", NULL,
	    "E a Invalid character in atom\nD b NOOP[]0\n");
	/* bare LF: an error for the line, which it ends */
	CHECK(&lim_auth, "a NOOP\nb NOOP\r\n", NULL,
	    "E a Bare LF (CRLF required)\nD b NOOP[]0\n");
	CHECK(&lim_auth, "\nb NOOP\r\n", NULL,
	    "E * Bare LF (CRLF required)\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X \"q\nb NOOP\r\n", NULL,
	    "E a Bare LF (CRLF required)\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a NOOP\rb NOOP\r\nc NOOP\r\n", NULL,
	    "E a CR without LF\nD c NOOP[]0\n");
	CHECK(&lim_auth, "\rx\r\nc NOOP\r\n", NULL,
	    "E * CR without LF\nD c NOOP[]0\n");
	/* NUL outside literals */
	CHECK(&lim_auth, "a X {x}\r\nb NOOP\r\n", NULL,
	    "E a Invalid literal\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X {}\r\nb NOOP\r\n", NULL,
	    "E a Invalid literal\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X {1+x}\r\nb NOOP\r\n", NULL,
	    "E a Invalid literal\nD b NOOP[]0\n");
	CHECK(&lim_auth, "a X {1} y\r\nb NOOP\r\n", NULL,
	    "E a Literal not at end of line\nD b NOOP[]0\n");
}

/* The NUL check cannot go through a C string: explicit lengths. */
static void
test_nul(void **state)
{
	static const char in[] = "a X \"a\0b\"\r\nb NOOP\r\nc X {3}\r\na\0b "
	                         "x\r\nd NOOP\r\ne X ~{3}\r\na\0b\r\n";
	struct buf log;

	(void)state;
	run_cuts(&lim_auth, 1 << 24, slice_make(in, sizeof(in) - 1), NULL, NULL,
	    0, &log);
	assert_string_equal(log.p,
	    "E a NUL in command\nD b NOOP[]0\nL 3 a\nE c NUL in literal\n"
	    "D d NOOP[]0\nL 3~ a\nD e X[~{3}a\\x00b]1\n");
	buf_clear(&log);
	check_splits(&lim_auth, slice_make(in, sizeof(in) - 1), NULL);
}

static void
test_literals(void **state)
{
	(void)state;
	CHECK(&lim_auth, "a LOGIN {5}\r\nalice {3}\r\npw!\r\n", NULL,
	    "L 5 a\nL 3 a\nD a LOGIN[{5}alice {3}pw!]2\n");
	CHECK(&lim_auth, "a LOGIN {5+}\r\nalice {0}\r\n\r\n", NULL,
	    "L 5+ a\nL 0 a\nD a LOGIN[{5}alice {0}]2\n");
	CHECK(&lim_auth, "a X ({2}\r\nab ~{1+}\r\n\x01)\r\n", NULL,
	    "L 2 a\nL 1+~ a\nD a X[({2}ab ~{1}\\x01)]1\n");
	CHECK(&lim_auth, "a X {3}\r\n\r\n\r\r\n", NULL,
	    "L 3 a\nD a X[{3}\\x0d\\x0a\\x0d]1\n");
	/* streamed (APPEND): size only, the line goes on */
	CHECK(&lim_auth,
	    "a APPEND INBOX (\\Seen) {11}\r\nhello world {2+}\r\nhi\r\nb "
	    "NOOP\r\n",
	    "ss",
	    "L 11 s\nL 2+ s\nD a APPEND[INBOX (\\x5cSeen) <11> <2>]4\n"
	    "D b NOOP[]0\n");
	/* so_far: the command before the literal */
	{
		struct arena *ar = arena_new("t", 1 << 20);
		struct imap_parser *p = imap_parser_new(ar, &lim_auth);
		struct imap_literal_info li;
		size_t used;
		static const char in[] = "t1 UID X a (b {4}\r\n";

		assert_int_equal(imap_parser_push(p, SLICE_LIT(in), &used),
		    IMAP_PARSE_LITERAL);
		assert_int_equal(used, sizeof(in) - 1);
		assert_int_equal(imap_parser_push(p, SLICE_LIT("x"), &used),
		    IMAP_PARSE_LITERAL);
		assert_int_equal(used, 0);
		imap_parser_literal_info(p, &li);
		assert_int_equal(li.size, 4);
		assert_true(li.sync);
		assert_false(li.binary);
		assert_true(slice_eq(li.so_far->tag, SLICE_LIT("t1")));
		assert_true(slice_eq(li.so_far->name, SLICE_LIT("X")));
		assert_true(li.so_far->uid);
		assert_int_equal(li.so_far->n_args, 2);
		assert_true(imap_arg_atom_is(li.so_far->args, "A"));
		assert_int_equal(li.so_far->args->next->type, IMAP_ARG_LIST);
		imap_parser_free(&p);
		imap_parser_free(&p);
		arena_free(&ar);
	}
}

static void
test_literal_reject_resync(void **state)
{
	(void)state;
	/* sync: the client waits for "+", the command is over */
	CHECK(&lim_auth, "a X {5}\r\nb NOOP\r\n", "r",
	    "L 5 r\nR\nD b NOOP[]0\n");
	/* non-sync: its bytes, then the rest of the line, are discarded:
	 * nothing inside the literal runs as a command */
	CHECK(&lim_auth, "a X {14+}\r\nb DELETE INBOX x y\r\nc NOOP\r\n", "r",
	    "L 14+ r\nR\nD c NOOP[]0\n");
	CHECK(&lim_auth,
	    "a X {8+}\r\nb NOOP\r\n {9+}\r\nc NOOP\r\n\r\nd NOOP\r\n", "r",
	    "L 8+ r\nR\nD d NOOP[]0\n");
	/* a later sync literal on the discarded line ends it */
	CHECK(&lim_auth, "a X {2+}\r\nab {5}\r\nc NOOP\r\n", "r",
	    "L 2+ r\nR\nD c NOOP[]0\n");
	CHECK(&lim_auth, "a X {0+}\r\n y\r\nc NOOP\r\n", "r",
	    "L 0+ r\nR\nD c NOOP[]0\n");
}

static void
test_error_resync_literals(void **state)
{
	(void)state;
	/* an error before a {n+} on the same line: n bytes are skipped */
	CHECK(&lim_auth, "a X ) {10+}\r\nb DELETE x\r\nc NOOP\r\n", NULL,
	    "E a Unexpected ')'\nD c NOOP[]0\n");
	/* ... also after a bare LF */
	CHECK(&lim_auth, "a X ) {10+}\nb DELETE x\r\nc NOOP\r\n", NULL,
	    "E a Unexpected ')'\nD c NOOP[]0\n");
	CHECK(&lim_auth, "a X {10+}\nb DELETE x\r\nc NOOP\r\n", NULL,
	    "E a Bare LF (CRLF required)\nD c NOOP[]0\n");
	/* a sync literal on an erroring line: nothing to skip */
	CHECK(&lim_auth, "a X ) {12}\r\nb NOOP\r\n", NULL,
	    "E a Unexpected ')'\nD b NOOP[]0\n");
	/* chained: the line after the discarded literal has another */
	CHECK(&lim_auth, "a X ) {1+}\r\nx {2+}\r\nyy z\r\nc NOOP\r\n", NULL,
	    "E a Unexpected ')'\nD c NOOP[]0\n");
	/* an error after an accepted literal, on its continuation line */
	CHECK(&lim_auth, "a X {1}\r\nx ) {4+}\r\nb X\r\nc NOOP\r\n", NULL,
	    "L 1 a\nE a Unexpected ')'\nD c NOOP[]0\n");
	/* size overflow: the rest is one endless literal */
	CHECK(&lim_auth, "a X {99999999999999999999+}\r\nb NOOP\r\n", NULL,
	    "E a !Literal size too large\n");
	CHECK(&lim_auth, "a X {18446744073709551615}\r\nb NOOP\r\n", "r",
	    "L 18446744073709551615 r\nR\nD b NOOP[]0\n");
}

static void
limits_line(const struct imap_parse_limits *lim)
{
	size_t n = lim->line_max;
	char *in = xmalloc(n + 64);
	char *want = xmalloc(n + 64);
	char *got;

	/* exactly line_max bytes before CRLF */
	memset(in, 'x', n);
	memcpy(in, "a X ", 4);
	memcpy(in + n, "\r\n", 3);
	memcpy(want, "D a X[", 6);
	memset(want + 6, 'x', n - 4);
	memcpy(want + 6 + n - 4, "]1\n", 4);
	CHECK(lim, in, NULL, want);
	/* one more */
	memset(in, 'x', n + 1);
	memcpy(in, "a X ", 4);
	memcpy(in + n + 1, "\r\nb NOOP\r\n", 11);
	CHECK(lim, in, NULL, "E a !Command line too long\nD b NOOP[]0\n");
	/* literal bytes do not count; later lines do */
	memset(in, 'x', n + 40);
	memcpy(in, "a X {5}\r\nlllll ", 15);
	memcpy(in + n + 7, "\r\n", 3);
	got = run(lim, in, NULL);
	assert_non_null(strstr(got, "D a X[{5}lllll xxx"));
	free(got);
	in[n + 7] = 'x';
	memcpy(in + n + 8, "\r\nb NOOP\r\n", 11);
	CHECK(lim, in, NULL,
	    "L 5 a\nE a !Command line too long\nD b NOOP[]0\n");
	/* a too long line ending in {n+}: its bytes are discarded */
	memset(in, 'x', n + 40);
	memcpy(in, "a X ", 4);
	memcpy(in + n + 4, " {3+}\r\nb X\r\nc NOOP\r\n", 21);
	CHECK(lim, in, NULL, "E a !Command line too long\nD c NOOP[]0\n");
	/* the limit falling inside the announcement */
	memset(in, 'x', n + 40);
	memcpy(in, "a X ", 4);
	memcpy(in + n - 3, " {3+}\r\nb X\r\nc NOOP\r\n", 21);
	CHECK(lim, in, NULL, "E a !Command line too long\nD c NOOP[]0\n");
	free(in);
	free(want);
}

static void
test_limit_line(void **state)
{
	(void)state;
	limits_line(&lim_pre);
	limits_line(&lim_auth);
}

static void
limits_literal(const struct imap_parse_limits *lim)
{
	uint64_t m = lim->literal_max;
	struct buf in, want;
	char *got;

	buf_init(&in, 1 << 24);
	buf_init(&want, 1 << 24);
	/* literal_max accepted */
	buf_printf(&in, "a X {%llu}\r\n", (unsigned long long)m);
	for (uint64_t i = 0; i < m; i++)
		buf_append(&in, "y", 1);
	buf_printf(&in, "\r\nb NOOP\r\n");
	got = run(lim, in.p, NULL);
	buf_printf(&want, "L %llu a\nD a X[{%llu}", (unsigned long long)m,
	    (unsigned long long)m);
	assert_int_equal(strncmp(got, want.p, want.len), 0);
	assert_non_null(strstr(got, "]1\nD b NOOP[]0\n"));
	free(got);
	/* literal_max + 1 accepted is an error; the bytes (the "+" went
	 * out) are discarded */
	buf_reset(&in);
	buf_reset(&want);
	buf_printf(&in, "a X {%llu}\r\n", (unsigned long long)m + 1);
	for (uint64_t i = 0; i < m + 1; i++)
		buf_append(&in, "y", 1);
	buf_printf(&in, " z\r\nb NOOP\r\n");
	buf_printf(&want, "L %llu a\nE a !Literal too large\nD b NOOP[]0\n",
	    (unsigned long long)m + 1);
	got = run(lim, in.p, NULL);
	assert_string_equal(got, want.p);
	free(got);
	/* as {n+} too */
	buf_reset(&in);
	buf_reset(&want);
	buf_printf(&in, "a X {%llu+}\r\n", (unsigned long long)m + 1);
	for (uint64_t i = 0; i < m + 1; i++)
		buf_append(&in, "y", 1);
	buf_printf(&in, " z\r\nb NOOP\r\n");
	if (!lim->literal_plus && m + 1 > 4096)
		buf_printf(&want,
		    "E a !Non-synchronizing literal over 4096 octets\n"
		    "D b NOOP[]0\n");
	else
		buf_printf(&want,
		    "L %llu+ a\nE a !Literal too large\nD b NOOP[]0\n",
		    (unsigned long long)m + 1);
	got = run(lim, in.p, NULL);
	assert_string_equal(got, want.p);
	free(got);
	buf_clear(&in);
	buf_clear(&want);
}

static void
test_limit_literal(void **state)
{
	(void)state;
	limits_literal(&lim_pre);
	limits_literal(&lim_auth);
}

static void
test_literal_minus(void **state)
{
	struct buf in;
	char *got;

	(void)state;
	buf_init(&in, 1 << 20);
	/* LITERAL-: {4096+} fine, {4097+} BAD with its bytes skipped */
	buf_printf(&in, "a X {4096+}\r\n");
	for (int i = 0; i < 4096; i++)
		buf_append(&in, "q", 1);
	buf_printf(&in, "\r\n");
	got = run(&lim_pre, in.p, "r");
	assert_string_equal(got, "L 4096+ r\nR\n");
	free(got);
	buf_reset(&in);
	buf_printf(&in, "a X {4097+}\r\n");
	for (int i = 0; i < 4093; i++)
		buf_append(&in, "q", 1);
	buf_printf(&in, "\r\nb X\r\nc NOOP\r\n");
	got = run(&lim_pre, in.p, NULL);
	assert_string_equal(got,
	    "E a !Non-synchronizing literal over 4096 octets\nD c NOOP[]0\n");
	free(got);
	/* LITERAL+: any size may be announced (and streamed) */
	CHECK(&lim_auth, "a APPEND x {100000+}\r\n", "s", "L 100000+ s\n");
	buf_clear(&in);
}

static void
limits_count(const struct imap_parse_limits *lim)
{
	struct buf in, want;
	size_t n = lim->literals_max;
	char *got;

	buf_init(&in, 1 << 24);
	buf_init(&want, 1 << 24);
	buf_printf(&in, "a X");
	for (size_t i = 0; i < n; i++)
		buf_printf(&in, " {1}\r\nz");
	buf_printf(&in, "\r\nb NOOP\r\n");
	got = run(lim, in.p, NULL);
	assert_non_null(strstr(got, "D b NOOP[]0\n"));
	assert_null(strstr(got, "E "));
	free(got);
	buf_reset(&in);
	buf_printf(&in, "a X");
	for (size_t i = 0; i < n + 1; i++)
		buf_printf(&in, " {1+}\r\nz");
	buf_printf(&in, " b\r\nb NOOP\r\n");
	for (size_t i = 0; i < n; i++)
		buf_printf(&want, "L 1+ a\n");
	buf_printf(&want, "E a !Too many literals\nD b NOOP[]0\n");
	got = run(lim, in.p, NULL);
	assert_string_equal(got, want.p);
	free(got);
	buf_clear(&in);
	buf_clear(&want);
}

static void
test_limit_literal_count(void **state)
{
	(void)state;
	limits_count(&lim_pre);
	limits_count(&lim_auth);
}

static void
limits_depth(const struct imap_parse_limits *lim)
{
	struct buf in, want;
	size_t d = lim->depth_max;
	char *got;

	buf_init(&in, 1 << 20);
	buf_init(&want, 1 << 20);
	buf_printf(&in, "a X ");
	buf_printf(&want, "D a X[");
	for (size_t i = 0; i < d; i++) {
		buf_printf(&in, "(");
		buf_printf(&want, "(");
	}
	for (size_t i = 0; i < d; i++) {
		buf_printf(&in, ")");
		buf_printf(&want, ")");
	}
	buf_printf(&in, "\r\n");
	buf_printf(&want, "]1\n");
	got = run(lim, in.p, NULL);
	assert_string_equal(got, want.p);
	free(got);
	buf_reset(&in);
	buf_printf(&in, "a X ");
	for (size_t i = 0; i < d + 1; i++)
		buf_printf(&in, "(");
	for (size_t i = 0; i < d + 1; i++)
		buf_printf(&in, ")");
	buf_printf(&in, "\r\nb NOOP\r\n");
	got = run(lim, in.p, NULL);
	assert_string_equal(got, "E a !Too deeply nested lists\nD b NOOP[]0\n");
	free(got);
	/* brackets inside an atom do not nest lists */
	buf_reset(&in);
	buf_reset(&want);
	buf_printf(&in, "a X B[");
	for (size_t i = 0; i < d + 3; i++)
		buf_printf(&in, "(");
	buf_printf(&in, "]\r\n");
	got = run(lim, in.p, NULL);
	assert_int_equal(strncmp(got, "D a X[B[((", 10), 0);
	free(got);
	buf_clear(&in);
	buf_clear(&want);
}

static void
test_limit_depth(void **state)
{
	(void)state;
	limits_depth(&lim_pre);
	limits_depth(&lim_auth);
}

/* Over the arena budget: a limit error, then the next command parses. */
static void
test_arena_budget(void **state)
{
	struct buf log;
	struct buf in;

	(void)state;
	buf_init(&in, 1 << 20);
	buf_printf(&in, "a X ");
	for (int i = 0; i < 2000; i++)
		buf_printf(&in, "ab ");
	buf_printf(&in, "\r\nb NOOP\r\n");
	run_cuts(&lim_auth, 4096, buf_slice(&in), NULL, NULL, 0, &log);
	assert_string_equal(log.p, "E a !Out of memory\nD b NOOP[]0\n");
	buf_clear(&log);
	run_cuts(&lim_auth, 4096, SLICE_LIT("a X {5000}\r\nb NOOP\r\n"), NULL,
	    NULL, 0, &log);
	assert_string_equal(log.p, "L 5000 a\nE a !Out of memory\n");
	buf_clear(&log);
	buf_clear(&in);
}

static void
test_split_everywhere(void **state)
{
	static const char *const cases[] = {
		"a1 NOOP\r\n\r\nA2 uid FETCH 1:*,5 (BODY.PEEK[HEADER.FIELDS "
		"(FROM TO)]<0.2048> FLAGS)\r\n",
		"a LOGIN {5}\r\nalice {3+}\r\npw!\r\nb X ~{2}\r\n\x01\x02 "
		"\"q\\\"\\\\\" NIL ((x))\r\n",
		"a X ) {12+}\r\nb DELETE x\r\nc NOOP\r\nd X {3}\r\nabc\nq\r\n",
		"a X \"a\nb NOOP\r\n\rc\r\nd (\r\ne X {2+}\r\n{3+}\r\n x\r\n",
		"a APPEND INBOX {5}\r\nhello {3+}\r\nxyz\r\nb NOOP\r\n",
	};
	static const char *const pols[] = { NULL, NULL, NULL, NULL, "sr" };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_splits(&lim_auth, slice_cstr(cases[i]), pols[i]);
		check_splits(&lim_pre, slice_cstr(cases[i]), pols[i]);
		check_splits(&lim_auth, slice_cstr(cases[i]), "rrrr");
		check_splits(&lim_auth, slice_cstr(cases[i]), "ssss");
	}
}

static void
test_helpers(void **state)
{
	struct arena *ar = arena_new("t", 1 << 20);
	struct imap_arg a = { 0 };
	struct slice s;
	uint64_t v;
	char *c;

	(void)state;
	a.type = IMAP_ARG_ATOM;
	a.str = SLICE_LIT("4294967295");
	assert_true(imap_arg_number(&a, UINT32_MAX, &v));
	assert_int_equal(v, UINT32_MAX);
	a.str = SLICE_LIT("4294967296");
	assert_false(imap_arg_number(&a, UINT32_MAX, &v));
	a.str = SLICE_LIT("18446744073709551615");
	assert_true(imap_arg_number(&a, UINT64_MAX, &v));
	a.str = SLICE_LIT("18446744073709551616");
	assert_false(imap_arg_number(&a, UINT64_MAX, &v));
	a.str = SLICE_LIT("007");
	assert_true(imap_arg_number(&a, 10, &v));
	assert_int_equal(v, 7);
	a.str = SLICE_LIT("1a");
	assert_false(imap_arg_number(&a, 10, &v));
	a.str = SLICE_LIT("");
	assert_false(imap_arg_number(&a, 10, &v));
	a.str = SLICE_LIT("inbox");
	assert_true(imap_arg_atom_is(&a, "INBOX"));
	assert_false(imap_arg_atom_is(&a, "INBOX2"));
	assert_true(imap_arg_string(&a, &s));
	c = imap_arg_cstr(ar, &a);
	assert_string_equal(c, "inbox");
	a.type = IMAP_ARG_QUOTED;
	assert_false(imap_arg_atom_is(&a, "INBOX"));
	assert_false(imap_arg_number(&a, 10, &v));
	a.str = slice_make("a\0b", 3);
	a.type = IMAP_ARG_LITERAL;
	assert_true(imap_arg_string(&a, &s));
	assert_null(imap_arg_cstr(ar, &a));
	a.type = IMAP_ARG_NIL;
	assert_false(imap_arg_string(&a, &s));
	a.type = IMAP_ARG_LIST;
	assert_false(imap_arg_string(&a, &s));
	a.type = IMAP_ARG_STREAMED;
	assert_false(imap_arg_string(&a, &s));
	assert_false(imap_arg_string(NULL, &s));
	arena_free(&ar);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_tags_and_uid),
		cmocka_unit_test(test_bracket_atom),
		cmocka_unit_test(test_syntax_errors_resync),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_literal_reject_resync),
		cmocka_unit_test(test_error_resync_literals),
		cmocka_unit_test(test_limit_line),
		cmocka_unit_test(test_limit_literal),
		cmocka_unit_test(test_literal_minus),
		cmocka_unit_test(test_limit_literal_count),
		cmocka_unit_test(test_limit_depth),
		cmocka_unit_test(test_arena_budget),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
