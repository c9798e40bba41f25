/* SPDX-License-Identifier: MIT */
/* SMTP layer internals shared by server.c, session.c, cmd_table.c and
 * ingest.c. Not for other layers. */
#ifndef DESPATCH_SMTP_SESSION_INT_H
#define DESPATCH_SMTP_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "auth/password.h"
#include "auth/sasl.h"
#include "auth/throttle.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "net/conn.h"
#include "net/listen.h"
#include "net/peer.h"
#include "smtp/data.h"
#include "smtp/limits.h"
#include "smtp/parse.h"
#include "smtp/ratelimit.h"
#include "smtp/smtp.h"
#include "store/store.h"

/* Session states, as bits so that the command table can list where a
 * command is allowed. */
enum smtp_state {
	SMTP_STATE_GREETED = 1 << 0,  /* before HELO/EHLO */
	SMTP_STATE_READY = 1 << 1,    /* greeted, no transaction */
	SMTP_STATE_MAIL = 1 << 2,     /* MAIL accepted, no recipient yet */
	SMTP_STATE_RCPT = 1 << 3,     /* at least one recipient */
	SMTP_STATE_DATA = 1 << 4,     /* reading DATA bytes */
	SMTP_STATE_CHUNKING = 1 << 5, /* between BDAT chunks */
	SMTP_STATE_COMMIT = 1 << 6,   /* waiting for the store's commit */
};

#define SMTP_STATES_ANY 0x7f

enum smtp_input {
	SMTP_IN_LINE,  /* command lines */
	SMTP_IN_SKIP,  /* discarding an over-long line up to its LF */
	SMTP_IN_DATA,  /* DATA bytes until CRLF.CRLF */
	SMTP_IN_CHUNK, /* chunk_left BDAT bytes */
};

/* Why a transaction failed, decided while its bytes keep being
 * swallowed; the reply goes out at the end of data. Negative ERR_* codes
 * (ERR_LIMIT: too big, ERR_TEMP, ERR_FULL) or these. */
#define SMTP_TXN_LOOP     (-100) /* 554 5.4.6 */
#define SMTP_TXN_BARE     (-101) /* 550 5.6.0, smtp_reject_bare_lf */
#define SMTP_TXN_SEQUENCE (-102) /* 503 5.5.1, BDAT out of sequence */

/* What a listener serves. */
enum smtp_kind {
	SMTP_KIND_MX,          /* port 25 */
	SMTP_KIND_SUBMISSION,  /* 587: STARTTLS, then AUTH */
	SMTP_KIND_SUBMISSIONS, /* 465: implicit TLS, then AUTH */
};

/* Where a SASL exchange waits for the client's next line. */
enum smtp_sasl {
	SMTP_SASL_NONE,
	SMTP_SASL_PLAIN,      /* after "334 ": the PLAIN response */
	SMTP_SASL_LOGIN_USER, /* after "334 VXNlcm5hbWU6" */
	SMTP_SASL_LOGIN_PASS, /* after "334 UGFzc3dvcmQ6" */
};

struct smtp_session;
struct smtp_queue;

struct smtp_listen_ctx {
	struct smtp_server *srv;
	enum smtp_kind kind;
};

/* A remote recipient of the transaction (submission), or a local one
 * that asked NOTIFY=SUCCESS; strings in the transaction arena. */
struct smtp_rcpt_rec {
	const char *rcpt;
	const char *orcpt; /* NULL: none */
	unsigned notify;
};

struct smtp_server {
	uv_loop_t *loop;
	struct config cfg; /* clamped copy; sessions snapshot it */
	struct store *st;
	struct tls_ctx *tls; /* our reference, may be NULL */
	struct net_listener *listeners[CONFIG_LISTENERS_MAX];
	struct smtp_listen_ctx lctx[CONFIG_LISTENERS_MAX];
	size_t listeners_open;
	struct smtp_queue *queue;         /* may be NULL */
	struct auth_throttle *throttle;   /* failed AUTH, per address/user */
	struct smtp_ratelimit *ratelimit; /* submission per-user limits */
	struct smtp_session *sessions;    /* doubly linked */
	size_t n_sessions;
	bool shutting_down, done_called;
	uv_timer_t grace;
	bool grace_open;
	void (*done)(void *ctx);
	void *done_ctx;
};

struct smtp_session {
	struct smtp_session *prev, *next;
	struct smtp_server *srv;
	struct net_conn *conn; /* NULL once the connection is gone */
	struct log_ctx log;
	char peer[64];
	unsigned char peer_key[NET_PEER_KEY_MAX]; /* net_peer_key */
	size_t peer_key_len;

	/* Snapshot of the server config at connect (reload: new sessions). */
	char hostname[256];
	uint64_t max_size;
	unsigned max_rcpt, max_errors;
	bool reject_bare_lf;
	uint64_t data_time_ms; /* base time of a message's data */
	struct tls_ctx *tls; /* reference, for STARTTLS; may be NULL */

