/* SPDX-License-Identifier: MIT */
/* The session fuzz targets' driver (fuzz builds only): a Unix-domain
 * listener on the server's libuv loop whose accepted connections go to a
 * protocol's session (net_conn_accept accepts from any stream), and a
 * blocking-free client end that writes the input in fuzzer-chosen pieces,
 * runs the loop between pieces for a bounded number of turns and keeps
 * what the server answered. Header-only, static functions. */
#ifndef DESPATCH_LIB_FUZZ_DRIVE_H
#define DESPATCH_LIB_FUZZ_DRIVE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "lib/buf.h"
#include "lib/fuzz_split.h"

/* Turns of the loop without progress that count as "gone quiet". */
#define FUZZ_QUIET_TURNS 8
/* Most server output kept per input (the rest is read and dropped). */
#define FUZZ_OUT_MAX (1024 * 1024)
/* A session still open this long after the client closed is a hang. */
#define FUZZ_CLOSE_MS 20000
/* How long one input may keep a session busy (commits, password checks)
 * before the client gives up and closes. */
#define FUZZ_BUSY_MS 5000

struct fuzz_drive {
	uv_loop_t *loop;
	int fd;         /* client end, non-blocking; -1 when closed */
	struct buf out; /* what the server wrote */
	size_t dropped; /* bytes read past FUZZ_OUT_MAX */
	bool eof;       /* the server closed its end */
	/* Protocol hooks: is the session gone (freed), is it waiting for
	 * the pool or the store (wait then, do not count as quiet)? */
	bool (*gone)(void *ctx);
	bool (*busy)(void *ctx);
	void *ctx;
};

static inline uint64_t
fuzz_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void
fuzz_nap(void)
{
	struct timespec ts = { 0, 200 * 1000 }; /* 0.2 ms */

	(void)nanosleep(&ts, NULL);
}

