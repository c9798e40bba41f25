/* SPDX-License-Identifier: MIT */
/* The outbound SMTP client (RFC 5321 client side, RFC 2920 PIPELINING,
 * RFC 3207 STARTTLS, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531
 * SMTPUTF8, RFC 3461 DSN): one job = one domain's messages over one
 * session, hosts tried in order. See client.h for the contract.
 *
 * A session (struct sess) is one connection attempt; when a host fails
 * (connect, TLS, greeting, 421, timeout, lost connection, malformed
 * reply) the session is abandoned (it frees itself when its connection
 * is gone) and the next host gets the recipients still PENDING. A
 * recipient becomes final only on a RCPT 4xx/5xx, a MAIL 4xx/5xx, or
 * the reply to the end of data, so a host failing after RCPT 250 but
 * before the data's reply leaves it PENDING for the next host.
 *
 * Decision: a message with an 8-bit body goes to a server that does not
 * offer 8BITMIME anyway (without BODY=), as Postfix and most MTAs do;
 * downgrading it to 7 bit would mean re-encoding MIME parts, and
 * refusing would bounce mail that in practice arrives fine. A message
 * that needs SMTPUTF8 is never sent to a server without it (PERM
 * 5.6.7, RFC 6531 §3.2): its addresses cannot be expressed there. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "net/conn.h"
#include "net/tls.h"
#include "smtp/client.h"

#include "lib/banned.h"

#define CLIENT_CONNECT_MS_DEFAULT 30000
#define CLIENT_REPLY_MS_DEFAULT   300000
/* Stored bytes read per step of the data stream; the stuffed output is
 * at most twice as long plus a line end. */
#define CLIENT_CHUNK   (16 * 1024)
#define CLIENT_OUT_MAX (2 * CLIENT_CHUNK + 64)
/* One command line (MAIL with ENVID, RCPT with ORCPT, xtext-encoded). */
#define CLIENT_CMD_MAX 4096
/* Pipelined command lines gathered for one write. */
#define CLIENT_WBUF_MAX (256 * 1024)
#define RETURN_PATH     "return-path:"
#define RETURN_PATH_LEN (sizeof(RETURN_PATH) - 1)

enum cstate {
	CS_CONNECT,
	CS_GREETING,
	CS_EHLO,
	CS_HELO,
	CS_STARTTLS,
	CS_TLS,  /* handshake running */
	CS_MAIL, /* waiting for MAIL's reply */
	CS_RCPT, /* for RCPT sent[rcpt_i]'s reply */
	CS_DATA, /* for DATA's reply */
	CS_BODY, /* streaming the message */
	CS_DOT,  /* for the reply to the end of data */
	CS_RSET,
	CS_DONE,
};

/* Stream state of the data being sent. */
enum xstate {
	XS_START, /* collecting the first bytes: our Return-Path:? */
	XS_SKIP,  /* dropping the Return-Path line through its LF */
	XS_AFTER, /* first byte after it: a folded continuation? */
	XS_BODY,
};

struct smtp_client;

struct sess {
	struct smtp_client *c; /* NULL once abandoned */
	struct net_conn *conn;
	bool connected;
};

struct smtp_client {
	uv_loop_t *loop;
	struct store *st;
	struct smtp_client_job *job;
	smtp_client_cb cb;
	void *ctx;
	char helo[256];
	struct tls_ctx *tls;
	unsigned connect_ms, reply_ms;
	struct log_ctx log;
	uv_timer_t done_timer; /* reports from the loop, then frees */
	/* Wall-clock limit for each reply (and each step of the data): the
	 * connection's idle timer restarts on every byte, so a server that
	 * drips one byte a minute would hold us for ever without this. */
	uv_timer_t reply_timer;
	unsigned open_timers;

	enum cstate state;
	size_t host_i;
	struct sess *sess;
	struct smtp_reply reply;
	bool tls_on, helo_only;
	bool ext_pipelining, ext_size, ext_8bitmime, ext_smtputf8, ext_dsn,
	    ext_starttls;
	unsigned long long size_max;
	bool txn_used;     /* a MAIL went out on this session: RSET first */
	struct buf wbuf;   /* command lines not yet written */
	bool batching;     /* pipelining: wbuf goes out in one write */
	bool rset_pending; /* a pipelined RSET's reply is the next one */

	/* The current message's transaction. */
	size_t msg_i;
	size_t *sent; /* indexes of the rcpts sent RCPT, in order */
	bool *accepted;
	size_t n_sent, rcpt_i, n_accepted, n_452;
	bool mail_failed, pipelined;

	/* Data stream. */
	struct store_reader *rd;
	enum xstate xs;
	char head[RETURN_PATH_LEN];
	size_t head_len;
	bool line_start, pending_cr;
	char *in, *out;

	/* What the job's unfinished recipients get. */
	int last_code;
	char last_reason[SMTP_REPLY_TEXT_MAX + 1];
	bool all_perm; /* every host refused with 5xx at greeting/EHLO */
	bool done, aborted;
};

