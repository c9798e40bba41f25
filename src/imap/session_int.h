/* SPDX-License-Identifier: MIT */
/* Session-private parts of the IMAP layer, shared by server.c,
 * session.c, resp.c, view.c, cmd_auth.c and cmd_mailbox.c only. Command
 * files of other owners see imap_int.h alone. */
#ifndef DESPATCH_IMAP_SESSION_INT_H
#define DESPATCH_IMAP_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>
#include <zlib.h>

#include "auth/password.h"
#include "auth/throttle.h"
#include "imap/imap_int.h"
#include "imap/limits.h"
#include "lib/config.h"
#include "net/conn.h"
#include "net/listen.h"
#include "net/peer.h"

/* SELECT copies a mailbox's view from a cache of recently loaded views
 * when the mailbox has not changed since (same UIDVALIDITY, UIDNEXT and
 * HIGHESTMODSEQ: every change takes a new modseq), instead of reading
 * every entry from the store again. Bounded in entries and bytes. */
#define IMAP_VCACHE_MAX       32
#define IMAP_VCACHE_BYTES_MAX (64u * 1024u * 1024u)

/* \Recent high-water mark of one mailbox (server memory only). */
struct imap_recent {
	int64_t mailbox_id;
	uint32_t uidvalidity; /* a re-created mailbox may reuse the id */
	uint32_t uid;
};

struct imap_listen_ctx {
	struct imap_server *srv;
	bool implicit_tls;
};

struct imap_server {
	uv_loop_t *loop;
	struct config cfg;
	struct store *st;
	struct tls_ctx *tls; /* our reference, may be NULL */
	struct net_listener *listeners[CONFIG_LISTENERS_MAX];
	struct imap_listen_ctx lctx[CONFIG_LISTENERS_MAX];
	size_t listeners_open;
	struct imap_session_priv *sessions; /* doubly linked */
	size_t n_sessions;
	bool shutting_down, done_called;
	uv_timer_t grace;
	bool grace_open;
	void (*done)(void *ctx);
	void *done_ctx;
	struct imap_recent *recent; /* xmalloc */
	size_t n_recent, cap_recent;
	struct auth_throttle *throttle;
	/* Views loaded by SELECT, kept to be copied by the next SELECT of
	 * the same mailbox in the same state (view.c). */
	struct imap_view *vcache[IMAP_VCACHE_MAX];
	uint64_t vcache_tick[IMAP_VCACHE_MAX];
	uint64_t vcache_clock;
	size_t vcache_bytes;
};

struct imap_command_entry;

enum imap_input_mode {
	IMAP_IN_CMD,    /* the parser */
	IMAP_IN_STREAM, /* APPEND message literal bytes */
	IMAP_IN_IDLE,   /* waiting for DONE */
	IMAP_IN_SASL,   /* waiting for an AUTHENTICATE response line */
};

#define IMAP_ZIN_BUF (16 * 1024)

struct imap_session_priv {
	struct imap_session *s;
	struct imap_session_priv *prev, *next;
	struct net_conn *conn; /* NULL once gone */
	char peer[64];
	unsigned char peer_key[NET_PEER_KEY_MAX]; /* net_peer_key */
	size_t peer_key_len;
	bool loopback;
	struct tls_ctx *tls; /* reference, for STARTTLS; may be NULL */
	bool tls_on;
	bool closing;
	bool starttls_now;     /* switch after this command's reply */
	bool input_changed;    /* stop the input loop (COMPRESS, STARTTLS) */
	bool paused;           /* input paused while a command runs */
	bool in_literal_begin; /* imap_append_literal_begin running */
	bool finished_early;   /* the command was answered mid-parse */
	bool condstore_announce;
	bool changes_pending; /* a watcher fired since the last sync */
	bool shutdown_pending;
	bool view_gone; /* the selected mailbox was deleted: BYE sent */

	struct imap_parser *parser;
	enum imap_input_mode mode;
	uint64_t stream_left; /* IMAP_IN_STREAM */
	/* Slow senders (IMAP_COMMAND_RATE_MIN): since the first byte of
	 * the command (or line) being read (uv_now), and the bytes since. */
	bool cmd_clock;
	uint64_t cmd_start, cmd_bytes, cmd_time_ms;
	unsigned bad, bad_max;
	struct slice tag; /* of the running command (tagbuf) */
	char tagbuf[512];
	const struct imap_command_entry *entry; /* running command's */

	/* output */
	struct buf out;
	void (*drain_resume)(struct imap_session *s);

	/* COMPRESS=DEFLATE (RFC 4978) */
	bool compress;
	bool zpending; /* deflated bytes wait for a Z_SYNC_FLUSH */
	z_stream zi, zo;
	char *zin; /* IMAP_ZIN_BUF inflated bytes not yet consumed */
	size_t zin_len;

	/* timers: drain/kick deferral, IDLE poll, auth failure delay */
	uv_timer_t *t_kick, *t_poll, *t_delay;
	/* The autologout counted in plaintext (timeout_ms): net's timer is
	 * reset by every byte read, TLS handshake and partial records
	 * included; this one only by on_data. */
	uv_timer_t *t_idle;
	unsigned timers_open;
	unsigned timeout_ms;

