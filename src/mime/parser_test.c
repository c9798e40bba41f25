/* SPDX-License-Identifier: MIT */
/* Unit tests for the streaming MIME parser: structure of many shapes,
 * identical event streams however the input is split, every input byte
 * accounted for exactly once, and each limit at N and N+1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "mime/parser.h"

/* Records events: `log` in full (data escaped, consecutive data events
 * of one kind merged), `shape` without data, `all` = concatenated data. */
struct rec {
	struct buf log, shape, all;
	int last; /* kind of the last data run, -1 if none */
	unsigned last_depth;
};

static const char *const kind_names[] = { "[", "F", "H", "B", "P", "D", "E",
	"]" };

static void
rec_init(struct rec *r)
{
	buf_init(&r->log, 64 << 20);
	buf_init(&r->shape, 64 << 20);
	buf_init(&r->all, 64 << 20);
	r->last = -1;
}

static void
rec_clear(struct rec *r)
{
	buf_clear(&r->log);
	buf_clear(&r->shape);
	buf_clear(&r->all);
}

static void
escape(struct buf *b, struct slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '\r')
			assert_int_equal(buf_append(b, "\\r", 2), 0);
		else if (s.p[i] == '\n')
			assert_int_equal(buf_append(b, "\\n", 2), 0);
		else
			assert_int_equal(buf_append(b, s.p + i, 1), 0);
	}
}

static int
rec_event(void *ctx, const struct mime_event *ev)
{
	struct rec *r = ctx;
	bool data = ev->kind == MIME_EV_BODY || ev->kind == MIME_EV_PREAMBLE ||
	    ev->kind == MIME_EV_EPILOGUE;

	assert_int_equal(buf_append(&r->all, ev->data.p, ev->data.len), 0);
	if (data && r->last == (int)ev->kind && r->last_depth == ev->depth) {
		escape(&r->log, ev->data);
		return 0;
	}
	r->last = data ? (int)ev->kind : -1;
	r->last_depth = ev->depth;
	assert_int_equal(buf_printf(&r->log, "\n%s%u ", kind_names[ev->kind],
	                     ev->depth),
	    0);
	if (ev->kind == MIME_EV_FIELD) {
		escape(&r->log, ev->name);
		assert_int_equal(buf_append(&r->log, "=", 1), 0);
		escape(&r->log, ev->value);
		assert_int_equal(buf_append(&r->log, "|", 1), 0);
	} else if (ev->kind == MIME_EV_HEADER_END) {
		assert_int_equal(buf_printf(&r->log,
		                     "%s/%s b=%s cs=%s cte=%d "
		                     "mp=%d|",
		                     ev->part->ct.type, ev->part->ct.subtype,
		                     ev->part->ct.boundary,
		                     ev->part->ct.charset, (int)ev->part->cte,
		                     (int)ev->part->is_multipart),
		    0);
	} else if (ev->kind == MIME_EV_BOUNDARY) {
		assert_int_equal(buf_printf(&r->log, "c=%d|", (int)ev->close),
		    0);
	}
	escape(&r->log, ev->data);
	if (ev->kind != MIME_EV_FIELD)
		assert_int_equal(buf_printf(&r->shape, "%s%s%u",
		                     r->shape.len ? " " : "",
		                     kind_names[ev->kind], ev->depth),
		    0);
	return 0;
}

/* Feeds msg cut at the given offsets (sorted, may repeat). */
static int
feed(struct rec *r, const char *msg, size_t len, const size_t *cuts,
    size_t ncuts)
{
	struct mime_parser *p = mime_parser_new(rec_event, r);
	struct err err = { 0 };
	size_t off = 0, used, i, end;
	int rc = 0;

	for (i = 0; i <= ncuts && rc == 0; i++) {
		end = i < ncuts ? cuts[i] : len;
		rc = mime_parser_push(p, slice_make(msg + off, end - off),
		    &used, &err);
		if (rc == 0)
			assert_int_equal(used, end - off);
		off = end;
	}
	if (rc == 0)
		rc = mime_parser_finish(p, &err);
	mime_parser_free(&p);
	assert_null(p);
	return rc;
}

