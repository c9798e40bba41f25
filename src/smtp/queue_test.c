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

#include <ftw.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "smtp/queue.h"
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
	queue_status(SMTP_RCPT_PERM, 0,
	    "5.6.7 the remote server does not "
	    "support SMTPUTF8",
	    s);
	assert_string_equal(s, "5.6.7");
	queue_status(SMTP_RCPT_PERM, 0, "4.4.1 wrong class", s);
	assert_string_equal(s, "5.0.0");
	queue_status(SMTP_RCPT_TEMP, 0, "4.4.2 connection dropped", s);
	assert_string_equal(s, "4.4.2");
	queue_status(SMTP_RCPT_PERM, 550, "5.1.1 no code before", s);
	assert_string_equal(s, "5.0.0");
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

/* --- the scheduler against a real store, with DNS and the client faked ---
 * The fakes below replace dns.c and client.c at link time (this object
 * defines every symbol of theirs that queue.c uses, so the archive's
 * dns.o and client.o are not pulled in). Domains say what happens:
 * nx*.test do not exist, perm*.test answer 550, temp*.test 451, hang*.test
 * never answer (until aborted); anything else takes the mail, and so do
 * recipients good*@ anywhere. */

struct dns_resolver {
	uv_loop_t *loop;
	struct fake_q *pending;
};

struct fake_q {
	struct fake_q *next;
	struct dns_resolver *r;
	uv_timer_t t;
	char name[256];
	unsigned port;
	bool mx;
	dns_cb cb;
	void *ctx;
};

static struct {
	unsigned active, max_active, started, aborted;
	unsigned starts[1024]; /* per queue row id */
	unsigned null_sender_msgs;
} sim;

int
dns_resolver_new(uv_loop_t *loop, const char *forwarder,
    struct dns_resolver **out, struct err *err)
{
	(void)forwarder;
	(void)err;
	*out = xcalloc(1, sizeof(**out));
	(*out)->loop = loop;
	return 0;
}

static void
fake_q_closed(uv_handle_t *h)
{
	void *p = h->data; /* h lies inside it */

	xfree(&p);
}

static void
fake_q_unlink(struct fake_q *fq)
{
	struct fake_q **pp;

	for (pp = &fq->r->pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == fq) {
			*pp = fq->next;
			break;
		}
}

void
dns_resolver_free(struct dns_resolver **rp)
{
	struct fake_q *fq, *next;

	if (*rp == NULL)
		return;
	for (fq = (*rp)->pending; fq != NULL; fq = next) {
		next = fq->next;
		uv_close((uv_handle_t *)&fq->t, fake_q_closed);
	}
	xfree(rp);
}

static void
fake_q_fire(uv_timer_t *t)
{
	struct fake_q *fq = t->data;
	struct dns_host h = { 0 };
	struct dns_result res = { 0 };

	fake_q_unlink(fq);
	if (fq->mx && strncmp(fq->name, "nx", 2) == 0) {
		res.status = ERR_NOTFOUND;
		(void)str_copy(res.why, sizeof(res.why),
		    "the domain does not exist");
	} else {
		(void)str_fmt(h.name, sizeof(h.name), "mx.%s", fq->name);
		(void)str_copy(h.addr, sizeof(h.addr), "127.0.0.1");
		h.port = fq->port;
		res.hosts = &h;
		res.n_hosts = 1;
	}
	fq->cb(fq->ctx, &res);
	uv_close((uv_handle_t *)&fq->t, fake_q_closed);
}

static int
fake_resolve(struct dns_resolver *r, const char *name, unsigned port, bool mx,
    dns_cb cb, void *ctx)
{
	struct fake_q *fq = xcalloc(1, sizeof(*fq));

	fq->r = r;
	(void)str_copy(fq->name, sizeof(fq->name), name);
	fq->port = port;
	fq->mx = mx;
	fq->cb = cb;
	fq->ctx = ctx;
	fq->next = r->pending;
	r->pending = fq;
	(void)uv_timer_init(r->loop, &fq->t);
	fq->t.data = fq;
	(void)uv_timer_start(&fq->t, fake_q_fire, 1, 0);
	return 0;
}

