/* SPDX-License-Identifier: MIT */
/* TCP connections over libuv with an optional OpenSSL memory-BIO layer.
 *
 * Input lands in one fixed buffer of NET_CONN_INBUF bytes: directly from
 * the socket in plaintext, through SSL_read under TLS (the ciphertext then
 * goes through a second fixed buffer into the read BIO). The protocol
 * consumes from the front; reading stops while the buffer is full, while
 * the protocol has paused, or while too much output is queued, so a peer
 * can never grow our memory. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/err.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "net/conn.h"
#include "net/tls_int.h"

#include "lib/banned.h"

#define CIPHER_BUF (16 * 1024 + 512) /* one TLS record and some */

struct net_conn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* idle timeout, then close deadline */
	uv_idle_t idle;   /* deferred delivery after resume */
	uv_shutdown_t shutdown_req;
	uv_loop_t *loop;

	const struct net_conn_ops *ops;
	void *ctx;

	char in[NET_CONN_INBUF];
	size_t in_len;
	char *cipher; /* TLS only: socket read buffer */

	SSL *ssl;
	BIO *rbio, *wbio;
	struct tls_ctx *tls_pending; /* STARTTLS after this on_data */
	bool tls_closed; /* close_notify read; closing after delivery */
	/* Outbound only: the pending connect and the TLS client side. */
	uv_connect_t connect_req;
	net_conn_connect_cb connect_cb; /* NULL once reported or cancelled */
	void *connect_ctx;
	int connect_err; /* reported instead of UV_ECANCELED (timeout) */
	bool connecting, tls_client;
	void (*hs_done)(void *ctx, int status); /* client handshake waiter */
	char sni[256];
	char *early; /* plaintext written before the handshake ended */
	size_t early_len;
	char tls_info[96];

	size_t write_queued; /* bytes handed to uv_write, not yet done */
	unsigned timeout_ms;
	unsigned open_handles;
	bool reading, paused, delivering, closing, handles_closing;
	const char *close_reason;
	char peer[64];
};

struct wreq {
	uv_write_t req;
	struct net_conn *c;
	size_t len;
	char data[];
};

static void pump(struct net_conn *c);
static void update_reading(struct net_conn *c);
static void close_handles(struct net_conn *c, const char *reason);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void
handle_closed(uv_handle_t *h)
{
	struct net_conn *c = h->data;

	if (--c->open_handles > 0)
		return;
	if (c->ops != NULL && c->ops->on_close != NULL)
		c->ops->on_close(c->ctx, c->close_reason);
	SSL_free(c->ssl); /* frees both BIOs */
	free(c->cipher);
	free(c->early);
	free(c);
}

static void
close_handles(struct net_conn *c, const char *reason)
{
	if (c->handles_closing)
		return;
	c->handles_closing = true;
	c->closing = true;
	if (c->close_reason == NULL)
		c->close_reason = reason;
	uv_close((uv_handle_t *)&c->tcp, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
	uv_close((uv_handle_t *)&c->idle, handle_closed);
}

static void
write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct net_conn *c = w->c;

	c->write_queued -= w->len;
	free(w);
	if (status < 0 && status != UV_ECANCELED) {
		close_handles(c, "write-error");
		return;
	}
	if (c->closing)
		return;
	update_reading(c);
	if (c->write_queued <= NET_CONN_WRITE_LOW && c->ops != NULL &&
	    c->ops->on_drain != NULL)
		c->ops->on_drain(c->ctx);
}

static void
raw_write(struct net_conn *c, const void *p, size_t n)
{
	struct wreq *w;
	uv_buf_t b;

	if (n == 0 || c->handles_closing)
		return;
	w = xmalloc(sizeof(*w) + n);
	w->c = c;
	w->len = n;
	memcpy(w->data, p, n);
	b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done) != 0) {
		free(w);
		close_handles(c, "write-error");
		return;
	}
	c->write_queued += n;
}

/* Moves whatever OpenSSL produced (records, alerts) to the socket. */
static void
flush_wbio(struct net_conn *c)
{
	char tmp[4096];
	int n;

	if (c->wbio == NULL)
		return;
	while ((n = BIO_read(c->wbio, tmp, (int)sizeof(tmp))) > 0)
		raw_write(c, tmp, (size_t)n);
}

static void
update_reading(struct net_conn *c)
{
	bool want = !c->closing && !c->paused && c->in_len < NET_CONN_INBUF &&
	    c->write_queued < NET_CONN_WRITE_HIGH &&
	    (c->rbio == NULL || BIO_ctrl_pending(c->rbio) < CIPHER_BUF);

	if (want == c->reading)
		return;
	c->reading = want;
	if (want)
		(void)uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	else
		(void)uv_read_stop((uv_stream_t *)&c->tcp);
}

