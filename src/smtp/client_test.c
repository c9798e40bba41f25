/* SPDX-License-Identifier: MIT */
/* The outbound client against scripted fake servers in the same loop
 * (127.0.0.1, net_conn on the server side too): pipelining order, per-
 * recipient 4xx/5xx, 421 mid-session and refused connections moving to
 * the next host, dot-stuffing, CRLF and Return-Path removal as received,
 * malformed and endless replies, SMTPUTF8 refusal, DSN parameters and
 * STARTTLS. A real store (temporary folder) holds the messages. */
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <ftw.h>

#include "lib/str.h"
#include "net/conn.h"
#include "net/tls.h"
#include "smtp/client.h"
#include "store/store.h"

/* --- the fake server ----------------------------------------------- */

#define FAKE_RCPTS 8

struct fake {
	uv_tcp_t listener;
	unsigned port;
	/* Script: complete replies with CRLF; NULL: the default. "CLOSE":
	 * drop the connection instead of answering. */
	const char *greeting, *ehlo, *mail, *data, *dot, *rset;
	const char *rcpt[FAKE_RCPTS];
	bool hold_until_data; /* answers wait for DATA (pipelining check) */
	bool drip;            /* greets one byte every 20 ms, for ever */
	uv_timer_t drip_timer;
	struct tls_ctx *tls; /* answers STARTTLS with 220 and TLS */

	/* Record. */
	unsigned conns, open, rcpt_n, messages;
	bool listener_closed, drip_closed;
	char log[8192];   /* commands, one per line */
	char body[65536]; /* the last message's data as received */
	size_t body_len;
	char held[4096];
	size_t held_len;
	bool in_data, txn_data, holding;
	struct net_conn *conn;
};

static void
fake_send(struct fake *f, const char *s)
{
	if (f->holding) {
		size_t n = strlen(s);

		assert_true(f->held_len + n < sizeof(f->held));
		memcpy(f->held + f->held_len, s, n);
		f->held_len += n;
		return;
	}
	net_conn_write(f->conn, s, strlen(s));
}

static void
fake_reply(struct fake *f, const char *s, const char *dflt)
{
	if (s == NULL)
		s = dflt;
	if (strcmp(s, "CLOSE") == 0) {
		net_conn_close(f->conn);
		return;
	}
	fake_send(f, s);
}

static void
fake_line(struct fake *f, const char *line)
{
	size_t len = strlen(f->log);

	(void)str_fmt(f->log + len, sizeof(f->log) - len, "%s\n", line);
	if (strncasecmp(line, "EHLO", 4) == 0) {
		fake_reply(f, f->ehlo, "250-fake\r\n250 PIPELINING\r\n");
	} else if (strncasecmp(line, "HELO", 4) == 0) {
		fake_reply(f, NULL, "250 fake\r\n");
	} else if (strncasecmp(line, "STARTTLS", 8) == 0) {
		net_conn_write(f->conn, "220 go ahead\r\n", 14);
		(void)net_conn_starttls(f->conn, f->tls);
	} else if (strncasecmp(line, "MAIL", 4) == 0) {
		f->holding = f->hold_until_data;
		fake_reply(f, f->mail, "250 2.1.0 ok\r\n");
	} else if (strncasecmp(line, "RCPT", 4) == 0) {
		fake_reply(f,
		    f->rcpt_n < FAKE_RCPTS ? f->rcpt[f->rcpt_n] : NULL,
		    "250 2.1.5 ok\r\n");
		f->rcpt_n++;
	} else if (strncasecmp(line, "DATA", 4) == 0) {
		const char *d = f->data != NULL ? f->data : "354 go\r\n";

		f->txn_data = true;
		f->holding = false;
		if (f->held_len > 0)
			net_conn_write(f->conn, f->held, f->held_len);
		f->held_len = 0;
		fake_reply(f, d, d);
		if (strncmp(d, "354", 3) == 0) {
			f->in_data = true;
			f->body_len = 0;
		}
	} else if (strncasecmp(line, "RSET", 4) == 0) {
		f->txn_data = false;
		fake_reply(f, f->rset, "250 2.0.0 ok\r\n");
	} else if (strncasecmp(line, "QUIT", 4) == 0) {
		net_conn_write(f->conn, "221 bye\r\n", 9);
		net_conn_close(f->conn);
	} else {
		fake_reply(f, NULL, "502 5.5.2 what\r\n");
	}
}

static size_t
fake_on_data(void *ctx, struct slice in)
{
	struct fake *f = ctx;
	size_t used = 0, i;
	char line[2048];

	while (used < in.len) {
		if (f->in_data) {
			/* Byte by byte up to CRLF.CRLF (or .CRLF first). */
			assert_true(f->body_len < sizeof(f->body));
			f->body[f->body_len++] = in.p[used++];
			if ((f->body_len == 3 &&
			        memcmp(f->body, ".\r\n", 3) == 0) ||
			    (f->body_len >= 5 &&
			        memcmp(f->body + f->body_len - 5, "\r\n.\r\n",
			            5) == 0)) {
				f->body_len -= 3; /* keep the last CRLF */
				f->in_data = false;
				f->messages++;
				fake_reply(f, f->dot, "250 2.0.0 queued\r\n");
			}
			continue;
		}
		for (i = used; i + 1 < in.len; i++)
			if (in.p[i] == '\r' && in.p[i + 1] == '\n')
				break;
		if (i + 1 >= in.len)
			break;
		assert_true(i - used < sizeof(line));
		memcpy(line, in.p + used, i - used);
		line[i - used] = '\0';
		used = i + 2;
		fake_line(f, line);
		if (strncasecmp(line, "STARTTLS", 8) == 0)
			return in.len; /* the rest is void (RFC 3207) */
	}
	return used;
}