/* Reads what the server sent; returns the bytes read. */
static inline size_t
fuzz_drain(struct fuzz_drive *d)
{
	char tmp[16384];
	size_t total = 0, keep;
	ssize_t r;

	while (d->fd >= 0 && !d->eof) {
		r = read(d->fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break; /* EAGAIN, or ECONNRESET */
		if (r == 0) {
			d->eof = true;
			break;
		}
		keep = d->out.len < FUZZ_OUT_MAX ? FUZZ_OUT_MAX - d->out.len : 0;
		if (keep > (size_t)r)
			keep = (size_t)r;
		if (buf_append(&d->out, tmp, keep) != 0)
			abort();
		d->dropped += (size_t)r - keep;
		total += (size_t)r;
	}
	return total;
}

/* One turn: the loop without blocking, then the client's reads. Returns
 * whether anything moved. */
static inline bool
fuzz_turn(struct fuzz_drive *d)
{
	int alive = uv_run(d->loop, UV_RUN_NOWAIT);

	(void)alive;
	return fuzz_drain(d) > 0;
}

/* Runs turns until the session is gone, or quiet (no output for
 * FUZZ_QUIET_TURNS turns while not busy), or busy for FUZZ_BUSY_MS. */
static inline void
fuzz_settle(struct fuzz_drive *d)
{
	uint64_t start = fuzz_now_ms();
	unsigned quiet = 0;

	while (!d->gone(d->ctx)) {
		if (fuzz_turn(d)) {
			quiet = 0;
			continue;
		}
		if (d->busy(d->ctx)) {
			if (fuzz_now_ms() - start > FUZZ_BUSY_MS)
				return;
			fuzz_nap();
			continue;
		}
		if (++quiet >= FUZZ_QUIET_TURNS)
			return;
	}
	(void)fuzz_drain(d);
}

/* A driver on loop with no client end yet; gone and busy as in struct
 * fuzz_drive. */
static inline void
fuzz_drive_init(struct fuzz_drive *d, uv_loop_t *loop, bool (*gone)(void *),
    bool (*busy)(void *))
{
	buf_init(&d->out, FUZZ_OUT_MAX + 1);
	d->loop = loop;
	d->fd = -1;
	d->gone = gone;
	d->busy = busy;
}

/* rm -rf path (a folder of the work folder); false if that failed. */
static inline bool
fuzz_remove_tree(const char *path)
{
	char cmd[192];

	if (snprintf(cmd, sizeof(cmd), "rm -rf %s", path) >= (int)sizeof(cmd))
		return false;
	return system(cmd) == 0;
}

/* Connects the client end to the listener at path (the loop accepts on
 * the next turn). */
static inline void
fuzz_connect(struct fuzz_drive *d, const char *path)
{
	struct sockaddr_un sa;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (d->fd < 0 ||
	    connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("fuzz: connect");
		abort();
	}
	d->eof = false;
	d->dropped = 0;
	buf_reset(&d->out);
}

/* Writes n bytes in pieces chosen by sp, settling the session after each
 * piece; stops early once the server has closed. */
static inline void
fuzz_feed(struct fuzz_drive *d, const uint8_t *p, size_t n,
    struct fuzz_split *sp)
{
	size_t pos = 0, k, w;
	ssize_t r;
	uint64_t start;

	while (pos < n && !d->eof && !d->gone(d->ctx)) {
		k = fuzz_split_next(sp, n - pos);
		start = fuzz_now_ms();
		for (w = 0; w < k && !d->eof;) {
			r = send(d->fd, p + pos + w, k - w, MSG_NOSIGNAL);
			if (r > 0) {
				w += (size_t)r;
				continue;
			}
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				return; /* EPIPE: the server closed */
			/* The server is not reading (paused, busy): let it
			 * run; give up on a session that stays stuck. */
			if (!fuzz_turn(d))
				fuzz_nap();
			if (d->gone(d->ctx) ||
			    fuzz_now_ms() - start > FUZZ_BUSY_MS)
				return;
		}
		pos += k;
		fuzz_settle(d);
	}
}

/* Closes the client end and runs the loop until the session is freed;
 * a session that outlives FUZZ_CLOSE_MS is reported as a hang. */
static inline void
fuzz_close(struct fuzz_drive *d, const char *what)
{
	uint64_t start = fuzz_now_ms();

	if (d->fd >= 0) {
		(void)fuzz_drain(d);
		(void)close(d->fd);
		d->fd = -1;
	}
	while (!d->gone(d->ctx)) {
		if (uv_run(d->loop, UV_RUN_NOWAIT) == 0)
			fuzz_nap();
		else
			fuzz_nap();
		if (fuzz_now_ms() - start > FUZZ_CLOSE_MS) {
			fprintf(stderr, "fuzz: %s session not freed %d ms "
			                "after the client closed\n",
			    what, FUZZ_CLOSE_MS);
			abort();
		}
	}
	/* Handles closed by the session finish on the next turns. */
	for (int i = 0; i < 4; i++)
		(void)uv_run(d->loop, UV_RUN_NOWAIT);
}

/* The per-process work folder of a session target: removes those of
 * earlier runs that died (a crash skips atexit), makes
 * /dev/shm/despatch-fuzz-<tag>-<pid>-XXXXXX into dir (removed at exit),
 * and listens on dir/sock with on_conn on loop. Aborts on failure. */
static char fuzz_workdir_path[64];

static void
fuzz_workdir_remove(void)
{
	(void)fuzz_remove_tree(fuzz_workdir_path);
}

static void
fuzz_workdir_listen(const char *tag, uv_loop_t *loop, uv_pipe_t *lp,
    uv_connection_cb on_conn, char *dir, size_t dir_size)
{
	char cmd[384], sock[128];

	(void)snprintf(cmd, sizeof(cmd),
	    "for d in /dev/shm/despatch-fuzz-%s-*-*; do p=${d#*-%s-}; "
	    "p=${p%%%%-*}; [ -d \"$d\" ] && ! kill -0 \"$p\" 2>/dev/null && "
	    "rm -rf \"$d\"; done; true",
	    tag, tag);
	(void)system(cmd);
	(void)snprintf(fuzz_workdir_path, sizeof(fuzz_workdir_path),
	    "/dev/shm/despatch-fuzz-%s-%ld-XXXXXX", tag, (long)getpid());
	if (mkdtemp(fuzz_workdir_path) == NULL)
		abort();
	atexit(fuzz_workdir_remove);
	(void)snprintf(dir, dir_size, "%s", fuzz_workdir_path);
	(void)snprintf(sock, sizeof(sock), "%s/sock", fuzz_workdir_path);
	if (uv_loop_init(loop) != 0 || uv_pipe_init(loop, lp, 0) != 0 ||
	    uv_pipe_bind(lp, sock) != 0 ||
	    uv_listen((uv_stream_t *)lp, 16, on_conn) != 0)
		abort();
}

#endif