int
dns_resolve_mx(struct dns_resolver *r, const char *domain, unsigned port,
    dns_cb cb, void *ctx)
{
	return fake_resolve(r, domain, port, true, cb, ctx);
}

int
dns_resolve_host(struct dns_resolver *r, const char *host, unsigned port,
    dns_cb cb, void *ctx)
{
	return fake_resolve(r, host, port, false, cb, ctx);
}

struct smtp_client {
	uv_timer_t t;
	struct smtp_client_job *job;
	smtp_client_cb cb;
	void *ctx;
	bool aborted;
};

static void
fake_client_closed(uv_handle_t *h)
{
	void *p = h->data; /* h lies inside it */

	xfree(&p);
}

static void
fake_client_fire(uv_timer_t *t)
{
	struct smtp_client *c = t->data;
	struct smtp_client_job *job = c->job;
	const char *d = job->domain;
	size_t i, k;

	for (i = 0; i < job->n_msgs; i++) {
		struct smtp_client_msg *m = &job->msgs[i];

		(void)str_copy(m->remote, sizeof(m->remote),
		    job->hosts[0].name);
		if (m->sender[0] == '\0')
			sim.null_sender_msgs++;
		for (k = 0; k < m->n_rcpts; k++) {
			struct smtp_client_rcpt *r = &m->rcpts[k];
			const char *reply = "250 2.0.0 ok";

			r->status = SMTP_RCPT_OK;
			r->code = 250;
			if (strncmp(r->addr, "good", 4) == 0 && !c->aborted) {
				/* taken whatever the domain does */
			} else if (c->aborted) {
				r->status = SMTP_RCPT_TEMP;
				r->code = 0;
				reply = "aborted";
			} else if (strncmp(d, "perm", 4) == 0) {
				r->status = SMTP_RCPT_PERM;
				r->code = 550;
				reply = "550 5.1.1 no such user";
			} else if (strncmp(d, "temp", 4) == 0) {
				r->status = SMTP_RCPT_TEMP;
				r->code = 451;
				reply = "451 4.3.0 later";
			}
			(void)str_copy(r->reply, sizeof(r->reply), reply);
		}
	}
	sim.active--;
	c->cb(c->ctx, job);
	uv_close((uv_handle_t *)&c->t, fake_client_closed);
}

int
smtp_client_start(uv_loop_t *loop, struct store *st,
    const struct smtp_client_opts *opts, struct smtp_client_job *job,
    smtp_client_cb cb, void *ctx, struct smtp_client **out)
{
	struct smtp_client *c;
	size_t i, k;

	(void)st;
	(void)opts;
	if (job->n_hosts == 0 || job->n_msgs == 0)
		return ERR_INPUT;
	c = xcalloc(1, sizeof(*c));
	c->job = job;
	c->cb = cb;
	c->ctx = ctx;
	for (i = 0; i < job->n_msgs; i++)
		for (k = 0; k < job->msgs[i].n_rcpts; k++) {
			int64_t id = job->msgs[i].rcpts[k].queue_id;

			assert_true(id > 0 && id < 1024);
			sim.starts[id]++;
		}
	sim.started++;
	if (++sim.active > sim.max_active)
		sim.max_active = sim.active;
	(void)uv_timer_init(loop, &c->t);
	c->t.data = c;
	if (strncmp(job->domain, "hang", 4) != 0)
		(void)uv_timer_start(&c->t, fake_client_fire, 5, 0);
	*out = c;
	return 0;
}

void
smtp_client_abort(struct smtp_client *c)
{
	c->aborted = true;
	sim.aborted++;
	(void)uv_timer_stop(&c->t);
	(void)uv_timer_start(&c->t, fake_client_fire, 0, 0);
}

