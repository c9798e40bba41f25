/* SPDX-License-Identifier: MIT */
/* The MIME parser's hard limits. Passing one is ERR_LIMIT (SMTP answers
 * 552 5.3.4 after swallowing the rest of DATA); nothing is ever truncated.
 * Config may lower a limit, never raise it past these caps. */
#ifndef DESPATCH_MIME_LIMITS_H
#define DESPATCH_MIME_LIMITS_H

/* One header field, from the first byte of its name to the line break that
 * ends its last folded line, all folding included. The parser holds a field
 * whole to parse it, so this bounds its buffer. RFC 5322 §2.1.1 caps a line
 * at 998 characters but lets a field fold without end; OpenSMTPD caps a
 * header value at 64 KiB, and no legitimate field comes near it (the
 * longest seen in practice are DKIM signatures and long To: lists). */
#define MIME_FIELD_MAX (64 * 1024)

/* One part's whole header block: every field plus the blank line that ends
 * it. Headers are streamed field by field, so this does not bound memory;
 * it bounds the work an adversary can make us do on a single header
 * (thousands of Received: or To: fields) and matches STYLE.md's table. */
#define MIME_HEADER_BLOCK_MAX (1024 * 1024)

/* Nesting depth of parts: the message itself is depth 0, a part of a
 * top-level multipart is depth 1. The parser keeps one boundary per
 * multipart level (fixed array, no recursion); Dovecot's
 * message-parser.h uses the same default. A part at depth 101 fails. */
#define MIME_DEPTH_MAX 100

/* Parts in one message, the message itself included. Every leaf becomes a
 * blob reference in the skeleton and a row in the store, so this bounds
 * the per-message bookkeeping (Dovecot's default too). Part 10 001 fails. */
#define MIME_PARTS_MAX 10000

/* Longest boundary parameter we treat as one. RFC 2046 §5.1.1 allows 70
 * characters; a longer (or empty) boundary makes the part a leaf instead
 * of an error: the bytes are still kept exactly, only not split. */
#define MIME_BOUNDARY_MAX 200

/* Transport padding (RFC 2046 §5.1.1: whitespace after a boundary) that a
 * boundary line may carry and still be recognised. A longer run makes the
 * line ordinary body text; it bounds the parser's look-ahead buffer. */
#define MIME_PADDING_MAX 256

/* RFC 2231 parameter value continuations (name*0, name*1, ...): most
 * sections of one parameter. Section numbers are read into a fixed table
 * of this many slots, so a value like name*99999 cannot make us allocate
 * or scan a sparse range. Mail user agents split at about 60-78
 * characters per section, so a 255-byte UTF-8 file name percent-encoded
 * (three characters a byte) needs about 13; Dovecot's limit on the
 * parameters of a field is 256. A section number at or past this is
 * ERR_LIMIT. */
#define MIME_RFC2231_SECTIONS_MAX 100

/* Bytes of one decoded parameter value, after the charset conversion to
 * UTF-8 (which can triple an invalid byte into U+FFFD). A field is at
 * most MIME_FIELD_MAX, and percent-decoding only shrinks it, so this
 * bounds the conversion's output; file names are at most 255 bytes on
 * common file systems, and the longest real parameters (URLs of
 * message/external-body) stay far below. Past it: ERR_LIMIT. */
#define MIME_RFC2231_VALUE_MAX 8192

#endif
