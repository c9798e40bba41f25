/* SPDX-License-Identifier: MIT */
/* smtpload: a small SMTP load generator for bench/smtp-ingest. Opens C
 * concurrent sessions to host:port and sends N messages in total of about
 * S bytes each, reusing each session, with MAIL/RCPT/DATA pipelined in one
 * write. Counts the messages answered 250 after the final dot and the
 * failures, and prints one `key=value` result line. Not part of the meson
 * build: run.sh compiles it with `cc -O2 -pthread`. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RBUF_SIZE     65536
#define MAX_CONNS     1000
#define MAX_RECONNECT 20

struct opts {
	const char *host;
	int port;
	int conns;
	long total;
	long size;
	const char *from;
	const char *rcpt;
	int timeout_s;
	int quiet;
};

struct worker {
	int id;
	long todo;
	long ok;
	long fail;
	long reconnects;
	int fd;
	char rbuf[RBUF_SIZE];
	size_t rlen;
	char *body; /* lines of printable text, CRLF, no leading dots */
	size_t body_len;
	uint64_t rng;
};

static struct opts o;
static pthread_barrier_t start_barrier;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one complete (possibly multi-line) reply; returns its code, or -1
 * on EOF, timeout or garbage. */
static int
read_reply(struct worker *w)
{
	for (;;) {
		char *start = w->rbuf;
		char *end = w->rbuf + w->rlen;
		char *lf;

		while ((lf = memchr(start, '\n', (size_t)(end - start))) !=
		    NULL) {
			size_t linelen = (size_t)(lf - start) + 1;

			if (linelen >= 4 && start[3] == ' ') {
				int code = atoi(start);
				size_t used = (size_t)(lf + 1 - w->rbuf);

				memmove(w->rbuf, lf + 1, w->rlen - used);
				w->rlen -= used;
				return code >= 200 && code < 600 ? code : -1;
			}
			if (linelen < 4 || start[3] != '-')
				return -1;
			start = lf + 1;
		}
		if (w->rlen == sizeof(w->rbuf))
			return -1;
		ssize_t r = read(w->fd, w->rbuf + w->rlen,
		    sizeof(w->rbuf) - w->rlen);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		w->rlen += (size_t)r;
	}
}

