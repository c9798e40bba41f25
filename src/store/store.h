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
 * messages left without entries are deleted and their blobs lose a
 * reference (collected after the grace period). */
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
};

struct store_commit_result {
	int status;	    /* 0: durable; ERR_TEMP, ERR_FULL: nothing visible */
	int64_t message_id; /* when status == 0 */
	struct err err;	    /* when status != 0, for the log */
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