static void host_fail(struct smtp_client *c, int code, bool perm,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void try_connect(struct smtp_client *c);
static void next_message(struct smtp_client *c);
static void pump_data(struct smtp_client *c);
static void arm_deadline(struct smtp_client *c);

static const char *
host_name(const struct smtp_client *c)
{
	const struct dns_host *h = &c->job->hosts[c->host_i];

	return h->name[0] != '\0' ? h->name : h->addr;
}

/* --- the end of the job ------------------------------------------- */

static void
client_freed(uv_handle_t *h)
{
	struct smtp_client *c = h->data;

	if (--c->open_timers > 0)
		return;
	free(c->in);
	free(c->out);
	buf_clear(&c->wbuf);
	free(c);
}

static void
on_done_timer(uv_timer_t *t)
{
	struct smtp_client *c = t->data;

	c->cb(c->ctx, c->job);
	uv_close((uv_handle_t *)&c->done_timer, client_freed);
	uv_close((uv_handle_t *)&c->reply_timer, client_freed);
}

static void
set_rcpt(struct smtp_client_rcpt *r, enum smtp_rcpt_status st, int code,
    const char *text)
{
	r->status = st;
	r->code = code;
	(void)str_copy(r->reply, sizeof(r->reply), text);
}

static void
txn_clear(struct smtp_client *c)
{
	free(c->sent);
	free(c->accepted);
	c->sent = NULL;
	c->accepted = NULL;
	c->n_sent = c->rcpt_i = c->n_accepted = c->n_452 = 0;
	c->mail_failed = false;
	store_reader_close(&c->rd);
}

static void
abandon_session(struct smtp_client *c)
{
	struct sess *s = c->sess;

	if (s == NULL)
		return;
	c->sess = NULL;
	s->c = NULL;
	(void)uv_timer_stop(&c->reply_timer);
	buf_reset(&c->wbuf);
	c->batching = false;
	c->rset_pending = false;
	if (!s->connected) {
		net_conn_close(s->conn); /* cancels: no callback follows */
		free(s);
		return;
	}
	net_conn_close(s->conn); /* on_close frees s */
}

/* Ends the job: every recipient still PENDING gets the last reason. */
static void
finish(struct smtp_client *c)
{
	size_t i, k;
	unsigned ok = 0, temp = 0, perm = 0;

	if (c->done)
		return;
	c->done = true;
	c->state = CS_DONE;
	(void)uv_timer_stop(&c->reply_timer);
	abandon_session(c);
	txn_clear(c);
	if (c->last_reason[0] == '\0')
		(void)str_copy(c->last_reason, sizeof(c->last_reason),
		    "no host could be tried");
	for (i = 0; i < c->job->n_msgs; i++) {
		struct smtp_client_msg *m = &c->job->msgs[i];

		for (k = 0; k < m->n_rcpts; k++) {
			struct smtp_client_rcpt *r = &m->rcpts[k];

			if (r->status == SMTP_RCPT_PENDING)
				set_rcpt(r,
				    c->all_perm && !c->aborted ? SMTP_RCPT_PERM
				                               : SMTP_RCPT_TEMP,
				    c->last_code, c->last_reason);
			ok += r->status == SMTP_RCPT_OK;
			temp += r->status == SMTP_RCPT_TEMP;
			perm += r->status == SMTP_RCPT_PERM;
		}
	}
	log_info(&c->log, "event=job-done domain=%s ok=%u temp=%u perm=%u",
	    c->job->domain, ok, temp, perm);
	(void)uv_timer_start(&c->done_timer, on_done_timer, 0, 0);
}

static bool
has_pending(const struct smtp_client *c)
{
	size_t i, k;

	for (i = 0; i < c->job->n_msgs; i++)
		for (k = 0; k < c->job->msgs[i].n_rcpts; k++)
			if (c->job->msgs[i].rcpts[k].status ==
			    SMTP_RCPT_PENDING)
				return true;
	return false;
}

/* The host (or the connection to it) failed: the next host gets the
 * recipients not yet final. perm: a 5xx to the greeting or EHLO/HELO. */
static void
host_fail(struct smtp_client *c, int code, bool perm, const char *fmt, ...)
{
	va_list ap;
	char why[SMTP_REPLY_TEXT_MAX + 1];

	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c->done)
		return;
	log_info(&c->log, "event=host-failed host=%s addr=%s reason=\"%s\"",
	    host_name(c), c->job->hosts[c->host_i].addr, why);
	c->last_code = code;
	(void)str_copy(c->last_reason, sizeof(c->last_reason), why);
	if (!perm)
		c->all_perm = false;
	abandon_session(c);
	txn_clear(c);
	c->host_i++;
	try_connect(c);
}

/* --- writing ------------------------------------------------------ */

/* Hands the queued command lines to the connection in one write. */
static void
flush_cmds(struct smtp_client *c)
{
	if (c->wbuf.len > 0 && c->sess != NULL)
		net_conn_write(c->sess->conn, c->wbuf.p, c->wbuf.len);
	buf_reset(&c->wbuf);
}

