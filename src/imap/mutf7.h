/* SPDX-License-Identifier: MIT */
/* Mailbox names: modified UTF-7 (RFC 3501 §5.1.3) for IMAP4rev1
 * sessions, UTF-8 for IMAP4rev2 and UTF8=ACCEPT (RFC 9051 §5.1). The
 * store holds UTF-8. */
#ifndef DESPATCH_IMAP_MUTF7_H
#define DESPATCH_IMAP_MUTF7_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/slice.h"

/* Decodes a modified UTF-7 name to UTF-8, appended to out. false if it
 * is not valid modified UTF-7 (raw 8-bit, "&" unterminated, bad base64,
 * non-minimal or surrogate errors). */
bool mutf7_to_utf8(struct slice in, struct buf *out);
/* Encodes a UTF-8 name as modified UTF-7, appended to out. false if in
 * is not valid UTF-8. */
bool mutf7_from_utf8(struct slice in, struct buf *out);
/* true if in is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool utf8_valid(struct slice in);

#endif