static void
fake_on_close(void *ctx, const char *reason)
{
	struct fake *f = ctx;

	(void)reason;
	f->open--;
}

static const struct net_conn_ops fake_ops = {
	.on_data = fake_on_data,
	.on_close = fake_on_close,
};

static void
fake_drip(uv_timer_t *t)
{
	struct fake *f = t->data;

	if (f->open > 0)
		net_conn_write(f->conn, "x", 1);
}

static void
fake_on_conn(uv_stream_t *server, int status)
{
	struct fake *f = server->data;
	struct net_conn *c;

	assert_int_equal(status, 0);
	assert_int_equal(net_conn_accept(server->loop, server, &c), 0);
	f->conns++;
	f->open++;
	f->conn = c;
	f->in_data = f->txn_data = false;
	f->held_len = 0;
	net_conn_start(c, &fake_ops, f);
	if (f->drip) {
		net_conn_write(c, "220-", 4);
		(void)uv_timer_start(&f->drip_timer, fake_drip, 20, 20);
		return;
	}
	fake_reply(f, f->greeting, "220 fake ESMTP\r\n");
}

static void
fake_start(uv_loop_t *loop, struct fake *f)
{
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	assert_int_equal(uv_tcp_init(loop, &f->listener), 0);
	f->listener.data = f;
	(void)uv_timer_init(loop, &f->drip_timer);
	f->drip_timer.data = f;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	assert_int_equal(uv_tcp_bind(&f->listener, (const struct sockaddr *)&sa,
	                     0),
	    0);
	assert_int_equal(uv_listen((uv_stream_t *)&f->listener, 16,
	                     fake_on_conn),
	    0);
	assert_int_equal(uv_tcp_getsockname(&f->listener,
	                     (struct sockaddr *)&ss, &len),
	    0);
	f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void
listener_closed(uv_handle_t *h)
{
	struct fake *f = h->data;

	f->listener_closed = true;
}

/* The client has closed its side: waits for ours and the listener. */
static void
drip_closed(uv_handle_t *h)
{
	struct fake *f = h->data;

	f->drip_closed = true;
}

static void
fake_stop(struct fake *f)
{
	uv_close((uv_handle_t *)&f->listener, listener_closed);
	uv_close((uv_handle_t *)&f->drip_timer, drip_closed);
	while (!f->listener_closed || !f->drip_closed || f->open > 0)
		(void)uv_run(f->listener.loop, UV_RUN_ONCE);
}

/* --- the store and the job ----------------------------------------- */

struct env {
	uv_loop_t loop;
	char base[256], dir[300];
	struct store *st;
	bool done;
	struct smtp_client_job *job;
};

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
commit_done(void *ctx, const struct store_commit_result *res)
{
	int64_t *id = ctx;

	assert_int_equal(res->status, 0);
	*id = res->message_id;
}

static int64_t
put_message(struct env *e, const char *bytes)
{
	struct store_msg *m;
	struct err err = { 0 };
	struct store_outbound ob = { .rcpt = "x@remote.test" };
	struct store_envelope env = { .sender = "s@local.test",
		.rcpts = &ob,
		.n_rcpts = 1,
		.now = 1 };
	int64_t id = 0;

	assert_int_equal(store_msg_new(e->st, &m, &err), 0);
	assert_int_equal(store_msg_write(m, bytes, strlen(bytes), &err), 0);
	assert_int_equal(store_msg_finish(m, &err), 0);
	assert_int_equal(store_msg_commit_out(&m, NULL, 0, &env, commit_done,
	                     &id),
	    0);
	assert_true(id > 0);
	return id;
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct store_opts o = { 0 };
	struct err err = { 0 };
	const char *t = getenv("TMPDIR");

	assert_int_equal(uv_loop_init(&e->loop), 0);
	(void)str_fmt(e->base, sizeof(e->base), "%s/despatch-client-XXXXXX",
	    t != NULL ? t : "/tmp");
	assert_non_null(mkdtemp(e->base));
	(void)str_fmt(e->dir, sizeof(e->dir), "%s/store", e->base);
	o.dir = e->dir;
	o.batch_max = 1;
	assert_int_equal(store_open(&o, &e->st, &err), 0);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	store_close(&e->st);
	(void)uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	(void)nftw(e->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(e);
	return 0;
}

static void
job_done(void *ctx, struct smtp_client_job *job)
{
	struct env *e = ctx;

	e->done = true;
	e->job = job;
	uv_stop(&e->loop); /* UV_RUN_ONCE could block in poll after this */
}

static void
run_job(struct env *e, struct smtp_client_job *job, struct tls_ctx *tls,
    unsigned reply_ms)
{
	struct smtp_client_opts o = { .helo = "out.local.test",
		.tls = tls,
		.connect_timeout_ms = 2000,
		.reply_timeout_ms = reply_ms != 0 ? reply_ms : 3000 };
	struct smtp_client *c;

	e->done = false;
	assert_int_equal(smtp_client_start(&e->loop, e->st, &o, job, job_done,
	                     e, &c),
	    0);
	assert_false(e->done); /* never inside the call */
	while (!e->done)
		(void)uv_run(&e->loop, UV_RUN_ONCE);
}

static void
host(struct dns_host *h, const char *name, unsigned port)
{
	memset(h, 0, sizeof(*h));
	(void)str_copy(h->name, sizeof(h->name), name);
	(void)str_copy(h->addr, sizeof(h->addr), "127.0.0.1");
	h->port = port;
}

/* A port nobody listens on: bound, then closed. */
static unsigned
dead_port(uv_loop_t *loop)
{
	struct fake f = { 0 };

	fake_start(loop, &f);
	fake_stop(&f);
	return f.port;
}

static const char msg1[] = "Return-Path: <s@local.test>\r\n"
                           "Received: from x by y\r\n"
                           "Subject: hi\r\n"
                           "\r\n"
                           ".leading dot\r\n"
                           "..two\r\n"
                           ".\r\n"
                           "last line without end";
static const char msg1_wire[] = "Received: from x by y\r\n"
                                "Subject: hi\r\n"
                                "\r\n"
                                "..leading dot\r\n"
                                "...two\r\n"
                                "..\r\n"
                                "last line without end\r\n";

/* --- tests --------------------------------------------------------- */

static void
test_pipelined(void **state)
{
	struct env *e = *state;
	struct fake f = { .hold_until_data = true,
		.ehlo = "250-fake\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n"
		        "250 8BITMIME\r\n",
		.rcpt = { "250 ok\r\n", "550 5.1.1 no such user\r\n",
		    "451 4.2.2 full\r\n" } };
	struct smtp_client_rcpt r[3] = { { .addr = "a@remote.test" },
		{ .addr = "b@remote.test" }, { .addr = "c@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 3,
		.size = 120,
		.body_8bit = true };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };

	fake_start(&e->loop, &f);
	host(&h, "mx.remote.test", f.port);
	m.message_id = put_message(e, msg1);
	run_job(e, &job, NULL, 0);
	fake_stop(&f);
	assert_int_equal(r[0].status, SMTP_RCPT_OK);
	assert_int_equal(r[0].code, 250);
	assert_int_equal(r[1].status, SMTP_RCPT_PERM);
	assert_int_equal(r[1].code, 550);
	assert_string_equal(r[1].reply, "550 5.1.1 no such user");
	assert_int_equal(r[2].status, SMTP_RCPT_TEMP);
	assert_int_equal(r[2].code, 451);
	assert_string_equal(f.log,
	    "EHLO out.local.test\n"
	    "MAIL FROM:<s@local.test> SIZE=120 BODY=8BITMIME\n"
	    "RCPT TO:<a@remote.test>\n"
	    "RCPT TO:<b@remote.test>\n"
	    "RCPT TO:<c@remote.test>\n"
	    "DATA\n"
	    "QUIT\n");
	assert_int_equal(f.body_len, sizeof(msg1_wire) - 1);
	assert_memory_equal(f.body, msg1_wire, f.body_len);
	assert_string_equal(m.remote, "mx.remote.test");
	assert_false(m.remote_dsn);
}

/* Without PIPELINING: one command at a time, DATA skipped when nobody
 * was accepted, RSET between messages; bare CR/LF become CRLF. */
static void
test_lockstep_two_messages(void **state)
{
	struct env *e = *state;
	struct fake f = { .ehlo = "250-fake\r\n250 SMTPUTF8\r\n",
		.rcpt = { "250 ok\r\n", "550 no\r\n" } };
	struct smtp_client_rcpt r1[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_rcpt r2[1] = { { .addr = "b@remote.test" } };
	struct smtp_client_msg m[2] = {
		{ .sender = "", .rcpts = r1, .n_rcpts = 1, .smtputf8 = true },
		{ .sender = "s@local.test", .rcpts = r2, .n_rcpts = 1 },
	};
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = m,
		.n_msgs = 2 };

	fake_start(&e->loop, &f);
	host(&h, "mx.remote.test", f.port);
	m[0].message_id = put_message(e, "Subject: a\r\n\r\nx\ry\nz\r\r\n");
	m[1].message_id = put_message(e, "Subject: b\r\n\r\nbody\r\n");
	/* Second message's only rcpt is refused: no DATA for it. */
	run_job(e, &job, NULL, 0);
	fake_stop(&f);
	assert_int_equal(r1[0].status, SMTP_RCPT_OK);
	assert_int_equal(f.messages, 1);
	assert_string_equal(f.log,
	    "EHLO out.local.test\n"
	    "MAIL FROM:<> SMTPUTF8\n"
	    "RCPT TO:<a@remote.test>\n"
	    "DATA\n"
	    "RSET\n"
	    "MAIL FROM:<s@local.test>\n"
	    "RCPT TO:<b@remote.test>\n"
	    "QUIT\n");
	assert_int_equal(r2[0].status, SMTP_RCPT_PERM);
	assert_int_equal(r2[0].code, 550);
	assert_memory_equal(f.body, "Subject: a\r\n\r\nx\r\ny\r\nz\r\n\r\n",
	    f.body_len);
}

/* 421 after MAIL on the first host, refused connection on the second:
 * the third host gets the message. */
static void
test_next_host(void **state)
{
	struct env *e = *state;
	struct fake a = { .mail = "421 4.3.2 going down\r\n" };
	struct fake b = { 0 };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h[3];
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = h,
		.n_hosts = 3,
		.msgs = &m,
		.n_msgs = 1 };

	fake_start(&e->loop, &a);
	fake_start(&e->loop, &b);
	host(&h[0], "mx1.remote.test", a.port);
	host(&h[1], "mx2.remote.test", dead_port(&e->loop));
	host(&h[2], "mx3.remote.test", b.port);
	m.message_id = put_message(e, msg1);
	run_job(e, &job, NULL, 0);
	fake_stop(&a);
	fake_stop(&b);
	assert_int_equal(r[0].status, SMTP_RCPT_OK);
	assert_int_equal(a.conns, 1);
	assert_int_equal(a.messages, 0);
	assert_int_equal(b.messages, 1);
	assert_string_equal(m.remote, "mx3.remote.test");
	assert_memory_equal(b.body, msg1_wire, b.body_len);
}

/* Every host down: TEMP with the last reason. Every host 554 at the
 * greeting: PERM. */
static void
test_all_hosts_fail(void **state)
{
	struct env *e = *state;
	struct fake a = { .greeting = "554 5.7.1 go away\r\n" };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h[2];
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = h,
		.n_hosts = 2,
		.msgs = &m,
		.n_msgs = 1 };

	m.message_id = put_message(e, msg1);
	host(&h[0], "mx1.remote.test", dead_port(&e->loop));
	host(&h[1], "mx2.remote.test", dead_port(&e->loop));
	run_job(e, &job, NULL, 0);
	assert_int_equal(r[0].status, SMTP_RCPT_TEMP);
	assert_int_equal(r[0].code, 0);
	assert_non_null(strstr(r[0].reply, "connect to mx2.remote.test"));

	fake_start(&e->loop, &a);
	host(&h[0], "mx1.remote.test", a.port);
	host(&h[1], "mx2.remote.test", a.port);
	r[0].status = SMTP_RCPT_PENDING;
	run_job(e, &job, NULL, 0);
	fake_stop(&a);
	assert_int_equal(r[0].status, SMTP_RCPT_PERM);
	assert_int_equal(r[0].code, 554);
	assert_int_equal(a.conns, 2);
}

