/* SPDX-License-Identifier: MIT */
/* Unit tests for the queue's pure parts (route.c): route matching and
 * host syntax, back-off, status codes from replies, grouping of due rows
 * into jobs, the in-flight set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/mem.h"
#include "lib/str.h"
#include "smtp/queue_int.h"

static void
test_route_parse(void **state)
{
	struct queue_route r;

	(void)state;
	assert_int_equal(queue_route_parse("mail.example.org", 25, &r), 0);
	assert_string_equal(r.host, "mail.example.org");
	assert_int_equal(r.port, 25);
	assert_false(r.literal);
	assert_int_equal(queue_route_parse("mail.example.org:2525", 25, &r), 0);
	assert_string_equal(r.host, "mail.example.org");
	assert_int_equal(r.port, 2525);
	assert_int_equal(queue_route_parse("[127.0.0.1]:2525", 25, &r), 0);
	assert_string_equal(r.host, "127.0.0.1");
	assert_int_equal(r.port, 2525);
	assert_true(r.literal);
	assert_int_equal(queue_route_parse("[::1]", 587, &r), 0);
	assert_string_equal(r.host, "::1");
	assert_int_equal(r.port, 587);
	assert_true(r.literal);
	assert_int_equal(queue_route_parse("2001:db8::1", 25, &r), 0);
	assert_string_equal(r.host, "2001:db8::1");
	assert_int_equal(r.port, 25);
	assert_int_equal(queue_route_parse("", 25, &r), ERR_INPUT);
	assert_int_equal(queue_route_parse("[127.0.0.1", 25, &r), ERR_INPUT);
	assert_int_equal(queue_route_parse("[]:25", 25, &r), ERR_INPUT);
	assert_int_equal(queue_route_parse("[1.2.3.4]x", 25, &r), ERR_INPUT);
	assert_int_equal(queue_route_parse("h:0", 25, &r), ERR_INPUT);
	assert_int_equal(queue_route_parse("h:65536", 25, &r), ERR_INPUT);
	assert_int_equal(queue_route_parse("h:65535", 25, &r), 0);
	assert_int_equal(queue_route_parse(":25", 25, &r), ERR_INPUT);
	assert_int_equal(queue_route_parse("h:", 25, &r), ERR_INPUT);
}

static void
test_domain_literal(void **state)
{
	struct queue_route r;

	(void)state;
	assert_true(queue_domain_literal("[192.0.2.1]", 25, &r));
	assert_string_equal(r.host, "192.0.2.1");
	assert_int_equal(r.port, 25);
	assert_true(queue_domain_literal("[IPv6:2001:db8::1]", 2525, &r));
	assert_string_equal(r.host, "2001:db8::1");
	assert_int_equal(r.port, 2525);
	assert_false(queue_domain_literal("example.org", 25, &r));
	assert_false(queue_domain_literal("[]", 25, &r));
	assert_false(queue_domain_literal("[1.2.3.4", 25, &r));
	assert_false(queue_domain_literal("[1.2]3.4]", 25, &r));
}

static void
test_route_find(void **state)
{
	struct config *c = xcalloc(1, sizeof(*c));

	(void)state;
	config_defaults(c);
	c->n_routes = 3;
	(void)str_copy(c->routes[0].domain, 256, ".example.org");
	(void)str_copy(c->routes[0].host, 300, "[127.0.0.1]:2525");
	(void)str_copy(c->routes[1].domain, 256, "example.org");
	(void)str_copy(c->routes[1].host, 300, "exact.test");
	(void)str_copy(c->routes[2].domain, 256, ".deep.example.org");
	(void)str_copy(c->routes[2].host, 300, "deep.test");
	assert_string_equal(queue_route_find(c, "example.org"), "exact.test");
	assert_string_equal(queue_route_find(c, "a.example.org"),
	    "[127.0.0.1]:2525");
	assert_string_equal(queue_route_find(c, "x.deep.example.org"),
	    "deep.test");
	assert_string_equal(queue_route_find(c, "deep.example.org"),
	    "[127.0.0.1]:2525");
	assert_null(queue_route_find(c, "notexample.org"));
	assert_null(queue_route_find(c, "other.test"));
	(void)str_copy(c->outbound_smarthost, 300, "smart.test:587");
	assert_string_equal(queue_route_find(c, "other.test"),
	    "smart.test:587");
	assert_string_equal(queue_route_find(c, "example.org"), "exact.test");
	xfree(&c);
}

static void
test_backoff(void **state)
{
	(void)state;
	assert_int_equal(queue_backoff(300, 3600, 0), 300);
	assert_int_equal(queue_backoff(300, 3600, 1), 600);
	assert_int_equal(queue_backoff(300, 3600, 3), 2400);
	assert_int_equal(queue_backoff(300, 3600, 4), 3600);
	assert_int_equal(queue_backoff(300, 3600, 4000000000u), 3600);
	assert_int_equal(queue_backoff(1, 4, 0), 1);
	assert_int_equal(queue_backoff(1, 4, 2), 4);
	assert_int_equal(queue_backoff(1, 4, 3), 4);
	assert_int_equal(queue_backoff(0, 4, 0), 1);
}

static void
test_status(void **state)
{
	char s[16];

	(void)state;
	queue_status(SMTP_RCPT_PERM, 550, "550 5.1.1 no such user", s);
	assert_string_equal(s, "5.1.1");
	queue_status(SMTP_RCPT_PERM, 550, "550-5.7.26 unauthenticated", s);
	assert_string_equal(s, "5.7.26");
	queue_status(SMTP_RCPT_PERM, 554, "554 no", s);
	assert_string_equal(s, "5.0.0");
	queue_status(SMTP_RCPT_PERM, 550, "550 4.1.1 wrong class", s);
	assert_string_equal(s, "5.0.0");
	queue_status(SMTP_RCPT_PERM, 550, "550 5.1.1234 too long", s);
	assert_string_equal(s, "5.0.0");
	queue_status(SMTP_RCPT_PERM, 550, "550 5.1.1x", s);
	assert_string_equal(s, "5.0.0");
	queue_status(SMTP_RCPT_TEMP, 451, "451 4.7.1 greylisted", s);
	assert_string_equal(s, "4.7.1");
	queue_status(SMTP_RCPT_TEMP, 421, "421 busy", s);
	assert_string_equal(s, "4.0.0");
	queue_status(SMTP_RCPT_TEMP, 0, "connect: refused", s);
	assert_string_equal(s, "4.4.1");
	queue_status(SMTP_RCPT_OK, 250, "250 ok", s);
	assert_string_equal(s, "2.0.0");
}

/* The policy: delivered, relayed, deferred with back-off and delay
 * notice, expired, failed with or without a report, left at shutdown. */
