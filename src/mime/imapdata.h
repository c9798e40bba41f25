/* SPDX-License-Identifier: MIT */
/* What IMAP needs to know about a message, computed from its bytes:
 * the part tree with byte offsets (for BODY[section] and BINARY[...]),
 * BODYSTRUCTURE and ENVELOPE in IMAP syntax, header decoding (RFC 2047,
 * charsets to UTF-8), address lists, dates, and RFC 5256 base subjects
 * for SORT and THREAD. No I/O: callers stream bytes in. */
#ifndef DESPATCH_MIME_IMAPDATA_H
#define DESPATCH_MIME_IMAPDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/slice.h"

#define MIME_PART_NONE UINT32_MAX

/* One node of the part tree. Offsets are byte offsets in the message as
 * streamed in. For a message/rfc822 part, first_child is the embedded
 * message's root (its header at the body offset of this part). */
struct mime_part {
	uint32_t parent, first_child, next_sibling; /* indices or NONE */
	uint32_t depth;
	uint64_t hdr_off;    /* first byte of the part's header */
	uint64_t body_off;   /* first byte after the header's blank line */
	uint64_t end_off;    /* one past the last byte of the body (the CRLF
	                      * before a boundary belongs to the boundary) */
	uint64_t body_lines; /* line feeds in the body (Dovecot's count) */
	bool is_multipart, is_message; /* message/rfc822 or message/global */
	int cte;                       /* enum mime_cte of parser.h */
};

struct mime_structure;

/* A new builder. Limits of mime/limits.h apply (ERR_LIMIT past them);
 * memory is bounded by the part count and header sizes. */
struct mime_structure *mime_structure_new(void);
/* Feeds the next bytes (any split). ERR_LIMIT, ERR_INPUT. */
int mime_structure_push(struct mime_structure *s, const void *p, size_t n,
    struct err *err);
/* Ends the stream; the tree is usable afterwards. */
int mime_structure_finish(struct mime_structure *s, struct err *err);
void mime_structure_free(struct mime_structure **sp);

/* The parts, index 0 the root, in stream order (none until
 * mime_structure_finish has succeeded). */
const struct mime_part *mime_structure_parts(const struct mime_structure *s,
    size_t *n_out);
/* Resolves an IMAP section part number ("" root, "1", "1.2.3"; RFC 9051
 * §6.4.5: a non-multipart message has part 1 = its body; a
 * message/rfc822 part's subparts continue into the embedded message).
 * Returns the part index, or MIME_PART_NONE if it does not exist. */
uint32_t mime_structure_find(const struct mime_structure *s,
    struct slice section);
/* Appends to out the IMAP BODYSTRUCTURE (extended true) or BODY
 * (extended false) of part idx (0: the whole message), RFC 9051 §7.5.2
 * syntax, strings quoted or as literals as needed. ERR_LIMIT if out is
 * full (out is then as before), ERR_INPUT if idx is not a part. */
int mime_bodystructure(const struct mime_structure *s, uint32_t idx,
    bool extended, struct buf *out);

/* Appends the IMAP ENVELOPE of a header block (RFC 9051 §7.5.2:
 * date subject from sender reply-to to cc bcc in-reply-to message-id;
 * sender and reply-to default to from). Header values are given raw
 * (encoded words stay encoded, as the RFC wants). ERR_LIMIT. */
int mime_envelope(struct slice header_block, struct buf *out);

/* Finds the first field `name` (case-insensitive) in a header block and
 * returns its unfolded raw value. false if absent. The value is written
 * to out (cleared first). */
bool mime_header_get(struct slice header_block, const char *name,
    struct buf *out);
/* Appends to out the fields of the header block whose names are (not,
 * with exclude) in names (n entries), each with its CRLF, followed by the
 * blank line CRLF: BODY[HEADER.FIELDS (...)] / HEADER.FIELDS.NOT. */
int mime_header_filter(struct slice header_block, const struct slice *names,
    size_t n, bool exclude, struct buf *out);

/* Decodes RFC 2047 encoded words of an unfolded header value and
 * converts their charsets (and raw 8-bit bytes, taken as UTF-8 when
 * valid, else ISO-8859-1) to UTF-8, appended to out. Bounded: at most
 * MIME_FIELD_MAX bytes out (ERR_LIMIT beyond). Invalid words are kept
 * as they are. */
int mime_header_decode(struct slice value, struct buf *out);
/* Converts text in charset (any iconv name; "" or unknown: treated as
 * UTF-8 if valid, else ISO-8859-1) to UTF-8, appended to out. Invalid
 * sequences become U+FFFD. */
int mime_charset_to_utf8(const char *charset, struct slice in, struct buf *out);

/* One address of an address list (RFC 5322 §3.4), slices into the value
 * given to mime_address_parse (valid as long as it is). name is the raw
 * display-name phrase (quotes, comments and encoded words as written; for
 * "addr (Name)" the text inside the comment); mailbox the raw local part
 * (quoted if it was). Group syntax gives a start (name set, mailbox and
 * host empty) and an end marker (all empty) as ENVELOPE needs. */
struct mime_address {
	struct slice name, adl, mailbox, host; /* raw; name may be encoded */
	bool group_start, group_end;
};
/* Parses an address list value into at most max addresses (the rest is
 * ignored). Returns how many were written. Never fails: garbage gives
 * what could be understood. */
size_t mime_address_parse(struct slice value, struct mime_address *out,
    size_t max);

/* Parses an RFC 5322 date-time (obsolete forms and common garbage
 * tolerated). true and the unix time (UTC) and the zone offset in
 * minutes. */
bool mime_date_parse(struct slice value, int64_t *time_out,
    int *tz_minutes_out);

/* RFC 5256 §2.1 base subject of a decoded (UTF-8) subject, appended to
 * out: leading Re:/Fwd:/[blob] and trailing (fwd) removed, whitespace
 * collapsed, case folded for comparison. */
int mime_base_subject(struct slice subject, struct buf *out);

#endif