static void
test_malformed_and_endless(void **state)
{
	struct env *e = *state;
	static char endless[200 * 12 + 16];
	struct fake a = { .greeting = "220 bare lf\n" };
	struct fake b = { 0 };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };
	size_t i;

	m.message_id = put_message(e, msg1);
	fake_start(&e->loop, &a);
	host(&h, "mx.remote.test", a.port);
	run_job(e, &job, NULL, 0);
	fake_stop(&a);
	assert_int_equal(r[0].status, SMTP_RCPT_TEMP);
	assert_string_equal(r[0].reply, "malformed reply from mx.remote.test");

	for (i = 0; i < 200; i++)
		memcpy(endless + i * 12, "250-XXXXXX\r\n", 12);
	b.ehlo = endless;
	fake_start(&e->loop, &b);
	host(&h, "mx.remote.test", b.port);
	r[0].status = SMTP_RCPT_PENDING;
	run_job(e, &job, NULL, 0);
	fake_stop(&b);
	assert_int_equal(r[0].status, SMTP_RCPT_TEMP);
	assert_string_equal(r[0].reply, "malformed reply from mx.remote.test");
}

/* A silent server: the reply timeout moves on (TEMP). */
static void
test_timeout(void **state)
{
	struct env *e = *state;
	struct fake a = { .ehlo = "" };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };

	m.message_id = put_message(e, msg1);
	fake_start(&e->loop, &a);
	host(&h, "mx.remote.test", a.port);
	run_job(e, &job, NULL, 300);
	fake_stop(&a);
	assert_int_equal(r[0].status, SMTP_RCPT_TEMP);
	assert_non_null(strstr(r[0].reply, "timeout"));
}