/* Parses msg whole, then split at every byte and byte by byte: every run
 * must give the same events, and their data must be msg exactly. Returns
 * the shape; caller frees it. */
static char *
parse_everywhere(const char *msg)
{
	struct rec ref, r;
	size_t len = strlen(msg), cut, *cuts;
	char *shape;

	rec_init(&ref);
	assert_int_equal(feed(&ref, msg, len, NULL, 0), 0);
	assert_int_equal(ref.all.len, len);
	assert_memory_equal(ref.all.p, msg, len);
	for (cut = 0; cut <= len; cut++) {
		rec_init(&r);
		assert_int_equal(feed(&r, msg, len, &cut, 1), 0);
		if (strcmp(r.log.p, ref.log.p) != 0)
			fail_msg("split at %zu differs:\n%s\n----\n%s", cut,
			    r.log.p, ref.log.p);
		rec_clear(&r);
	}
	cuts = xmalloc((len + 1) * sizeof(*cuts));
	for (cut = 0; cut < len; cut++)
		cuts[cut] = cut + 1;
	rec_init(&r);
	assert_int_equal(feed(&r, msg, len, cuts, len), 0);
	assert_string_equal(r.log.p, ref.log.p);
	rec_clear(&r);
	free(cuts);
	shape = xstrdup(ref.shape.p);
	rec_clear(&ref);
	return shape;
}

static void
expect_shape(const char *msg, const char *shape)
{
	char *got = parse_everywhere(msg);

	if (strcmp(got, shape) != 0)
		fail_msg("shape\n got: %s\nwant: %s", got, shape);
	free(got);
}

static char *
log_of(const char *msg)
{
	struct rec r;
	char *s;

	rec_init(&r);
	assert_int_equal(feed(&r, msg, strlen(msg), NULL, 0), 0);
	s = xstrdup(r.log.p);
	rec_clear(&r);
	return s;
}

static void
expect_in_log(const char *msg, const char *needle)
{
	char *log = log_of(msg);

	if (strstr(log, needle) == NULL)
		fail_msg("%s\nnot in log:\n%s", needle, log);
	free(log);
}

static void
test_simple_and_degenerate(void **state)
{
	(void)state;
	expect_shape("From: a@b\r\nSubject: hi\r\n\r\nHello\r\nworld\r\n",
	    "[0 H0 B0 ]0");
	expect_in_log("From: a@b\r\nSubject: hi\r\n\r\nHello\r\n",
	    "F0 Subject= hi|Subject: hi\\r\\n");
	expect_shape("", "[0 H0 ]0");
	expect_shape("\r\n", "[0 H0 ]0");
	expect_shape("\r\nbody only\r\n", "[0 H0 B0 ]0");
	/* no blank line: the first non-field line starts the body */
	expect_shape("Subject: x\r\nthis is body\r\nmore\r\n", "[0 H0 B0 ]0");
	expect_in_log("Subject: x\r\nthis is body\r\n",
	    "H0 text/plain b= "
	    "cs= cte=0 mp=0|\nB0 "
	    "this is body");
	expect_shape("no header at all", "[0 H0 B0 ]0");
	expect_shape("Subject: no newline at end", "[0 H0 ]0");
	expect_shape(" folded first line\r\n\r\n", "[0 H0 B0 ]0");
	expect_shape("Subject: a\r\n\tfolded\r\n more\r\n\r\nx", "[0 H0 B0 ]0");
	expect_in_log("Subject: a\r\n\tfolded\r\n\r\n",
	    "F0 Subject= a\\r\\n\tfolded|");
	expect_shape("A\rB: c\r\n\r\nx\r", "[0 H0 B0 ]0");
	expect_shape("Subject : obsolete space\r\n\r\nx", "[0 H0 B0 ]0");
	expect_shape("From x Tue\r\nSubject: y\r\n\r\n", "[0 H0 B0 ]0");
	expect_shape("LF: only\n\nbody\n", "[0 H0 B0 ]0");
	expect_shape("\xff\xfe binary junk \r\n\r\n", "[0 H0 B0 ]0");
}