static void
test_decide(void **state)
{
	struct config *c = xcalloc(1, sizeof(*c));
	struct queue_row row = { .attempts = 2, .created = 1000 };
	struct queue_decision d;
	const int64_t life = 432000, notice = 14400;

	(void)state;
	config_defaults(c);
	c->queue_retry_min_seconds = 300;
	c->queue_retry_max_seconds = 3600;
	c->queue_lifetime_seconds = life;
	c->queue_delay_notice_seconds = notice;

	queue_decide(c, SMTP_RCPT_OK, 250, "250 ok", "", 0, false, false, false,
	    &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_DONE);
	assert_string_equal(d.status, "2.0.0");
	/* NOTIFY=SUCCESS: relayed unless the remote does DSN itself, never
	 * for the null sender. */
	queue_decide(c, SMTP_RCPT_OK, 250, "250 ok", "", STORE_NOTIFY_SUCCESS,
	    false, false, false, &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_RELAYED);
	queue_decide(c, SMTP_RCPT_OK, 250, "250 ok", "", STORE_NOTIFY_SUCCESS,
	    false, true, false, &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_DONE);
	queue_decide(c, SMTP_RCPT_OK, 250, "250 ok", "", STORE_NOTIFY_SUCCESS,
	    true, false, false, &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_DONE);

	/* Deferred: back-off from the attempts made before this one. */
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 4.7.1 later", "", 0, false,
	    false, false, &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_DEFER);
	assert_int_equal(d.next_attempt, 2000 + 1200);
	assert_string_equal(d.status, "4.7.1");
	assert_false(d.delay_notice);
	/* The delay notice: at delay_notice_seconds exactly, not before. */
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 later", "", 0, false, false,
	    false, &row, 1000 + notice - 1, &d);
	assert_false(d.delay_notice);
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 later", "", 0, false, false,
	    false, &row, 1000 + notice, &d);
	assert_true(d.delay_notice);
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 later", "",
	    STORE_NOTIFY_DELAY, false, false, false, &row, 1000 + notice, &d);
	assert_true(d.delay_notice);
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 later", "",
	    STORE_NOTIFY_FAILURE, false, false, false, &row, 1000 + notice, &d);
	assert_false(d.delay_notice);
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 later", "",
	    STORE_NOTIFY_NEVER, false, false, false, &row, 1000 + notice, &d);
	assert_false(d.delay_notice);
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 later", "", 0, true, false,
	    false, &row, 1000 + notice, &d);
	assert_false(d.delay_notice);
	row.delay_notified = true;
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 later", "", 0, false, false,
	    false, &row, 1000 + notice, &d);
	assert_false(d.delay_notice);
	row.delay_notified = false;
	c->queue_delay_notice_seconds = 0;
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 later", "", 0, false, false,
	    false, &row, 1000 + notice, &d);
	assert_false(d.delay_notice);
	c->queue_delay_notice_seconds = notice;

	/* The lifetime: a TEMP at lifetime - 1 is deferred, at lifetime it
	 * fails with 4.4.7. */
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 later", "", 0, false, false,
	    false, &row, 1000 + life - 1, &d);
	assert_int_equal(d.verdict, QUEUE_DEFER);
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 later", "", 0, false, false,
	    false, &row, 1000 + life, &d);
	assert_int_equal(d.verdict, QUEUE_FAIL_REPORT);
	assert_true(d.expired);
	assert_string_equal(d.status, "4.4.7");
	/* A PENDING recipient (never tried) counts as TEMP. */
	queue_decide(c, SMTP_RCPT_PENDING, 0, "", "", 0, false, false, false,
	    &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_DEFER);
	assert_string_equal(d.status, "4.4.1");

	/* Permanent: a report unless nobody wants one. */
	queue_decide(c, SMTP_RCPT_PERM, 550, "550 5.1.1 no such user", "", 0,
	    false, false, false, &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_FAIL_REPORT);
	assert_false(d.expired);
	assert_string_equal(d.status, "5.1.1");
	queue_decide(c, SMTP_RCPT_PERM, 550, "550 no", "", 0, true, false,
	    false, &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_FAIL_SILENT);
	queue_decide(c, SMTP_RCPT_PERM, 550, "550 no", "", STORE_NOTIFY_NEVER,
	    false, false, false, &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_FAIL_SILENT);
	queue_decide(c, SMTP_RCPT_PERM, 550, "550 no", "",
	    STORE_NOTIFY_SUCCESS | STORE_NOTIFY_DELAY, false, false, false,
	    &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_FAIL_SILENT);
	queue_decide(c, SMTP_RCPT_PERM, 550, "550 no", "", STORE_NOTIFY_FAILURE,
	    false, false, false, &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_FAIL_REPORT);
	/* A DNS outcome's status wins over the reply's. */
	queue_decide(c, SMTP_RCPT_PERM, 0, "the domain does not exist", "5.1.2",
	    0, false, false, false, &row, 2000, &d);
	assert_string_equal(d.status, "5.1.2");

	/* Shutdown: TEMP rows are left alone, other outcomes recorded. */
	queue_decide(c, SMTP_RCPT_TEMP, 0, "aborted", "", 0, false, false, true,
	    &row, 1000 + life + 5, &d);
	assert_int_equal(d.verdict, QUEUE_LEAVE);
	queue_decide(c, SMTP_RCPT_OK, 250, "250 ok", "", 0, false, false, true,
	    &row, 2000, &d);
	assert_int_equal(d.verdict, QUEUE_DONE);
	/* A clock set back: never expired, never a negative age. */
	queue_decide(c, SMTP_RCPT_TEMP, 451, "451 x", "", 0, false, false,
	    false, &row, 500, &d);
	assert_int_equal(d.verdict, QUEUE_DEFER);
	assert_false(d.delay_notice);
	xfree(&c);
}