static void
send_line(struct smtp_client *c, const char *line)
{
	char safe[256];

	log_debug(&c->log, "event=send line=\"%s\"",
	    log_safe(safe, sizeof(safe), slice_cstr(line)));
	if (buf_append(&c->wbuf, line, strlen(line)) != 0 ||
	    buf_append(&c->wbuf, "\r\n", 2) != 0) {
		flush_cmds(c); /* a huge pipelined batch: in pieces */
		(void)buf_append(&c->wbuf, line, strlen(line));
		(void)buf_append(&c->wbuf, "\r\n", 2);
	}
	if (!c->batching)
		flush_cmds(c);
}

/* RFC 3461 §4: xtext, "+XX" for '+', '=', controls, SP and 8-bit. */
static bool
xtext(char *out, size_t size, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (o + 4 > size)
			return false;
		if (ch >= '!' && ch <= '~' && ch != '+' && ch != '=') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '+';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return true;
}

/* An address from the store, before it goes into a command line: no
 * CR, LF, NUL, '<' or '>' (defensive: the store got it parsed). */
static bool
addr_ok(const char *a)
{
	return a != NULL && strlen(a) < 512 && strpbrk(a, "\r\n<>") == NULL;
}

static bool
mail_line(struct smtp_client *c, const struct smtp_client_msg *m, char *out)
{
	char buf[2 * 3 * STORE_ENVID_MAX + 16];
	size_t len;

	if (!str_fmt(out, CLIENT_CMD_MAX, "MAIL FROM:<%s>", m->sender))
		return false;
	len = strlen(out);
	if (c->ext_size &&
	    !str_fmt(out + len, CLIENT_CMD_MAX - len, " SIZE=%llu",
	        (unsigned long long)m->size))
		return false;
	len = strlen(out);
	if (m->body_8bit && c->ext_8bitmime &&
	    !str_fmt(out + len, CLIENT_CMD_MAX - len, " BODY=8BITMIME"))
		return false;
	len = strlen(out);
	if (m->smtputf8 && c->ext_smtputf8 &&
	    !str_fmt(out + len, CLIENT_CMD_MAX - len, " SMTPUTF8"))
		return false;
	if (!c->ext_dsn)
		return true;
	len = strlen(out);
	if (m->ret != STORE_RET_DEFAULT &&
	    !str_fmt(out + len, CLIENT_CMD_MAX - len, " RET=%s",
	        m->ret == STORE_RET_FULL ? "FULL" : "HDRS"))
		return false;
	len = strlen(out);
	if (m->envid != NULL && m->envid[0] != '\0' &&
	    (!xtext(buf, sizeof(buf), m->envid) ||
	        !str_fmt(out + len, CLIENT_CMD_MAX - len, " ENVID=%s", buf)))
		return false;
	return true;
}

static bool
rcpt_line(struct smtp_client *c, const struct smtp_client_rcpt *r, char *out)
{
	char buf[3 * STORE_ORCPT_MAX + 16];
	const char *semi;
	size_t len;

	if (!str_fmt(out, CLIENT_CMD_MAX, "RCPT TO:<%s>", r->addr))
		return false;
	if (!c->ext_dsn)
		return true;
	len = strlen(out);
	if (r->notify != 0) {
		if (r->notify & STORE_NOTIFY_NEVER) {
			if (!str_fmt(out + len, CLIENT_CMD_MAX - len,
			        " NOTIFY=NEVER"))
				return false;
		} else if (!str_fmt(out + len, CLIENT_CMD_MAX - len,
		               " NOTIFY=%s%s%s%s%s",
		               r->notify & STORE_NOTIFY_SUCCESS ? "SUCCESS"
		                                                : "",
		               (r->notify & STORE_NOTIFY_SUCCESS) &&
		                       (r->notify &
		                           (STORE_NOTIFY_FAILURE |
		                               STORE_NOTIFY_DELAY))
		                   ? ","
		                   : "",
		               r->notify & STORE_NOTIFY_FAILURE ? "FAILURE"
		                                                : "",
		               (r->notify & STORE_NOTIFY_FAILURE) &&
		                       (r->notify & STORE_NOTIFY_DELAY)
		                   ? ","
		                   : "",
		               r->notify & STORE_NOTIFY_DELAY ? "DELAY" : ""))
			return false;
	}
	len = strlen(out);
	if (r->orcpt != NULL && r->orcpt[0] != '\0') {
		/* "type;addr": the type stays, the address is xtext. */
		semi = strchr(r->orcpt, ';');
		if (semi == NULL || semi == r->orcpt || semi - r->orcpt > 32 ||
		    !xtext(buf, sizeof(buf), semi + 1))
			return true; /* unusable: leave ORCPT out */
		if (!str_fmt(out + len, CLIENT_CMD_MAX - len, " ORCPT=%.*s;%s",
		        (int)(semi - r->orcpt), r->orcpt, buf))
			return false;
	}
	return true;
}

/* --- messages ----------------------------------------------------- */

