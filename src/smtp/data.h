/* SPDX-License-Identifier: MIT */
/* The DATA/BDAT byte scanner: finds the end of data, undoes dot-stuffing,
 * normalises bare CR and LF to CRLF (noting that it did), and counts the
 * Received: fields of the header block. Incremental: input may be split
 * at any byte. No allocation. */
#ifndef DESPATCH_SMTP_DATA_H
#define DESPATCH_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/slice.h"

/* Output space smtp_data_push may need for n input bytes. */
#define SMTP_DATA_OUT_MAX(n) (2 * (n) + 4)

struct smtp_data {
	unsigned state;
	bool dot_mode;  /* DATA: dot-stuffing and CRLF.CRLF; BDAT: neither */
	bool bol_real;  /* the current line began after a real CRLF */
	bool bare_seen; /* a bare CR or LF was normalised */
	/* Header scan over the output. */
	bool in_headers;
	size_t line_len;
	int match; /* bytes of "received:" matched on this line, -1: none */
	unsigned received;
};

/* Starts a message: dot_mode true for DATA (after the 354), false for
 * the chunks of a BDAT transaction. */
void smtp_data_init(struct smtp_data *d, bool dot_mode);

/* Scans `in`, writing the message bytes (dot-unstuffed, every line end
 * CRLF) to out, which has room for SMTP_DATA_OUT_MAX(in.len) bytes.
 * *out_len is what was written, *used_out the input consumed. Returns
 * true when the DATA terminator CRLF "." CRLF was found: *used_out then
 * ends just after it and the terminator is not part of the output (the
 * CRLF that ends the last line is). Only that exact sequence ends DATA:
 * LF.LF, CR.CR, LF.CRLF, CRLF.LF and the like are message content, with
 * their bare CR/LF normalised. Never true in BDAT mode. */
bool smtp_data_push(struct smtp_data *d, struct slice in, char *out,
    size_t *out_len, size_t *used_out);

/* BDAT LAST: flushes a pending CR (as CRLF, a bare CR) into out (room for
 * 4 bytes); *out_len is what was written. */
void smtp_data_finish(struct smtp_data *d, char *out, size_t *out_len);

#endif