static struct store_queue_entry
entry(int64_t id, const char *domain, int64_t msg, const char *rcpt)
{
	return (struct store_queue_entry){
		.id = id,
		.message_id = msg,
		.sender = "a@here.test",
		.rcpt = rcpt,
		.domain = domain,
		.last_reply = "",
		.attempts = (unsigned)id,
		.created = 1000 + id,
		.size = 42,
	};
}

static void
test_group(void **state)
{
	struct queue_job *list = NULL, *j, *next;
	struct store_queue_entry e;
	char rcpt[64];
	size_t n = 0, i;

	(void)state;
	e = entry(1, "a.test", 10, "x@a.test");
	assert_true(queue_group_add(&list, &n, 3, &e));
	e = entry(2, "a.test", 10, "y@a.test");
	assert_true(queue_group_add(&list, &n, 3, &e));
	e = entry(3, "a.test", 11, "x@a.test");
	assert_true(queue_group_add(&list, &n, 3, &e));
	e = entry(4, "b.test", 10, "z@b.test");
	assert_true(queue_group_add(&list, &n, 3, &e));
	assert_int_equal(n, 2);
	j = list;
	assert_string_equal(j->domain, "a.test");
	assert_int_equal(j->n_msgs, 2);
	assert_int_equal(j->n_rcpts, 3);
	assert_int_equal(j->msgs[0].message_id, 10);
	assert_int_equal(j->msgs[0].n_rcpts, 2);
	assert_string_equal(j->msgs[0].rcpts[1].addr, "y@a.test");
	assert_int_equal(j->msgs[0].rcpts[1].queue_id, 2);
	assert_int_equal(j->rows[0][1].attempts, 2);
	assert_int_equal(j->rows[1][0].created, 1003);
	assert_string_equal(j->msgs[1].sender, "a@here.test");
	assert_int_equal(j->msgs[1].size, 42);
	j = j->next;
	assert_string_equal(j->domain, "b.test");
	assert_int_equal(j->n_msgs, 1);
	assert_null(j->next);
	/* 250 recipients of one message at c.test: three transactions of
	 * at most 100 in one job. */
	for (i = 0; i < 250; i++) {
		(void)str_fmt(rcpt, sizeof(rcpt), "r%zu@c.test", i);
		e = entry(100 + (int64_t)i, "c.test", 20, rcpt);
		assert_true(queue_group_add(&list, &n, 3, &e));
	}
	assert_int_equal(n, 3);
	j = list->next->next;
	assert_int_equal(j->n_msgs, 3);
	assert_int_equal(j->msgs[0].n_rcpts, 100);
	assert_int_equal(j->msgs[2].n_rcpts, 50);
	assert_int_equal(j->msgs[2].message_id, 20);
	/* The job limit: a fourth domain waits. */
	e = entry(999, "d.test", 30, "q@d.test");
	assert_false(queue_group_add(&list, &n, 3, &e));
	assert_int_equal(n, 3);
	for (j = list; j != NULL; j = next) {
		next = j->next;
		queue_job_free(&j);
	}
}