static void
set_tls_info(struct net_conn *c)
{
	(void)str_fmt(c->tls_info, sizeof(c->tls_info), "%s:%s",
	    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
}

/* A client handshake that will not finish: tells its waiter once. */
static void
hs_fail(struct net_conn *c)
{
	void (*done)(void *, int) = c->hs_done;

	c->hs_done = NULL;
	if (done != NULL)
		done(c->ctx, ERR_TEMP);
}

static void
begin_tls(struct net_conn *c)
{
	struct tls_ctx *t = c->tls_pending;

	c->tls_pending = NULL;
	c->in_len = 0; /* RFC 3207 §4: plaintext after STARTTLS is void */
	c->ssl = tls_ssl_new(t, &c->rbio, &c->wbio);
	if (c->ssl == NULL) {
		ERR_clear_error();
		hs_fail(c);
		close_handles(c, "tls-error");
		return;
	}
	c->cipher = xmalloc(CIPHER_BUF);
	if (!c->tls_client)
		return;
	/* The client speaks first: the ClientHello goes out now. */
	SSL_set_connect_state(c->ssl);
	if (c->sni[0] != '\0')
		(void)SSL_set_tlsext_host_name(c->ssl, c->sni);
	(void)SSL_do_handshake(c->ssl); /* WANT_READ: the ClientHello */
	ERR_clear_error();
	flush_wbio(c);
	update_reading(c);
}

/* Hands buffered input to the protocol until it wants more. */
static void
deliver(struct net_conn *c)
{
	size_t used;

	if (c->delivering)
		return;
	c->delivering = true;
	while (!c->closing && !c->paused && c->in_len > 0) {
		used = c->ops->on_data(c->ctx, slice_make(c->in, c->in_len));
		if (c->tls_pending != NULL) {
			begin_tls(c);
			break;
		}
		if (used == 0)
			break;
		if (used > c->in_len)
			used = c->in_len;
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		/* Consumed input may be a password (LOGIN, AUTH lines): the
		 * stale copy past the moved rest is wiped, not left until
		 * later input overwrites it. Costs a memset of what was
		 * read once anyway. */
		OPENSSL_cleanse(c->in + c->in_len, used);
	}
	c->delivering = false;
}

/* Decrypts what the read BIO holds into the input buffer. false if the
 * connection failed or the peer closed TLS. */
static bool
tls_fill(struct net_conn *c)
{
	int r, e;

	while (c->in_len < NET_CONN_INBUF) {
		r = SSL_read(c->ssl, c->in + c->in_len,
		    (int)(NET_CONN_INBUF - c->in_len));
		if (r > 0) {
			c->in_len += (size_t)r;
			continue;
		}
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN && c->in_len > 0) {
			/* close_notify right behind the last records (a
			 * reply, then the close): what came before it is
			 * delivered first, then pump closes. */
			c->tls_closed = true;
			break;
		}
		flush_wbio(c); /* send the alert, if any */
		ERR_clear_error();
		c->close_reason =
		    e == SSL_ERROR_ZERO_RETURN ? "tls-close" : "tls-error";
		hs_fail(c);
		net_conn_close(c);
		return false;
	}
	if (c->tls_info[0] == '\0' && SSL_is_init_finished(c->ssl)) {
		void (*done)(void *, int) = c->hs_done;

		set_tls_info(c);
		c->hs_done = NULL;
		if (done != NULL) {
			/* Our Finished goes before what done writes. */
			flush_wbio(c);
			done(c->ctx, 0);
			if (c->closing)
				return false;
		}
		if (c->early_len > 0) {
			char *p = c->early;
			size_t n = c->early_len;

			c->early = NULL;
			c->early_len = 0;
			net_conn_write(c, p, n);
			free(p);
		}
	}
	return true;
}

static void
pump(struct net_conn *c)
{
	size_t before;

	for (;;) {
		if (c->ssl != NULL && !tls_fill(c))
			break;
		flush_wbio(c);
		before = c->in_len;
		deliver(c);
		if (c->tls_closed && !c->closing) {
			c->close_reason = "tls-close";
			hs_fail(c);
			net_conn_close(c);
		}
		if (c->closing || c->paused || c->ssl == NULL)
			break;
		if (c->in_len == before && c->in_len == NET_CONN_INBUF)
			break; /* the protocol is stuck: do not spin */
		if (SSL_pending(c->ssl) == 0 && BIO_ctrl_pending(c->rbio) == 0)
			break;
	}
	flush_wbio(c);
	if (!c->handles_closing)
		update_reading(c);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct net_conn *c = h->data;

	(void)hint;
	if (c->ssl != NULL)
		*b = uv_buf_init(c->cipher, CIPHER_BUF);
	else
		*b = uv_buf_init(c->in + c->in_len,
		    (unsigned)(NET_CONN_INBUF - c->in_len));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct net_conn *c = s->data;

	(void)b;
	if (n == 0 || n == UV_ENOBUFS)
		return;
	if (n < 0) {
		c->reading = false;
		(void)uv_read_stop(s);
		if (c->close_reason == NULL)
			c->close_reason = n == UV_EOF ? "eof" : "read-error";
		hs_fail(c);
		net_conn_close(c);
		return;
	}
	if (c->closing)
		return;
	if (c->timeout_ms > 0)
		(void)uv_timer_again(&c->timer);
	if (c->ssl != NULL) {
		if (BIO_write(c->rbio, b->base, (int)n) != (int)n) {
			close_handles(c, "tls-error");
			return;
		}
	} else {
		c->in_len += (size_t)n;
	}
	pump(c);
}

