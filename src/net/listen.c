/* SPDX-License-Identifier: MIT */
/* Listening sockets: bind, listen, hand new connections to the owner.
 *
 * Running out of file descriptors. libuv's accept loop (uv__server_io)
 * calls accept() until EAGAIN; on EMFILE it closes a spare descriptor,
 * accepts and closes every pending connection and opens the spare again
 * (its "EMFILE trick"). That is silent, and not reliable with threads
 * (libuv says so): if the store's commit thread takes the freed slot, the
 * spare is lost, and from then on each EMFILE makes libuv call us with
 * the error and try accept() again at once, in a loop that never returns
 * to the event loop: 100% CPU, every session stalled.
 *
 * So a listener stops accepting before the process runs out: after each
 * accepted connection it checks that NET_LISTEN_FD_MARGIN descriptors are
 * still free (the store's blob files, SQLite, outbound connections need
 * some), and on any accept error (EMFILE included, should libuv report
 * one) it pauses: the libuv handle is closed, which ends libuv's accept
 * loop whatever the cause, while a duplicate of the socket taken at
 * start-up (`spare`) keeps it listening, so the kernel goes on queueing
 * connections in the backlog and the port stays ours (a re-bind would
 * need root once serve has dropped privileges). Every
 * NET_LISTEN_RETRY_MS a timer checks for free descriptors again and, once
 * there are, listens on a new duplicate of the socket: the waiting
 * clients are served in order. A pause is logged (at most one line per
 * NET_LISTEN_LOG_MS, with the count of pauses in between), and so is the
 * resumption. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "net/listen.h"

#include "lib/banned.h"

#define LISTEN_BACKLOG 511
/* Descriptors that must stay free for everything but new connections. */
#define NET_LISTEN_FD_MARGIN 8
#define NET_LISTEN_RETRY_MS 100
#define NET_LISTEN_LOG_MS 10000

static const struct log_ctx listen_log = { "net", 0 };

struct net_listener {
	uv_loop_t *loop;
	uv_tcp_t *tcp; /* NULL while paused */
	uv_timer_t retry;
	int spare; /* a duplicate of the listening socket */
	unsigned handles; /* open libuv handles (timer, tcp ones) */
	net_accept_cb cb;
	void *ctx;
	void (*done)(void *ctx);
	void *done_ctx;
	bool closing;
	char addr[64];
	unsigned port;
	uint64_t paused_at;    /* uv_now of this pause */
	uint64_t logged_at;    /* uv_now of the last pause logged */
	bool logged;           /* a pause was ever logged */
	bool this_logged;      /* the current pause was logged */
	unsigned long pauses;  /* pauses since the last line */
};

static void on_connection(uv_stream_t *s, int status);

/* True when at least NET_LISTEN_FD_MARGIN descriptors are free: takes
 * that many duplicates of fd (each the lowest free number) and closes
 * them again. */
static bool
fds_free(int fd)
{
	int probe[NET_LISTEN_FD_MARGIN];
	int i, n = 0;
	bool ok = true;

	for (i = 0; i < NET_LISTEN_FD_MARGIN; i++) {
		probe[n] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (probe[n] == -1) {
			ok = false;
			break;
		}
		n++;
	}
	while (n > 0)
		(void)close(probe[--n]);
	return ok;
}

static void
release(struct net_listener *l)
{
	if (--l->handles > 0 || !l->closing)
		return;
	if (l->spare != -1)
		(void)close(l->spare);
	if (l->done != NULL)
		l->done(l->done_ctx);
	free(l);
}

static void
tcp_closed(uv_handle_t *h)
{
	struct net_listener *l = h->data;

	free(h);
	release(l);
}

static void
timer_closed(uv_handle_t *h)
{
	release(h->data);
}

/* Listens on fd, a new duplicate of the socket (closed on failure);
 * 0 or a libuv error. */
static int
listen_again(struct net_listener *l, int fd)
{
	uv_tcp_t *tcp;
	int r;

	tcp = xcalloc(1, sizeof(*tcp));
	(void)uv_tcp_init(l->loop, tcp);
	tcp->data = l;
	l->handles++;
	if ((r = uv_tcp_open(tcp, fd)) != 0)
		(void)close(fd); /* not the handle's */
	else
		r = uv_listen((uv_stream_t *)tcp, LISTEN_BACKLOG,
		    on_connection);
	if (r != 0) {
		uv_close((uv_handle_t *)tcp, tcp_closed);
		return r;
	}
	l->tcp = tcp;
	return 0;
}

static void
on_retry(uv_timer_t *t)
{
	struct net_listener *l = t->data;
	uint64_t now = uv_now(l->loop);
	int fd, r;

	if (l->closing || l->tcp != NULL)
		return;
	/* The listener's own descriptor first, then the margin beside it:
	 * else resuming would use up what pausing freed, accept one more
	 * and pause again, every NET_LISTEN_RETRY_MS. */
	fd = fcntl(l->spare, F_DUPFD_CLOEXEC, 0);
	if (fd == -1)
		return; /* still short: the timer repeats */
	if (!fds_free(l->spare)) {
		(void)close(fd);
		return;
	}
	if ((r = listen_again(l, fd)) != 0) {
		if (l->this_logged || now - l->logged_at >= NET_LISTEN_LOG_MS) {
			log_warn(&listen_log,
			    "event=accept-resume-failed addr=%s port=%u "
			    "error=%s",
			    l->addr, l->port, uv_err_name(r));
			l->logged_at = now;
			l->this_logged = false;
		}
		return;
	}
	(void)uv_timer_stop(&l->retry);
	if (l->this_logged)
		log_info(&listen_log,
		    "event=accept-resumed addr=%s port=%u paused_ms=%" PRIu64,
		    l->addr, l->port, now - l->paused_at);
}

