/* SPDX-License-Identifier: MIT */
/* The part tree's private side, shared by structure.c (which builds it)
 * and bodystructure.c (which writes it out). */
#ifndef DESPATCH_MIME_STRUCTURE_INT_H
#define DESPATCH_MIME_STRUCTURE_INT_H

#include "lib/buf.h"
#include "mime/imapdata.h"
#include "mime/parser.h"

/* What BODYSTRUCTURE needs of a part beyond struct mime_part. */
struct part_info {
	uint32_t last_child;
	uint64_t lf_at_body;         /* LFs its frame had seen at body_off */
	size_t saved_off, saved_len; /* its kept header fields in saved */
	char type[MIME_TOKEN_MAX], subtype[MIME_TOKEN_MAX]; /* lower case */
	bool ct_present;  /* a valid Content-Type (else the defaults) */
	bool header_done; /* body_off is known */
};

struct frame;

struct mime_structure {
	struct mime_part *parts;
	struct part_info *info;
	size_t n, cap;
	/* The header fields BODYSTRUCTURE and the ENVELOPE of embedded
	 * messages need, as raw field bytes, part after part. */
	struct buf saved;
	uint32_t saved_mask; /* fields already kept for the current part */
	/* One parser per message level: the message, then the message
	 * inside the open message/rfc822 part, and so on. */
	struct frame *frames[MIME_DEPTH_MAX + 2];
	unsigned nframes;
	uint32_t open[MIME_DEPTH_MAX + 2]; /* open part at each depth */
	struct err *err;
	int rc;
	bool finished;
};

/* The kept header fields of part idx, as a header block. */
static inline struct slice
structure_saved(const struct mime_structure *s, uint32_t idx)
{
	if (s->saved.p == NULL)
		return slice_make("", 0);
	return slice_make(s->saved.p + s->info[idx].saved_off,
	    s->info[idx].saved_len);
}

#endif
