/* SPDX-License-Identifier: MIT */
/* Micro-benchmark of the store's per-message reads on the owner thread
 * (not a unit test: it takes seconds). Stores N small messages (default
 * 20 000; every fourth multipart with a base64 attachment) into a store
 * without a loop, then times per call: store_msg_header_block, a FETCH
 * style read (open, read to the end, close), store_entry_range over the
 * mailbox and store_mailbox_status.
 * Times are CPU time of the process (other load on the machine skews
 * wall time). Usage: store_perf_bench [N] (store under $TMPDIR, default
 * /dev/shm). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
		return len + (size_t)r;
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
	char base[256], dir[300], msg[8192], hdr[16384], buf[4096];
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
	o.gc_grace_seconds = 3600;
	if (store_open(&o, &st, &e) != 0 ||
	    store_domain_add(st, "example.test", &e) != 0 ||
	    store_user_add(st, "a@example.test", "h", &user, &e) != 0)
		die("setup", &e);
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
		if (store_msg_commit(&m, &d, 1, on_done, &ids[i]) != 0)
			die("commit", &e);
	}
	t = now_s() - t0;
	printf("store %u messages: %.1f us/msg\n", n, t * 1e6 / n);

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
	tu_rmtree(base);
	return 0;
}
