/* SPDX-License-Identifier: MIT */
/* From DATA/BDAT bytes to a committed message: trace headers, streaming
 * into the store as bytes arrive (on submission the header block is held
 * first, to add Message-ID and Date when missing), the limits that fail a
 * transaction (which then swallows the rest of its data and answers
 * once), and the commit whose callback alone may say 250: local
 * recipients get a mailbox entry, remote ones a queue row, in one
 * transaction. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "smtp/queue.h"
#include "smtp/session_int.h"
#include "smtp/submit.h"

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
	buf_reset(&s->hold);
	s->holding = s->submission;
	if (store_msg_new(s->srv->st, &s->msg, &err) != 0) {
		log_warn(&s->log, "event=error op=msg_new err=\"%s\"", err.msg);
		return store_code(err.code);
	}
	randombytes_buf(rnd, sizeof(rnd));
	str_hex(s->msgid, rnd, sizeof(rnd));
	(void)gmtime_r(&now, &tm);
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (s->user_id != 0) /* RFC 3848 §2, RFC 6531 §3.7.3: "A" */
		with = s->smtputf8 ? "UTF8SMTPSA" : "ESMTPSA";
	else if (s->smtputf8)
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

static void
write_msg(struct smtp_session *s, const char *p, size_t n)
{
	struct err err = { 0 };

	if (s->txn_error == 0 && n > 0 &&
	    store_msg_write(s->msg, p, n, &err) != 0)
		txn_fail(s, store_code(err.code), "store");
}

/* The held header block (its first hdr_len bytes are the fields) goes to
 * the store, after the fields RFC 6409 §8.2, §8.3 let us add. */
static void
release_hold(struct smtp_session *s, size_t hdr_len)
{
	struct slice hdr = slice_make(s->hold.p, hdr_len);
	unsigned char rnd[16];
	char add[512], id[33], date[64];
	time_t now = time(NULL);
	struct tm tm;
	size_t n = 0;

	s->holding = false;
	if (!smtp_submit_has_field(hdr, SLICE_LIT("Message-ID"))) {
		randombytes_buf(rnd, sizeof(rnd));
		str_hex(id, rnd, sizeof(rnd));
		if (str_fmt(add, sizeof(add), "Message-ID: <%s@%s>\r\n", id,
		        s->hostname))
			n = strlen(add);
	}
	if (!smtp_submit_has_field(hdr, SLICE_LIT("Date"))) {
		(void)gmtime_r(&now, &tm);
		(void)strftime(date, sizeof(date),
		    "%a, %d %b %Y %H:%M:%S +0000", &tm);
		if (str_fmt(add + n, sizeof(add) - n, "Date: %s\r\n", date))
			n += strlen(add + n);
	}
	write_msg(s, add, n);
	write_msg(s, s->hold.p, s->hold.len);
	buf_clear(&s->hold);
	buf_init(&s->hold, SMTP_SUBMIT_HOLD_MAX);
}

/* Submission: holds bytes until the end of the header block (an empty
 * line), then releases them with the missing fields. Past
 * SMTP_SUBMIT_HOLD_MAX the block is streamed as it is. */
static void
hold_output(struct smtp_session *s, const char *p, size_t n)
{
	size_t from = s->hold.len, hdr_len;

	if (buf_append(&s->hold, p, n) != 0) {
		log_info(&s->log, "event=submit-header-unscanned size=%zu",
		    s->hold.len + n);
		s->holding = false;
		write_msg(s, s->hold.p, s->hold.len);
		write_msg(s, p, n);
		buf_clear(&s->hold);
		buf_init(&s->hold, SMTP_SUBMIT_HOLD_MAX);
		return;
	}
	if (smtp_submit_header_end(slice_make(s->hold.p, s->hold.len), from,
	        &hdr_len))
		release_hold(s, hdr_len);
}

/* Message bytes out of the scanner: checked against the limits and
 * streamed to the store while the transaction is healthy. */