	/* authentication in progress */
	uv_work_t *auth_work; /* non-NULL while on the pool */
	void (*delay_fn)(struct imap_session *s);
	void (*sasl_line)(struct imap_session *s, struct slice line);

	struct store_watch *watch;
	uint32_t *pend_exp; /* expunged UIDs not yet reported (xmalloc) */
	size_t n_pend_exp, cap_pend_exp;
	bool freeing;
};

/* server.c */
void imap_server_session_gone(struct imap_server *srv);
/* Claims \Recent: returns the previous high-water mark of mailbox_id
 * and raises it to uid (UIDs above the returned value are recent for
 * the caller). */
uint32_t imap_server_recent_claim(struct imap_server *srv, int64_t mailbox_id,
    uint32_t uidvalidity, uint32_t uid);
/* The current high-water mark (0: none). */
uint32_t imap_server_recent_peek(struct imap_server *srv, int64_t mailbox_id,
    uint32_t uidvalidity);

/* session.c */
void imap_session_accept(struct imap_server *srv, uv_stream_t *server,
    bool implicit_tls);
void imap_session_shutdown(struct imap_session *s, bool force);
/* Sends everything buffered. */
void imap_flush(struct imap_session *s);
/* "* BYE text", flush, close. */
void imap_bye(struct imap_session *s, const char *text);
/* A BAD reply counted towards the limit (may close the session). */
void imap_count_bad(struct imap_session *s);
void imap_session_set_timeout(struct imap_session *s, unsigned ms);
/* After login: limits, arena, watcher, timeout. */
void imap_session_logged_in(struct imap_session *s);
/* Switches input (IDLE / SASL lines / back to commands). */
void imap_session_set_mode(struct imap_session *s, enum imap_input_mode m);
/* Turns COMPRESS=DEFLATE on (after the tagged OK is flushed). */
int imap_session_compress_start(struct imap_session *s);
void imap_session_starttls(struct imap_session *s);
bool imap_session_is_tls(const struct imap_session *s);
bool imap_session_login_allowed(const struct imap_session *s);
bool imap_session_starttls_offered(const struct imap_session *s);
const char *imap_session_peer(const struct imap_session *s);
/* Starts or stops the 1 s poll while idling. */
void imap_session_poll(struct imap_session *s, bool on);
/* Runs fn after ms on the delay timer (one at a time). */
void imap_session_delay(struct imap_session *s, unsigned ms,
    void (*fn)(struct imap_session *s));

/* resp.c */
/* Appends the CAPABILITY list (without the leading "CAPABILITY"). */
void imap_capabilities(struct imap_session *s, struct buf *out);
/* Raw output into the session's buffer (compression below). */
void imap_out_append(struct imap_session *s, const void *p, size_t n);
/* Appends a quoted string or literal form of str to b (for building
 * lines in a buf). */
void imap_buf_astring(struct buf *b, struct slice str, bool utf8);
/* Encodes a store name for this session's wire form into b. */
void imap_buf_mailbox(const struct imap_session *s, struct buf *b,
    const char *name);
bool imap_session_utf8(const struct imap_session *s);

/* view.c */
/* Frees the server's view cache. */
void imap_view_cache_clear(struct imap_server *srv);
/* Loads the mailbox named `name` into a new view (the store's row in
 * st_out, without counts: store_mailbox_peek). 0, ERR_NOTFOUND,
 * ERR_TEMP. */
int imap_view_open(struct imap_session *s, const char *name, bool readonly,
    struct imap_view **out, struct store_mailbox_status *st_out);
void imap_view_free(struct imap_view **vp);
/* Interns keywords, returns the kwsets index. */
uint32_t imap_view_intern(struct imap_view *v, const char *kw);
/* Parses a store flags string into system flags and keywords. */
void imap_view_parse_flags(struct imap_view *v, const char *flags,
    uint32_t *sys_out, uint32_t *kw_out);
/* Every keyword any message of v carries, space-separated, into out. */
void imap_view_all_keywords(const struct imap_view *v, struct buf *out);
/* Writes "* n FETCH (...)" for m. */
void imap_view_write_fetch(struct imap_session *s, const struct imap_msg *m,
    bool with_uid, bool with_modseq);

/* cmd_auth.c */
imap_cmd_fn cmd_capability, cmd_noop, cmd_logout, cmd_starttls, cmd_login,
    cmd_authenticate, cmd_enable, cmd_id, cmd_idle, cmd_compress;
/* The watcher callback (store_watch_add). */
void imap_session_watch_cb(void *ctx, int64_t user_id, int64_t mailbox_id);
void imap_auth_work_cancel(struct imap_session *s);

/* cmd_mailbox.c */
imap_cmd_fn cmd_select, cmd_create, cmd_delete, cmd_rename, cmd_subscribe,
    cmd_list, cmd_lsub, cmd_namespace, cmd_status, cmd_close, cmd_unselect,
    cmd_check, cmd_getquota, cmd_getquotaroot, cmd_setquota;

#endif
