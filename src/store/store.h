/* SPDX-License-Identifier: MIT */
/* The storage interface: the only way protocol and command code reaches
 * metadata and message bytes. Protocol code never touches SQL or files.
 *
 * Threads: a struct store is used from one thread (the loop thread in
 * `serve`, the main thread in a CLI command). Group commit runs on the
 * store's own commit thread; completions come back on the loop thread. */
#ifndef DESPATCH_STORE_STORE_H
#define DESPATCH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "lib/err.h"
#include "lib/slice.h"

struct store;
struct store_msg;
struct store_reader;

struct store_opts {
	const char *dir;	/* the store's folder, e.g. DATA/store */
	uv_loop_t *loop;	/* NULL: store_msg_commit completes inline */
	uint64_t gc_grace_seconds; /* unreferenced blobs kept this long */
	unsigned batch_max;	/* messages per group commit, >= 1 */
};

/* Opens (creating if missing) the store in opts->dir and recovers what an
 * interrupted ingest left (stale temp files, half-written blobs).
 * 0, or ERR_TEMP / ERR_INTERNAL with err set. */
int store_open(const struct store_opts *opts, struct store **out,
    struct err *err);
/* Waits for queued commits to finish (their callbacks run), stops the
 * commit thread, closes everything, sets *sp = NULL. Accepts NULL. */
void store_close(struct store **sp);

/* --- domains, users, aliases (admin) --------------------------------
 * Names are stored lowercased. Each returns 0, ERR_EXISTS, ERR_NOTFOUND,
 * ERR_INPUT (malformed name) or ERR_TEMP. Safe while `serve` runs: every
 * call is its own transaction. */

int store_domain_add(struct store *st, const char *domain, struct err *err);
/* ERR_EXISTS if users or aliases of the domain remain. */
int store_domain_remove(struct store *st, const char *domain,
    struct err *err);
int store_domain_list(struct store *st,
    void (*cb)(void *ctx, const char *domain), void *ctx, struct err *err);

struct store_user {
	int64_t id;
	const char *address; /* local@domain, lowercase */
	const char *pwhash;  /* argon2id string as from crypto_pwhash_str */
};

/* Adds a user of an existing domain (ERR_NOTFOUND otherwise) with the
 * mailboxes INBOX, Sent, Drafts, Trash, Junk and Archive. */
int store_user_add(struct store *st, const char *address, const char *pwhash,
    int64_t *id_out, struct err *err);
int store_user_passwd(struct store *st, const char *address,
    const char *pwhash, struct err *err);
/* Removes the user, their mailboxes and aliases pointing only at them;
 * messages left without entries (and without outbound queue rows) are
 * deleted and their blobs lose a reference (collected after the grace
 * period). The user's queued outbound mail stays queued (its rows'
 * user_id becomes 0). */
int store_user_remove(struct store *st, const char *address, struct err *err);
/* Calls cb for each user (of `domain`, or all when NULL), sorted. The
 * struct is valid only during the call. */
int store_user_list(struct store *st, const char *domain,
    void (*cb)(void *ctx, const struct store_user *u), void *ctx,
    struct err *err);
/* Looks a user up by address; strings copied into the caller's buffers. */
int store_user_get(struct store *st, const char *address, int64_t *id_out,
    char *pwhash_out, size_t pwhash_size, struct err *err);

/* Adds target (a local user's address) to alias's recipients. The alias
 * address must be in a local domain and not be a user. */
int store_alias_add(struct store *st, const char *alias, const char *target,
    struct err *err);
/* Removes one target, or every target when target is NULL. */
int store_alias_remove(struct store *st, const char *alias,
    const char *target, struct err *err);
int store_alias_list(struct store *st,
    void (*cb)(void *ctx, const char *alias, const char *target), void *ctx,
    struct err *err);

/* --- recipients ------------------------------------------------------ */

enum store_addr_status {
	STORE_ADDR_LOCAL,	 /* deliver to the user ids returned */
	STORE_ADDR_UNKNOWN_USER, /* our domain, nobody there: 550 5.1.1 */
	STORE_ADDR_FOREIGN,	 /* not a local domain */
};

#define STORE_TARGETS_MAX 64 /* an alias expands to at most this many */

/* Resolves an envelope address (local@domain, any case) to local users:
 * a user, or an alias's targets. 0 with *status_out set, or ERR_TEMP. */
int store_addr_resolve(struct store *st, struct slice address,
    enum store_addr_status *status_out, int64_t *user_ids_out,
    size_t max_ids, size_t *n_out, struct err *err);