/* More messages than a job takes: a second job for the same domain. */
static void
test_group_job_full(void **state)
{
	struct queue_job *list = NULL, *j, *next;
	struct store_queue_entry e;
	size_t n = 0, i;

	(void)state;
	for (i = 0; i < QUEUE_MSGS_PER_JOB + 1; i++) {
		e = entry(1 + (int64_t)i, "a.test", 1 + (int64_t)i, "x@a.test");
		assert_true(queue_group_add(&list, &n, 10, &e));
	}
	assert_int_equal(n, 2);
	assert_int_equal(list->n_msgs, QUEUE_MSGS_PER_JOB);
	assert_int_equal(list->next->n_msgs, 1);
	for (j = list; j != NULL; j = next) {
		next = j->next;
		queue_job_free(&j);
	}
}

static void
test_idset(void **state)
{
	struct queue_idset s;
	int64_t i;

	(void)state;
	queue_idset_init(&s);
	assert_false(queue_idset_has(&s, 1));
	queue_idset_del(&s, 1);
	for (i = 1; i <= 5000; i++)
		queue_idset_add(&s, i);
	queue_idset_add(&s, 7);
	assert_int_equal(s.live, 5000);
	for (i = 1; i <= 5000; i += 2)
		queue_idset_del(&s, i);
	for (i = 1; i <= 5000; i++)
		assert_int_equal(queue_idset_has(&s, i), i % 2 == 0);
	/* Churn: tombstones must not fill the table. */
	for (i = 0; i < 200000; i++) {
		queue_idset_add(&s, 10000 + i);
		queue_idset_del(&s, 10000 + i);
	}
	assert_int_equal(s.live, 2500);
	assert_true(s.cap <= 16384);
	for (i = 2; i <= 5000; i += 2)
		assert_true(queue_idset_has(&s, i));
	queue_idset_clear(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_parse),
		cmocka_unit_test(test_domain_literal),
		cmocka_unit_test(test_route_find),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_group_job_full),
		cmocka_unit_test(test_idset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
