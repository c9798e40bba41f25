/* SPDX-License-Identifier: MIT */
/* Submission's header fix-ups (RFC 6409 §8): finding the end of a held
 * header block and whether a field is present, so that Message-ID and
 * Date are added only when missing. Pure functions, no allocation. */
#ifndef DESPATCH_SMTP_SUBMIT_H
#define DESPATCH_SMTP_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/slice.h"

/* Looks for the end of the header block in held (CRLF lines): the empty
 * line. `from` is how much of held was searched before (so that a block
 * arriving in pieces is scanned once). true with *hdr_len_out = the
 * bytes of the fields (up to and including the last field's CRLF; 0 when
 * held starts with the empty line); false: not yet. */
bool smtp_submit_header_end(struct slice held, size_t from,
    size_t *hdr_len_out);

/* Is there a field `name` (any case, then optional WSP and ":") at the
 * start of one of the lines of hdr? Continuation lines (leading WSP) are
 * not field starts. */
bool smtp_submit_has_field(struct slice hdr, struct slice name);

#endif
