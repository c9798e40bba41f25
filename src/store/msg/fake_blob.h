/* SPDX-License-Identifier: MIT */
/* Test-only, in-memory implementation of store/blob.h for the ingest unit
 * tests: content-addressed by libsodium's BLAKE2b-256 like the real one,
 * reads in short uneven pieces to exercise callers' loops. */
#ifndef DESPATCH_STORE_MSG_FAKE_BLOB_H
#define DESPATCH_STORE_MSG_FAKE_BLOB_H

#include <stdbool.h>
#include <stddef.h>

#include "store/blob.h"

struct blob_stage *fake_stage_new(void);
void fake_stage_free(struct blob_stage **sp);
/* Distinct blobs stored. */
size_t fake_stage_count(const struct blob_stage *s);
/* Sum of their sizes. */
size_t fake_stage_bytes(const struct blob_stage *s);
/* Whether a blob with exactly this content is stored. */
bool fake_stage_has(const struct blob_stage *s, const void *p, size_t n);
/* Writers begun and not yet ended or aborted (must be 0 after free). */
size_t fake_stage_open_writers(const struct blob_stage *s);
/* Most writers open at once so far. */
size_t fake_stage_max_open(const struct blob_stage *s);

#endif
