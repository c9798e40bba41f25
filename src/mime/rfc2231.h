/* SPDX-License-Identifier: MIT */
/* RFC 2231 MIME parameter values: continuations (name*0, name*1, ...),
 * the extended form charset'language'%XX (name*, name*0*, name*1*), and
 * the charset converted to UTF-8 (mime/charset.c). Bounded: at most
 * MIME_RFC2231_SECTIONS_MAX sections and MIME_RFC2231_VALUE_MAX bytes
 * out, a fixed table on the stack, one pass over the field. No I/O, no
 * allocation but the output buffer's. */
#ifndef DESPATCH_MIME_RFC2231_H
#define DESPATCH_MIME_RFC2231_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/slice.h"

/* The charset and language of an extended value (section 0's, or the
 * single name*'s), "" when absent or not extended. */
struct mime_param_info {
	char charset[64];
	char language[64];
	size_t sections; /* sections joined; 0 for a plain name= value */
};

/* Finds parameter `name` (case-insensitive, without '*') in a
 * Content-Type or Content-Disposition field value; everything before
 * the first top-level ';' (the type or disposition) is skipped. The
 * value is chosen in this order: continuations name*0[*], name*1[*], ...
 * (any order in the field, joined up to the first missing number; a
 * repeated number keeps its first occurrence), else name* , else a
 * plain name=. Extended sections are percent-decoded (a broken %XX stays
 * as it is) and the joined bytes converted from the charset to UTF-8
 * (unknown or absent: UTF-8 if valid, else ISO-8859-1; invalid
 * sequences become U+FFFD); quoted strings are unquoted. Appends the
 * UTF-8 value to out; info may be NULL.
 * 0; ERR_NOTFOUND (no such parameter); ERR_LIMIT (a section number at or
 * past MIME_RFC2231_SECTIONS_MAX, or more than MIME_RFC2231_VALUE_MAX
 * bytes out, or out full). On an error out is as it was. */
int mime_param_get(struct slice value, const char *name, struct buf *out,
    struct mime_param_info *info);

#endif