static int
session_open(struct worker *w)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = o.timeout_s };
	char cmd[256];
	int one = 1;

	w->rlen = 0;
	w->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (w->fd == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o.port);
	if (inet_pton(AF_INET, o.host, &sa.sin_addr) != 1)
		goto fail;
	(void)setsockopt(w->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(w->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(w->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		goto fail;
	if (read_reply(w) != 220)
		goto fail;
	snprintf(cmd, sizeof(cmd), "EHLO load%d.bench.test\r\n", w->id);
	if (write_all(w->fd, cmd, strlen(cmd)) == -1 || read_reply(w) != 250)
		goto fail;
	return 0;
fail:
	close(w->fd);
	w->fd = -1;
	return -1;
}

static void
session_close(struct worker *w)
{
	if (w->fd == -1)
		return;
	(void)write_all(w->fd, "QUIT\r\n", 6);
	(void)read_reply(w);
	close(w->fd);
	w->fd = -1;
}

/* Fills the body with printable lines of 76 characters; the first line is
 * overwritten per message so every message is distinct (no de-duplication
 * of whole bodies flatters anyone). */
static void
body_build(struct worker *w)
{
	static const char alphabet[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
	size_t n = o.size > 600 ? (size_t)o.size - 500 : 100, i = 0;

	w->body = malloc(n + 80);
	if (w->body == NULL)
		abort();
	while (i < n) {
		for (int c = 0; c < 76; c++) {
			uint64_t r = xorshift(&w->rng);
			char ch = alphabet[r % (sizeof(alphabet) - 1)];

			w->body[i++] = c == 0 && ch == ' ' ? 'x' : ch;
		}
		w->body[i++] = '\r';
		w->body[i++] = '\n';
	}
	w->body_len = i;
}

static int
send_one(struct worker *w, long seq)
{
	char env[1024], hdr[1024];
	int n, code;

	n = snprintf(env, sizeof(env),
	    "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", o.from, o.rcpt);
	if (write_all(w->fd, env, (size_t)n) == -1)
		return -1;
	if ((code = read_reply(w)) == -1)
		return -1;
	if (code != 250)
		goto rejected_mail;
	if ((code = read_reply(w)) == -1)
		return -1;
	if (code != 250)
		goto rejected_rcpt;
	if ((code = read_reply(w)) == -1)
		return -1;
	if (code != 354)
		return 1;
	/* A distinct first body line per message. */
	for (int c = 0; c < 40; c++)
		w->body[c] = "0123456789abcdef"[xorshift(&w->rng) & 15];
	n = snprintf(hdr, sizeof(hdr),
	    "From: <%s>\r\nTo: <%s>\r\nSubject: bench %d/%ld\r\n"
	    "Message-ID: <%d.%ld.%llx@bench.test>\r\n"
	    "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n",
	    o.from, o.rcpt, w->id, seq, w->id, seq,
	    (unsigned long long)xorshift(&w->rng));
	struct iovec iov[3] = {
		{ hdr, (size_t)n },
		{ w->body, w->body_len },
		{ ".\r\n", 3 },
	};
	size_t left = (size_t)n + w->body_len + 3;
	int i = 0;
	while (left > 0) {
		ssize_t wr = writev(w->fd, iov + i, 3 - i);
		if (wr == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		left -= (size_t)wr;
		while (i < 3 && (size_t)wr >= iov[i].iov_len) {
			wr -= (ssize_t)iov[i].iov_len;
			i++;
		}
		if (i < 3) {
			iov[i].iov_base = (char *)iov[i].iov_base + wr;
			iov[i].iov_len -= (size_t)wr;
		}
	}
	if ((code = read_reply(w)) == -1)
		return -1;
	return code == 250 ? 0 : 1;
rejected_mail:
	/* MAIL failed: RCPT and DATA replies still follow. */
	(void)read_reply(w);
rejected_rcpt:
	if (read_reply(w) == 354) { /* should not happen; end it */
		(void)write_all(w->fd, ".\r\n", 3);
		(void)read_reply(w);
	}
	(void)write_all(w->fd, "RSET\r\n", 6);
	(void)read_reply(w);
	return 1;
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	int opened = session_open(w);

	pthread_barrier_wait(&start_barrier);
	for (long seq = 0; seq < w->todo; seq++) {
		int rc;

		if (w->fd == -1) {
			if (w->reconnects >= MAX_RECONNECT ||
			    session_open(w) == -1) {
				w->reconnects++;
				w->fail++;
				continue;
			}
			w->reconnects++;
		}
		rc = send_one(w, seq);
		if (rc == 0) {
			w->ok++;
		} else {
			w->fail++;
			if (rc == -1) { /* lost the session: reopen */
				close(w->fd);
				w->fd = -1;
			}
		}
	}
	(void)opened;
	session_close(w);
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: smtpload -p port [-h 127.0.0.1] [-c sessions] "
	    "[-n total_messages] [-s message_bytes]\n"
	    "                [-f from] [-r rcpt] [-t timeout_s] [-q]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct worker *ws;
	pthread_t *th;
	long ok = 0, fail = 0, reconnects = 0;
	double t0, t1;
	int ch;

	o = (struct opts){ .host = "127.0.0.1", .conns = 1, .total = 1000,
		.size = 5000, .from = "load@bench.test",
		.rcpt = "sink@bench.test", .timeout_s = 60 };
	while ((ch = getopt(argc, argv, "h:p:c:n:s:f:r:t:q")) != -1) {
		switch (ch) {
		case 'h': o.host = optarg; break;
		case 'p': o.port = atoi(optarg); break;
		case 'c': o.conns = atoi(optarg); break;
		case 'n': o.total = atol(optarg); break;
		case 's': o.size = atol(optarg); break;
		case 'f': o.from = optarg; break;
		case 'r': o.rcpt = optarg; break;
		case 't': o.timeout_s = atoi(optarg); break;
		case 'q': o.quiet = 1; break;
		default: usage();
		}
	}
	if (o.port <= 0 || o.port > 65535 || o.conns < 1 ||
	    o.conns > MAX_CONNS || o.total < 1 || o.size < 1)
		usage();
	if (strcmp(o.host, "127.0.0.1") != 0 && strcmp(o.host, "::1") != 0) {
		fprintf(stderr, "smtpload: loopback only\n");
		return 2;
	}
	ws = calloc((size_t)o.conns, sizeof(*ws));
	th = calloc((size_t)o.conns, sizeof(*th));
	if (ws == NULL || th == NULL)
		abort();
	pthread_barrier_init(&start_barrier, NULL, (unsigned)o.conns + 1);
	for (int i = 0; i < o.conns; i++) {
		ws[i].id = i;
		ws[i].fd = -1;
		ws[i].todo = o.total / o.conns + (i < o.total % o.conns);
		ws[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1) ^
		    (uint64_t)time(NULL);
		body_build(&ws[i]);
		if (pthread_create(&th[i], NULL, worker_run, &ws[i]) != 0)
			abort();
	}
	pthread_barrier_wait(&start_barrier); /* every session greeted */
	t0 = now_s();
	for (int i = 0; i < o.conns; i++) {
		pthread_join(th[i], NULL);
		ok += ws[i].ok;
		fail += ws[i].fail;
		reconnects += ws[i].reconnects;
		free(ws[i].body);
	}
	t1 = now_s();
	printf("sessions=%d messages=%ld size=%ld ok=%ld fail=%ld "
	       "reconnects=%ld seconds=%.3f msgs_per_s=%.1f\n",
	    o.conns, o.total, o.size, ok, fail, reconnects, t1 - t0,
	    t1 > t0 ? (double)ok / (t1 - t0) : 0.0);
	free(ws);
	free(th);
	return fail == 0 ? 0 : 1;
}
