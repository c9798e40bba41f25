/* SPDX-License-Identifier: MIT */
/* Hard caps of the SMTP server. The config may lower a cap, never raise
 * it (smtp_server_start clamps). */
#ifndef DESPATCH_SMTP_LIMITS_H
#define DESPATCH_SMTP_LIMITS_H

/* A command line, CRLF excluded. RFC 5321 §4.5.3.1.4 requires 512;
 * Postfix allows 2048 and so do we. Longer: 500 5.5.2, the line is
 * discarded up to its LF and the session goes on. */
#define SMTP_LINE_MAX 2048

/* A reverse- or forward-path's mailbox (local@domain), brackets
 * excluded. RFC 5321 §4.5.3.1.3 caps a path at 256 octets including the
 * angle brackets, so 254 for what is inside. */
#define SMTP_MAILBOX_MAX 254

/* Recipients per transaction. RFC 5321 §4.5.3.1.8 requires at least 100;
 * past the cap the client gets 452 4.5.3 and sends the rest later. */
#define SMTP_RCPT_MAX 1000

/* 5xx answers to syntax and sequence errors before the session is cut
 * with 421 (nginx max_errors, Postfix smtpd_hard_error_limit). */
#define SMTP_ERRORS_MAX 10

/* Everything a session allocates for itself (recipients, names). Port 25
 * is "before auth", so the tight budget of STYLE.md §8. */
#define SMTP_SESSION_ARENA (1024 * 1024)

/* The largest message (DATA/BDAT bytes after unstuffing), whatever the
 * config says: 1 GiB. The default is 50 MiB (lib/config.c). */
#define SMTP_MESSAGE_MAX (1024ULL * 1024 * 1024)

/* More Received: fields than this in the incoming header block is a mail
 * loop (RFC 5321 §6.3 suggests 100): 554 5.4.6. */
#define SMTP_RECEIVED_MAX 100

/* Idle time allowed between commands and inside DATA, in seconds. RFC
 * 5321 §4.5.3.2.7 asks for 5 minutes; config may lower it. */
#define SMTP_TIMEOUT_MAX 300

/* Replies buffered while pipelining before they are sent anyway. */
#define SMTP_REPLY_BUF (16 * 1024)

#endif