#define MP "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"

static void
test_multipart_shapes(void **state)
{
	(void)state;
	expect_shape(MP "preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
	                "one\r\n--b1\r\n\r\ntwo\r\n--b1--\r\nepilogue\r\n",
	    "[0 H0 P0 D0 [1 H1 B1 ]1 D0 [1 H1 B1 ]1 D0 E0 ]0");
	/* no preamble, close delimiter at the end without CRLF */
	expect_shape(MP "--b1\r\n\r\none\r\n--b1--",
	    "[0 H0 D0 [1 H1 B1 ]1 D0 ]0");
	/* the CRLF before a delimiter is the delimiter's */
	expect_in_log(MP "--b1\r\n\r\none\r\n--b1--",
	    "B1 one\n]1 \nD0 c=1|\\r\\n--b1--");
	/* missing final boundary */
	expect_shape(MP "--b1\r\n\r\none\r\n", "[0 H0 D0 [1 H1 B1 ]1 ]0");
	/* transport padding after delimiters */
	expect_shape(MP "--b1  \r\n\r\none\r\n--b1--\t \r\nafter",
	    "[0 H0 D0 [1 H1 B1 ]1 D0 E0 ]0");
	/* look-alikes are body text */
	expect_shape(MP "--b1\r\n\r\n--b1x\r\n --b1\r\n--b1 x\r\n-\r\n--\r\n"
	                "--b1--\r\n",
	    "[0 H0 D0 [1 H1 B1 ]1 D0 ]0");
	/* a part with neither header nor blank line */
	expect_shape(MP "--b1\r\n--b1\r\n\r\n--b1--\r\n",
	    "[0 H0 D0 [1 H1 ]1 D0 [1 H1 ]1 D0 ]0");
	/* a header directly followed by the next delimiter */
	expect_shape(MP "--b1\r\nContent-Type: text/html\r\n--b1--\r\n",
	    "[0 H0 D0 [1 H1 ]1 D0 ]0");
	/* LF-only line ends */
	expect_shape("Content-Type: multipart/mixed; boundary=b1\n\n--b1\n\n"
	             "one\n--b1--\n",
	    "[0 H0 D0 [1 H1 B1 ]1 D0 ]0");
	/* boundary only at line starts */
	expect_shape(MP "x--b1\r\n--b1\r\n\r\nz --b1\r\n--b1--",
	    "[0 H0 P0 D0 [1 H1 B1 ]1 D0 ]0");
	/* multipart with an unusable boundary is a leaf */
	expect_shape("Content-Type: multipart/mixed\r\n\r\n--\r\n",
	    "[0 H0 B0 ]0");
}

static void
test_nested(void **state)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed;\r\n"
	    " boundary=\"outer (x)\" (comment)\r\n\r\n"
	    "--outer (x)\r\n"
	    "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
	    "--inner\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n"
	    "--inner\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n"
	    "--inner--\r\n"
	    "--outer (x)\r\nContent-Type: application/pdf; name=a.pdf\r\n"
	    "Content-Transfer-Encoding: BASE64\r\n\r\nJVBERi0xLjQK\r\n"
	    "--outer (x)\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Content-Type: multipart/mixed; boundary=inner\r\n\r\n"
	    "--inner\r\n\r\nnot a boundary of ours\r\n"
	    "--outer (x)--\r\n";

	(void)state;
	expect_shape(msg,
	    "[0 H0 D0 [1 H1 D1 [2 H2 B2 ]2 D1 [2 H2 B2 ]2 D1 ]1 "
	    "D0 [1 H1 B1 ]1 D0 [1 H1 B1 ]1 D0 ]0");
	expect_in_log(msg, "multipart/mixed b=outer (x) cs= cte=0 mp=1");
	expect_in_log(msg, "text/plain b= cs=utf-8 cte=4 mp=0");
	expect_in_log(msg, "application/pdf b= cs= cte=3 mp=0");
	expect_in_log(msg, "message/rfc822 b= cs= cte=0 mp=0");
	/* an outer delimiter closes an inner multipart left open */
	expect_shape(MP "--b1\r\nContent-Type: multipart/alternative; "
	                "boundary=b2\r\n\r\n--b2\r\n\r\ninner\r\n--b1\r\n\r\n"
	                "next\r\n--b1--\r\n",
	    "[0 H0 D0 [1 H1 D1 [2 H2 B2 ]2 ]1 D0 [1 H1 B1 ]1 D0 ]0");
	/* epilogue of an inner multipart, then the outer goes on */
	expect_shape(MP "--b1\r\nContent-Type: multipart/alternative; "
	                "boundary=b2\r\n\r\n--b2\r\n\r\ni\r\n--b2--\r\ninner "
	                "epilogue\r\n--b1--\r\nouter epilogue",
	    "[0 H0 D0 [1 H1 D1 [2 H2 B2 ]2 D1 E1 ]1 D0 E0 ]0");
	/* digest parts default to message/rfc822 */
	expect_in_log(
	    "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n"
	    "\r\nSubject: x\r\n\r\nbody\r\n--d--\r\n",
	    "H1 message/rfc822");
}

