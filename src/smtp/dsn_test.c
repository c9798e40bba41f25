/* SPDX-License-Identifier: MIT */
/* Unit tests for the RFC 3464 report writer: the exact bytes of a bounce
 * (boundary aside), its MIME structure parsed back with the project's
 * parser, RET=FULL within and past DSN_FULL_MAX, folding of hostile
 * replies under 998 octets, originals split anywhere, errors passed on. */
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
#include "smtp/dsn.h"

/* Mon, 23 Nov 2026 18:00:00 +0000 */
#define T0 1795456800

static const char original[] =
    "Return-Path: <alice@example.test>\r\n"
    "Received: from client (127.0.0.1)\r\n"
    "\tby mx.example.test (despatch); Mon, 23 Nov 2026 17:00:00 +0000\r\n"
    "From: Alice <alice@example.test>\r\n"
    "To: bob@remote.test\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "Hi Bob.\r\n"
    "\r\n"
    "Bye.\r\n";

struct src {
	const char *p;
	size_t len, off, step; /* step: most bytes per read, 0: any */
	int fail_at;           /* read number that fails, 0: none */
	int reads;
};

static int
src_read(void *ctx, void *p, size_t n, size_t *n_out, struct err *err)
{
	struct src *s = ctx;
	size_t k = s->len - s->off;

	if (++s->reads == s->fail_at)
		return err_set(err, ERR_TEMP, "read failed");
	if (k > n)
		k = n;
	if (s->step != 0 && k > s->step)
		k = s->step;
	memcpy(p, s->p + s->off, k);
	s->off += k;
	*n_out = k;
	return 0;
}

struct sink {
	struct buf b;
	int fail_at;
	int writes;
};

static int
sink_write(void *ctx, const void *p, size_t n, struct err *err)
{
	struct sink *k = ctx;

	if (++k->writes == k->fail_at)
		return err_set(err, ERR_FULL, "disk full");
	assert_int_equal(buf_append(&k->b, p, n), 0);
	return 0;
}

static void
sink_init(struct sink *k)
{
	memset(k, 0, sizeof(*k));
	buf_init(&k->b, 64 << 20);
}

/* The boundary from the top Content-Type, replaced by "BOUNDARY" so the
 * bytes can be compared. */
static char *
normalise(const struct buf *b, char *boundary_out, size_t size)
{
	const char *p = strstr(b->p, "boundary=\"");
	const char *q;
	struct buf n;
	size_t blen;
	char *out;

	assert_non_null(p);
	p += strlen("boundary=\"");
	q = strchr(p, '"');
	assert_non_null(q);
	blen = (size_t)(q - p);
	assert_true(blen > 20 && blen < size);
	memcpy(boundary_out, p, blen);
	boundary_out[blen] = '\0';
	buf_init(&n, 64 << 20);
	for (p = b->p; *p != '\0';) {
		if (strncmp(p, boundary_out, blen) == 0) {
			assert_int_equal(buf_append(&n, "BOUNDARY", 8), 0);
			p += blen;
		} else {
			assert_int_equal(buf_append(&n, p, 1), 0);
			p++;
		}
	}
	out = xstrdup(n.p);
	buf_clear(&n);
	return out;
}

/* CRLF only, no line over 998 octets. */
static void
check_lines(const struct buf *b)
{
	size_t i, col = 0;

	for (i = 0; i < b->len; i++) {
		if (b->p[i] == '\n') {
			assert_true(i > 0 && b->p[i - 1] == '\r');
			col = 0;
			continue;
		}
		if (b->p[i] == '\r')
			assert_true(i + 1 < b->len && b->p[i + 1] == '\n');
		else
			col++;
		assert_true(col <= 998);
	}
}

/* The parts as the MIME parser sees them: "depth:type/subtype" lines. */
struct shape {
	struct buf s;
	struct buf body2; /* the delivery-status part's body */
	unsigned part;
};

static int
shape_event(void *ctx, const struct mime_event *ev)
{
	struct shape *sh = ctx;

	if (ev->kind == MIME_EV_HEADER_END) {
		sh->part++;
		assert_int_equal(buf_printf(&sh->s, "%u:%s/%s;", ev->depth,
		                     ev->part->ct.type, ev->part->ct.subtype),
		    0);
	}
	if (ev->kind == MIME_EV_BODY && sh->part == 3)
		assert_int_equal(buf_append(&sh->body2, ev->data.p,
		                     ev->data.len),
		    0);
	return 0;
}