static void
msg_fail_all(struct smtp_client_msg *m, enum smtp_rcpt_status st, int code,
    const char *why)
{
	size_t k;

	for (k = 0; k < m->n_rcpts; k++)
		if (m->rcpts[k].status == SMTP_RCPT_PENDING)
			set_rcpt(&m->rcpts[k], st, code, why);
}

static void
send_rcpt(struct smtp_client *c, size_t i)
{
	struct smtp_client_msg *m = &c->job->msgs[c->msg_i];
	char line[CLIENT_CMD_MAX];

	if (!rcpt_line(c, &m->rcpts[c->sent[i]], line)) {
		/* Checked before MAIL (start_message); cannot happen. */
		(void)str_copy(line, sizeof(line), "NOOP");
	}
	send_line(c, line);
}

/* Starts the transaction of message msg_i (which has PENDING rcpts):
 * true; false if the message was settled without one (refused before
 * MAIL), and the caller looks for the next. */
static bool
start_message(struct smtp_client *c)
{
	struct smtp_client_msg *m = &c->job->msgs[c->msg_i];
	char line[CLIENT_CMD_MAX];
	struct err err = { 0 };
	size_t k, i;

	(void)str_copy(m->remote, sizeof(m->remote), host_name(c));
	m->remote_dsn = c->ext_dsn;
	if (m->smtputf8 && !c->ext_smtputf8) {
		msg_fail_all(m, SMTP_RCPT_PERM, 0,
		    "5.6.7 the remote server does not support SMTPUTF8");
		return false;
	}
	if (c->ext_size && c->size_max > 0 && m->size > c->size_max) {
		char why[128];

		(void)str_fmt(why, sizeof(why),
		    "5.3.4 message too big for the remote server (SIZE %llu)",
		    c->size_max);
		msg_fail_all(m, SMTP_RCPT_PERM, 0, why);
		return false;
	}
	if (!addr_ok(m->sender) || !mail_line(c, m, line)) {
		msg_fail_all(m, SMTP_RCPT_PERM, 0, "5.1.7 invalid sender");
		return false;
	}
	for (k = 0; k < m->n_rcpts; k++) {
		char tmp[CLIENT_CMD_MAX];

		if (m->rcpts[k].status == SMTP_RCPT_PENDING &&
		    (!addr_ok(m->rcpts[k].addr) ||
		        !rcpt_line(c, &m->rcpts[k], tmp)))
			set_rcpt(&m->rcpts[k], SMTP_RCPT_PERM, 0,
			    "5.1.3 invalid recipient address");
	}
	txn_clear(c);
	if (store_reader_open_message(c->st, m->message_id, &c->rd, &err) !=
	    0) {
		log_warn(&c->log, "event=read-failed message=%lld error=\"%s\"",
		    (long long)m->message_id, err.msg);
		msg_fail_all(m, SMTP_RCPT_TEMP, 0,
		    "4.3.0 the queued message cannot be read");
		return false;
	}
	c->sent = xcalloc(m->n_rcpts + 1, sizeof(*c->sent));
	c->accepted = xcalloc(m->n_rcpts + 1, sizeof(*c->accepted));
	for (k = 0; k < m->n_rcpts; k++)
		if (m->rcpts[k].status == SMTP_RCPT_PENDING)
			c->sent[c->n_sent++] = k;
	if (c->n_sent == 0) {
		return false;
	}
	c->txn_used = true;
	c->pipelined = c->ext_pipelining;
	c->state = CS_MAIL;
	c->batching = c->pipelined;
	send_line(c, line);
	if (c->pipelined) {
		/* RFC 2920 §3.1: MAIL, the RCPTs and DATA in one go. */
		for (i = 0; i < c->n_sent; i++)
			send_rcpt(c, i);
		send_line(c, "DATA");
		c->batching = false;
		flush_cmds(c);
	}
	return true;
}

static void
next_message(struct smtp_client *c)
{
	struct smtp_client_msg *m;
	size_t k;

	/* A loop, not recursion: a long job of messages refused before
	 * MAIL (SMTPUTF8, SIZE) must not grow the stack. */
	for (;;) {
		txn_clear(c);
		for (; c->msg_i < c->job->n_msgs; c->msg_i++) {
			m = &c->job->msgs[c->msg_i];
			for (k = 0; k < m->n_rcpts; k++)
				if (m->rcpts[k].status == SMTP_RCPT_PENDING)
					break;
			if (k < m->n_rcpts)
				break;
		}
		if (c->msg_i >= c->job->n_msgs) {
			c->batching = false; /* a pipelined RSET goes too */
			send_line(c, "QUIT");
			c->last_code = 0;
			finish(
			    c); /* closes gracefully: QUIT is flushed first */
			return;
		}
		if (c->txn_used && !c->ext_pipelining) {
			c->state = CS_RSET;
			send_line(c, "RSET");
			return;
		}
		if (c->txn_used) {
			/* RFC 2920 §3.1: RSET may lead the next MAIL group;
			 * its reply comes first (rset_pending). */
			c->txn_used = false;
			c->batching = true;
			c->rset_pending = true;
			send_line(c, "RSET");
		}
		if (start_message(c))
			return;
	}
}

/* --- the data stream ---------------------------------------------- */

