/* SPDX-License-Identifier: MIT */
/* Micro-benchmark of the store's per-message reads on the owner thread
 * (not a unit test: it takes seconds). Stores N small messages (default
 * 20 000; every fourth multipart with a base64 attachment) into a store
 * without a loop, then times per call: store_msg_header_block, a FETCH
 * style read (open, read to the end, close), store_entry_range over the
 * mailbox and store_mailbox_status.
 * Times are CPU time of the process (other load on the machine skews
 * wall time). Usage: store_perf_bench [N] (store under $TMPDIR, default
 * /dev/shm). BENCH_BATCH=k stores through a loop and the commit thread,
 * k messages queued at a time (group commits as under k SMTP sessions);
 * BENCH_BODY=bytes pads each text body with that many bytes of words
 * (the FTS index's work grows with the text), BENCH_RANDOM=1 with random
 * letters and digits instead (as the SMTP bench sends: almost every
 * trigram is a new index term, the index's worst case); BENCH_SQL="..." runs on
 * the write connection first (to try FTS5 or pragma settings). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "store/sqlite/test_util.h"

static double
now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const struct err *e)
{
	fprintf(stderr, "%s: %s\n", what, e->msg);
	exit(1);
}

static size_t body_pad;  /* BENCH_BODY */
static bool body_random; /* BENCH_RANDOM */

/* Appends about n bytes of varied words in lines of ~70 (text that the
 * FTS index must take apart like real mail). */
static size_t
pad_words(char *p, size_t cap, size_t n, unsigned i)
{
	static const char *const w[] = { "meeting", "report", "the", "budget",
		"quarterly", "of", "and", "server", "delivery", "a", "mailbox",
		"tomorrow", "please", "review", "attached", "numbers", "with",
		"team", "project", "schedule", "update", "in", "for", "to" };
	size_t len = 0, line = 0, k;
	unsigned x = i * 2654435761u + 1;
	int r;

	if (body_random) { /* like bench/smtp-ingest/smtpload.c */
		static const char a[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
		                        "KLMNOPQRSTUVWXYZ0123456789 ";

		while (len < n && len + 80 < cap) {
			for (k = 0; k < 76; k++) {
				x = x * 1103515245u + 12345u;
				p[len++] = a[(x >> 16) % (sizeof(a) - 1)];
			}
			p[len++] = '\r';
			p[len++] = '\n';
		}
		return len;
	}
	while (len < n && len + 40 < cap) {
		x = x * 1103515245u + 12345u;
		k = (x >> 16) % (sizeof(w) / sizeof(w[0]));
		r = snprintf(p + len, cap - len, "%s%s", w[k],
		    (x >> 8) % 13 == 0 ? "s" : "");
		len += (size_t)r;
		line += (size_t)r;
		if (x % 29 == 0) {
			r = snprintf(p + len, cap - len, " %u", x % 100000);
			len += (size_t)r;
			line += (size_t)r;
		}
		if (line > 70) {
			p[len++] = '\r';
			p[len++] = '\n';
			line = 0;
		} else {
			p[len++] = ' ';
		}
	}
	p[len++] = '\r';
	p[len++] = '\n';
	return len;
}

static size_t
make_message(char *p, size_t cap, unsigned i)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	                          "qrstuvwxyz0123456789+/";
	size_t len;
	unsigned k;
	int r;

	r = snprintf(p, cap,
	    "Return-Path: <s%u@example.org>\r\n"
	    "Received: from mx.example.org by example.test; "
	    "Mon, 23 Nov 2026 10:00:00 +0000\r\n"
	    "From: Sender %u <s%u@example.org>\r\n"
	    "To: a@example.test\r\n"
	    "Subject: message number %u about things\r\n"
	    "Date: Mon, 23 Nov 2026 10:%02u:00 +0000\r\n"
	    "Message-ID: <%u@example.org>\r\n"
	    "MIME-Version: 1.0\r\n",
	    i, i, i, i, i % 60, i);
	len = (size_t)r;
	if (i % 4 != 3) {
		r = snprintf(p + len, cap - len,
		    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
		    "Hello %u,\r\n\r\nthis is a short text body, a few lines"
		    " long, like most mail.\r\nRegards,\r\nSender\r\n",
		    i);
		len += (size_t)r;
		return len + pad_words(p + len, cap - len, body_pad, i);
	}
	r = snprintf(p + len, cap - len,
	    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
	    "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached %u\r\n"
	    "--b1\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n",
	    i);
	len += (size_t)r;
	for (k = 0; k < 2048; k++) {
		p[len++] = b64[(k * 7 + i) % 64];
		if (k % 76 == 75) {
			p[len++] = '\r';
			p[len++] = '\n';
		}
	}
	r = snprintf(p + len, cap - len, "\r\n--b1--\r\n");
	return len + (size_t)r;
}

