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

/* RFC 3461 DSN parameters: ENVID's value is at most 100 characters and
 * ORCPT's at most 500 (§4.4, §4.2), counted encoded (xtext); decoding
 * only shrinks them. Equal to the store's STORE_ENVID_MAX and
 * STORE_ORCPT_MAX (checked where both are seen). */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500

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

/* Failed AUTH (submission), as IMAP's LOGIN: the answer waits 1 s after
 * the first failure of an address or user, doubling up to 15 s; 10
 * failures ban the address or user for 5 minutes after the last one
 * (a banned attempt is answered the same way, unverified). */
#define SMTP_AUTH_DELAY_BASE_MS 1000u
#define SMTP_AUTH_DELAY_MAX_MS  15000u
#define SMTP_AUTH_BAN_AFTER     10u
#define SMTP_AUTH_BAN_MS        (5u * 60u * 1000u)

/* Submission holds a message's header block in memory until its end, to
 * add Message-ID and Date when missing: at most the MIME parser's limit
 * for a whole header block (MIME_HEADER_BLOCK_MAX). A longer block is
 * streamed as it is, without the added fields. */
#define SMTP_SUBMIT_HOLD_MAX (1024 * 1024)

/* Replies buffered while pipelining before they are sent anyway. */
#define SMTP_REPLY_BUF (16 * 1024)

#endif