/* Dot-stuffs and CRLF-normalises n bytes into out (room 2n + 8). */
static size_t
stuff(struct smtp_client *c, const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char ch = in[i];

		if (ch == '\r') {
			if (c->pending_cr) { /* bare CR */
				out[o++] = '\r';
				out[o++] = '\n';
				c->line_start = true;
			}
			c->pending_cr = true;
			continue;
		}
		if (ch == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			c->pending_cr = false;
			c->line_start = true;
			continue;
		}
		if (c->pending_cr) { /* bare CR */
			out[o++] = '\r';
			out[o++] = '\n';
			c->pending_cr = false;
			c->line_start = true;
		}
		if (c->line_start && ch == '.')
			out[o++] = '.'; /* RFC 5321 §4.5.2 */
		out[o++] = ch;
		c->line_start = false;
	}
	return o;
}

/* Our own Return-Path: line (and any folded continuation) is not sent
 * (RFC 5321 §4.4: the final delivery adds it). Returns the output. */
static size_t
filter(struct smtp_client *c, const char *in, size_t n, char *out)
{
	size_t i = 0, o = 0, take;

	while (i < n) {
		switch (c->xs) {
		case XS_START:
			take = RETURN_PATH_LEN - c->head_len;
			if (take > n - i)
				take = n - i;
			memcpy(c->head + c->head_len, in + i, take);
			c->head_len += take;
			i += take;
			if (slice_eq_ci(slice_make(RETURN_PATH, c->head_len),
			        slice_make(c->head, c->head_len))) {
				if (c->head_len == RETURN_PATH_LEN)
					c->xs = XS_SKIP;
				break; /* else a prefix so far: wait */
			}
			c->xs = XS_BODY;
			o += stuff(c, c->head, c->head_len, out + o);
			break;
		case XS_SKIP: {
			const char *lf = memchr(in + i, '\n', n - i);

			if (lf == NULL) {
				i = n;
				break;
			}
			i = (size_t)(lf - in) + 1;
			c->xs = XS_AFTER;
			break;
		}
		case XS_AFTER:
			if (in[i] == ' ' || in[i] == '\t') {
				c->xs = XS_SKIP;
				break;
			}
			c->xs = XS_BODY;
			break;
		case XS_BODY:
			o += stuff(c, in + i, n - i, out + o);
			i = n;
			break;
		}
	}
	return o;
}

/* The end of the stored bytes: the last line ends, then ".". */
static void
end_data(struct smtp_client *c)
{
	char out[2 * RETURN_PATH_LEN + 8];
	size_t o = 0;

	if (c->xs == XS_START && c->head_len > 0) /* a tiny message */
		o = stuff(c, c->head, c->head_len, out);
	net_conn_write(c->sess->conn, out, o);
	o = 0;
	if (c->pending_cr || !c->line_start) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	net_conn_write(c->sess->conn, out, o + 3);
	store_reader_close(&c->rd);
	c->state = CS_DOT;
	net_conn_set_timeout(c->sess->conn, c->reply_ms);
	arm_deadline(c);
}

static void
pump_data(struct smtp_client *c)
{
	struct err err = { 0 };
	size_t n, o;

	while (c->state == CS_BODY && c->sess != NULL &&
	    net_conn_pending(c->sess->conn) <= NET_CONN_WRITE_LOW) {
		if (store_reader_read(c->rd, c->in, CLIENT_CHUNK, &n, &err) !=
		    0) {
			/* Never send the "." of a message we could not read
			 * whole: dropping the connection makes the server
			 * discard the transaction. */
			struct smtp_client_msg *m = &c->job->msgs[c->msg_i];
			size_t k;

			log_warn(&c->log,
			    "event=read-failed message=%lld error=\"%s\"",
			    (long long)m->message_id, err.msg);
			for (k = 0; k < c->n_sent; k++)
				if (c->accepted[k])
					set_rcpt(&m->rcpts[c->sent[k]],
					    SMTP_RCPT_TEMP, 0,
					    "4.3.0 the queued message cannot "
					    "be read");
			host_fail(c, 0, false,
			    "local read error during data (message %lld)",
			    (long long)m->message_id);
			return;
		}
		if (n == 0) {
			end_data(c);
			return;
		}
		o = filter(c, c->in, n, c->out);
		net_conn_write(c->sess->conn, c->out, o);
	}
	/* Waiting for on_drain: the idle timer must not count the time the
	 * peer takes to read our data as silence. */
	if (c->sess != NULL) {
		net_conn_set_timeout(c->sess->conn, c->reply_ms);
		arm_deadline(c);
	}
}

static void
start_data(struct smtp_client *c)
{
	c->state = CS_BODY;
	c->xs = XS_START;
	c->head_len = 0;
	c->line_start = true;
	c->pending_cr = false;
	pump_data(c);
}

/* --- replies ------------------------------------------------------ */

static enum smtp_rcpt_status
status_of(int code)
{
	/* Only 2xx is success; a 3xx where none belongs (to MAIL, RCPT or
	 * the data) is not a delivery: TEMP. */
	return code >= 200 && code < 300 ? SMTP_RCPT_OK
	    : code < 500                 ? SMTP_RCPT_TEMP
	                                 : SMTP_RCPT_PERM;
}