/* A server that drips its greeting: the connection is never idle, the
 * reply deadline still ends it. */
static void
test_drip_deadline(void **state)
{
	struct env *e = *state;
	struct fake a = { .drip = true };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };

	m.message_id = put_message(e, msg1);
	fake_start(&e->loop, &a);
	host(&h, "mx.remote.test", a.port);
	run_job(e, &job, NULL, 300);
	fake_stop(&a);
	assert_int_equal(r[0].status, SMTP_RCPT_TEMP);
	assert_non_null(strstr(r[0].reply, "no reply"));
}

/* SMTPUTF8 needed, not offered: PERM 5.6.7 without a transaction. DSN
 * offered: NOTIFY, ORCPT, RET, ENVID passed on (xtext). */
static void
test_smtputf8_and_dsn(void **state)
{
	struct env *e = *state;
	struct fake a = { .ehlo = "250-fake\r\n250-DSN\r\n250 SIZE\r\n" };
	struct smtp_client_rcpt r1[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_rcpt r2[2] = {
		{ .addr = "b@remote.test",
		    .notify = STORE_NOTIFY_SUCCESS | STORE_NOTIFY_FAILURE,
		    .orcpt = "rfc822;b+x=y@remote.test" },
		{ .addr = "c@remote.test", .notify = STORE_NOTIFY_NEVER },
	};
	struct smtp_client_msg m[2] = {
		{ .sender = "s@local.test",
		    .rcpts = r1,
		    .n_rcpts = 1,
		    .smtputf8 = true },
		{ .sender = "s@local.test",
		    .rcpts = r2,
		    .n_rcpts = 2,
		    .ret = STORE_RET_HDRS,
		    .envid = "id 1+2",
		    .size = 10 },
	};
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = m,
		.n_msgs = 2 };

	m[0].message_id = put_message(e, msg1);
	m[1].message_id = put_message(e, msg1);
	fake_start(&e->loop, &a);
	host(&h, "mx.remote.test", a.port);
	run_job(e, &job, NULL, 0);
	fake_stop(&a);
	assert_int_equal(r1[0].status, SMTP_RCPT_PERM);
	assert_non_null(strstr(r1[0].reply, "5.6.7"));
	assert_int_equal(r2[0].status, SMTP_RCPT_OK);
	assert_int_equal(r2[1].status, SMTP_RCPT_OK);
	assert_true(m[1].remote_dsn);
	assert_string_equal(a.log,
	    "EHLO out.local.test\n"
	    "MAIL FROM:<s@local.test> SIZE=10 RET=HDRS ENVID=id+201+2B2\n"
	    "RCPT TO:<b@remote.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;b+2Bx+3Dy@remote.test\n"
	    "RCPT TO:<c@remote.test> NOTIFY=NEVER\n"
	    "DATA\n"
	    "QUIT\n");
}

