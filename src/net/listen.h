/* SPDX-License-Identifier: MIT */
/* TCP listeners (IPv4 and IPv6) on the loop. */
#ifndef DESPATCH_NET_LISTEN_H
#define DESPATCH_NET_LISTEN_H

#include <uv.h>

#include "lib/err.h"

struct net_listener;

/* A connection is waiting on server: pass it to net_conn_accept. */
typedef void (*net_accept_cb)(void *ctx, uv_stream_t *server);

/* Binds addr (numeric IPv4 or IPv6; an IPv6 listener is IPv6-only so
 * that "0.0.0.0" and "::" can both be bound) and port, and listens.
 * 0, or ERR_TEMP (address in use, no permission) / ERR_INPUT (bad
 * address) with err naming addr and port. */
int net_listener_start(uv_loop_t *loop, const char *addr, unsigned port,
    net_accept_cb cb, void *ctx, struct net_listener **out, struct err *err);
/* Stops accepting; done(ctx) runs once the socket is closed and the
 * listener freed. Sets *lp = NULL; accepts NULL (done runs at once). */
void net_listener_close(struct net_listener **lp, void (*done)(void *ctx),
    void *ctx);

#endif