/* Stops accepting until on_retry finds descriptors free again. reason:
 * "fd-margin" or libuv's name of the accept error. */
static void
pause_accept(struct net_listener *l, const char *reason)
{
	bool fds = strcmp(reason, "fd-margin") == 0 ||
	    strcmp(reason, "EMFILE") == 0 || strcmp(reason, "ENFILE") == 0;

	uint64_t now = uv_now(l->loop);

	if (l->tcp == NULL || l->closing)
		return;
	/* Closing the handle closes its descriptor at once, which also ends
	 * libuv's accept loop (it runs while the descriptor is open); the
	 * handle's memory lives until tcp_closed. */
	uv_close((uv_handle_t *)l->tcp, tcp_closed);
	l->tcp = NULL;
	l->paused_at = now;
	l->pauses++;
	l->this_logged = false;
	if (!l->logged || now - l->logged_at >= NET_LISTEN_LOG_MS) {
		log_warn(&listen_log,
		    "event=accept-paused addr=%s port=%u reason=%s "
		    "fd_margin=%d retry_ms=%d pauses=%lu note=\"%s: new "
		    "connections wait in the backlog\"",
		    l->addr, l->port, reason, NET_LISTEN_FD_MARGIN,
		    NET_LISTEN_RETRY_MS, l->pauses,
		    fds ? "out of file descriptors" : "accept failed");
		l->logged = l->this_logged = true;
		l->logged_at = now;
		l->pauses = 0;
	}
	(void)uv_timer_start(&l->retry, on_retry, NET_LISTEN_RETRY_MS,
	    NET_LISTEN_RETRY_MS);
}

static void
on_connection(uv_stream_t *s, int status)
{
	struct net_listener *l = s->data;

	if ((uv_tcp_t *)s != l->tcp)
		return; /* a paused handle (cannot happen: it is closed) */
	if (status < 0) {
		/* libuv retries accept() at once after telling us: pausing is
		 * the only way out of its loop for an error that persists */
		pause_accept(l, uv_err_name(status));
		return;
	}
	l->cb(l->ctx, s);
	if (l->tcp != NULL && !fds_free(l->spare))
		pause_accept(l, "fd-margin");
}

int
net_listener_start(uv_loop_t *loop, const char *addr, unsigned port,
    net_accept_cb cb, void *ctx, struct net_listener **out, struct err *err)
{
	struct sockaddr_storage ss;
	struct net_listener *l;
	uv_os_fd_t fd;
	unsigned flags = 0;
	int r;

	if (port > 65535)
		return err_set(err, ERR_INPUT, "bad port %u", port);
	if (uv_ip4_addr(addr, (int)port, (struct sockaddr_in *)&ss) != 0) {
		if (uv_ip6_addr(addr, (int)port, (struct sockaddr_in6 *)&ss) !=
		    0)
			return err_set(err, ERR_INPUT,
			    "listen address %s is not a numeric IP address",
			    addr);
		flags = UV_TCP_IPV6ONLY;
	}
	l = xcalloc(1, sizeof(*l));
	l->loop = loop;
	l->cb = cb;
	l->ctx = ctx;
	l->spare = -1;
	l->port = port;
	(void)str_copy(l->addr, sizeof(l->addr), addr);
	(void)uv_timer_init(loop, &l->retry);
	l->retry.data = l;
	l->handles = 1;
	l->tcp = xcalloc(1, sizeof(*l->tcp));
	(void)uv_tcp_init(loop, l->tcp);
	l->tcp->data = l;
	l->handles++;
	r = uv_tcp_bind(l->tcp, (const struct sockaddr *)&ss, flags);
	if (r == 0)
		r = uv_listen((uv_stream_t *)l->tcp, LISTEN_BACKLOG,
		    on_connection);
	if (r == 0 && (r = uv_fileno((uv_handle_t *)l->tcp, &fd)) == 0 &&
	    (l->spare = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		r = uv_translate_sys_error(errno);
	if (r != 0) {
		l->closing = true;
		uv_close((uv_handle_t *)l->tcp, tcp_closed);
		l->tcp = NULL;
		uv_close((uv_handle_t *)&l->retry, timer_closed);
		return err_set(err, ERR_TEMP, "listen on %s port %u: %s", addr,
		    port, uv_strerror(r));
	}
	*out = l;
	return 0;
}

void
net_listener_close(struct net_listener **lp, void (*done)(void *ctx), void *ctx)
{
	struct net_listener *l = *lp;

	if (l == NULL) {
		if (done != NULL)
			done(ctx);
		return;
	}
	*lp = NULL;
	l->done = done;
	l->done_ctx = ctx;
	l->closing = true;
	if (l->tcp != NULL) {
		uv_close((uv_handle_t *)l->tcp, tcp_closed);
		l->tcp = NULL;
	}
	uv_close((uv_handle_t *)&l->retry, timer_closed);
}
