/* SPDX-License-Identifier: MIT */
/* The SMTP client's reply parser (RFC 5321 §4.2): incremental over the
 * bytes a remote server sends, one reply (one or more lines "ddd-text",
 * last "ddd text") at a time, bounded: a line over SMTP_REPLY_LINE_MAX or
 * a reply over SMTP_REPLY_LINES_MAX lines is an error, never a growing
 * buffer. Pure code: no allocation, no I/O. */
#ifndef DESPATCH_SMTP_REPLY_H
#define DESPATCH_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/slice.h"

/* RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with CRLF; we
 * accept up to 2048 (some servers exceed it) and no more. */
#define SMTP_REPLY_LINE_MAX 2048
/* Lines in one reply (an EHLO reply lists each extension on one). */
#define SMTP_REPLY_LINES_MAX 100
/* Text kept of a reply for logs, the queue's last_reply and DSNs: the
 * lines joined by " / ", cut here. */
#define SMTP_REPLY_TEXT_MAX 512

enum smtp_reply_rc {
	SMTP_REPLY_MORE,     /* consumed everything, no complete reply yet */
	SMTP_REPLY_DONE,     /* a complete reply is in the struct */
	SMTP_REPLY_BAD,	     /* not a reply (no 3-digit code, codes of
			      * lines differ, bare LF ...): drop the session */
	SMTP_REPLY_TOO_LONG, /* a line or the line count over the limit */
};

struct smtp_reply {
	/* Result, valid after SMTP_REPLY_DONE: */
	int code;		 /* 200..599 */
	char enhanced[16];	 /* "5.1.1" when the text starts with one */
	char text[SMTP_REPLY_TEXT_MAX + 1]; /* "550 5.1.1 No such user",
				  * printable ASCII (others as '?') */
	unsigned n_lines;
	/* EHLO keywords seen in this reply (set while parsing every reply;
	 * meaningful after EHLO): */
	bool ext_pipelining, ext_size, ext_8bitmime, ext_smtputf8,
	    ext_starttls, ext_dsn, ext_enhancedstatuscodes, ext_chunking;
	unsigned long long ext_size_max; /* SIZE's value, 0: none given */

	/* Parser state: */
	char line[SMTP_REPLY_LINE_MAX + 2];
	size_t line_len;
	bool in_reply;
	int line_code;
};

void smtp_reply_init(struct smtp_reply *r);
/* Feeds bytes: *used_out is how many of `in` were consumed (at most up
 * to the end of a complete reply, so that pipelined replies come out one
 * per call). After DONE the next call starts the next reply. */
enum smtp_reply_rc smtp_reply_push(struct smtp_reply *r, struct slice in,
    size_t *used_out);

#endif