/* The world of one scheduler test. */
struct world {
	char base[256], dir[300];
	uv_loop_t loop;
	struct store *st;
	struct smtp_queue *q;
	struct config *cfg;
	int64_t alice;
	uv_timer_t check;
	bool (*until)(struct world *w);
	unsigned ticks;
	bool stopping, stopped, timed_out;
};

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
world_open(struct world *w, unsigned max_connections)
{
	struct store_opts o = { 0 };
	struct err e = { 0 };
	const char *t = getenv("TMPDIR");

	memset(&sim, 0, sizeof(sim));
	memset(w, 0, sizeof(*w));
	assert_true(str_fmt(w->base, sizeof(w->base),
	    "%s/despatch-queue-XXXXXX", t ? t : "/tmp"));
	assert_non_null(mkdtemp(w->base));
	(void)str_fmt(w->dir, sizeof(w->dir), "%s/store", w->base);
	assert_int_equal(uv_loop_init(&w->loop), 0);
	o.dir = w->dir;
	o.loop = &w->loop;
	o.batch_max = 64;
	o.gc_grace_seconds = 3600;
	assert_int_equal(store_open(&o, &w->st, &e), 0);
	assert_int_equal(store_domain_add(w->st, "example.test", &e), 0);
	assert_int_equal(store_user_add(w->st, "alice@example.test", "h",
	                     &w->alice, &e),
	    0);
	w->cfg = xcalloc(1, sizeof(*w->cfg));
	config_defaults(w->cfg);
	(void)str_copy(w->cfg->hostname, sizeof(w->cfg->hostname),
	    "mx.example.test");
	w->cfg->queue_max_connections = max_connections;
	w->cfg->outbound_starttls = false;
}

static void
on_committed(void *ctx, const struct store_commit_result *res)
{
	int *status = ctx;

	*status = res->status;
}

/* Commits one message from sender to rcpts (all remote). */
static void
world_submit(struct world *w, const char *sender, const char *const *rcpts,
    size_t n)
{
	static const char msg[] = "Return-Path: <x@example.test>\r\n"
	                          "From: x@example.test\r\n"
	                          "Subject: sim\r\n"
	                          "\r\n"
	                          "body\r\n";
	struct store_outbound out[8];
	struct store_envelope env = { 0 };
	struct store_msg *m = NULL;
	struct err e = { 0 };
	int status = 1;
	size_t i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++)
		out[i] = (struct store_outbound){ .rcpt = rcpts[i] };
	env.sender = sender;
	env.now = clock_now();
	env.rcpts = out;
	env.n_rcpts = n;
	assert_int_equal(store_msg_new(w->st, &m, &e), 0);
	assert_int_equal(store_msg_write(m, msg, sizeof(msg) - 1, &e), 0);
	assert_int_equal(store_msg_finish(m, &e), 0);
	assert_int_equal(store_msg_commit_out(&m, NULL, 0, &env, on_committed,
	                     &status),
	    0);
	while (status == 1)
		(void)uv_run(&w->loop, UV_RUN_ONCE);
	assert_int_equal(status, 0);
}

static void
on_queue_done(void *ctx)
{
	struct world *w = ctx;

	w->stopped = true;
}

static void
on_check(uv_timer_t *t)
{
	struct world *w = t->data;

	if (w->stopping)
		return;
	if (++w->ticks > 500) /* 10 s */
		w->timed_out = true;
	else if (!w->until(w))
		return;
	w->stopping = true;
	(void)uv_timer_stop(t);
	smtp_queue_shutdown(w->q, on_queue_done, w);
}

/* Runs the scheduler until `until` holds, then shuts it down. */
static void
world_run(struct world *w, bool (*until)(struct world *w))
{
	struct err e = { 0 };

	w->until = until;
	assert_int_equal(smtp_queue_start(&w->loop, w->cfg, w->st, &w->q, &e),
	    0);
	(void)uv_timer_init(&w->loop, &w->check);
	w->check.data = w;
	(void)uv_timer_start(&w->check, on_check, 20, 20);
	while (!w->stopped)
		(void)uv_run(&w->loop, UV_RUN_ONCE);
	assert_false(w->timed_out);
	smtp_queue_free(&w->q);
}

static void
world_close(struct world *w)
{
	uv_close((uv_handle_t *)&w->check, NULL);
	store_close(&w->st);
	(void)uv_run(&w->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&w->loop), 0);
	(void)nftw(w->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	xfree(&w->cfg);
}