static void
send_ehlo(struct smtp_client *c)
{
	char line[300];

	(void)str_fmt(line, sizeof(line), "EHLO %s", c->helo);
	c->state = CS_EHLO;
	send_line(c, line);
}

static void
after_hello(struct smtp_client *c)
{
	c->msg_i = 0;
	c->txn_used = false;
	next_message(c);
}

static void
on_tls_done(void *ctx, int status)
{
	struct sess *s = ctx;
	struct smtp_client *c = s->c;

	if (c == NULL)
		return;
	if (status != 0) {
		host_fail(c, 0, false, "TLS handshake with %s failed",
		    host_name(c));
		return;
	}
	c->tls_on = true;
	log_info(&c->log, "event=starttls host=%s tls=%s", host_name(c),
	    net_conn_tls_info(s->conn));
	send_ehlo(c); /* RFC 3207 §4.2: forget what was said before */
}

static void
rcpt_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	struct smtp_client_msg *m = &c->job->msgs[c->msg_i];
	size_t i = c->rcpt_i++;

	if (c->mail_failed)
		return; /* pipelined behind a failed MAIL: settled already */
	if (r->code >= 200 && r->code < 300) {
		c->accepted[i] = true;
		c->n_accepted++;
	} else if (r->code == 452) {
		/* RFC 5321 §4.5.3.1.10: too many recipients for this
		 * transaction; another one on the same session takes them
		 * once this one has delivered (settle_452). */
		struct smtp_client_rcpt *rc = &m->rcpts[c->sent[i]];

		rc->code = r->code;
		(void)str_copy(rc->reply, sizeof(rc->reply), r->text);
		c->n_452++;
	} else {
		set_rcpt(&m->rcpts[c->sent[i]], status_of(r->code), r->code,
		    r->text);
	}
}

/* The transaction is over: recipients that got 452 stay PENDING for a
 * next transaction if this one delivered (progress), else they are
 * TEMP now. Returns whether another transaction is due. */
static bool
settle_452(struct smtp_client *c, bool progress)
{
	struct smtp_client_msg *m = &c->job->msgs[c->msg_i];
	size_t k;

	if (c->n_452 == 0 || c->mail_failed)
		return false;
	if (progress)
		return true;
	for (k = 0; k < c->n_sent; k++) {
		struct smtp_client_rcpt *r = &m->rcpts[c->sent[k]];

		if (!c->accepted[k] && r->status == SMTP_RCPT_PENDING &&
		    r->code == 452)
			r->status = SMTP_RCPT_TEMP;
	}
	return false;
}

/* After the last RCPT reply without pipelining. */
static void
rcpts_done(struct smtp_client *c)
{
	if (c->n_accepted == 0) {
		(void)settle_452(c, false);
		next_message(c);
		return;
	}
	c->state = CS_DATA;
	send_line(c, "DATA");
}

static void
dot_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	struct smtp_client_msg *m = &c->job->msgs[c->msg_i];
	enum smtp_rcpt_status st = status_of(r->code);
	size_t k;
	char safe[128];

	for (k = 0; k < c->n_sent; k++)
		if (c->accepted[k])
			set_rcpt(&m->rcpts[c->sent[k]], st, r->code, r->text);
	log_info(&c->log,
	    "event=%s message=%lld host=%s rcpts=%zu reply=\"%s\"",
	    st == SMTP_RCPT_OK ? "sent" : "refused", (long long)m->message_id,
	    host_name(c), c->n_accepted,
	    log_safe(safe, sizeof(safe), slice_cstr(r->text)));
	if (!settle_452(c, st == SMTP_RCPT_OK))
		c->msg_i++; /* else RSET and the same message again */
	next_message(c);
}