static void
on_timer(uv_timer_t *t)
{
	struct net_conn *c = t->data;

	if (c->connecting) { /* the connect deadline passed */
		c->connect_err = UV_ETIMEDOUT;
		close_handles(c, "connect-timeout");
		return;
	}
	if (c->closing) { /* the close deadline passed */
		close_handles(c, c->close_reason);
		return;
	}
	if (c->ops->on_timeout != NULL)
		c->ops->on_timeout(c->ctx);
}

static void
on_idle(uv_idle_t *h)
{
	struct net_conn *c = h->data;

	(void)uv_idle_stop(h);
	if (!c->closing)
		pump(c);
}

int
net_conn_accept(uv_loop_t *loop, uv_stream_t *server, struct net_conn **out)
{
	struct net_conn *c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	int r, len = (int)sizeof(ss);

	c->loop = loop;
	r = uv_tcp_init(loop, &c->tcp);
	if (r != 0) {
		free(c);
		return r;
	}
	c->tcp.data = c;
	(void)uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	(void)uv_idle_init(loop, &c->idle);
	c->idle.data = c;
	c->open_handles = 3;
	r = uv_accept(server, (uv_stream_t *)&c->tcp);
	if (r != 0) {
		close_handles(c, "accept-error"); /* frees c; no ops yet */
		return r;
	}
	(void)uv_tcp_nodelay(&c->tcp, 1);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6)
			(void)uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer,
			    sizeof(c->peer));
		else
			(void)uv_ip4_name((struct sockaddr_in *)&ss, c->peer,
			    sizeof(c->peer));
	}
	if (c->peer[0] == '\0')
		(void)str_copy(c->peer, sizeof(c->peer), "unknown");
	*out = c;
	return 0;
}

void
net_conn_start(struct net_conn *c, const struct net_conn_ops *ops, void *ctx)
{
	c->ops = ops;
	c->ctx = ctx;
	update_reading(c);
}

void
net_conn_set_timeout(struct net_conn *c, unsigned ms)
{
	if (c->closing)
		return;
	c->timeout_ms = ms;
	if (ms == 0)
		(void)uv_timer_stop(&c->timer);
	else
		(void)uv_timer_start(&c->timer, on_timer, ms, ms);
}

void
net_conn_write(struct net_conn *c, const void *p, size_t n)
{
	const char *q = p;
	size_t done;
	int r;

	if (c->closing || n == 0)
		return;
	if (c->ssl == NULL) {
		raw_write(c, p, n);
		return;
	}
	if (!SSL_is_init_finished(c->ssl)) {
		/* Implicit TLS: the greeting waits for the handshake. */
		if (n > NET_CONN_WRITE_HIGH - c->early_len) {
			close_handles(c, "tls-early-overflow");
			return;
		}
		c->early = xrealloc(c->early, c->early_len + n);
		memcpy(c->early + c->early_len, p, n);
		c->early_len += n;
		return;
	}
	while (n > 0) {
		r = SSL_write_ex(c->ssl, q, n, &done);
		if (r != 1) {
			/* With memory BIOs a write can only fail for a broken
			 * session: the protocol only writes after reading. */
			ERR_clear_error();
			flush_wbio(c);
			c->close_reason = "tls-error";
			close_handles(c, "tls-error");
			return;
		}
		q += done;
		n -= done;
	}
	flush_wbio(c);
}

size_t
net_conn_pending(const struct net_conn *c)
{
	return c->write_queued + c->early_len;
}

void
net_conn_pause(struct net_conn *c)
{
	c->paused = true;
	if (c->timeout_ms > 0)
		(void)uv_timer_stop(&c->timer);
}

void
net_conn_resume(struct net_conn *c)
{
	if (!c->paused || c->closing)
		return;
	c->paused = false;
	if (c->timeout_ms > 0)
		(void)uv_timer_start(&c->timer, on_timer, c->timeout_ms,
		    c->timeout_ms);
	(void)uv_idle_start(&c->idle, on_idle);
}

