/* SPDX-License-Identifier: MIT */
/* The outbound SMTP client: delivers the queued messages of one domain
 * over one connection (RFC 5321), trying the given hosts in order until
 * one takes the session. Speaks PIPELINING (MAIL, RCPTs and DATA in one
 * write), SIZE, 8BITMIME, SMTPUTF8, DSN (RFC 3461: NOTIFY, ORCPT, RET,
 * ENVID passed on when the server offers it) and opportunistic STARTTLS
 * (no certificate check: RFC 7435; a failed handshake falls back to the
 * next host, not to plaintext on the same connection). The message is
 * streamed from the store with dot-stuffing, CRLF line ends only (a bare
 * CR or LF in stored bytes is sent as CRLF) and without our leading
 * Return-Path: line. Replies are read through smtp/reply.h. Loop thread
 * only. */
#ifndef DESPATCH_SMTP_CLIENT_H
#define DESPATCH_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "smtp/dns.h"
#include "smtp/reply.h"
#include "store/store.h"

struct tls_ctx;

/* What happened to one recipient. */
enum smtp_rcpt_status {
	SMTP_RCPT_PENDING, /* not tried (set by the caller) */
	SMTP_RCPT_OK,	   /* remote 2xx after the data: delivered */
	SMTP_RCPT_TEMP,	   /* 4xx, or the session failed: try later */
	SMTP_RCPT_PERM,	   /* 5xx: bounce */
};

struct smtp_client_rcpt {
	int64_t queue_id;
	const char *addr;
	const char *orcpt;	/* NULL: none */
	unsigned notify;	/* STORE_NOTIFY_* */
	/* Results: */
	enum smtp_rcpt_status status;
	int code;		/* the remote's reply code; 0: none (connect
				 * failed, timeout: reply says what) */
	char reply[SMTP_REPLY_TEXT_MAX + 1]; /* the reply or why, for the
				 * queue's last_reply and the DSN */
};

struct smtp_client_msg {
	int64_t message_id;
	const char *sender;	/* "" null sender */
	const char *envid;	/* NULL: none */
	enum store_dsn_ret ret;
	bool smtputf8, body_8bit;
	uint64_t size;
	struct smtp_client_rcpt *rcpts;
	size_t n_rcpts;
	/* Result: the server that answered (for DSN Remote-MTA) and
	 * whether it offered DSN (if not, NOTIFY=SUCCESS earns a "relayed"
	 * DSN from us). */
	char remote[256];
	bool remote_dsn;
};

struct smtp_client_opts {
	const char *helo;	 /* our hostname */
	struct tls_ctx *tls;	 /* client context; NULL: no STARTTLS */
	unsigned connect_timeout_ms;
	unsigned reply_timeout_ms;
};

struct smtp_client_job {
	const char *domain;		/* for the log */
	const struct dns_host *hosts;	/* tried in order */
	size_t n_hosts;
	struct smtp_client_msg *msgs;	/* delivered in order on one session */
	size_t n_msgs;
};

/* Called once when the job is over: every recipient has status OK, TEMP
 * or PERM. A host that refuses the whole session (connect failure, TLS
 * failure, 4xx/5xx greeting, 421, timeout) makes the client try the next
 * host for the messages not yet done; when every host has failed,
 * recipients get TEMP with the last reason (PERM only when every host
 * answered 5xx to the greeting/EHLO/MAIL). */
typedef void (*smtp_client_cb)(void *ctx, struct smtp_client_job *job);

struct smtp_client;

/* Starts the job; the caller owns job (and what it points to) until cb.
 * cb never runs before the call returns. 0, or ERR_INPUT (no hosts or
 * no messages: cb will not run). */
int smtp_client_start(uv_loop_t *loop, struct store *st,
    const struct smtp_client_opts *opts, struct smtp_client_job *job,
    smtp_client_cb cb, void *ctx, struct smtp_client **out);
/* Aborts a running job at once (shutdown): the connection is dropped
 * and cb runs with every unfinished recipient TEMP ("aborted"), from
 * the loop, not inside this call. */
void smtp_client_abort(struct smtp_client *c);

#endif
