/* SPDX-License-Identifier: MIT */
/* Content-addressed blobs, internal to the store layer: the MIME ingest
 * (ingest.c) writes parts through this interface and the backend
 * (sqlite/blob.c) implements it. A blob's id is the BLAKE2b-256 of its
 * content as stored (decoded where ingest decoded it). */
#ifndef DESPATCH_STORE_BLOB_H
#define DESPATCH_STORE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define BLOB_ID_LEN 32
#define BLOB_HEX_LEN (2 * BLOB_ID_LEN)

struct blob_id {
	unsigned char h[BLOB_ID_LEN];
};

struct store;
struct blob_stage;  /* the blobs new to the store that one message adds */
struct blob_writer; /* one blob being written */
struct blob_reader; /* one stored blob being read */

/* Starts a blob in the stage. Small blobs stay in memory, large ones
 * spill to a temporary file; nothing is durable until the message's
 * commit. ERR_TEMP / ERR_FULL. */
int blob_writer_begin(struct blob_stage *stage, struct blob_writer **out,
    struct err *err);
/* Appends content. ERR_TEMP / ERR_FULL. */
int blob_writer_write(struct blob_writer *w, const void *p, size_t n,
    struct err *err);
/* Ends the blob: its id is the hash of the content. If the store or the
 * stage holds it already, the copy is dropped; the stage records the
 * reference either way (a blob referenced twice by a message counts
 * once). Frees *wp. ERR_TEMP / ERR_FULL. */
int blob_writer_end(struct blob_writer **wp, struct blob_id *id_out,
    uint64_t *size_out, struct err *err);
/* Drops an unfinished blob. Accepts NULL. */
void blob_writer_abort(struct blob_writer **wp);

/* Opens a committed blob (or one staged in `stage`, which may be NULL)
 * for reading. ERR_NOTFOUND, ERR_TEMP. */
int blob_reader_open(struct store *st, struct blob_stage *stage,
    const struct blob_id *id, struct blob_reader **out, struct err *err);
/* Reads up to n bytes of content; *n_out is 0 only at the end. ERR_TEMP
 * (including content that no longer matches its id, when checked). */
int blob_reader_read(struct blob_reader *r, void *p, size_t n, size_t *n_out,
    struct err *err);
/* Content size in bytes (decompressed). */
uint64_t blob_reader_size(const struct blob_reader *r);
void blob_reader_close(struct blob_reader **rp);

void blob_id_hex(const struct blob_id *id, char out[BLOB_HEX_LEN + 1]);

#endif