	enum smtp_kind kind;
	bool submission; /* kind != SMTP_KIND_MX */
	/* AUTH (submission): the user once authenticated. */
	int64_t user_id; /* 0: not authenticated */
	char user[AUTH_SASL_ID_MAX + 1];
	enum smtp_sasl sasl;
	char sasl_user[AUTH_SASL_ID_MAX + 1]; /* LOGIN's user name */
	uv_work_t *auth_work; /* password check on the pool; session stays */
	uv_timer_t *t_delay;  /* answers a failed AUTH later; own close */
	/* The idle timeout counted in plaintext: net's timer is reset by
	 * every byte read, TLS handshake and partial records included, so
	 * a client trickling ciphertext would never time out. Restarted by
	 * on_data; own close. */
	uv_timer_t *t_idle;
	unsigned idle_ms;
	bool auth_busy;       /* no input is read until AUTH is answered */

	enum smtp_state state;
	enum smtp_input input;
	unsigned errors;
	unsigned messages;
	bool esmtp, tls_on, closing, shutdown_pending, starttls_now;
	char helo[256];
	struct buf reply; /* replies held back while pipelining */

	/* The transaction; its allocations live in txn until reset. */
	struct arena *txn;
	char sender[SMTP_MAILBOX_MAX + 1];
	bool smtputf8;
	int64_t *users;
	size_t n_users, cap_users;
	size_t n_rcpt;
	struct store_msg *msg;
	struct smtp_data scan;
	uint64_t body_size;
	int txn_error;
	bool bdat_used, chunk_last;
	uint64_t chunk_left;
	char msgid[25];
	/* Slow senders (SMTP_DATA_RATE_MIN): when the message's data began
	 * (uv_now) and how many bytes have come since. */
	bool data_clock;
	uint64_t data_start, data_bytes;
	/* The same for a partial command line: since when it waits. */
	bool line_clock;
	uint64_t line_start;
	/* DSN (RFC 3461) and routing. */
	enum smtp_ret ret;
	char envid[SMTP_ENVID_MAX + 1]; /* "" none */
	bool body_8bit;
	struct smtp_rcpt_rec *remote; /* foreign recipients (queued) */
	size_t n_remote, cap_remote;
	struct smtp_rcpt_rec *notify_ok; /* local, NOTIFY=SUCCESS */
	size_t n_notify_ok, cap_notify_ok;
	/* Submission: the header block is held until its end to add
	 * Message-ID and Date when missing (SMTP_SUBMIT_HOLD_MAX). */
	struct buf hold;
	bool holding;
	struct store_delivery *deliveries; /* held until the commit cb */
	struct store_outbound *outbound;   /* held until the commit cb */
	char *out; /* SMTP_DATA_OUT_MAX(NET_CONN_INBUF) scanner output */
};

/* session.c */
void smtp_session_accept(struct smtp_server *srv, uv_stream_t *server,
    enum smtp_kind kind);
/* Stops reading input (AUTH in progress) or starts again. */
void smtp_session_hold_input(struct smtp_session *s, bool hold);
/* Appends one reply line (CRLF added); flushed at the next sync point. */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A 5xx for a bad command: counted, and past max_errors 421 + close. */
void smtp_reply_error(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void smtp_flush(struct smtp_session *s);
/* Sends 421 with the given text, flushes and closes. */
void smtp_close_421(struct smtp_session *s, const char *code_text);
void smtp_txn_reset(struct smtp_session *s);
/* Answers a shutdown: 421 now if idle, later if a transaction runs. */
void smtp_session_shutdown(struct smtp_session *s, bool force);
/* The session may be freed (connection gone, nothing pending). */
void smtp_session_maybe_free(struct smtp_session *s);
/* "ip", or "IPv6:ip", for address literals in the Received: field. */
const char *smtp_session_peer(const struct smtp_session *s);

/* cmd_table.c */
void smtp_dispatch(struct smtp_session *s, struct slice line);

/* ingest.c */
/* Starts a message (store_msg_new + trace headers): 0, or the ERR_*
 * code to answer with (nothing replied yet). */
int smtp_ingest_begin(struct smtp_session *s, bool dot_mode);
/* Feeds DATA bytes; returns consumed; switches input back to lines and
 * finishes the message at the end of data. */
size_t smtp_ingest_data(struct smtp_session *s, struct slice in);
/* Feeds BDAT chunk bytes (at most chunk_left); at the chunk's end calls
 * smtp_ingest_chunk_end. */
size_t smtp_ingest_chunk(struct smtp_session *s, struct slice in);
/* A chunk is complete: replies, and for LAST finishes the message. */
void smtp_ingest_chunk_end(struct smtp_session *s);
/* The reply text for a failed transaction's txn_error. */
const char *smtp_txn_error_text(int code);

/* auth.c */
/* AUTH mechanism [initial-response] (RFC 4954). */
void smtp_cmd_auth(struct smtp_session *s, struct slice args);
/* A line of a SASL exchange (s->sasl != SMTP_SASL_NONE). */
void smtp_auth_line(struct smtp_session *s, struct slice line);

/* server.c */
void smtp_server_session_gone(struct smtp_server *srv);

#endif
