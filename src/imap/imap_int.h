/* SPDX-License-Identifier: MIT */
/* IMAP layer internals: the session as command handlers see it, the
 * selected-mailbox view, the response writers and the command life
 * cycle. Shared by session.c (and the files it owns) and the command
 * files cmd_*.c. Not for other layers. */
#ifndef DESPATCH_IMAP_IMAP_INT_H
#define DESPATCH_IMAP_IMAP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap.h"
#include "imap/parse.h"
#include "imap/seqset.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/slice.h"
#include "store/store.h"

/* Session states as bits, for the command table. */
enum imap_state {
	IMAP_STATE_NOAUTH = 1 << 0,
	IMAP_STATE_AUTH = 1 << 1,
	IMAP_STATE_SELECTED = 1 << 2,
	IMAP_STATE_LOGOUT = 1 << 3,
};
#define IMAP_STATES_ANY (IMAP_STATE_NOAUTH | IMAP_STATE_AUTH | \
	IMAP_STATE_SELECTED)

/* What the client enabled (ENABLE, RFC 5161) or switched on by use
 * (CONDSTORE by a MODSEQ fetch or CHANGEDSINCE/UNCHANGEDSINCE). */
#define IMAP_ENABLED_REV2      (1u << 0) /* IMAP4rev2 grammar */
#define IMAP_ENABLED_CONDSTORE (1u << 1)
#define IMAP_ENABLED_QRESYNC   (1u << 2) /* implies CONDSTORE */
#define IMAP_ENABLED_UTF8      (1u << 3) /* UTF8=ACCEPT */

/* System flags of a message in the view. */
#define IMAP_F_SEEN	(1u << 0)
#define IMAP_F_ANSWERED (1u << 1)
#define IMAP_F_FLAGGED	(1u << 2)
#define IMAP_F_DELETED	(1u << 3)
#define IMAP_F_DRAFT	(1u << 4)
#define IMAP_F_RECENT	(1u << 5) /* rev1 sessions only, never stored */

/* One message of the selected mailbox; its sequence number is its index
 * in view->msgs plus one. */
struct imap_msg {
	uint32_t uid;
	uint32_t sysflags; /* IMAP_F_* */
	uint32_t kw;	   /* index into view->kwsets: this message's
			    * keywords as one interned string ("" = 0) */
	uint64_t modseq;
	int64_t message_id; /* store row, for store_reader_open_message */
	uint64_t size;
	int64_t internaldate;
};

/* The selected mailbox as this session knows it. Changes by others are
 * folded in only by imap_view_sync, so that sequence numbers move only
 * when the client is told. */
struct imap_view {
	int64_t mailbox_id;
	char *name; /* UTF-8, xmalloc */
	bool readonly; /* EXAMINE */
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq; /* as far as this view has synced */
	struct imap_msg *msgs;	/* xmalloc, ascending UID */
	size_t n, cap;
	char **kwsets; /* interned keyword strings, [0] = "" */
	size_t n_kwsets;
};

struct imap_server;

struct imap_session {
	struct imap_server *srv;
	struct store *st;
	struct log_ctx log;
	enum imap_state state;
	unsigned enabled; /* IMAP_ENABLED_* */

	int64_t user_id;     /* once authenticated */
	char user[320 + 1];  /* the authenticated address */

	struct arena *arena;	 /* session lifetime (budget per STYLE) */
	struct arena *cmd_arena; /* reset after each command */
	const struct imap_command *cmd; /* the command being run, or NULL */

	struct imap_view *view; /* NULL unless SELECTED */

	/* SEARCHRES (RFC 5182): UIDs saved by SEARCH ... SAVE; "$". */
	uint32_t *searchres; /* xmalloc */
	size_t n_searchres;

	/* Snapshot of the config at connect. */
	uint64_t max_message_size; /* APPENDLIMIT */
	uint64_t quota_bytes, quota_messages; /* 0: unlimited */

	void *append; /* cmd_append.c's state of a running APPEND */

	/* session.c's own state follows (connection, parser, timers, ...)
	 * and is not to be touched by command files. */
	struct imap_session_priv *priv;
};

/* --- command life cycle (session.c) ----------------------------------
 * A handler gets the parsed command (valid until finish) and must call
 * imap_cmd_finish exactly once: before it returns, or later from a
 * store callback or a resume. Until then no other command of the session
 * runs (input waits). The session stays allocated until finish even if
 * the connection is gone: imap_session_gone() tells handlers to stop
 * working and finish at once (writes are then dropped). */
typedef void imap_cmd_fn(struct imap_session *s,
    const struct imap_command *cmd);

/* flags of a command table entry */
#define IMAP_CMD_F_UID	       (1u << 0) /* allowed after "UID" */
#define IMAP_CMD_F_NO_EXPUNGE  (1u << 1) /* no EXPUNGE may be sent while
					  * it ends (FETCH, STORE, SEARCH
					  * without UID, RFC 9051 §7.5.1) */
#define IMAP_CMD_F_STREAM_LITERAL (1u << 2) /* APPEND: message literals
					     * go to imap_append_literal_* */

/* Ends the running command: first folds pending mailbox changes into
 * the view and reports them (imap_view_sync, honouring
 * IMAP_CMD_F_NO_EXPUNGE), then writes "<tag> <status> <text>", resets
 * the command arena and resumes input. status is "OK", "NO" or "BAD";
 * text may start with a response code "[...] ". */