static void
test_content_type_parse(void **state)
{
	struct mime_content_type ct;
	char longb[300];

	(void)state;
	assert_int_equal(mime_content_type_parse(SLICE_LIT(
	                                             " Text/HTML ; "
	                                             "CharSet=\"iso-8859-1\""),
	                     &ct),
	    0);
	assert_string_equal(ct.type, "text");
	assert_string_equal(ct.subtype, "html");
	assert_string_equal(ct.charset, "iso-8859-1");
	assert_int_equal(mime_content_type_parse(SLICE_LIT("multipart/mixed; "
	                                                   "boundary=\"a\\\"b "
	                                                   "c\"; x=y"),
	                     &ct),
	    0);
	assert_string_equal(ct.boundary, "a\"b c");
	assert_int_equal(mime_content_type_parse(SLICE_LIT("multipart/mixed; "
	                                                   "boundary==_x/y?z"),
	                     &ct),
	    0);
	assert_string_equal(ct.boundary, "=_x/y?z");
	assert_int_equal(mime_content_type_parse(SLICE_LIT("garbage"), &ct),
	    ERR_INPUT);
	assert_string_equal(ct.type, "text");
	memset(longb, 'x', sizeof(longb));
	memcpy(longb, "multipart/mixed; boundary=", 26);
	longb[26 + MIME_BOUNDARY_MAX] = '\0'; /* at the limit */
	assert_int_equal(mime_content_type_parse(slice_cstr(longb), &ct), 0);
	assert_int_equal(ct.boundary_len, MIME_BOUNDARY_MAX);
	longb[26 + MIME_BOUNDARY_MAX] = 'x'; /* one past: not a boundary */
	longb[27 + MIME_BOUNDARY_MAX] = '\0';
	assert_int_equal(mime_content_type_parse(slice_cstr(longb), &ct), 0);
	assert_int_equal(ct.boundary_len, 0);
	assert_int_equal(mime_cte_parse(SLICE_LIT(" Base64 (x)")),
	    MIME_CTE_BASE64);
	assert_int_equal(mime_cte_parse(SLICE_LIT("x-uuencode")),
	    MIME_CTE_OTHER);
}

static int
parse_rc(const struct buf *b)
{
	struct rec r;
	int rc;

	rec_init(&r);
	rc = feed(&r, b->p, b->len, NULL, 0);
	rec_clear(&r);
	return rc;
}

static void
test_limit_field(void **state)
{
	struct buf b;
	size_t extra, i;

	(void)state;
	for (extra = 0; extra <= 1; extra++) {
		/* one field of exactly MIME_FIELD_MAX bytes (folded every 70
		 * bytes, final CRLF included), then one byte more */
		buf_init(&b, 4 << 20);
		assert_int_equal(buf_append(&b, "X-Long: ", 8), 0);
		while (b.len < MIME_FIELD_MAX - 2 + extra)
			assert_int_equal(buf_append(&b, "a", 1), 0);
		for (i = 70; i + 3 < b.len; i += 70)
			memcpy(b.p + i, "\r\n ", 3);
		assert_int_equal(buf_append(&b, "\r\n\r\nbody", 8), 0);
		assert_int_equal(parse_rc(&b), extra ? ERR_LIMIT : 0);
		buf_clear(&b);
	}
}