/* One complete reply from the server. */
static void
handle_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	struct smtp_client_msg *m =
	    &c->job->msgs[c->msg_i < c->job->n_msgs ? c->msg_i : 0];
	bool ok = r->code >= 200 && r->code < 300;

	/* RFC 5321 §3.8: 421 at any point is the server going away. */
	if (r->code == 421) {
		host_fail(c, r->code, false, "%s", r->text);
		return;
	}
	if (c->rset_pending) {
		c->rset_pending = false;
		if (r->code != 250)
			host_fail(c, r->code, false, "RSET: %s", r->text);
		return;
	}
	switch (c->state) {
	case CS_GREETING:
		if (r->code != 220) {
			host_fail(c, r->code, r->code >= 500, "greeting: %s",
			    r->text);
			return;
		}
		send_ehlo(c);
		return;
	case CS_EHLO:
		if (r->code >= 500 && !c->tls_on) {
			c->state = CS_HELO;
			{
				char line[300];

				(void)str_fmt(line, sizeof(line), "HELO %s",
				    c->helo);
				send_line(c, line);
			}
			return;
		}
		if (r->code != 250) {
			host_fail(c, r->code, r->code >= 500, "EHLO: %s",
			    r->text);
			return;
		}
		c->ext_pipelining = r->ext_pipelining;
		c->ext_size = r->ext_size;
		c->size_max = r->ext_size_max;
		c->ext_8bitmime = r->ext_8bitmime;
		c->ext_smtputf8 = r->ext_smtputf8;
		c->ext_dsn = r->ext_dsn;
		c->ext_starttls = r->ext_starttls;
		if (c->ext_starttls && c->tls != NULL && !c->tls_on) {
			c->state = CS_STARTTLS;
			send_line(c, "STARTTLS");
			return;
		}
		after_hello(c);
		return;
	case CS_HELO:
		if (r->code != 250) {
			host_fail(c, r->code, r->code >= 500, "HELO: %s",
			    r->text);
			return;
		}
		c->helo_only = true;
		c->ext_pipelining = c->ext_size = c->ext_8bitmime = false;
		c->ext_smtputf8 = c->ext_dsn = c->ext_starttls = false;
		after_hello(c);
		return;
	case CS_STARTTLS:
		if (r->code != 220) {
			/* Opportunistic: a server that offers STARTTLS and
			 * then refuses it still gets the mail in plaintext
			 * on this connection (RFC 7435 §3). */
			log_info(&c->log, "event=starttls-refused host=%s",
			    host_name(c));
			after_hello(c);
			return;
		}
		c->state = CS_TLS;
		if (net_conn_starttls_client(c->sess->conn, c->tls,
		        c->job->hosts[c->host_i].name, on_tls_done) != 0)
			host_fail(c, 0, false, "TLS start failed");
		return;
	case CS_MAIL:
		if (!ok) {
			msg_fail_all(m, status_of(r->code), r->code, r->text);
			c->mail_failed = true;
			if (!c->pipelined) {
				next_message(c);
				return;
			}
		}
		c->state = CS_RCPT;
		c->rcpt_i = 0;
		if (!c->pipelined)
			send_rcpt(c, 0);
		return;
	case CS_RCPT:
		rcpt_reply(c, r);
		if (c->rcpt_i < c->n_sent) {
			if (!c->pipelined)
				send_rcpt(c, c->rcpt_i);
			return;
		}
		if (c->pipelined)
			c->state = CS_DATA;
		else
			rcpts_done(c);
		return;
	case CS_DATA:
		if (r->code == 354) {
			if (c->mail_failed || c->n_accepted == 0) {
				/* RFC 2920 §3.1 wants 503/554 here: a server
				 * that takes data for no one is broken. */
				host_fail(c, r->code, false,
				    "354 to DATA without recipients");
				return;
			}
			start_data(c);
			return;
		}
		if (!c->mail_failed) {
			size_t k;

			for (k = 0; k < c->n_sent; k++)
				if (c->accepted[k])
					set_rcpt(&m->rcpts[c->sent[k]],
					    r->code < 500 ? SMTP_RCPT_TEMP
					                  : SMTP_RCPT_PERM,
					    r->code, r->text);
			(void)settle_452(c, false);
		}
		c->msg_i++;
		next_message(c);
		return;
	case CS_DOT:
		dot_reply(c, r);
		return;
	case CS_RSET:
		if (r->code != 250) {
			host_fail(c, r->code, false, "RSET: %s", r->text);
			return;
		}
		c->txn_used = false; /* a clean slate */
		next_message(c);
		return;
	case CS_BODY:
		/* A reply in the middle of our data: the server gave up on
		 * the transaction. */
		host_fail(c, r->code, false, "reply during data: %s", r->text);
		return;
	default:
		host_fail(c, r->code, false, "unexpected reply: %s", r->text);
		return;
	}
}

/* --- connection callbacks ----------------------------------------- */

static size_t
on_data(void *ctx, struct slice in)
{
	struct sess *s = ctx;
	struct smtp_client *c = s->c;
	enum smtp_reply_rc rc;
	size_t used, total = 0;

	while (total < in.len) {
		if (c == NULL || c->sess != s || c->state == CS_TLS)
			return in.len; /* abandoned, or TLS takes over */
		rc = smtp_reply_push(&c->reply, slice_skip(in, total), &used);
		total += used;
		if (rc == SMTP_REPLY_MORE)
			break;
		if (rc != SMTP_REPLY_DONE) {
			host_fail(c, 0, false, "malformed reply from %s",
			    host_name(c));
			return in.len;
		}
		handle_reply(c, &c->reply);
		c = s->c;
		if (c != NULL && c->sess == s && c->state != CS_BODY)
			arm_deadline(c); /* the next reply's own time */
	}
	return total;
}

static void
on_deadline(uv_timer_t *t)
{
	struct smtp_client *c = t->data;

	if (c->sess != NULL && !c->done)
		host_fail(c, 0, false, "timeout talking to %s (no reply)",
		    host_name(c));
}

static void
arm_deadline(struct smtp_client *c)
{
	(void)uv_timer_start(&c->reply_timer, on_deadline, c->reply_ms, 0);
}