static void
take_output(struct smtp_session *s, const char *p, size_t n)
{
	if (s->txn_error != 0)
		return;
	s->body_size += n;
	if (s->body_size > s->max_size)
		txn_fail(s, ERR_LIMIT, "message-size");
	else if (s->scan.received > SMTP_RECEIVED_MAX)
		txn_fail(s, SMTP_TXN_LOOP, "");
	else if (s->scan.bare_seen && s->reject_bare_lf)
		txn_fail(s, SMTP_TXN_BARE, "");
	else if (s->holding && n > 0)
		hold_output(s, p, n);
	else
		write_msg(s, p, n);
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

static enum store_dsn_ret
store_ret(enum smtp_ret r)
{
	switch (r) {
	case SMTP_RET_HDRS:
		return STORE_RET_HDRS;
	case SMTP_RET_FULL:
		return STORE_RET_FULL;
	default:
		return STORE_RET_DEFAULT;
	}
}

/* After the 250: wake the queue for remote recipients, and have it send
 * the "delivered" report for local ones that asked NOTIFY=SUCCESS. */
static void
after_accept(struct smtp_session *s, int64_t message_id)
{
	struct smtp_queue *q = s->srv->queue;
	struct dsn_rcpt *d;
	size_t i;

	if (s->submission)
		smtp_ratelimit_add(s->srv->ratelimit, s->user_id, clock_now(),
		    1, (unsigned)s->n_rcpt);
	if (q == NULL)
		return;
	if (s->n_remote > 0)
		smtp_queue_kick(q);
	if (s->n_notify_ok == 0 || s->sender[0] == '\0')
		return;
	d = xcalloc(s->n_notify_ok, sizeof(*d));
	for (i = 0; i < s->n_notify_ok; i++) {
		d[i].rcpt = s->notify_ok[i].rcpt;
		d[i].orcpt = s->notify_ok[i].orcpt;
		d[i].action = DSN_DELIVERED;
		d[i].status = "2.0.0";
	}
	smtp_queue_notify_delivered(q, message_id, s->sender,
	    s->envid[0] != '\0' ? s->envid : NULL, store_ret(s->ret),
	    clock_now(), d, s->n_notify_ok);
	free(d);
}

static void
commit_done(void *ctx, const struct store_commit_result *res)
{
	struct smtp_session *s = ctx;
	char safe[128], user[AUTH_SASL_ID_MAX + 16];

	xfree(&s->deliveries);
	xfree(&s->outbound);
	s->state = SMTP_STATE_READY;
	if (res->status == 0) {
		s->messages++;
		user[0] = '\0';
		if (s->submission)
			(void)str_fmt(user, sizeof(user),
			    " submission=1 user=%s", s->user);
		log_info(&s->log,
		    "event=accepted id=%s from=\"%s\" rcpts=%zu users=%zu "
		    "remote=%zu size=%llu message=%lld%s",
		    s->msgid,
		    log_safe(safe, sizeof(safe), slice_cstr(s->sender)),
		    s->n_rcpt, s->n_users, s->n_remote,
		    (unsigned long long)s->body_size,
		    (long long)res->message_id, user);
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->msgid);
		after_accept(s, res->message_id);
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
	struct store_envelope env = { 0 };
	size_t i;
	int rc;

	if (s->txn_error == 0 && s->holding)
		release_hold(s, s->hold.len); /* headers only, no body */
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
	if (s->n_remote == 0) {
		rc = store_msg_commit(&s->msg, s->deliveries, s->n_users,
		    commit_done, s);
	} else {
		s->outbound = xcalloc(s->n_remote, sizeof(*s->outbound));
		for (i = 0; i < s->n_remote; i++) {
			s->outbound[i].rcpt = s->remote[i].rcpt;
			s->outbound[i].orcpt = s->remote[i].orcpt;
			s->outbound[i].notify = s->remote[i].notify;
		}
		env.sender = s->sender;
		env.envid = s->envid[0] != '\0' ? s->envid : NULL;
		env.ret = store_ret(s->ret);
		env.smtputf8 = s->smtputf8;
		env.body_8bit = s->body_8bit;
		env.user_id = s->user_id;
		env.now = clock_now();
		env.rcpts = s->outbound;
		env.n_rcpts = s->n_remote;
		rc = store_msg_commit_out(&s->msg, s->deliveries, s->n_users,
		    &env, commit_done, s);
	}
	if (rc != 0) {
		xfree(&s->deliveries);
		xfree(&s->outbound);
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
