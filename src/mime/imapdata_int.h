/* SPDX-License-Identifier: MIT */
/* Helpers shared by the imapdata.h implementation files: header field
 * iteration, UTF-8 checks, and IMAP string output. Not for other layers. */
#ifndef DESPATCH_MIME_IMAPDATA_INT_H
#define DESPATCH_MIME_IMAPDATA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/slice.h"

/* One field of a header block. raw: its exact bytes including folding and
 * the final line break (if any); name: trimmed; value: after ':' up to the
 * final line break, still folded. */
struct hfield {
	struct slice raw, name, value;
};

/* Takes the next field from *rest (a header block, possibly with its
 * blank line and more after it). false at the blank line or the end.
 * Lines that are not fields (no ':' in the first line) are skipped. */
bool hfield_next(struct slice *rest, struct hfield *f);
/* Appends v unfolded (CR and LF dropped where a line break is followed by
 * WSP or ends the value) with leading and trailing WSP trimmed. */
int hfield_unfold(struct slice v, struct buf *out);

/* Length of the valid UTF-8 sequence at s[0..n), 0 if invalid. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
bool utf8_is_valid(struct slice s);
/* Appends code point cp as UTF-8. */
int utf8_put(struct buf *out, uint32_t cp);
/* Decodes the UTF-8 sequence at s (valid, len bytes). */
uint32_t utf8_get(const unsigned char *s, size_t len);

/* IMAP string output (RFC 9051 §4.3): a quoted string when every byte is
 * printable 7-bit (with \ and " escaped), else a literal. NUL bytes are
 * dropped (no IMAP string may carry them). */
int imap_put_string(struct buf *out, struct slice s);
/* NIL for a NULL slice pointer, else imap_put_string. */
int imap_put_nstring(struct buf *out, struct slice s);
/* Upper-cased ASCII then imap_put_string. */
int imap_put_upper(struct buf *out, struct slice s);

/* A display-name phrase (RFC 5322 §3.2.5) as words: quoted strings
 * unquoted, comments dropped, whitespace runs collapsed; a phrase made only
 * of comments gives their text (the "addr (Name)" style). */
int phrase_normalize(struct slice raw, struct buf *out);

#endif
