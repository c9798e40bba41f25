/* SPDX-License-Identifier: MIT */
/* The text ingest extracts for the full-text index while it parses:
 * top-level header values and the decoded text of text/plain and
 * text/html leaves, as UTF-8, bounded (internal to store/msg). */
#ifndef DESPATCH_STORE_MSG_TEXT_H
#define DESPATCH_STORE_MSG_TEXT_H

#include <stdbool.h>

#include "lib/buf.h"
#include "lib/codec.h"
#include "mime/parser.h"
#include "store/ingest.h"

struct text_extract {
	struct buf col[INGEST_TEXT_N];
	/* The current text leaf: its decoder and its decoded bytes (in
	 * its charset), converted at its end. */
	bool in_text, html;
	enum mime_cte cte;
	char charset[MIME_TOKEN_MAX];
	union {
		struct b64_decoder b64;
		struct qp_decoder qp;
	} dec;
	struct buf part;
};

void text_init(struct text_extract *t);
void text_clear(struct text_extract *t);
/* A header field of the message (depth 0). */
void text_field(struct text_extract *t, struct slice name, struct slice value);
/* A leaf's header ended: starts collecting if it is text. */
void text_leaf_begin(struct text_extract *t, const struct mime_part_info *pi);
void text_leaf_data(struct text_extract *t, struct slice raw);
void text_leaf_end(struct text_extract *t);

#endif