/* --- writing messages ------------------------------------------------ */

/* Starts a message. Its bytes are streamed in with store_msg_write:
 * parsed as they arrive, split into parts, each part content-addressed
 * and staged; never held whole in memory. */
int store_msg_new(struct store *st, struct store_msg **out, struct err *err);
/* Streams the next bytes, exactly as they are to be stored (CRLF lines,
 * trace headers first). ERR_LIMIT if a MIME limit is passed (552 5.3.4),
 * ERR_TEMP / ERR_FULL on storage trouble. After any error the message is
 * only good for store_msg_free. */
int store_msg_write(struct store_msg *m, const void *p, size_t n,
    struct err *err);
/* Ends the byte stream and stages the last parts. Same errors. */
int store_msg_finish(struct store_msg *m, struct err *err);
/* Bytes written so far. */
uint64_t store_msg_size(const struct store_msg *m);
/* Abandons an uncommitted message: its staged blobs go. Accepts NULL. */
void store_msg_free(struct store_msg **mp);

struct store_delivery {
	int64_t user_id;
	const char *mailbox; /* "INBOX"; copied */
	/* Appended for IMAP APPEND (zero/NULL from SMTP): */
	const char *flags;    /* space-separated flags and keywords; NULL: none */
	int64_t internaldate; /* unix seconds; 0: now */
};

struct store_commit_result {
	int status;	    /* 0: durable; ERR_TEMP, ERR_FULL: nothing visible */
	int64_t message_id; /* when status == 0 */
	struct err err;	    /* when status != 0, for the log */
	/* Appended: the UID the first delivery got, its mailbox's
	 * UIDVALIDITY (APPENDUID, RFC 4315), when status == 0. */
	uint32_t uid, uidvalidity;
};

typedef void (*store_commit_cb)(void *ctx,
    const struct store_commit_result *res);

/* Queues a finished message for the next group commit, with one new
 * entry (next UID) in each delivery's mailbox; one message row however
 * many deliveries. Takes ownership of *mp and sets it NULL. cb runs
 * exactly once: on the loop thread after the commit batch is on stable
 * storage (blobs, their folders and the metadata fsynced), or inline if
 * the store has no loop. Returns 0 (cb will run) or ERR_INPUT (n == 0,
 * message not finished; cb will not run). */
int store_msg_commit(struct store_msg **mp, const struct store_delivery *d,
    size_t n, store_commit_cb cb, void *ctx);

/* --- reading --------------------------------------------------------- */

struct store_mailbox {
	int64_t id;
	const char *name;
	const char *special_use; /* "\\Sent", ...; NULL when none */
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	/* Appended (IMAP): */
	bool subscribed;
	bool has_children; /* a mailbox named name + "/" ... exists */
};

int store_mailbox_list(struct store *st, int64_t user_id,
    void (*cb)(void *ctx, const struct store_mailbox *mb), void *ctx,
    struct err *err);

struct store_entry {
	uint32_t uid;
	int64_t message_id;
	uint64_t size;	     /* bytes of the stored message */
	int64_t internaldate; /* unix seconds */
	uint64_t modseq;
	const char *flags;   /* space-separated, e.g. "\\Seen"; "" if none */
	const char *from;    /* top-level header values, unfolded, for */
	const char *subject; /* listings; "" when absent */
};

/* Lists the entries of a mailbox by ascending UID. ERR_NOTFOUND if the
 * mailbox does not exist. */
int store_entry_list(struct store *st, int64_t user_id, const char *mailbox,
    void (*cb)(void *ctx, const struct store_entry *e), void *ctx,
    struct err *err);

/* Opens the stored bytes of one entry for streaming. ERR_NOTFOUND. */
int store_reader_open(struct store *st, int64_t user_id, const char *mailbox,
    uint32_t uid, struct store_reader **out, struct err *err);
/* Reads up to n bytes into p: *n_out is 0 only at the end. ERR_TEMP if a
 * blob is missing or unreadable. */
int store_reader_read(struct store_reader *r, void *p, size_t n,
    size_t *n_out, struct err *err);
void store_reader_close(struct store_reader **rp);

