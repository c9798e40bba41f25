/* SPDX-License-Identifier: MIT */
/* Limits of the IMAP layer (STYLE.md §8). Config may lower, never raise,
 * these caps. */
#ifndef DESPATCH_IMAP_LIMITS_H
#define DESPATCH_IMAP_LIMITS_H

/* Command text excluding literals. RFC 7162 §4 asks clients to keep
 * lines under 8192 octets and servers to accept at least that; 8 KiB
 * before login is what Dovecot's login process takes, and 64 KiB after
 * leaves room for long UID sets from clients that do not compress them. */
#define IMAP_LINE_MAX_PREAUTH (8 * 1024)
#define IMAP_LINE_MAX	      (64 * 1024)

/* One buffered literal. Before login only a SASL response or a password
 * arrives in one, and RFC 7888 LITERAL- caps non-synchronizing literals
 * at 4096. After login, literals other than APPEND's message (streamed
 * into the store, bounded by the message size) are search strings and
 * mailbox names. */
#define IMAP_LITERAL_MAX_PREAUTH 4096
#define IMAP_LITERAL_MAX	 (64 * 1024)

/* Literals in one command: a flood of tiny literals costs a round trip
 * or a buffer each. MULTIAPPEND of many messages is bounded separately. */
#define IMAP_LITERALS_MAX_PREAUTH 4
#define IMAP_LITERALS_MAX	  1000
#define IMAP_APPEND_MESSAGES_MAX  1000

/* Parenthesis nesting: deep enough for any real SEARCH. */
#define IMAP_DEPTH_MAX_PREAUTH 4
#define IMAP_DEPTH_MAX	       64

/* Syntax errors (BAD) before the session is closed with BYE. */
#define IMAP_BAD_MAX_PREAUTH 10
#define IMAP_BAD_MAX	     20

/* Session memory (the session arena budget) and per-command memory. */
#define IMAP_ARENA_PREAUTH (1024 * 1024)
#define IMAP_ARENA	   (16 * 1024 * 1024)
#define IMAP_CMD_ARENA	   (16 * 1024 * 1024)

/* Autologout timers (RFC 9051 §5.4: at least 30 minutes once logged
 * in; a short one before login). */
#define IMAP_TIMEOUT_PREAUTH_MS (60u * 1000u)
#define IMAP_TIMEOUT_AUTH_MS	(30u * 60u * 1000u)

/* Failed logins: each failure delays the answer; past the ban count a
 * peer address (or a user name) is refused for the ban time. The same
 * answer is given for an unknown user and a wrong password. */
#define IMAP_AUTH_DELAY_BASE_MS 1000u
#define IMAP_AUTH_DELAY_MAX_MS	15000u

/* Sessions at once over all IMAP listeners, and from one client
 * address (Dovecot's login processes default to 1000 clients; a flood
 * from one address must not take them all). Past either cap: "* BYE" and
 * close. Defaults (lib/config.c) 1000 and 50; config may lower these hard
 * caps. Loopback peers are exempt from the per-address cap unless
 * imap.limit_loopback is set. */
#define IMAP_CONNS_MAX	      10000
#define IMAP_CONNS_PER_IP_MAX 1000

/* Slow senders (slowloris): every byte resets the idle timer, so a
 * command (or an AUTHENTICATE or IDLE line) trickled one byte at a time
 * would hold the session for days. From its first byte to its end,
 * literals included (APPEND's message too), a command must arrive within
 * IMAP_COMMAND_TIME_MAX seconds plus one second per
 * IMAP_COMMAND_RATE_MIN bytes; past that: "* BYE" and close. Config may
 * lower the base time (imap.command_time_seconds), not the rate. */
#define IMAP_COMMAND_TIME_MAX 300
#define IMAP_COMMAND_RATE_MIN 500

/* Output queued before streaming commands (FETCH) wait for a drain. */
#define IMAP_OUT_HIGH (256 * 1024)
#define IMAP_OUT_LOW  (64 * 1024)

#endif
