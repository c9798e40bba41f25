/* SPDX-License-Identifier: MIT */
/* The CRLF line reader shared by the line protocols (STYLE.md §8). */
#ifndef DESPATCH_NET_LINEIO_H
#define DESPATCH_NET_LINEIO_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/slice.h"

enum line_rc {
	LINE_OK,       /* *line_out is a line, drop *used_out bytes */
	LINE_MORE,     /* no line end yet and still under the limit */
	LINE_TOO_LONG, /* more than max content bytes without CRLF */
	LINE_BARE_LF,  /* a LF without CR before it; *used_out covers it */
};

/* Finds the first line (content <= max bytes, CRLF excluded) in `in`.
 * On LINE_OK the caller drops *used_out bytes (content + 2). On
 * LINE_BARE_LF *used_out is the offset just past that LF, so that the
 * caller can drop the offending line. A bare LF is an error, never a line
 * end. A CR not followed by LF inside the line is returned as content: the
 * caller decides (SMTP rejects it). `in` may be split at any byte. */
enum line_rc line_next(struct slice in, size_t max, struct slice *line_out,
    size_t *used_out);

/* Skips past the next LF, for discarding the rest of an over-long line:
 * true and *used_out (through the LF) if found, false (all of `in` may be
 * dropped) if not. */
bool line_skip(struct slice in, size_t *used_out);

#endif