struct rows {
	size_t n;
	unsigned attempts[64];
	int64_t next_attempt[64];
	char reply[64][80];
	char sender[64][80];
	char rcpt[64][80];
};

static void
on_row(void *ctx, const struct store_queue_entry *e)
{
	struct rows *r = ctx;

	if (r->n < 64) {
		r->attempts[r->n] = e->attempts;
		r->next_attempt[r->n] = e->next_attempt;
		(void)str_copy(r->reply[r->n], 80, e->last_reply);
		(void)str_copy(r->sender[r->n], 80, e->sender);
		(void)str_copy(r->rcpt[r->n], 80, e->rcpt);
	}
	r->n++;
}

static struct rows
rows_of(struct world *w)
{
	struct rows r;
	struct err e = { 0 };

	memset(&r, 0, sizeof(r));
	assert_int_equal(store_queue_list(w->st, on_row, &r, &e), 0);
	return r;
}

static bool
queue_empty(struct world *w)
{
	return rows_of(w).n == 0;
}

struct subjects {
	size_t n;
	char first[128];
};

static void
on_entry(void *ctx, const struct store_entry *e)
{
	struct subjects *s = ctx;

	if (s->n++ == 0)
		(void)str_copy(s->first, sizeof(s->first), e->subject);
}

static struct subjects
inbox(struct world *w)
{
	struct subjects s = { 0 };
	struct err e = { 0 };

	assert_int_equal(store_entry_list(w->st, w->alice, "INBOX", on_entry,
	                     &s, &e),
	    0);
	return s;
}

/* 12 domains, 2 recipients each, at most 3 sessions at once: all
 * delivered, each row started exactly once, never more than 3 clients. */
static void
test_sim_many_domains(void **state)
{
	struct world w;
	char a[12][32], b[12][32];
	const char *r[2];
	size_t i;

	(void)state;
	world_open(&w, 3);
	for (i = 0; i < 12; i++) {
		(void)str_fmt(a[i], sizeof(a[i]), "a@d%zu.test", i);
		(void)str_fmt(b[i], sizeof(b[i]), "b@d%zu.test", i);
		r[0] = a[i];
		r[1] = b[i];
		world_submit(&w, "alice@example.test", r, 2);
	}
	world_run(&w, queue_empty);
	assert_int_equal(sim.max_active, 3);
	assert_true(sim.started >= 4); /* 12 domains, 3 at a time */
	for (i = 1; i <= 24; i++)
		assert_int_equal(sim.starts[i], 1);
	assert_int_equal(inbox(&w).n, 0);
	world_close(&w);
}

/* 550 for two recipients of one message, 250 for a third: one bounce to
 * the local sender, every row gone. */
static void
test_sim_bounce_local(void **state)
{
	static const char *const r[] = { "x@perm.test", "y@perm.test",
		"z@ok.test" };
	struct world w;
	struct subjects s;

	(void)state;
	world_open(&w, 5);
	world_submit(&w, "alice@example.test", r, 3);
	world_run(&w, queue_empty);
	s = inbox(&w);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.first, "Undelivered Mail Returned to Sender");
	world_close(&w);
}

/* The first INBOX message of alice, whole (at most 64 KiB). */
static void
first_message(struct world *w, char *out, size_t size)
{
	struct store_reader *rd = NULL;
	struct err e = { 0 };
	size_t n, len = 0;

	assert_int_equal(store_reader_open(w->st, w->alice, "INBOX", 1, &rd,
	                     &e),
	    0);
	do {
		assert_int_equal(store_reader_read(rd, out + len,
		                     size - 1 - len, &n, &e),
		    0);
		len += n;
	} while (n > 0 && len < size - 1);
	out[len] = '\0';
	store_reader_close(&rd);
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay++)
		n++;
	return n;
}

/* Failures of one message at three domains (three jobs, finishing at
 * different times) make one bounce naming all three; the delivered
 * recipient is not in it. */