/* --- IMAP: mailboxes, entries, flags, search -----------------------
 * Mailbox names are UTF-8 with "/" as the hierarchy separator; "INBOX" is
 * matched case-insensitively and stored as "INBOX". Reads are synchronous
 * (the owner connection). Mutations that change entries are asynchronous:
 * they queue to the commit thread and share its group commit (one WAL
 * sync per batch), and cb runs on the loop thread once the change is on
 * stable storage, or inline before the call returns when the store has
 * no loop. Mailbox-level mutations (create, delete, rename, subscribe)
 * are synchronous, one transaction each. Every change bumps the
 * mailbox's highestmodseq (one new modseq per operation, given to every
 * entry it touched); expunged UIDs are remembered with the modseq of
 * their expunge (for QRESYNC VANISHED and for other sessions' views). */

/* Every change the store commits in this process for a user is reported
 * to the watchers of that user, on the loop thread, after the commit
 * (deliveries by SMTP included). Sessions then read what changed with
 * store_entry_changes. Returns a handle for store_watch_remove. */
typedef void (*store_watch_cb)(void *ctx, int64_t user_id,
    int64_t mailbox_id);
struct store_watch;
struct store_watch *store_watch_add(struct store *st, int64_t user_id,
    store_watch_cb cb, void *ctx);
void store_watch_remove(struct store *st, struct store_watch **wp);

/* Status of one mailbox (name as the client gave it, INBOX any case).
 * 0, ERR_NOTFOUND, ERR_TEMP. */
struct store_mailbox_status {
	int64_t id;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	uint32_t messages, unseen, deleted;
	uint32_t first_unseen; /* UID of the first entry without \\Seen, 0 */
	uint64_t size;	       /* sum of entry sizes (STATUS=SIZE) */
	char special_use[16];  /* "\\Sent" or "" */
	bool subscribed;
};
int store_mailbox_status(struct store *st, int64_t user_id, const char *name,
    struct store_mailbox_status *out, struct err *err);
/* The same without the counts (messages, unseen, deleted, first_unseen
 * and size are 0): one indexed row read, for callers that only need to
 * know whether anything changed (uidvalidity, uidnext, highestmodseq) or
 * that the mailbox exists. */
int store_mailbox_peek(struct store *st, int64_t user_id, const char *name,
    struct store_mailbox_status *out, struct err *err);

/* Creates a mailbox with a fresh UIDVALIDITY (special_use NULL or one of
 * \\Archive \\Drafts \\Junk \\Sent \\Trash \\All \\Flagged; ERR_INPUT
 * otherwise). Missing parents ("a" for "a/b") are created too.
 * ERR_EXISTS, ERR_INPUT (empty name, bad UTF-8, empty level, leading or
 * trailing "/", over STORE_MAILBOX_NAME_MAX bytes), ERR_TEMP. */
#define STORE_MAILBOX_NAME_MAX 512
int store_mailbox_create(struct store *st, int64_t user_id, const char *name,
    const char *special_use, struct err *err);
/* Deletes a mailbox and its entries (their expunge is recorded for
 * watchers). INBOX cannot be deleted (ERR_INPUT); a mailbox with
 * children is refused with ERR_EXISTS (as Dovecot does; no \\Noselect
 * placeholders). ERR_NOTFOUND, ERR_TEMP. */
int store_mailbox_delete(struct store *st, int64_t user_id, const char *name,
    struct err *err);
/* Renames a mailbox and its children (RFC 9051 §6.3.6). Renaming INBOX
 * moves its entries to a new mailbox `to` and leaves INBOX empty.
 * ERR_NOTFOUND, ERR_EXISTS (to exists), ERR_INPUT, ERR_TEMP. */
int store_mailbox_rename(struct store *st, int64_t user_id, const char *from,
    const char *to, struct err *err);
/* Subscription is kept by name, even for a mailbox that does not exist
 * (RFC 9051 §6.3.7). */
int store_mailbox_subscribe(struct store *st, int64_t user_id,
    const char *name, bool on, struct err *err);
/* Subscribed names without a mailbox, for LSUB / LIST (SUBSCRIBED). */
int store_subscription_list(struct store *st, int64_t user_id,
    void (*cb)(void *ctx, const char *name), void *ctx, struct err *err);

/* Entries of mailbox_id with uid in [uid_lo, uid_hi] and modseq >
 * modseq_gt (0: all), by ascending UID. The struct is valid only during
 * the call. ERR_TEMP. */
int store_entry_range(struct store *st, int64_t mailbox_id, uint32_t uid_lo,
    uint32_t uid_hi, uint64_t modseq_gt,
    void (*cb)(void *ctx, const struct store_entry *e), void *ctx,
    struct err *err);
