/* SPDX-License-Identifier: MIT */
/* From DATA/BDAT bytes to a committed message: trace headers, streaming
 * into the store as bytes arrive, the limits that fail a transaction
 * (which then swallows the rest of its data and answers once), and the
 * commit whose callback alone may say 250. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/mem.h"
#include "lib/str.h"
#include "smtp/session_int.h"

#include "lib/banned.h"

const char *
smtp_txn_error_text(int code)
{
	switch (code) {
	case ERR_LIMIT:
		return "552 5.3.4 Message too big or too complex";
	case ERR_FULL:
		return "452 4.3.1 Insufficient system storage";
	case SMTP_TXN_LOOP:
		return "554 5.4.6 Too many Received: fields, mail loop";
	case SMTP_TXN_BARE:
		return "550 5.6.0 Bare CR or LF in message data";
	case SMTP_TXN_SEQUENCE:
		return "503 5.5.1 Bad sequence of commands";
	default: /* ERR_TEMP, ERR_INTERNAL and anything unexpected */
		return "451 4.3.0 Temporary storage failure, try again later";
	}
}

static const char *
txn_error_name(int code)
{
	switch (code) {
	case SMTP_TXN_LOOP:
		return "loop";
	case SMTP_TXN_BARE:
		return "bare-cr-lf";
	case SMTP_TXN_SEQUENCE:
		return "sequence";
	default:
		return err_name(code);
	}
}

/* The transaction has failed: drop what was staged, keep reading. */
static void
txn_fail(struct smtp_session *s, int code, const char *detail)
{
	if (s->txn_error != 0)
		return;
	s->txn_error = code;
	store_msg_free(&s->msg);
	log_info(&s->log, "event=reject cmd=%s reason=%s size=%llu%s%s",
	    s->bdat_used ? "BDAT" : "DATA", txn_error_name(code),
	    (unsigned long long)s->body_size, detail[0] ? " detail=" : "",
	    detail);
}

/* ERR_* from the store mapped to what we answer: only ERR_LIMIT and
 * ERR_FULL are special, every other failure is temporary. */
static int
store_code(int rc)
{
	return rc == ERR_LIMIT || rc == ERR_FULL ? rc : ERR_TEMP;
}

int
smtp_ingest_begin(struct smtp_session *s, bool dot_mode)
{
	unsigned char rnd[12];
	char hdr[2048], date[64];
	const char *with;
	struct err err = { 0 };
	time_t now = time(NULL);
	struct tm tm;
	bool ip6 = strchr(s->peer, ':') != NULL;

	smtp_data_init(&s->scan, dot_mode);
	s->body_size = 0;
	s->txn_error = 0;
	if (store_msg_new(s->srv->st, &s->msg, &err) != 0) {
		log_warn(&s->log, "event=error op=msg_new err=\"%s\"", err.msg);
		return store_code(err.code);
	}
	randombytes_buf(rnd, sizeof(rnd));
	str_hex(s->msgid, rnd, sizeof(rnd));
	(void)gmtime_r(&now, &tm);
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (s->smtputf8)
		with = s->tls_on ? "UTF8SMTPS" : "UTF8SMTP";
	else if (s->esmtp)
		with = s->tls_on ? "ESMTPS" : "ESMTP";
	else
		with = s->tls_on ? "SMTPS" : "SMTP";
	/* RFC 5321 §4.4: Return-Path first, then our Received: stamp. */
	if (!str_fmt(hdr, sizeof(hdr),
	        "Return-Path: <%s>\r\n"
	        "Received: from %s ([%s%s])\r\n"
	        "\tby %s (despatch) with %s id %s;\r\n"
	        "\t%s\r\n",
	        s->sender, s->helo, ip6 ? "IPv6:" : "", s->peer, s->hostname,
	        with, s->msgid, date)) {
		store_msg_free(&s->msg);
		return ERR_INTERNAL;
	}
	if (store_msg_write(s->msg, hdr, strlen(hdr), &err) != 0) {
		log_warn(&s->log, "event=error op=msg_write err=\"%s\"",
		    err.msg);
		store_msg_free(&s->msg);
		return store_code(err.code);
	}
	return 0;
}

/* Message bytes out of the scanner: checked against the limits and
 * streamed to the store while the transaction is healthy. */
static void
take_output(struct smtp_session *s, const char *p, size_t n)
{
	struct err err = { 0 };

	if (s->txn_error != 0)
		return;
	s->body_size += n;
	if (s->body_size > s->max_size)
		txn_fail(s, ERR_LIMIT, "message-size");
	else if (s->scan.received > SMTP_RECEIVED_MAX)
		txn_fail(s, SMTP_TXN_LOOP, "");
	else if (s->scan.bare_seen && s->reject_bare_lf)
		txn_fail(s, SMTP_TXN_BARE, "");
	else if (n > 0 && store_msg_write(s->msg, p, n, &err) != 0)
		txn_fail(s, store_code(err.code), "store");
}

