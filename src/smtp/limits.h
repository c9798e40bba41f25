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

/* Sessions at once over all SMTP listeners, and from one client address.
 * Each session costs a descriptor, its input buffer and its arena; a
 * flood from one address must not take every slot (Postfix's anvil
 * allows 50 per client by default). Past either cap the new connection
 * gets 421 4.7.0 and is closed. Defaults (lib/config.c): 1000 and 50;
 * config may lower these hard caps. Loopback peers are exempt from the
 * per-address cap unless smtp.limit_loopback is set (local tools and
 * benchmarks open many sessions from 127.0.0.1). */
#define SMTP_CONNS_MAX	      10000
#define SMTP_CONNS_PER_IP_MAX 1000

/* Slow senders (slowloris): the idle timeout is reset by every byte, so
 * a client trickling one byte every few seconds would hold a session for
 * hours. A message's data (DATA, or all BDAT chunks of a transaction)
 * must arrive within SMTP_DATA_TIME_MAX seconds plus one second per
 * SMTP_DATA_RATE_MIN bytes received (Postfix 3.7's smtpd_min_data_rate,
 * 500 bytes/s); past that: 421 4.4.2 and close. A command line (at most
 * SMTP_LINE_MAX bytes, or one being discarded as too long) must likewise
 * be whole within SMTP_DATA_TIME_MAX seconds of its first byte. Config may
 * lower the base time (smtp.data_time_seconds), not the rate. */
#define SMTP_DATA_TIME_MAX 300
#define SMTP_DATA_RATE_MIN 500

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