/* EHLO refused: HELO, and no extensions used. */
static void
test_helo_fallback(void **state)
{
	struct env *e = *state;
	struct fake a = { .ehlo = "502 5.5.1 no ESMTP here\r\n" };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1,
		.size = 5,
		.body_8bit = true };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };

	m.message_id = put_message(e, msg1);
	fake_start(&e->loop, &a);
	host(&h, "mx.remote.test", a.port);
	run_job(e, &job, NULL, 0);
	fake_stop(&a);
	assert_int_equal(r[0].status, SMTP_RCPT_OK);
	assert_string_equal(a.log,
	    "EHLO out.local.test\n"
	    "HELO out.local.test\n"
	    "MAIL FROM:<s@local.test>\n"
	    "RCPT TO:<a@remote.test>\n"
	    "DATA\n"
	    "QUIT\n");
}

/* A message bigger than the socket buffers: streamed with back-
 * pressure, received whole. */
static void
test_big_message(void **state)
{
	struct env *e = *state;
	struct fake a = { 0 };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };
	size_t n = 60000, i;
	char *big = malloc(n + 64);

	(void)str_copy(big, 64, "Subject: big\r\n\r\n");
	for (i = strlen(big); i < n; i++)
		big[i] = (i % 50 == 48) ? '\r' : (i % 50 == 49) ? '\n' : 'x';
	big[n] = '\0';
	m.message_id = put_message(e, big);
	fake_start(&e->loop, &a);
	host(&h, "mx.remote.test", a.port);
	run_job(e, &job, NULL, 0);
	fake_stop(&a);
	assert_int_equal(r[0].status, SMTP_RCPT_OK);
	assert_int_equal(a.body_len, n);
	assert_memory_equal(a.body, big, n);
	free(big);
}

/* STARTTLS offered and taken (self-signed certificate: no check), EHLO
 * again over TLS. */