/* UIDs expunged from mailbox_id with a modseq > modseq_gt, ascending.
 * *complete_out is false when that history was pruned (the caller must
 * then compare full UID lists). */
int store_expunged_since(struct store *st, int64_t mailbox_id,
    uint64_t modseq_gt, void (*cb)(void *ctx, uint32_t uid), void *ctx,
    bool *complete_out, struct err *err);

/* The result of an asynchronous mutation. Arrays are valid only during
 * the callback. */
struct store_op_result {
	int status;		/* 0, ERR_TEMP, ERR_FULL, ERR_NOTFOUND */
	struct err err;		/* when status != 0 */
	uint64_t modseq;	/* the modseq this operation gave */
	const uint32_t *uids;	/* flags: changed; expunge: expunged;
				 * copy/move: source UIDs copied */
	size_t n_uids;
	const uint32_t *new_uids; /* copy/move: the new UIDs, same order */
	size_t n_new_uids;
	uint32_t uidvalidity;	/* copy/move: of the destination */
	const uint32_t *failed_uids; /* flags with unchangedsince: entries
				      * whose modseq was higher (MODIFIED) */
	size_t n_failed_uids;
};
typedef void (*store_op_cb)(void *ctx, const struct store_op_result *res);

enum store_flags_mode {
	STORE_FLAGS_SET,
	STORE_FLAGS_ADD,
	STORE_FLAGS_REMOVE,
};

/* Changes the flags of the given UIDs (ascending; UIDs that no longer
 * exist are skipped). flags: space-separated system flags and keywords
 * (\\Recent is never stored). unchangedsince: 0, or CONDSTORE's
 * UNCHANGEDSINCE: entries with a higher modseq are left alone and
 * listed in failed_uids. Entries whose flags really change get the new
 * modseq. Returns 0 (cb will run exactly once) or ERR_INPUT. */
int store_flags_update(struct store *st, int64_t mailbox_id,
    const uint32_t *uids, size_t n, enum store_flags_mode mode,
    const char *flags, uint64_t unchangedsince, store_op_cb cb, void *ctx);
/* Expunges the given UIDs that carry \\Deleted (uids NULL: every entry
 * with \\Deleted). Same callback contract. */
int store_expunge(struct store *st, int64_t mailbox_id, const uint32_t *uids,
    size_t n, store_op_cb cb, void *ctx);
/* Copies (or, with move, moves: copy and expunge in one transaction) the
 * given UIDs to dst_mailbox_id (same user), keeping flags (\\Recent
 * aside) and internal dates; the message rows are shared, never copied.
 * Same callback contract; ERR_NOTFOUND if dst is gone. */
int store_copy(struct store *st, int64_t src_mailbox_id,
    const uint32_t *uids, size_t n, int64_t dst_mailbox_id, bool move,
    store_op_cb cb, void *ctx);

/* Opens the stored bytes of a message by message row id. ERR_NOTFOUND. */
int store_reader_open_message(struct store *st, int64_t message_id,
    struct store_reader **out, struct err *err);
/* Skips n bytes of the stream (cheap where parts can be skipped). */
int store_reader_skip(struct store_reader *r, uint64_t n, struct err *err);
/* Copies the message's top-level header block (through the blank line,
 * trace headers included) into p (at most cap bytes, the header block is
 * at most 1 MiB + 2) without reading its parts. *n_out bytes. */
int store_msg_header_block(struct store *st, int64_t message_id, char *p,
    size_t cap, size_t *n_out, struct err *err);

/* Full-text search, from the SQLite FTS5 index that commit, APPEND, COPY
 * and expunge keep current. Matching is a case-insensitive substring
 * match on UTF-8 text (trigram index; needles under 3 characters scan).
 * A commit queues a message's text and the commit thread indexes it
 * when idle (under load a fifth of its time), so the index lags ingest;
 * messages not indexed yet are matched by a scan of their queued text,
 * folded as the index folds it: the same answers, found more slowly.
 * FROM/TO/CC/BCC/SUBJECT search the decoded (RFC 2047) header values;
 * BODY the decoded text of the text parts (converted to UTF-8); TEXT the
 * headers and the body. cb gets each matching UID of mailbox_id,
 * ascending. */
enum store_fts_field {
	STORE_FTS_FROM,
	STORE_FTS_TO,
	STORE_FTS_CC,
	STORE_FTS_BCC,
	STORE_FTS_SUBJECT,
	STORE_FTS_BODY,
	STORE_FTS_TEXT,
};
int store_fts_search(struct store *st, int64_t mailbox_id,
    enum store_fts_field field, const char *needle,
    void (*cb)(void *ctx, uint32_t uid), void *ctx, struct err *err);