static void
on_done(void *ctx, const struct store_commit_result *res)
{
	int64_t *id = ctx;

	if (res->status != 0)
		die("commit", &res->err);
	*id = res->message_id;
}

static unsigned in_flight;

static void
on_done_loop(void *ctx, const struct store_commit_result *res)
{
	on_done(ctx, res);
	in_flight--;
}

static void
on_entry(void *ctx, const struct store_entry *e)
{
	(void)e;
	(*(size_t *)ctx)++;
}

int
main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;
	unsigned batch = getenv("BENCH_BATCH") != NULL
	    ? (unsigned)strtoul(getenv("BENCH_BATCH"), NULL, 10)
	    : 0;
	char base[256], dir[300], hdr[16384], buf[4096];
	static char msg[262144];
	uv_loop_t loop;
	struct store_opts o = { 0 };
	struct store_mailbox_status ms;
	struct store_reader *r;
	struct store_msg *m;
	struct store_delivery d = { 0 };
	struct store *st;
	int64_t user, *ids;
	size_t len, got, rows;
	uint64_t bytes = 0;
	unsigned i, k, reps, rounds = 200;
	double t0, t;
	struct err e;

	if (n == 0)
		n = 1;
	if (getenv("TMPDIR") == NULL)
		(void)setenv("TMPDIR", "/dev/shm", 1);
	tu_tmpdir(base, dir);
	o.dir = dir;
	o.batch_max = 64;
	body_random = getenv("BENCH_RANDOM") != NULL;
	if (getenv("BENCH_BODY") != NULL)
		body_pad = strtoul(getenv("BENCH_BODY"), NULL, 10);
	if (body_pad > sizeof(msg) - 8192)
		body_pad = sizeof(msg) - 8192;
	if (batch > 0) {
		(void)uv_loop_init(&loop);
		o.loop = &loop;
	}
	o.gc_grace_seconds = 3600;
	if (store_open(&o, &st, &e) != 0 ||
	    store_domain_add(st, "example.test", &e) != 0 ||
	    store_user_add(st, "a@example.test", "h", &user, &e) != 0)
		die("setup", &e);
	if (getenv("BENCH_SQL") != NULL &&
	    db_exec(&st->wr, getenv("BENCH_SQL"), &e) != 0)
		die("BENCH_SQL", &e);
	ids = xcalloc(n, sizeof(*ids));
	d.user_id = user;
	d.mailbox = "INBOX";
	t0 = now_s();
	for (i = 0; i < n; i++) {
		len = make_message(msg, sizeof(msg), i);
		if (store_msg_new(st, &m, &e) != 0 ||
		    store_msg_write(m, msg, len, &e) != 0 ||
		    store_msg_finish(m, &e) != 0)
			die("write", &e);
		if (batch == 0) {
			if (store_msg_commit(&m, &d, 1, on_done, &ids[i]) != 0)
				die("commit", &e);
			continue;
		}
		if (store_msg_commit(&m, &d, 1, on_done_loop, &ids[i]) != 0)
			die("commit", &e);
		in_flight++;
		if (in_flight == batch || i == n - 1)
			while (in_flight > 0)
				(void)uv_run(&loop, UV_RUN_ONCE);
	}
	t = now_s() - t0;
	printf("store %u messages (%zu bytes, batch %u): %.1f us/msg\n", n, len,
	    batch, t * 1e6 / n);

	/* BENCH_REPEAT=R: R - 1 untimed rounds of header blocks and reads
	 * first, so that a profile (perf record) is mostly reads. */
	reps = getenv("BENCH_REPEAT") != NULL
	    ? (unsigned)strtoul(getenv("BENCH_REPEAT"), NULL, 10)
	    : 1;
	for (k = 1; k < reps; k++)
		for (i = 0; i < n; i++) {
			if (store_msg_header_block(st, ids[i], hdr, sizeof(hdr),
			        &len, &e) != 0 ||
			    store_reader_open_message(st, ids[i], &r, &e) != 0)
				die("header block", &e);
			do
				if (store_reader_read(r, buf, sizeof(buf), &got,
				        &e) != 0)
					die("read", &e);
			while (got > 0);
			store_reader_close(&r);
		}
	t0 = now_s();
	for (i = 0; i < n; i++)
		if (store_msg_header_block(st, ids[i], hdr, sizeof(hdr), &len,
		        &e) != 0 ||
		    len == 0)
			die("header block", &e);
	t = now_s() - t0;
	printf("store_msg_header_block: %.2f us/call\n", t * 1e6 / n);

	t0 = now_s();
	for (i = 0; i < n; i++) {
		if (store_reader_open_message(st, ids[i], &r, &e) != 0)
			die("reader open", &e);
		do {
			if (store_reader_read(r, buf, sizeof(buf), &got, &e) !=
			    0)
				die("read", &e);
			bytes += got;
		} while (got > 0);
		store_reader_close(&r);
	}
	t = now_s() - t0;
	printf("reader open+read all+close: %.2f us/msg (%.0f bytes/msg)\n",
	    t * 1e6 / n, (double)bytes / n);

	t0 = now_s();
	for (i = 0; i < n; i++) {
		if (store_reader_open_message(st, ids[i], &r, &e) != 0 ||
		    store_reader_skip(r, 200, &e) != 0 ||
		    store_reader_read(r, buf, 100, &got, &e) != 0)
			die("skip", &e);
		store_reader_close(&r);
	}
	t = now_s() - t0;
	printf("reader open+skip 200+read 100+close: %.2f us/msg\n",
	    t * 1e6 / n);

	t0 = now_s();
	if (store_mailbox_status(st, user, "INBOX", &ms, &e) != 0)
		die("status", &e);
	t = now_s() - t0;
	printf("store_mailbox_status, first call: %.2f us\n", t * 1e6);
	if (ms.messages != n) {
		fprintf(stderr, "status: %u messages\n", ms.messages);
		return 1;
	}
	t0 = now_s();
	for (k = 0; k < 10; k++) {
		rows = 0;
		if (store_entry_range(st, ms.id, 1, UINT32_MAX, 0, on_entry,
		        &rows, &e) != 0 ||
		    rows != n)
			die("entry range", &e);
	}
	t = now_s() - t0;
	printf("store_entry_range (all %u): %.2f ms/call, %.3f us/entry\n", n,
	    t * 1e3 / 10, t * 1e6 / 10 / n);

	t0 = now_s();
	for (k = 0; k < rounds; k++) {
		rows = 0;
		if (store_entry_range(st, ms.id, ms.uidnext - 1, ms.uidnext - 1,
		        0, on_entry, &rows, &e) != 0 ||
		    rows != 1)
			die("entry range one", &e);
	}
	t = now_s() - t0;
	printf("store_entry_range (one uid): %.2f us/call\n", t * 1e6 / rounds);

	t0 = now_s();
	for (k = 0; k < rounds; k++)
		if (store_mailbox_status(st, user, "INBOX", &ms, &e) != 0)
			die("status", &e);
	t = now_s() - t0;
	printf("store_mailbox_status (%u messages), again: %.2f us/call\n", n,
	    t * 1e6 / rounds);

	free(ids);
	store_close(&st);
	if (batch > 0)
		(void)uv_loop_close(&loop);
	tu_rmtree(base);
	return 0;
}