static void
test_starttls(void **state)
{
	struct env *e = *state;
	struct fake a = { .ehlo = "250-fake\r\n250 STARTTLS\r\n" };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };
	struct tls_ctx *client = NULL;
	struct err err = { 0 };
	static const char want[] = "EHLO out.local.test\n"
	                           "STARTTLS\n"
	                           "EHLO out.local.test\n"
	                           "MAIL FROM:<s@local.test>\n"
	                           "RCPT TO:<a@remote.test>\n"
	                           "DATA\n"
	                           "QUIT\n";
	char cmd[1024], cert[400], key[400];

	(void)str_fmt(cert, sizeof(cert), "%s/cert.pem", e->base);
	(void)str_fmt(key, sizeof(key), "%s/key.pem", e->base);
	(void)str_fmt(cmd, sizeof(cmd),
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -keyout %s -out %s -days 1 -subj /CN=mx.remote.test "
	    ">/dev/null 2>&1",
	    key, cert);
	if (system(cmd) != 0) {
		skip();
		return;
	}
	assert_int_equal(tls_ctx_new(cert, key, &a.tls, &err), 0);
	assert_int_equal(tls_ctx_new_client(&client, &err), 0);
	m.message_id = put_message(e, msg1);
	fake_start(&e->loop, &a);
	host(&h, "mx.remote.test", a.port);
	run_job(e, &job, client, 0);
	fake_stop(&a);
	assert_int_equal(r[0].status, SMTP_RCPT_OK);
	/* QUIT comes with our close_notify: delivered all the same. */
	assert_string_equal(a.log, want);
	assert_memory_equal(a.body, msg1_wire, a.body_len);
	tls_ctx_free(&a.tls);
	tls_ctx_free(&client);
}

/* One message, one recipient, one fake server: the recipient's fate. */
static struct smtp_client_rcpt
one_rcpt(struct env *e, struct fake *f, uint64_t size)
{
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1,
		.size = size };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };

	m.message_id = put_message(e, msg1);
	fake_start(&e->loop, f);
	host(&h, "mx.remote.test", f->port);
	run_job(e, &job, NULL, 0);
	fake_stop(f);
	return r[0];
}

/* Failures in the data phase and before it, each final for the
 * recipient (no next host), except a lost connection (TEMP). */
static void
test_transaction_failures(void **state)
{
	struct env *e = *state;
	struct fake f1 = { .data = "451 4.3.0 try later\r\n" };
	struct fake f2 = { .dot = "554 5.7.1 looks like spam\r\n" };
	struct fake f3 = { .hold_until_data = true,
		.mail = "550 5.7.1 sender refused\r\n",
		.rcpt = { "503 5.5.1 need MAIL\r\n" },
		.data = "503 5.5.1 no valid recipients\r\n" };
	struct fake f4 = { .dot = "CLOSE" };
	struct fake f5 = { .ehlo = "250-fake\r\n250 SIZE 100\r\n" };
	struct fake f6 = { .dot = "354 what?\r\n" };
	struct smtp_client_rcpt r;

	r = one_rcpt(e, &f1, 0);
	assert_int_equal(r.status, SMTP_RCPT_TEMP);
	assert_int_equal(r.code, 451);
	assert_int_equal(f1.messages, 0);

	r = one_rcpt(e, &f2, 0);
	assert_int_equal(r.status, SMTP_RCPT_PERM);
	assert_int_equal(r.code, 554);
	assert_string_equal(r.reply, "554 5.7.1 looks like spam");

	r = one_rcpt(e, &f3, 0);
	assert_int_equal(r.status, SMTP_RCPT_PERM);
	assert_int_equal(r.code, 550);
	assert_string_equal(f3.log,
	    "EHLO out.local.test\n"
	    "MAIL FROM:<s@local.test>\n"
	    "RCPT TO:<a@remote.test>\n"
	    "DATA\n"
	    "QUIT\n");

	r = one_rcpt(e, &f4, 0);
	assert_int_equal(r.status, SMTP_RCPT_TEMP);
	assert_int_equal(r.code, 0);
	assert_non_null(strstr(r.reply, "lost"));
	assert_int_equal(f4.messages, 1); /* received, never acknowledged */

	r = one_rcpt(e, &f5, 1000);
	assert_int_equal(r.status, SMTP_RCPT_PERM);
	assert_non_null(strstr(r.reply, "5.3.4"));
	assert_string_equal(f5.log, "EHLO out.local.test\nQUIT\n");

	/* Only 2xx after the data is a delivery. */
	r = one_rcpt(e, &f6, 0);
	assert_int_equal(r.status, SMTP_RCPT_TEMP);
	assert_int_equal(r.code, 354);
}

/* 452 to some RCPTs: delivered to the others, then RSET and a second
 * transaction for the rest on the same session (RFC 5321 §4.5.3.1.10);
 * 452 to all of them: TEMP. */
