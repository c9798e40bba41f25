/* SPDX-License-Identifier: MIT */
/* Ingest: turns a message's byte stream into content-addressed parts and
 * a skeleton (headers, boundaries, references to parts, re-encoding
 * parameters) from which the exact bytes are reassembled. Used by every
 * door a message comes in by (SMTP, later IMAP APPEND and import). */
#ifndef DESPATCH_STORE_INGEST_H
#define DESPATCH_STORE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "store/blob.h"

struct ingest;

/* What listings show of a message: top-level header values, unfolded,
 * truncated to fit, raw (no RFC 2047 decoding); "" when absent. */
struct ingest_summary {
	char from[256];
	char subject[256];
	char message_id[256];
	char date[128];
};

/* Text for the full-text index, UTF-8: the top-level From, To, Cc, Bcc
 * and Subject values (RFC 2047 decoded where the mime layer can), the
 * decoded text of text/plain and text/html leaves (tags stripped), and
 * every top-level field as "Name: value" lines. Bounded: a column stops
 * growing at its cap (the text is cut, the message is not refused). */
enum ingest_text_col {
	INGEST_TEXT_FROM,
	INGEST_TEXT_TO,
	INGEST_TEXT_CC,
	INGEST_TEXT_BCC,
	INGEST_TEXT_SUBJECT,
	INGEST_TEXT_BODY,
	INGEST_TEXT_HEADERS,
	INGEST_TEXT_N
};
#define INGEST_TEXT_FIELD_MAX   (64 * 1024)
#define INGEST_TEXT_BODY_MAX    (1024 * 1024)
#define INGEST_TEXT_HEADERS_MAX (256 * 1024)

/* A new ingest writing its blobs into stage. */
struct ingest *ingest_new(struct blob_stage *stage);
/* Feeds the next n bytes (any split). ERR_LIMIT (a MIME limit of
 * mime/limits.h was passed), ERR_TEMP / ERR_FULL from the blob writer.
 * After an error only ingest_free is valid. */
int ingest_push(struct ingest *in, const void *p, size_t n, struct err *err);
/* Ends the stream: stages the last part and then the skeleton itself as
 * a blob. *skeleton_out identifies the message body; *size_out is the
 * total bytes pushed. */
int ingest_finish(struct ingest *in, struct blob_id *skeleton_out,
    uint64_t *size_out, struct err *err);
/* Valid after ingest_finish. */
const struct ingest_summary *ingest_summary(const struct ingest *in);
/* Every blob the skeleton references (parts; not the skeleton itself),
 * valid after ingest_finish until ingest_free; duplicates removed. */
const struct blob_id *ingest_parts(const struct ingest *in, size_t *n_out);
/* Moves the index text (INGEST_TEXT_N buffers) into out, which the
 * caller then owns (buf_clear each). Valid once, after ingest_finish. */
void ingest_text_take(struct ingest *in, struct buf *out);
/* Frees; unfinished blob writers are aborted. Accepts NULL. */
void ingest_free(struct ingest **inp);

/* Reassembles a message from its skeleton, streaming. */
struct msg_reader;

/* stage may be NULL (committed messages). */
int msg_reader_open(struct store *st, struct blob_stage *stage,
    const struct blob_id *skeleton, struct msg_reader **out, struct err *err);
/* The same over the skeleton's blob already opened (the backend found
 * it with the message's row); takes skel, closed on failure too. */
int msg_reader_open_blob(struct store *st, struct blob_stage *stage,
    struct blob_reader *skel, struct msg_reader **out, struct err *err);
/* Reads up to n bytes; *n_out is 0 only at the end. ERR_TEMP. */
int msg_reader_read(struct msg_reader *r, void *p, size_t n, size_t *n_out,
    struct err *err);
void msg_reader_close(struct msg_reader **rp);
/* Skips n bytes of the stream; a raw part wholly inside them is passed
 * over without being opened. ERR_TEMP. */
int msg_reader_skip(struct msg_reader *r, uint64_t n, struct err *err);

/* Copies the top-level header block (through its blank line) of a stored
 * skeleton into p, at most cap bytes (the rest is cut off); reads only
 * the skeleton and, for a header block over SKEL_LIT_MAX, its literal
 * blob, never a body part. ERR_TEMP. */
int msg_header_block(struct store *st, const struct blob_id *skeleton, char *p,
    size_t cap, size_t *n_out, struct err *err);
/* The same over the skeleton's blob already opened; takes skel. */
int msg_header_block_blob(struct store *st, struct blob_reader *skel, char *p,
    size_t cap, size_t *n_out, struct err *err);

/* Lists the blob references of a stored skeleton (for store verify):
 * calls cb for each part id. ERR_TEMP, ERR_INPUT (corrupt skeleton). */
int msg_skeleton_refs(struct store *st, const struct blob_id *skeleton,
    void (*cb)(void *ctx, const struct blob_id *id), void *ctx,
    struct err *err);

#endif