static void
test_sim_one_bounce_per_message(void **state)
{
	static const char *const r[] = { "good@perm1.test", "a@perm1.test",
		"b@perm2.test", "c@nx.test", "d@ok.test", "e@perm2.test" };
	struct world w;
	char *text = xmalloc(65536);

	(void)state;
	world_open(&w, 5);
	world_submit(&w, "alice@example.test", r, 6);
	world_run(&w, queue_empty);
	assert_int_equal(inbox(&w).n, 1);
	first_message(&w, text, 65536);
	assert_int_equal(count_of(text, "\r\nFinal-Recipient: "), 4);
	assert_non_null(strstr(text,
	    "Final-Recipient: rfc822; a@perm1.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"));
	assert_non_null(strstr(text,
	    "Final-Recipient: rfc822; e@perm2.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"));
	assert_null(strstr(text, "good@perm1.test"));
	assert_non_null(strstr(text,
	    "Final-Recipient: rfc822; c@nx.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.2\r\n"));
	assert_null(strstr(text, "d@ok.test"));
	xfree(&text);
	world_close(&w);
}

/* A domain that does not exist bounces too (5.1.2); the null sender's
 * failures are dropped without a report. */
static void
test_sim_nx_and_null_sender(void **state)
{
	static const char *const r1[] = { "x@nx.test" };
	static const char *const r2[] = { "y@perm.test" };
	struct world w;

	(void)state;
	world_open(&w, 5);
	world_submit(&w, "alice@example.test", r1, 1);
	world_submit(&w, "", r2, 1);
	world_run(&w, queue_empty);
	assert_int_equal(inbox(&w).n, 1);
	world_close(&w);
}

/* A remote sender's bounce is queued with the null sender and then
 * delivered to the sender's domain. */
static void
test_sim_bounce_remote(void **state)
{
	static const char *const r[] = { "x@perm.test" };
	struct world w;

	(void)state;
	world_open(&w, 5);
	world_submit(&w, "bob@far.test", r, 1);
	world_run(&w, queue_empty);
	assert_int_equal(sim.null_sender_msgs, 1);
	assert_int_equal(sim.starts[2], 1); /* the bounce's row */
	world_close(&w);
}

static bool
attempted_once(struct world *w)
{
	struct rows r = rows_of(w);

	return r.n == 1 && r.attempts[0] == 1;
}

/* 451: deferred by retry_min, the reply kept, started once. */
static void
test_sim_defer(void **state)
{
	static const char *const r[] = { "x@temp.test" };
	struct world w;
	struct rows rows;
	int64_t t0 = clock_now();

	(void)state;
	world_open(&w, 5);
	w.cfg->queue_retry_min_seconds = 300;
	world_submit(&w, "alice@example.test", r, 1);
	world_run(&w, attempted_once);
	rows = rows_of(&w);
	assert_int_equal(rows.n, 1);
	assert_string_equal(rows.reply[0], "451 4.3.0 later");
	assert_true(rows.next_attempt[0] >= t0 + 300);
	assert_true(rows.next_attempt[0] <= clock_now() + 300);
	assert_int_equal(sim.starts[1], 1);
	assert_int_equal(inbox(&w).n, 0);
	world_close(&w);
}

static bool
hung(struct world *w)
{
	(void)w;
	return sim.active == 1;
}

/* Shutdown during a delivery: the client is aborted, done comes, the row
 * stays as it was (no attempt counted). */
static void
test_sim_shutdown(void **state)
{
	static const char *const r[] = { "x@hang.test" };
	struct world w;
	struct rows rows;

	(void)state;
	world_open(&w, 5);
	world_submit(&w, "alice@example.test", r, 1);
	world_run(&w, hung);
	assert_int_equal(sim.aborted, 1);
	assert_int_equal(sim.active, 0);
	rows = rows_of(&w);
	assert_int_equal(rows.n, 1);
	assert_int_equal(rows.attempts[0], 0);
	world_close(&w);
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
		cmocka_unit_test(test_sim_many_domains),
		cmocka_unit_test(test_sim_bounce_local),
		cmocka_unit_test(test_sim_one_bounce_per_message),
		cmocka_unit_test(test_sim_nx_and_null_sender),
		cmocka_unit_test(test_sim_bounce_remote),
		cmocka_unit_test(test_sim_defer),
		cmocka_unit_test(test_sim_shutdown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