static void
test_452_new_transaction(void **state)
{
	struct env *e = *state;
	struct fake f = { .rcpt = { "250 ok\r\n", "452 4.5.3 too many\r\n",
		              "452 4.5.3 too many\r\n" } };
	struct fake g = { .rcpt = { "452 4.5.3 too many\r\n" } };
	struct smtp_client_rcpt r[3] = { { .addr = "a@remote.test" },
		{ .addr = "b@remote.test" }, { .addr = "c@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 3 };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };
	struct smtp_client_rcpt one;
	size_t i;

	m.message_id = put_message(e, msg1);
	fake_start(&e->loop, &f);
	host(&h, "mx.remote.test", f.port);
	run_job(e, &job, NULL, 0);
	fake_stop(&f);
	for (i = 0; i < 3; i++)
		assert_int_equal(r[i].status, SMTP_RCPT_OK);
	assert_int_equal(f.messages, 2);
	assert_string_equal(f.log,
	    "EHLO out.local.test\n"
	    "MAIL FROM:<s@local.test>\n"
	    "RCPT TO:<a@remote.test>\n"
	    "RCPT TO:<b@remote.test>\n"
	    "RCPT TO:<c@remote.test>\n"
	    "DATA\n"
	    "RSET\n"
	    "MAIL FROM:<s@local.test>\n"
	    "RCPT TO:<b@remote.test>\n"
	    "RCPT TO:<c@remote.test>\n"
	    "DATA\n"
	    "QUIT\n");

	g.ehlo = "250 fake\r\n"; /* lockstep: no DATA without recipients */
	one = one_rcpt(e, &g, 0);
	assert_int_equal(one.status, SMTP_RCPT_TEMP);
	assert_int_equal(one.code, 452);
	assert_string_equal(g.log,
	    "EHLO out.local.test\n"
	    "MAIL FROM:<s@local.test>\n"
	    "RCPT TO:<a@remote.test>\n"
	    "QUIT\n");
}

/* STARTTLS offered, the handshake fails: the next host (not plaintext
 * on the same connection). */
static void
test_tls_failure_next_host(void **state)
{
	struct env *e = *state;
	struct fake a = { .ehlo = "250-fake\r\n250 STARTTLS\r\n" };
	struct fake b = { 0 };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h[2];
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = h,
		.n_hosts = 2,
		.msgs = &m,
		.n_msgs = 1 };
	struct tls_ctx *client = NULL;
	struct err err = { 0 };

	assert_int_equal(tls_ctx_new_client(&client, &err), 0);
	m.message_id = put_message(e, msg1);
	fake_start(&e->loop, &a); /* a.tls NULL: its STARTTLS drops us */
	fake_start(&e->loop, &b);
	host(&h[0], "mx1.remote.test", a.port);
	host(&h[1], "mx2.remote.test", b.port);
	run_job(e, &job, client, 0);
	fake_stop(&a);
	fake_stop(&b);
	assert_int_equal(r[0].status, SMTP_RCPT_OK);
	assert_int_equal(a.messages, 0);
	assert_int_equal(b.messages, 1);
	assert_string_equal(a.log, "EHLO out.local.test\nSTARTTLS\n");
	tls_ctx_free(&client);
}

/* What a server receives for stored bytes `in`. */
static void
check_relay(struct env *e, const char *in, const char *want)
{
	struct fake f = { 0 };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };

	m.message_id = put_message(e, in);
	fake_start(&e->loop, &f);
	host(&h, "mx.remote.test", f.port);
	run_job(e, &job, NULL, 0);
	fake_stop(&f);
	assert_int_equal(r[0].status, SMTP_RCPT_OK);
	assert_int_equal(f.messages, 1);
	f.body[f.body_len] = '\0';
	assert_string_equal(f.body, want);
}

/* Only our leading Return-Path: line (any case, folded or not) is
 * dropped; everything else is sent as stored, CRLF and dot-stuffed. */
static void
test_return_path_variants(void **state)
{
	struct env *e = *state;

	check_relay(e,
	    "return-PATH: <x@y.test>\r\n folded\r\n\tmore\r\n"
	    "Subject: a\r\n\r\nb\r\n",
	    "Subject: a\r\n\r\nb\r\n");
	check_relay(e, "Return-Pathological: x\r\n\r\nb",
	    "Return-Pathological: x\r\n\r\nb\r\n");
	check_relay(e, "Subject: s\r\nReturn-Path: <x>\r\n\r\n",
	    "Subject: s\r\nReturn-Path: <x>\r\n\r\n");
	check_relay(e, "Return-Path: <>\r\n.\r\n", "..\r\n");
	check_relay(e, "Return", "Return\r\n");
	check_relay(e, "a\r\n.\r\n..\r\n.x\r\n\r\n.",
	    "a\r\n..\r\n...\r\n..x\r\n\r\n..\r\n");
}

/* Thousands of messages refused before MAIL (SMTPUTF8 not offered): no
 * stack growth, one session, only the deliverable one is sent. */
static void
test_many_refused_messages(void **state)
{
	struct env *e = *state;
	struct fake f = { 0 };
	const size_t n = 5000;
	struct smtp_client_rcpt *r = calloc(n, sizeof(*r));
	struct smtp_client_msg *m = calloc(n, sizeof(*m));
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = m,
		.n_msgs = n };
	int64_t id = put_message(e, msg1);
	size_t i;

	for (i = 0; i < n; i++) {
		r[i].addr = "a@remote.test";
		m[i].sender = "s@local.test";
		m[i].rcpts = &r[i];
		m[i].n_rcpts = 1;
		m[i].message_id = id;
		m[i].smtputf8 = i != n / 2;
	}
	fake_start(&e->loop, &f);
	host(&h, "mx.remote.test", f.port);
	run_job(e, &job, NULL, 0);
	fake_stop(&f);
	for (i = 0; i < n; i++)
		assert_int_equal(r[i].status,
		    i == n / 2 ? SMTP_RCPT_OK : SMTP_RCPT_PERM);
	assert_int_equal(f.conns, 1);
	assert_int_equal(f.messages, 1);
	free(r);
	free(m);
}

