/* SPDX-License-Identifier: MIT */
/* Listening sockets: bind, listen, hand new connections to the owner. */
#include <stdlib.h>

#include "lib/mem.h"
#include "net/listen.h"

#include "lib/banned.h"

#define LISTEN_BACKLOG 511

struct net_listener {
	uv_tcp_t tcp;
	net_accept_cb cb;
	void *ctx;
	void (*done)(void *ctx);
	void *done_ctx;
};

static void
on_connection(uv_stream_t *s, int status)
{
	struct net_listener *l = s->data;

	if (status < 0)
		return; /* EMFILE and friends: the next one may work */
	l->cb(l->ctx, s);
}

static void
on_closed(uv_handle_t *h)
{
	struct net_listener *l = h->data;

	if (l->done != NULL)
		l->done(l->done_ctx);
	free(l);
}

static void
on_closed_quiet(uv_handle_t *h)
{
	free(h->data);
}

int
net_listener_start(uv_loop_t *loop, const char *addr, unsigned port,
    net_accept_cb cb, void *ctx, struct net_listener **out, struct err *err)
{
	struct sockaddr_storage ss;
	struct net_listener *l;
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
	l->cb = cb;
	l->ctx = ctx;
	(void)uv_tcp_init(loop, &l->tcp);
	l->tcp.data = l;
	r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, flags);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG,
		    on_connection);
	if (r != 0) {
		uv_close((uv_handle_t *)&l->tcp, on_closed_quiet);
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
	uv_close((uv_handle_t *)&l->tcp, on_closed);
}