/* Bytes and entries over all of a user's mailboxes (QUOTA). */
int store_user_usage(struct store *st, int64_t user_id, uint64_t *bytes_out,
    uint64_t *messages_out, struct err *err);

/* --- the outbound queue (submission, DSN) ------------------------------
 * A message for remote recipients is stored like any other (parts,
 * de-duplication) and gets one queue row per remote recipient; the
 * message row lives while it has mailbox entries or queue rows. Local
 * deliveries, queue rows and the completion of earlier queue rows are
 * one transaction (store_msg_commit_out). Times are unix seconds from the
 * caller's clock (lib/clock.h), never read by the store itself. */

/* RFC 3461 NOTIFY, as bits; 0: the client gave no NOTIFY (treated as
 * FAILURE,DELAY). NEVER excludes the others. */
#define STORE_NOTIFY_SUCCESS 1u
#define STORE_NOTIFY_FAILURE 2u
#define STORE_NOTIFY_DELAY   4u
#define STORE_NOTIFY_NEVER   8u

enum store_dsn_ret {
	STORE_RET_DEFAULT, /* no RET: headers only in a bounce */
	STORE_RET_HDRS,
	STORE_RET_FULL,
};

/* The longest ENVID / ORCPT value kept (RFC 3461 §4.2, §4.4: 100 and 500
 * characters, xtext-decoded). */
#define STORE_ENVID_MAX 100
#define STORE_ORCPT_MAX 500
/* The last reply kept per queue row (one line, sanitized by the caller). */
#define STORE_REPLY_MAX 512

struct store_outbound {
	const char *rcpt;  /* local@domain as given in RCPT TO, not empty */
	const char *orcpt; /* "rfc822;addr" as decoded from ORCPT=; NULL */
	unsigned notify;   /* STORE_NOTIFY_* bits; 0: not given */
};

struct store_envelope {
	const char *sender; /* MAIL FROM address, "" for the null sender */
	const char *envid;  /* decoded ENVID=, NULL: none */
	enum store_dsn_ret ret;
	bool smtputf8;	    /* the message needs SMTPUTF8 downstream */
	bool body_8bit;	    /* BODY=8BITMIME */
	int64_t user_id;    /* the submitting user; 0: none (MX, a DSN) */
	int64_t now;	    /* created and first next_attempt of new rows */
	const struct store_outbound *rcpts; /* new queue rows; may be 0 */
	size_t n_rcpts;
	/* Queue rows that this commit completes in the same transaction
	 * (a bounce replacing the rows it reports): deleted. Ids that no
	 * longer exist are skipped. */
	const int64_t *done_ids;
	size_t n_done;
	/* Queue rows whose delay notice this commit is: delay_notified set. */
	const int64_t *notified_ids;
	size_t n_notified;
};

/* store_msg_commit with remote recipients and queue bookkeeping: one
 * transaction makes the message, its n mailbox entries (n may be 0 when
 * env->n_rcpts > 0), env->n_rcpts queue rows (next_attempt = env->now)
 * and the done/notified changes durable together. Same callback
 * contract as store_msg_commit; ERR_INPUT if n + env->n_rcpts == 0, or
 * the envelope is malformed (sender NULL; a rcpt without '@' or with
 * nothing after its last '@'; control characters in an address; an
 * address over 1024 bytes, ENVID over STORE_ENVID_MAX, ORCPT over
 * STORE_ORCPT_MAX; unknown NOTIFY bits or ret): cb will not run then.
 * A message with no mailbox entry (n == 0) is not full-text indexed:
 * nothing could search it. */
int store_msg_commit_out(struct store_msg **mp, const struct store_delivery *d,
    size_t n, const struct store_envelope *env, store_commit_cb cb,
    void *ctx);

struct store_queue_entry {
	int64_t id;
	int64_t message_id;
	int64_t user_id;       /* 0: none */
	const char *sender;    /* "" for the null sender */
	const char *rcpt;
	const char *domain;    /* the part after the last '@', lowercase */
	const char *orcpt;     /* NULL: none */
	const char *envid;     /* NULL: none */
	const char *last_reply; /* "" before any attempt */
	unsigned notify;
	enum store_dsn_ret ret;
	bool smtputf8, body_8bit;
	bool held;
	bool delay_notified;
	unsigned attempts;
	int64_t created, next_attempt, last_attempt; /* last: 0 never */
	uint64_t size;	       /* the stored message's bytes */
};

