/* SPDX-License-Identifier: MIT */
/* One TCP connection on the loop: a fixed input buffer (plaintext, after
 * TLS), a write queue, an idle timer and an optional TLS layer (OpenSSL
 * memory BIOs) that can start at accept (implicit TLS) or later
 * (STARTTLS). Loop thread only. */
#ifndef DESPATCH_NET_CONN_H
#define DESPATCH_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "lib/slice.h"

struct net_conn;
struct tls_ctx;

/* Plaintext input bytes held at most; a protocol line must fit. */
#define NET_CONN_INBUF (16 * 1024)
/* Reading stops while this many bytes wait to be written (a peer that
 * pipelines without reading replies cannot grow our memory). */
#define NET_CONN_WRITE_HIGH (256 * 1024)
/* The on_drain threshold. */
#define NET_CONN_WRITE_LOW (64 * 1024)
/* How long a closing connection may take to flush its last writes. */
#define NET_CONN_CLOSE_MS 5000

struct net_conn_ops {
	/* Input is available: returns how many bytes of `in` were consumed
	 * (0: wait for more). May call any net_conn function on the
	 * connection, close included; the connection stays valid until
	 * on_close. */
	size_t (*on_data)(void *ctx, struct slice in);
	/* The idle timer ran out (the connection stays open). */
	void (*on_timeout)(void *ctx);
	/* The connection is gone (closed by either side, or failed); called
	 * exactly once, after which the connection is freed. reason is a
	 * short static word for the log ("eof", "error", "closed", ...). */
	void (*on_close)(void *ctx, const char *reason);
	/* Appended, optional (NULL: none): queued output has fallen to
	 * NET_CONN_WRITE_LOW bytes or fewer after a write completed (for
	 * protocols that stream large responses and wait for a drain). */
	void (*on_drain)(void *ctx);
};

/* Accepts a pending connection from server. 0, or a negative libuv
 * error (nothing allocated). Reading starts with net_conn_start. */
int net_conn_accept(uv_loop_t *loop, uv_stream_t *server,
    struct net_conn **out);
/* The outcome of net_conn_connect: status 0, connected (set the ops
 * with net_conn_start); else a negative libuv error (UV_ECONNREFUSED,
 * UV_ETIMEDOUT after the timeout, ...) and the connection is already
 * being freed: never touch it again. */
typedef void (*net_conn_connect_cb)(void *ctx, int status);
/* Opens an outbound TCP connection to a numeric IPv4 or IPv6 address
 * (no DNS here) and port; *out is the connection from now on, so that
 * net_conn_close can cancel the attempt (then cb does not run and
 * nothing else is called). timeout_ms 0: the kernel's own. cb runs
 * exactly once otherwise, from the loop, never inside this call.
 * 0, or a negative libuv error (UV_EINVAL: not a numeric address or a
 * bad port; nothing allocated, cb will not run). */
int net_conn_connect(uv_loop_t *loop, const char *addr, unsigned port,
    unsigned timeout_ms, net_conn_connect_cb cb, void *ctx,
    struct net_conn **out);
/* Sets the callbacks and starts reading. */
void net_conn_start(struct net_conn *c, const struct net_conn_ops *ops,
    void *ctx);
/* Idle timeout: on_timeout runs after ms without input (0: none). */
void net_conn_set_timeout(struct net_conn *c, unsigned ms);
/* Queues bytes for sending (through TLS once it is on). Copies them.
 * Ignored after close. */
void net_conn_write(struct net_conn *c, const void *p, size_t n);
/* Bytes queued for sending and not yet handed to the kernel. */
size_t net_conn_pending(const struct net_conn *c);
/* Stops delivering input (and reading once the buffer is full) until
 * resume; resume delivers what is buffered from the next loop turn. */
void net_conn_pause(struct net_conn *c);
void net_conn_resume(struct net_conn *c);
/* Switches to TLS as server (RFC 3207): every plaintext byte received
 * so far and not consumed is discarded when the current on_data returns,
 * and everything after is TLS. Write the "ready" reply first. 0, or
 * ERR_INTERNAL (the connection is closing then). Called right after
 * net_conn_accept it gives implicit TLS (IMAPS): bytes written before
 * the handshake has finished are held and sent once it has. */
int net_conn_starttls(struct net_conn *c, struct tls_ctx *tls);
/* Switches to TLS as the client (RFC 3207 §4, after the server's 220
 * to STARTTLS) with a tls_ctx_new_client context: plaintext received
 * and not consumed is discarded, the ClientHello goes out at once with
 * SNI = sni (NULL, or an IP address: none). done(ctx, 0) runs (with
 * the ops' ctx) when the handshake has finished; done(ctx, ERR_TEMP)
 * if the handshake fails or the peer closes first; then the connection
 * closes and on_close follows. done does not run after the caller's own
 * net_conn_close. Write nothing until done(ctx, 0). 0, or ERR_INTERNAL
 * (already TLS, not a client context: the connection is closing). */
int net_conn_starttls_client(struct net_conn *c, struct tls_ctx *tls,
    const char *sni, void (*done)(void *ctx, int status));
bool net_conn_is_tls(const struct net_conn *c);
/* The negotiated protocol and cipher, for the log; "" without TLS. */
const char *net_conn_tls_info(const struct net_conn *c);
/* Graceful close: flushes queued writes (TLS close_notify first), then
 * closes; on_close follows. Input is no longer delivered. Idempotent. */
void net_conn_close(struct net_conn *c);
/* The peer's numeric address ("192.0.2.1", "2001:db8::1"). */
const char *net_conn_peer(const struct net_conn *c);

#endif