static void
parse_shape(const struct buf *b, struct shape *sh)
{
	struct mime_parser *mp;
	struct err err = { 0 };
	size_t used;

	memset(sh, 0, sizeof(*sh));
	buf_init(&sh->s, 1 << 20);
	buf_init(&sh->body2, 1 << 20);
	mp = mime_parser_new(shape_event, sh);
	assert_int_equal(mime_parser_push(mp, buf_slice(b), &used, &err), 0);
	assert_int_equal(mime_parser_finish(mp, &err), 0);
	mime_parser_free(&mp);
}

static void
shape_clear(struct shape *sh)
{
	buf_clear(&sh->s);
	buf_clear(&sh->body2);
}

static const struct dsn_rcpt bob_failed = {
	.rcpt = "bob@remote.test",
	.action = DSN_FAILED,
	.status = "5.1.1",
	.remote_mta = "mx1.remote.test",
	.diagnostic = "550 5.1.1 <bob@remote.test>: no such user",
	.last_attempt = T0 + 60,
};

static struct dsn_report
base_report(const struct dsn_rcpt *rcpts, size_t n)
{
	return (struct dsn_report){
		.reporting_mta = "mx.example.test",
		.sender = "alice@example.test",
		.arrival = T0,
		.now = T0 + 120,
		.ret = STORE_RET_DEFAULT,
		.rcpts = rcpts,
		.n_rcpts = n,
		.message_id = "0123abcd@mx.example.test",
	};
}

static void
test_bounce_exact(void **state)
{
	static const char want[] =
	    "From: \"Mail Delivery System\" <MAILER-DAEMON@mx.example.test>\r\n"
	    "To: <alice@example.test>\r\n"
	    "Subject: Undelivered Mail Returned to Sender\r\n"
	    "Date: Mon, 23 Nov 2026 18:02:00 +0000\r\n"
	    "Message-ID: <0123abcd@mx.example.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"BOUNDARY\"\r\n"
	    "\r\n"
	    "This is a MIME-encapsulated message.\r\n"
	    "\r\n"
	    "--BOUNDARY\r\n"
	    "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n"
	    "This is the mail system at host mx.example.test.\r\n"
	    "\r\n"
	    "Your message could not be delivered to one or more\r\n"
	    "recipients, listed below with the reason. This report\r\n"
	    "comes with the original message or its headers.\r\n"
	    "\r\n"
	    "<bob@remote.test>: failed\r\n"
	    "    host mx1.remote.test said: 550 5.1.1 <bob@remote.test>: no "
	    "such "
	    "user\r\n"
	    "\r\n"
	    "--BOUNDARY\r\n"
	    "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n"
	    "\r\n"
	    "Reporting-MTA: dns; mx.example.test\r\n"
	    "Arrival-Date: Mon, 23 Nov 2026 18:00:00 +0000\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; bob@remote.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"
	    "Remote-MTA: dns; mx1.remote.test\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such "
	    "user\r\n"
	    "Last-Attempt-Date: Mon, 23 Nov 2026 18:01:00 +0000\r\n"
	    "\r\n"
	    "--BOUNDARY\r\n"
	    "Content-Description: Undelivered Message Headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n"
	    "\r\n"
	    "Return-Path: <alice@example.test>\r\n"
	    "Received: from client (127.0.0.1)\r\n"
	    "\tby mx.example.test (despatch); Mon, 23 Nov 2026 17:00:00 "
	    "+0000\r\n"
	    "From: Alice <alice@example.test>\r\n"
	    "To: bob@remote.test\r\n"
	    "Subject: hello\r\n"
	    "\r\n"
	    "--BOUNDARY--\r\n";
	struct dsn_report r = base_report(&bob_failed, 1);
	struct src s = { original, sizeof(original) - 1, 0, 0, 0, 0 };
	struct err err = { 0 };
	struct shape sh;
	struct sink k;
	char boundary[128], *got;

	(void)state;
	sink_init(&k);
	assert_int_equal(dsn_write(&r, s.len, src_read, &s, sink_write, &k,
	                     &err),
	    0);
	got = normalise(&k.b, boundary, sizeof(boundary));
	assert_string_equal(got, want);
	check_lines(&k.b);
	parse_shape(&k.b, &sh);
	assert_string_equal(sh.s.p,
	    "0:multipart/report;1:text/plain;1:message/delivery-status;"
	    "1:text/rfc822-headers;");
	assert_non_null(strstr(sh.body2.p, "Status: 5.1.1\r\n"));
	shape_clear(&sh);
	xfree(&got);
	buf_clear(&k.b);
}