static void
after_transaction(struct smtp_session *s)
{
	smtp_txn_reset(s);
	if (s->shutdown_pending && s->conn != NULL) {
		smtp_close_421(s, "4.3.2 Service shutting down");
		return;
	}
}

static void
commit_done(void *ctx, const struct store_commit_result *res)
{
	struct smtp_session *s = ctx;
	char safe[128];

	xfree(&s->deliveries);
	s->state = SMTP_STATE_READY;
	if (res->status == 0) {
		s->messages++;
		log_info(&s->log,
		    "event=accepted id=%s from=\"%s\" rcpts=%zu users=%zu "
		    "size=%llu message=%lld",
		    s->msgid,
		    log_safe(safe, sizeof(safe), slice_cstr(s->sender)),
		    s->n_rcpt, s->n_users, (unsigned long long)s->body_size,
		    (long long)res->message_id);
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->msgid);
	} else {
		log_warn(&s->log, "event=commit-failed id=%s err=%s msg=\"%s\"",
		    s->msgid, err_name(res->status), res->err.msg);
		smtp_reply(s, "%s",
		    smtp_txn_error_text(store_code(res->status)));
	}
	after_transaction(s);
	if (s->conn == NULL) {
		smtp_session_maybe_free(s);
		return;
	}
	smtp_flush(s);
	if (!s->closing)
		net_conn_resume(s->conn);
}

/* The end of data: answer a failed transaction, or commit. */
static void
finish_message(struct smtp_session *s)
{
	struct err err = { 0 };
	size_t i;

	if (s->txn_error == 0 && store_msg_finish(s->msg, &err) != 0)
		txn_fail(s, store_code(err.code), "finish");
	if (s->txn_error != 0) {
		smtp_reply(s, "%s", smtp_txn_error_text(s->txn_error));
		after_transaction(s);
		return;
	}
	s->deliveries = xcalloc(s->n_users, sizeof(*s->deliveries));
	for (i = 0; i < s->n_users; i++) {
		s->deliveries[i].user_id = s->users[i];
		s->deliveries[i].mailbox = "INBOX";
	}
	/* Nothing more is read until the commit answers; the callback may
	 * run inline (a store without a loop). */
	s->state = SMTP_STATE_COMMIT;
	if (s->conn != NULL)
		net_conn_pause(s->conn);
	if (store_msg_commit(&s->msg, s->deliveries, s->n_users, commit_done,
	        s) != 0) {
		xfree(&s->deliveries);
		s->state = SMTP_STATE_READY;
		log_error(&s->log, "event=error op=commit err=refused");
		smtp_reply(s, "%s", smtp_txn_error_text(ERR_INTERNAL));
		after_transaction(s);
		if (s->conn != NULL && !s->closing)
			net_conn_resume(s->conn);
	}
}

size_t
smtp_ingest_data(struct smtp_session *s, struct slice in)
{
	size_t n = in.len < NET_CONN_INBUF ? in.len : NET_CONN_INBUF;
	size_t ol = 0, used = 0;
	bool end;

	end = smtp_data_push(&s->scan, slice_make(in.p, n), s->out, &ol, &used);
	take_output(s, s->out, ol);
	if (end) {
		s->input = SMTP_IN_LINE;
		finish_message(s);
	}
	return used;
}

size_t
smtp_ingest_chunk(struct smtp_session *s, struct slice in)
{
	size_t n = in.len < NET_CONN_INBUF ? in.len : NET_CONN_INBUF;
	size_t ol = 0, used = 0;

	if (n > s->chunk_left)
		n = (size_t)s->chunk_left;
	if (s->txn_error == 0) {
		(void)smtp_data_push(&s->scan, slice_make(in.p, n), s->out, &ol,
		    &used);
		take_output(s, s->out, ol);
	}
	s->chunk_left -= n;
	if (s->chunk_left == 0)
		smtp_ingest_chunk_end(s);
	return n;
}

void
smtp_ingest_chunk_end(struct smtp_session *s)
{
	size_t ol = 0;

	s->input = SMTP_IN_LINE;
	if (s->txn_error == SMTP_TXN_SEQUENCE && !s->bdat_used) {
		s->txn_error = 0;
		smtp_reply_error(s, "503 5.5.1 Bad sequence of commands");
		return;
	}
	if (!s->chunk_last) {
		if (s->txn_error != 0)
			smtp_reply(s, "%s", smtp_txn_error_text(s->txn_error));
		else
			smtp_reply(s, "250 2.0.0 %llu octets received",
			    (unsigned long long)s->body_size);
		return;
	}
	if (s->txn_error == 0) {
		smtp_data_finish(&s->scan, s->out, &ol);
		take_output(s, s->out, ol);
	}
	finish_message(s);
}
