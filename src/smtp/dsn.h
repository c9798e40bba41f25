/* SPDX-License-Identifier: MIT */
/* Delivery status notifications (RFC 3464, RFC 3461 §6): the bounce,
 * delay, delivered and relayed reports that go to a message's sender, as
 * a multipart/report; report-type=delivery-status message with a human
 * part, the message/delivery-status part, and the original's headers
 * (text/rfc822-headers) or, for RET=FULL, the whole original
 * (message/rfc822). Pure formatting over a write callback: no store
 * calls, so unit tests read the exact bytes. */
#ifndef DESPATCH_SMTP_DSN_H
#define DESPATCH_SMTP_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "store/store.h"

/* RET=FULL attaches at most this many bytes of the original; a larger
 * original is reported with its headers only (RFC 3461 §4.3 allows it). */
#define DSN_FULL_MAX (10 * 1024 * 1024)

enum dsn_action {
	DSN_FAILED,
	DSN_DELAYED,
	DSN_DELIVERED,
	DSN_RELAYED,
};

struct dsn_rcpt {
	const char *rcpt;	 /* Final-Recipient: rfc822;rcpt */
	const char *orcpt;	 /* Original-Recipient as given, NULL: none */
	enum dsn_action action;
	const char *status;	 /* "5.1.1", "4.4.1", "2.0.0" */
	const char *remote_mta;	 /* Remote-MTA: dns;name, NULL: none */
	const char *diagnostic;	 /* Diagnostic-Code: smtp;<reply>, NULL */
	int64_t last_attempt;	 /* Last-Attempt-Date, 0: none */
	int64_t retry_until;	 /* Will-Retry-Until (delayed), 0: none */
};

struct dsn_report {
	const char *reporting_mta; /* our hostname */
	const char *envid;	   /* Original-Envelope-Id, NULL: none */
	const char *sender;	   /* the original MAIL FROM: the report's To */
	int64_t arrival;	   /* Arrival-Date: when we accepted it */
	int64_t now;		   /* Date: of the report */
	enum store_dsn_ret ret;	   /* FULL: the whole original */
	const struct dsn_rcpt *rcpts;
	size_t n_rcpts;
	/* The Message-ID of the report without brackets, e.g. made of
	 * random hex + "@" + hostname; the caller picks it. */
	const char *message_id;
	/* Appended: the original has 8-bit bytes (BODY=8BITMIME or
	 * SMTPUTF8): its attached part is declared 8bit (RFC 2046 §5.2.1
	 * allows no other encoding for message/rfc822). */
	bool original_8bit;
};

/* Reads the original message: up to n bytes into p, *n_out 0 at its end
 * (store_reader_read fits). */
typedef int (*dsn_read_fn)(void *ctx, void *p, size_t n, size_t *n_out,
    struct err *err);
/* Takes the report's bytes (store_msg_write fits). */
typedef int (*dsn_write_fn)(void *ctx, const void *p, size_t n,
    struct err *err);

/* Writes the whole report (CRLF line ends, From: MAILER-DAEMON@ the
 * reporting MTA, Auto-Submitted: auto-replied). The original is read
 * once, streaming; its header block is copied up to its blank line
 * (RET=HDRS or too big) or entirely (RET=FULL within DSN_FULL_MAX,
 * original_size tells). Errors from read or write are returned. */
int dsn_write(const struct dsn_report *r, uint64_t original_size,
    dsn_read_fn read, void *read_ctx, dsn_write_fn write, void *write_ctx,
    struct err *err);

#endif