int
net_conn_starttls(struct net_conn *c, struct tls_ctx *tls)
{
	if (c->closing)
		return ERR_INTERNAL;
	if (c->ssl != NULL || tls == NULL) {
		net_conn_close(c);
		return ERR_INTERNAL;
	}
	c->tls_pending = tls;
	if (!c->delivering)
		begin_tls(c);
	return 0;
}

bool
net_conn_is_tls(const struct net_conn *c)
{
	return c->ssl != NULL;
}

const char *
net_conn_tls_info(const struct net_conn *c)
{
	return c->tls_info;
}

static void
shutdown_done(uv_shutdown_t *req, int status)
{
	struct net_conn *c = req->data;

	(void)status;
	close_handles(c, "closed");
}

void
net_conn_close(struct net_conn *c)
{
	c->hs_done = NULL; /* the caller closes: it knows */
	if (c->connecting) {
		c->connect_cb = NULL; /* cancelled: no report */
		close_handles(c, "closed");
		return;
	}
	if (c->closing)
		return;
	c->closing = true;
	if (c->close_reason == NULL)
		c->close_reason = "closed";
	c->reading = false;
	(void)uv_read_stop((uv_stream_t *)&c->tcp);
	(void)uv_idle_stop(&c->idle);
	if (c->ssl != NULL && SSL_is_init_finished(c->ssl)) {
		(void)SSL_shutdown(c->ssl); /* queues close_notify */
		ERR_clear_error();
		flush_wbio(c);
	}
	/* The deadline covers a peer that never reads our last replies. */
	(void)uv_timer_start(&c->timer, on_timer, NET_CONN_CLOSE_MS, 0);
	c->shutdown_req.data = c;
	if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp,
	        shutdown_done) != 0)
		close_handles(c, c->close_reason);
}

const char *
net_conn_peer(const struct net_conn *c)
{
	return c->peer;
}

static void
connect_done(uv_connect_t *req, int status)
{
	struct net_conn *c = req->data;
	net_conn_connect_cb cb = c->connect_cb;

	c->connecting = false;
	c->connect_cb = NULL;
	if (status == 0 && c->handles_closing)
		status = UV_ECANCELED;
	if (c->connect_err != 0)
		status = c->connect_err;
	if (status != 0) {
		close_handles(c, "connect-error"); /* no ops: no on_close */
		if (cb != NULL)
			cb(c->connect_ctx, status);
		return;
	}
	(void)uv_timer_stop(&c->timer);
	(void)uv_tcp_nodelay(&c->tcp, 1);
	if (cb != NULL)
		cb(c->connect_ctx, 0);
}

int
net_conn_connect(uv_loop_t *loop, const char *addr, unsigned port,
    unsigned timeout_ms, net_conn_connect_cb cb, void *ctx,
    struct net_conn **out)
{
	struct sockaddr_storage ss;
	struct net_conn *c;
	int r;

	memset(&ss, 0, sizeof(ss));
	if (port == 0 || port > 65535)
		return UV_EINVAL;
	if (uv_ip4_addr(addr, (int)port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(addr, (int)port, (struct sockaddr_in6 *)&ss) != 0)
		return UV_EINVAL;
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	r = uv_tcp_init(loop, &c->tcp);
	if (r != 0) {
		free(c);
		return r;
	}
	c->tcp.data = c;
	(void)uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	(void)uv_idle_init(loop, &c->idle);
	c->idle.data = c;
	c->open_handles = 3;
	(void)str_copy(c->peer, sizeof(c->peer), addr);
	c->connect_cb = cb;
	c->connect_ctx = ctx;
	c->connect_req.data = c;
	r = uv_tcp_connect(&c->connect_req, &c->tcp,
	    (const struct sockaddr *)&ss, connect_done);
	if (r != 0) {
		c->connect_cb = NULL;
		close_handles(c, "connect-error"); /* frees c; no ops yet */
		return r;
	}
	c->connecting = true;
	if (timeout_ms > 0)
		(void)uv_timer_start(&c->timer, on_timer, timeout_ms, 0);
	*out = c;
	return 0;
}

int
net_conn_starttls_client(struct net_conn *c, struct tls_ctx *tls,
    const char *sni, void (*done)(void *ctx, int status))
{
	if (c->closing)
		return ERR_INTERNAL;
	if (c->ssl != NULL || tls == NULL || !tls_ctx_is_client(tls)) {
		net_conn_close(c);
		return ERR_INTERNAL;
	}
	c->tls_client = true;
	c->hs_done = done;
	/* RFC 6066 §3: no IP literals in SNI. */
	if (sni == NULL || !str_copy(c->sni, sizeof(c->sni), sni) ||
	    strchr(c->sni, ':') != NULL ||
	    strspn(c->sni, "0123456789.") == strlen(c->sni))
		c->sni[0] = '\0';
	c->tls_pending = tls;
	if (!c->delivering)
		begin_tls(c);
	return 0;
}