/* Two reports never share a boundary. */
static void
test_boundary_random(void **state)
{
	struct dsn_report r = base_report(&bob_failed, 1);
	struct err err = { 0 };
	struct sink a, b;
	char ba[128], bb[128], *ga, *gb;

	(void)state;
	sink_init(&a);
	sink_init(&b);
	assert_int_equal(dsn_write(&r, 0, NULL, NULL, sink_write, &a, &err), 0);
	assert_int_equal(dsn_write(&r, 0, NULL, NULL, sink_write, &b, &err), 0);
	ga = normalise(&a.b, ba, sizeof(ba));
	gb = normalise(&b.b, bb, sizeof(bb));
	assert_string_not_equal(ba, bb);
	assert_string_equal(ga, gb);
	xfree(&ga);
	xfree(&gb);
	buf_clear(&a.b);
	buf_clear(&b.b);
}

static void
test_ret_full(void **state)
{
	struct dsn_report r = base_report(&bob_failed, 1);
	struct src s = { original, sizeof(original) - 1, 0, 7, 0, 0 };
	struct err err = { 0 };
	struct shape sh;
	struct sink k;
	char boundary[128], *got, *p;

	(void)state;
	r.ret = STORE_RET_FULL;
	sink_init(&k);
	assert_int_equal(dsn_write(&r, s.len, src_read, &s, sink_write, &k,
	                     &err),
	    0);
	got = normalise(&k.b, boundary, sizeof(boundary));
	p = strstr(got,
	    "Content-Description: Undelivered Message\r\n"
	    "Content-Type: message/rfc822\r\n\r\n");
	assert_non_null(p);
	p = strstr(p, "\r\n\r\n") + 4;
	assert_memory_equal(p, original, sizeof(original) - 1);
	assert_string_equal(p + sizeof(original) - 1, "\r\n--BOUNDARY--\r\n");
	check_lines(&k.b);
	parse_shape(&k.b, &sh);
	/* The parser descends into message/rfc822: its header is depth 2. */
	assert_non_null(strstr(sh.s.p, "1:message/rfc822;"));
	shape_clear(&sh);
	xfree(&got);
	buf_clear(&k.b);
}

/* Past DSN_FULL_MAX a RET=FULL report carries the headers only, and does
 * not read the rest. */