/* Two messages on a pipelining server: RSET leads the second group. */
static void
test_pipelined_rset(void **state)
{
	struct env *e = *state;
	struct fake f = { .hold_until_data = true };
	struct smtp_client_rcpt r1[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_rcpt r2[1] = { { .addr = "b@remote.test" } };
	struct smtp_client_msg m[2] = {
		{ .sender = "s@local.test", .rcpts = r1, .n_rcpts = 1 },
		{ .sender = "t@local.test", .rcpts = r2, .n_rcpts = 1 },
	};
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = m,
		.n_msgs = 2 };

	m[0].message_id = put_message(e, msg1);
	m[1].message_id = m[0].message_id;
	fake_start(&e->loop, &f);
	host(&h, "mx.remote.test", f.port);
	run_job(e, &job, NULL, 0);
	fake_stop(&f);
	assert_int_equal(r1[0].status, SMTP_RCPT_OK);
	assert_int_equal(r2[0].status, SMTP_RCPT_OK);
	assert_int_equal(f.messages, 2);
	assert_string_equal(f.log,
	    "EHLO out.local.test\n"
	    "MAIL FROM:<s@local.test>\n"
	    "RCPT TO:<a@remote.test>\n"
	    "DATA\n"
	    "RSET\n"
	    "MAIL FROM:<t@local.test>\n"
	    "RCPT TO:<b@remote.test>\n"
	    "DATA\n"
	    "QUIT\n");
}

/* A listener whose accept queue is full drops our SYNs: the connect
 * timeout moves on (skipped if the kernel completes it anyway). */
static void
test_connect_timeout(void **state)
{
	struct env *e = *state;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[8], i;
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };
	struct smtp_client_opts o = { .helo = "x",
		.connect_timeout_ms = 300,
		.reply_timeout_ms = 300 };
	struct smtp_client *c;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	for (i = 0; i < 8; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		(void)connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	m.message_id = put_message(e, msg1);
	host(&h, "mx.remote.test", ntohs(sa.sin_port));
	e->done = false;
	assert_int_equal(smtp_client_start(&e->loop, e->st, &o, &job, job_done,
	                     e, &c),
	    0);
	while (!e->done)
		(void)uv_run(&e->loop, UV_RUN_ONCE);
	for (i = 0; i < 8; i++)
		close(fill[i]);
	close(lfd);
	assert_int_equal(r[0].status, SMTP_RCPT_TEMP);
	if (strstr(r[0].reply, "timed out") == NULL) {
		/* The kernel let us in after all (then the greeting never
		 * came: the reply deadline). */
		assert_non_null(strstr(r[0].reply, "timeout"));
		skip();
	}
}

/* Abort: cb from the loop, every recipient TEMP "aborted". */
static void
test_abort(void **state)
{
	struct env *e = *state;
	struct fake a = { .ehlo = "" };
	struct smtp_client_rcpt r[1] = { { .addr = "a@remote.test" } };
	struct smtp_client_msg m = { .sender = "s@local.test",
		.rcpts = r,
		.n_rcpts = 1 };
	struct dns_host h;
	struct smtp_client_job job = { .domain = "remote.test",
		.hosts = &h,
		.n_hosts = 1,
		.msgs = &m,
		.n_msgs = 1 };
	struct smtp_client_opts o = { .helo = "x" };
	struct smtp_client *c;

	m.message_id = put_message(e, msg1);
	fake_start(&e->loop, &a);
	host(&h, "mx.remote.test", a.port);
	e->done = false;
	assert_int_equal(smtp_client_start(&e->loop, e->st, &o, &job, job_done,
	                     e, &c),
	    0);
	while (strstr(a.log, "EHLO") == NULL)
		(void)uv_run(&e->loop, UV_RUN_ONCE);
	smtp_client_abort(c);
	assert_false(e->done);
	while (!e->done)
		(void)uv_run(&e->loop, UV_RUN_ONCE);
	fake_stop(&a);
	assert_int_equal(r[0].status, SMTP_RCPT_TEMP);
	assert_string_equal(r[0].reply, "aborted");

	/* Aborted while connecting: the attempt is cancelled silently. */
	r[0].status = SMTP_RCPT_PENDING;
	e->done = false;
	assert_int_equal(smtp_client_start(&e->loop, e->st, &o, &job, job_done,
	                     e, &c),
	    0);
	smtp_client_abort(c);
	assert_false(e->done);
	while (!e->done)
		(void)uv_run(&e->loop, UV_RUN_ONCE);
	assert_int_equal(r[0].status, SMTP_RCPT_TEMP);
	assert_string_equal(r[0].reply, "aborted");
	/* Nothing of the cancelled attempt may run later. */
	(void)uv_run(&e->loop, UV_RUN_NOWAIT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipelined, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lockstep_two_messages,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_host, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_all_hosts_fail, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_malformed_and_endless,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drip_deadline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_smtputf8_and_dsn, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_helo_fallback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_big_message, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_starttls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_failures,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_452_new_transaction, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_failure_next_host,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_return_path_variants,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_refused_messages,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_rset, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_connect_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
	};

	/* As main.c does: a peer gone mid-write is an error, not a kill. */
	(void)signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