static void
test_limit_header_block(void **state)
{
	struct buf b;
	size_t extra;

	(void)state;
	for (extra = 0; extra <= 1; extra++) {
		buf_init(&b, 4 << 20);
		/* fields of 1000 bytes, a last one to land exactly */
		while (MIME_HEADER_BLOCK_MAX - b.len >= 2000 + 2)
			assert_int_equal(buf_printf(&b, "X-F: %0993d\r\n", 7),
			    0);
		assert_int_equal(buf_append(&b, "X-Last: ", 8), 0);
		while (b.len < MIME_HEADER_BLOCK_MAX - 4 + extra)
			assert_int_equal(buf_append(&b, "z", 1), 0);
		assert_int_equal(buf_append(&b, "\r\n\r\nbody", 8), 0);
		assert_int_equal(parse_rc(&b), extra ? ERR_LIMIT : 0);
		buf_clear(&b);
	}
}

/* A chain of multiparts whose innermost leaf is at depth `depth`. */
static void
build_nested(struct buf *b, unsigned depth)
{
	unsigned d;

	for (d = 0; d < depth; d++) {
		assert_int_equal(buf_printf(b,
		                     "Content-Type: multipart/mixed; "
		                     "boundary=b%u\r\n\r\n--b%u\r\n",
		                     d, d),
		    0);
	}
	assert_int_equal(buf_printf(b, "\r\nleaf\r\n"), 0);
	for (d = depth; d-- > 0;)
		assert_int_equal(buf_printf(b, "--b%u--\r\n", d), 0);
}

static void
test_limit_depth(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	build_nested(&b, MIME_DEPTH_MAX);
	assert_int_equal(parse_rc(&b), 0);
	buf_reset(&b);
	build_nested(&b, MIME_DEPTH_MAX + 1);
	assert_int_equal(parse_rc(&b), ERR_LIMIT);
	buf_clear(&b);
}

static void
test_limit_parts(void **state)
{
	struct buf b;
	unsigned n, i;

	(void)state;
	for (n = MIME_PARTS_MAX; n <= MIME_PARTS_MAX + 1; n++) {
		buf_init(&b, 1 << 20);
		assert_int_equal(buf_append(&b, MP, strlen(MP)), 0);
		for (i = 1; i < n; i++) /* the message is part 1 */
			assert_int_equal(buf_printf(&b, "--b1\r\n\r\np\r\n"),
			    0);
		assert_int_equal(buf_printf(&b, "--b1--\r\n"), 0);
		assert_int_equal(parse_rc(&b),
		    n > MIME_PARTS_MAX ? ERR_LIMIT : 0);
		buf_clear(&b);
	}
}

static int
stop_at_body(void *ctx, const struct mime_event *ev)
{
	(void)ctx;
	return ev->kind == MIME_EV_BODY ? ERR_TEMP : 0;
}

static void
test_callback_error_is_sticky(void **state)
{
	struct mime_parser *p = mime_parser_new(stop_at_body, NULL);
	struct err err = { 0 };
	size_t used;

	(void)state;
	assert_int_equal(mime_parser_push(p, SLICE_LIT("A: b\r\n\r\nbody"),
	                     &used, &err),
	    ERR_TEMP);
	assert_int_equal(used, 0);
	assert_int_equal(mime_parser_push(p, SLICE_LIT("x"), &used, &err),
	    ERR_TEMP);
	assert_int_equal(mime_parser_finish(p, &err), ERR_TEMP);
	mime_parser_free(&p);
	mime_parser_free(&p); /* NULL is fine */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_and_degenerate),
		cmocka_unit_test(test_multipart_shapes),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_content_type_parse),
		cmocka_unit_test(test_limit_field),
		cmocka_unit_test(test_limit_header_block),
		cmocka_unit_test(test_limit_depth),
		cmocka_unit_test(test_limit_parts),
		cmocka_unit_test(test_callback_error_is_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