static void
test_ret_full_too_big(void **state)
{
	struct dsn_report r = base_report(&bob_failed, 1);
	struct src s = { original, sizeof(original) - 1, 0, 0, 0, 0 };
	struct err err = { 0 };
	struct sink k;
	char boundary[128], *got;

	(void)state;
	r.ret = STORE_RET_FULL;
	r.original_8bit = true;
	sink_init(&k);
	assert_int_equal(dsn_write(&r, (uint64_t)DSN_FULL_MAX + 1, src_read, &s,
	                     sink_write, &k, &err),
	    0);
	got = normalise(&k.b, boundary, sizeof(boundary));
	assert_non_null(strstr(got,
	    "Content-Description: Undelivered Message Headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "Return-Path: <alice@example.test>\r\n"));
	assert_non_null(strstr(got, "Subject: hello\r\n\r\n--BOUNDARY--\r\n"));
	assert_null(strstr(got, "Hi Bob"));
	xfree(&got);
	buf_clear(&k.b);
}

/* Headers end the same way whatever the read size (a CR at the start of
 * a line held across reads), and oddly shaped originals still end their
 * part with CRLF. */
static void
test_headers_split_everywhere(void **state)
{
	static const char *const origs[] = {
		original, "\r\nbody only\r\n",   /* no header at all */
		"Subject: x\r\n",                /* no blank line, no body */
		"Subject: x",                    /* not even a line end */
		"Subject: x\r\n\rX: y\r\n\r\nb", /* a CR that is no blank line
		                                  */
		"Subject: x\r\n\r", /* ends in the blank line's CR */
	};
	static const char *const want[] = {
		"Subject: hello\r\n\r\n--BOUNDARY--\r\n",
		"Content-Type: text/rfc822-headers\r\n\r\n\r\n--BOUNDARY--\r\n",
		"Subject: x\r\n\r\n--BOUNDARY--\r\n",
		"Subject: x\r\n\r\n--BOUNDARY--\r\n",
		"Subject: x\r\n\rX: y\r\n\r\n--BOUNDARY--\r\n",
		"Subject: x\r\n\r\n--BOUNDARY--\r\n",
	};
	struct dsn_report r = base_report(&bob_failed, 1);
	struct err err = { 0 };
	char boundary[128], *got, *first = NULL;
	size_t i, step, len;

	(void)state;
	for (i = 0; i < sizeof(origs) / sizeof(origs[0]); i++) {
		len = strlen(origs[i]);
		for (step = 1; step <= len + 1; step++) {
			struct src s = { origs[i], len, 0, step, 0, 0 };
			struct sink k;
			size_t wl = strlen(want[i]);

			sink_init(&k);
			assert_int_equal(dsn_write(&r, len, src_read, &s,
			                     sink_write, &k, &err),
			    0);
			got = normalise(&k.b, boundary, sizeof(boundary));
			assert_true(strlen(got) >= wl);
			assert_string_equal(got + strlen(got) - wl, want[i]);
			if (step == 1) {
				xfree(&first);
				first = xstrdup(got);
			} else {
				assert_string_equal(got, first);
			}
			xfree(&got);
			buf_clear(&k.b);
		}
	}
	xfree(&first);
}

/* A delay notice with ENVID, ORCPT and a retry date; a report for two
 * recipients has two blocks. */
static void
test_delayed(void **state)
{
	static const char want_status[] =
	    "Reporting-MTA: dns; mx.example.test\r\n"
	    "Original-Envelope-Id: QQ314159\r\n"
	    "Arrival-Date: Mon, 23 Nov 2026 18:00:00 +0000\r\n"
	    "\r\n"
	    "Original-Recipient: rfc822;Bob@Remote.test\r\n"
	    "Final-Recipient: rfc822; bob@remote.test\r\n"
	    "Action: delayed\r\n"
	    "Status: 4.4.1\r\n"
	    "Diagnostic-Code: X-Despatch; connect to mx1.remote.test "
	    "[127.0.0.9]:25:"
	    "\r\n Connection refused\r\n"
	    "Last-Attempt-Date: Mon, 23 Nov 2026 18:01:00 +0000\r\n"
	    "Will-Retry-Until: Sat, 28 Nov 2026 18:00:00 +0000\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; carol@remote.test\r\n"
	    "Action: delayed\r\n"
	    "Status: 4.2.0\r\n"
	    "Remote-MTA: dns; mx2.remote.test\r\n"
	    "Diagnostic-Code: smtp; 451 4.2.0 try later\r\n"
	    "\r\n"
	    "--BOUNDARY--\r\n";
	const struct dsn_rcpt rc[2] = {
		{ .rcpt = "bob@remote.test",
		    .orcpt = "rfc822;Bob@Remote.test",
		    .action = DSN_DELAYED,
		    .status = "4.4.1",
		    .diagnostic = "connect to mx1.remote.test [127.0.0.9]:25: "
		                  "Connection refused",
		    .last_attempt = T0 + 60,
		    .retry_until = T0 + 432000 },
		{ .rcpt = "carol@remote.test",
		    .action = DSN_DELAYED,
		    .status = "4.2.0",
		    .remote_mta = "mx2.remote.test",
		    .diagnostic = "451 4.2.0 try later" },
	};
	struct dsn_report r = base_report(rc, 2);
	struct err err = { 0 };
	struct sink k;
	struct shape sh;
	char boundary[128], *got;

	(void)state;
	r.envid = "QQ314159";
	sink_init(&k);
	assert_int_equal(dsn_write(&r, 0, NULL, NULL, sink_write, &k, &err), 0);
	got = normalise(&k.b, boundary, sizeof(boundary));
	assert_non_null(
	    strstr(got, "Subject: Delayed Mail (still being retried)\r\n"));
	assert_non_null(strstr(got, want_status));
	assert_non_null(strstr(got,
	    "    Delivery will be retried until Sat, 28 Nov 2026 18:00:00"));
	/* No original given: two parts. */
	assert_non_null(strstr(got, "\r\n\r\n--BOUNDARY--\r\n"));
	parse_shape(&k.b, &sh);
	assert_string_equal(sh.s.p,
	    "0:multipart/report;1:text/plain;1:message/delivery-status;");
	shape_clear(&sh);
	xfree(&got);
	buf_clear(&k.b);
}

static void
test_subjects(void **state)
{
	struct dsn_rcpt rc = bob_failed;
	struct dsn_report r = base_report(&rc, 1);
	struct err err = { 0 };
	struct sink k;

	(void)state;
	rc.action = DSN_RELAYED;
	rc.status = "2.0.0";
	sink_init(&k);
	assert_int_equal(dsn_write(&r, 0, NULL, NULL, sink_write, &k, &err), 0);
	assert_non_null(strstr(k.b.p, "Subject: Relayed Mail Delivery Report"));
	assert_non_null(strstr(k.b.p, "Action: relayed\r\n"));
	buf_clear(&k.b);
	rc.action = DSN_DELIVERED;
	rc.remote_mta = NULL;
	rc.diagnostic = NULL;
	sink_init(&k);
	assert_int_equal(dsn_write(&r, 0, NULL, NULL, sink_write, &k, &err), 0);
	assert_non_null(
	    strstr(k.b.p, "Subject: Successful Mail Delivery Report\r\n"));
	assert_non_null(
	    strstr(k.b.p, "Action: delivered\r\nStatus: 2.0.0\r\n"));
	buf_clear(&k.b);
}

/* A remote's reply with controls, a 3000-byte word and UTF-8 addresses:
 * every line CRLF and under 998, no field smuggled in. */
static void
test_hostile_reply(void **state)
{
	char diag[4000];
	struct dsn_rcpt rc = bob_failed;
	struct dsn_report r = base_report(&rc, 1);
	struct err err = { 0 };
	struct sink k;
	struct shape sh;

	(void)state;
	memset(diag, 'x', sizeof(diag));
	memcpy(diag, "550 5.7.1 a\r\nAction: delivered\n\r b\x01 ", 37);
	diag[sizeof(diag) - 1] = '\0';
	rc.diagnostic = diag;
	rc.rcpt = "b\xc3\xb6@remote.test";
	sink_init(&k);
	assert_int_equal(dsn_write(&r, 0, NULL, NULL, sink_write, &k, &err), 0);
	check_lines(&k.b);
	assert_null(strstr(k.b.p, "\r\nAction: delivered"));
	assert_non_null(strstr(k.b.p, "Final-Recipient: utf-8; b\xc3\xb6@"));
	assert_non_null(strstr(k.b.p, "message/global-delivery-status"));
	assert_non_null(strstr(k.b.p, "charset=utf-8"));
	parse_shape(&k.b, &sh);
	assert_string_equal(sh.s.p,
	    "0:multipart/report;1:text/plain;"
	    "1:message/global-delivery-status;");
	shape_clear(&sh);
	buf_clear(&k.b);
}

static void
test_errors_passed_on(void **state)
{
	struct dsn_report r = base_report(&bob_failed, 1);
	struct err err = { 0 };
	struct sink k;
	int i;

	(void)state;
	for (i = 1; i <= 3; i++) {
		struct src s = { original, sizeof(original) - 1, 0, 5, i, 0 };

		sink_init(&k);
		assert_int_equal(dsn_write(&r, s.len, src_read, &s, sink_write,
		                     &k, &err),
		    ERR_TEMP);
		buf_clear(&k.b);
	}
	{
		struct src s = { original, sizeof(original) - 1, 0, 0, 0, 0 };

		sink_init(&k);
		k.fail_at = 1;
		assert_int_equal(dsn_write(&r, s.len, src_read, &s, sink_write,
		                     &k, &err),
		    ERR_FULL);
		buf_clear(&k.b);
	}
	r.sender = NULL;
	sink_init(&k);
	assert_int_equal(dsn_write(&r, 0, NULL, NULL, sink_write, &k, &err),
	    ERR_INPUT);
	buf_clear(&k.b);
}

/* A RET=FULL original close to the limit streams through in pieces. */
static void
test_full_large(void **state)
{
	size_t len = 3 * 1024 * 1024 + 17, i;
	char *big = xmalloc(len + 1);
	struct dsn_report r = base_report(&bob_failed, 1);
	struct src s = { big, len, 0, 0, 0, 0 };
	struct err err = { 0 };
	struct sink k;
	struct shape sh;

	(void)state;
	memcpy(big, "Subject: big\r\n\r\n", 16);
	for (i = 16; i < len; i++)
		big[i] = (i % 70 == 0) ? '\r' : (i % 70 == 1) ? '\n' : 'a';
	big[len] = '\0';
	r.ret = STORE_RET_FULL;
	sink_init(&k);
	assert_int_equal(dsn_write(&r, len, src_read, &s, sink_write, &k, &err),
	    0);
	assert_true(k.writes > 1);
	assert_non_null(memmem(k.b.p, k.b.len, big, len));
	check_lines(&k.b);
	parse_shape(&k.b, &sh);
	shape_clear(&sh);
	buf_clear(&k.b);
	xfree(&big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounce_exact),
		cmocka_unit_test(test_boundary_random),
		cmocka_unit_test(test_ret_full),
		cmocka_unit_test(test_ret_full_too_big),
		cmocka_unit_test(test_headers_split_everywhere),
		cmocka_unit_test(test_delayed),
		cmocka_unit_test(test_subjects),
		cmocka_unit_test(test_hostile_reply),
		cmocka_unit_test(test_errors_passed_on),
		cmocka_unit_test(test_full_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