static void
on_timeout(void *ctx)
{
	struct sess *s = ctx;

	if (s->c != NULL)
		host_fail(s->c, 0, false, "timeout talking to %s",
		    host_name(s->c));
}

static void
on_close(void *ctx, const char *reason)
{
	struct sess *s = ctx;
	struct smtp_client *c = s->c;

	free(s);
	if (c != NULL) {
		c->sess = NULL;
		host_fail(c, 0, false, "connection to %s lost (%s)",
		    host_name(c), reason);
	}
}

static void
on_drain(void *ctx)
{
	struct sess *s = ctx;

	if (s->c != NULL && s->c->state == CS_BODY)
		pump_data(s->c);
}

static const struct net_conn_ops client_ops = {
	.on_data = on_data,
	.on_timeout = on_timeout,
	.on_close = on_close,
	.on_drain = on_drain,
};

static void
on_connected(void *ctx, int status)
{
	struct sess *s = ctx;
	struct smtp_client *c = s->c;

	if (c == NULL) { /* cannot happen: cancelled attempts are silent */
		free(s);
		return;
	}
	if (status != 0) {
		c->sess = NULL;
		free(s);
		host_fail(c, 0, false, "connect to %s [%s]:%u: %s",
		    host_name(c), c->job->hosts[c->host_i].addr,
		    c->job->hosts[c->host_i].port, uv_strerror(status));
		return;
	}
	s->connected = true;
	log_info(&c->log, "event=connected host=%s addr=%s port=%u",
	    host_name(c), c->job->hosts[c->host_i].addr,
	    c->job->hosts[c->host_i].port);
	c->state = CS_GREETING;
	smtp_reply_init(&c->reply);
	net_conn_start(s->conn, &client_ops, s);
	net_conn_set_timeout(s->conn, c->reply_ms);
	arm_deadline(c);
}

/* Connects to host_i, or the next that can be tried; finishes when
 * none is left or nothing is pending. */
static void
try_connect(struct smtp_client *c)
{
	const struct dns_host *h;
	struct sess *s;
	int r;

	for (; c->host_i < c->job->n_hosts; c->host_i++) {
		if (!has_pending(c))
			break;
		h = &c->job->hosts[c->host_i];
		s = xcalloc(1, sizeof(*s));
		s->c = c;
		c->tls_on = c->helo_only = false;
		c->state = CS_CONNECT;
		r = net_conn_connect(c->loop, h->addr, h->port, c->connect_ms,
		    on_connected, s, &s->conn);
		if (r == 0) {
			c->sess = s;
			return;
		}
		free(s);
		c->last_code = 0;
		c->all_perm = false;
		(void)str_fmt(c->last_reason, sizeof(c->last_reason),
		    "connect to %s [%s]:%u: %s", h->name, h->addr, h->port,
		    uv_strerror(r));
		log_info(&c->log, "event=host-failed host=%s reason=\"%s\"",
		    h->name, c->last_reason);
	}
	finish(c);
}

int
smtp_client_start(uv_loop_t *loop, struct store *st,
    const struct smtp_client_opts *opts, struct smtp_client_job *job,
    smtp_client_cb cb, void *ctx, struct smtp_client **out)
{
	struct smtp_client *c;

	if (job == NULL || job->n_hosts == 0 || job->n_msgs == 0 ||
	    cb == NULL || opts == NULL)
		return ERR_INPUT;
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->st = st;
	c->job = job;
	c->cb = cb;
	c->ctx = ctx;
	(void)str_copy(c->helo, sizeof(c->helo),
	    opts->helo != NULL && opts->helo[0] != '\0' ? opts->helo
	                                                : "localhost");
	c->tls = opts->tls;
	c->connect_ms = opts->connect_timeout_ms != 0
	    ? opts->connect_timeout_ms
	    : CLIENT_CONNECT_MS_DEFAULT;
	c->reply_ms = opts->reply_timeout_ms != 0 ? opts->reply_timeout_ms
	                                          : CLIENT_REPLY_MS_DEFAULT;
	c->log.proto = "smtp-out";
	randombytes_buf(&c->log.session, sizeof(c->log.session));
	c->all_perm = true;
	c->in = xmalloc(CLIENT_CHUNK);
	buf_init(&c->wbuf, CLIENT_WBUF_MAX);
	c->out = xmalloc(CLIENT_OUT_MAX);
	(void)uv_timer_init(loop, &c->done_timer);
	c->done_timer.data = c;
	(void)uv_timer_init(loop, &c->reply_timer);
	c->reply_timer.data = c;
	c->open_timers = 2;
	log_info(&c->log, "event=job domain=%s messages=%zu hosts=%zu",
	    job->domain != NULL ? job->domain : "", job->n_msgs, job->n_hosts);
	if (out != NULL)
		*out = c;
	try_connect(c); /* its failures finish through the timer */
	return 0;
}

void
smtp_client_abort(struct smtp_client *c)
{
	if (c == NULL || c->done)
		return;
	c->aborted = true;
	c->last_code = 0;
	(void)str_copy(c->last_reason, sizeof(c->last_reason), "aborted");
	finish(c);
}