/* Rows that are due: not held and next_attempt <= now, ordered by
 * domain, then message, then id; at most max rows. The struct is valid
 * only during the call. Reads are synchronous. ERR_TEMP. */
int store_queue_due(struct store *st, int64_t now, size_t max,
    void (*cb)(void *ctx, const struct store_queue_entry *e), void *ctx,
    struct err *err);
/* The earliest next_attempt of the rows not held; *when_out = INT64_MAX
 * when there is none. One indexed read: cheap enough to poll. */
int store_queue_next_due(struct store *st, int64_t *when_out,
    struct err *err);
/* Every row (held ones too) by ascending id, or the one row `id`
 * (ERR_NOTFOUND). */
int store_queue_list(struct store *st,
    void (*cb)(void *ctx, const struct store_queue_entry *e), void *ctx,
    struct err *err);
int store_queue_get(struct store *st, int64_t id,
    void (*cb)(void *ctx, const struct store_queue_entry *e), void *ctx,
    struct err *err);

/* The outcome of one delivery attempt, recorded asynchronously (the
 * commit thread batches it with other commits; cb as store_op_cb, its
 * status 0 once on stable storage). done: the row is deleted (delivered,
 * or its bounce was committed separately). Otherwise attempts + 1,
 * last_attempt, next_attempt and last_reply are set. Rows that no longer
 * exist (removed meanwhile) are skipped without error. */
struct store_queue_update {
	int64_t id;
	bool done;
	int64_t last_attempt;
	int64_t next_attempt;
	const char *last_reply; /* copied; at most STORE_REPLY_MAX bytes */
};
int store_queue_update(struct store *st, const struct store_queue_update *u,
    size_t n, store_op_cb cb, void *ctx);

/* Admin changes, synchronous, one transaction each, safe while `serve`
 * runs (which notices them within a second: it polls next_due). id 0:
 * every row. ERR_NOTFOUND for an id that does not exist. *n_out: rows
 * changed (may be NULL). */
int store_queue_hold(struct store *st, int64_t id, bool held,
    size_t *n_out, struct err *err);
/* next_attempt = now for the row(s) (held rows stay held). */
int store_queue_retry(struct store *st, int64_t id, int64_t now,
    size_t *n_out, struct err *err);
/* Deletes the row(s) without a bounce. */
int store_queue_remove(struct store *st, int64_t id, size_t *n_out,
    struct err *err);

/* Is `address` (any case) the user's own address or an alias whose
 * targets include the user? For the submission rule "send only as one of
 * your own addresses". 0 with *owned_out set, or ERR_TEMP. */
int store_addr_owned(struct store *st, int64_t user_id, struct slice address,
    bool *owned_out, struct err *err);

/* --- maintenance ----------------------------------------------------- */

struct store_stats {
	uint64_t messages;	/* message rows */
	uint64_t entries;	/* mailbox entries (a message may have many) */
	uint64_t logical_bytes; /* sum of stored message sizes */
	uint64_t unique_parts;	/* distinct blobs */
	uint64_t physical_bytes; /* blob bytes as stored (compressed) */
	uint64_t unreferenced_blobs; /* waiting out the GC grace period */
	/* Appended by the embedded backend (additive): */
	uint64_t file_blobs;	  /* of unique_parts, those in blobs/ files */
	uint64_t fsyncs;	  /* since open: blob file and folder fsyncs
				   * plus one WAL sync per commit batch */
	uint64_t commit_batches;  /* since open: group-commit transactions */
	uint64_t commit_messages; /* since open: messages made durable */
	uint64_t fts_pending;	  /* messages whose text waits for the
				   * full-text index (searchable meanwhile) */
	uint64_t queue_rows;	  /* outbound recipients waiting */
};

int store_stats_get(struct store *st, struct store_stats *out,
    struct err *err);

/* Re-hashes every blob and checks every reference. cb gets one line per
 * problem. 0 if clean, ERR_INPUT if problems were found, ERR_TEMP. */
int store_verify(struct store *st, void (*cb)(void *ctx, const char *problem),
    void *ctx, struct err *err);

/* Deletes blobs unreferenced for at least grace_seconds. */
int store_gc(struct store *st, uint64_t grace_seconds, uint64_t *removed_out,
    struct err *err);

#endif