void imap_cmd_finish(struct imap_session *s, const char *status,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* For streaming output: resume(s) runs once the output queue has
 * drained below the low-water mark (at once if it already has). */
void imap_cmd_wait_drain(struct imap_session *s,
    void (*resume)(struct imap_session *s));
/* true once the connection is closed or closing. */
bool imap_session_gone(const struct imap_session *s);
/* Turns CONDSTORE on (RFC 7162 §3.1: by a CONDSTORE-aware command);
 * the next sync or tagged reply carries HIGHESTMODSEQ where needed. */
void imap_condstore_enable(struct imap_session *s);

/* --- responses (resp.c) ----------------------------------------------
 * Every byte to the client goes through these (COMPRESS=DEFLATE and TLS
 * sit below). None fails: after the connection is gone they drop. */
void imap_printf(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void imap_write(struct imap_session *s, const void *p, size_t n);
/* astring: atom if the bytes allow, else quoted, else a literal. */
void imap_write_astring(struct imap_session *s, struct slice str);
/* nstring: NIL when str.p == NULL, else quoted or literal. */
void imap_write_nstring(struct imap_session *s, struct slice str);
/* A mailbox name (UTF-8 in the store): modified UTF-7 unless the
 * session enabled IMAP4rev2 or UTF8=ACCEPT, quoted as needed. */
void imap_write_mailbox(struct imap_session *s, const char *name);
/* "{n}\r\n" or "~{n}\r\n" (binary), to be followed by exactly n bytes. */
void imap_write_literal_header(struct imap_session *s, uint64_t n,
    bool binary);
/* Bytes waiting to be sent. */
size_t imap_out_pending(const struct imap_session *s);
/* A mailbox name from a command argument, decoded to UTF-8 in the
 * command arena (modified UTF-7 for rev1; "INBOX" any case → "INBOX").
 * NULL (and the command should answer BAD) when invalid. */
const char *imap_arg_mailbox(struct imap_session *s,
    const struct imap_arg *a);

/* --- the selected mailbox (view.c) ----------------------------------- */

/* Sequence number of uid (1-based), 0 if not in the view. */
uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid);
/* Resolves a sequence set argument (seq numbers, or UIDs when uid is
 * true; "$" takes SEARCHRES) into ascending 0-based indices of
 * view->msgs, in the command arena. false when the set is invalid (a
 * sequence number past the end is invalid, RFC 9051 §6.4.4; UIDs past
 * the end are simply not matched). */
bool imap_view_resolve(struct imap_session *s, struct slice set, bool uid,
    uint32_t **idx_out, size_t *n_out);
/* Appends "(\Seen \Recent kw ...)" for m to out. */
void imap_msg_flags(const struct imap_view *v, const struct imap_msg *m,
    struct buf *out);
/* The keywords of m, space-separated ("" when none). */
const char *imap_msg_keywords(const struct imap_view *v,
    const struct imap_msg *m);
/* Folds changes from the store into the view and reports them: EXISTS
 * (and RECENT for rev1), FETCH (FLAGS [MODSEQ] [UID]) for changed
 * flags except for UIDs in quiet (may be NULL: the handler reports those
 * itself), and, when expunge_ok, EXPUNGE (or VANISHED under QRESYNC).
 * Returns 0 or ERR_TEMP. */
int imap_view_sync(struct imap_session *s, bool expunge_ok,
    const struct seqset *quiet);

/* --- command handlers (one file per group) ----------------------------
 * cmd_fetch.c */
imap_cmd_fn cmd_fetch; /* FETCH, UID FETCH (CONDSTORE CHANGEDSINCE,
			* QRESYNC VANISHED) */
/* cmd_store.c */
imap_cmd_fn cmd_store;	 /* STORE, UID STORE (UNCHANGEDSINCE) */
imap_cmd_fn cmd_copy;	 /* COPY, UID COPY (COPYUID) */
imap_cmd_fn cmd_move;	 /* MOVE, UID MOVE */
imap_cmd_fn cmd_expunge; /* EXPUNGE, UID EXPUNGE */
/* cmd_append.c */
imap_cmd_fn cmd_append; /* APPEND incl. MULTIAPPEND, after the command
			 * line is complete */
/* Streaming of APPEND's message literals. begin: 0 to stream it (the
 * session sends "+ Ready" if li->sync); otherwise begin has answered
 * the command itself via imap_cmd_finish (NO [TOOBIG], BAD, NO
 * [OVERQUOTA]) and the session rejects the literal. */
int imap_append_literal_begin(struct imap_session *s,
    const struct imap_literal_info *li);
void imap_append_literal_data(struct imap_session *s, const void *p,
    size_t n);
void imap_append_literal_end(struct imap_session *s);
/* Frees s->append (staged messages are abandoned). Accepts none. */
void imap_append_abort(struct imap_session *s);
/* cmd_search.c */
imap_cmd_fn cmd_search; /* SEARCH, UID SEARCH, ESEARCH, SAVE */
imap_cmd_fn cmd_sort;	/* SORT, UID SORT, ESORT */
imap_cmd_fn cmd_thread; /* THREAD REFERENCES / ORDEREDSUBJECT */

#endif
