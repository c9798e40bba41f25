/* SPDX-License-Identifier: MIT */
/* The SMTP commands: one const table of {verb, allowed states, handler}
 * (OpenSMTPD commands[]) and the handlers of RFC 5321 §4.1.1, RFC 3207
 * STARTTLS, RFC 3030 BDAT, RFC 3461 DSN parameters and, on submission,
 * the rules of an authenticated sender (RFC 6409). */
#include <string.h>

#include "lib/clock.h"
#include "lib/str.h"
#include "net/tls_int.h"
#include "smtp/session_int.h"

#include "lib/banned.h"

struct smtp_cmd {
	const char *verb;
	unsigned states; /* SMTP_STATE_* bits where it is allowed */
	void (*handler)(struct smtp_session *s, struct slice args);
	bool needs_auth; /* on submission: 530 before AUTH */
};

_Static_assert(SMTP_ENVID_MAX == STORE_ENVID_MAX, "ENVID limits differ");
_Static_assert(SMTP_ORCPT_MAX == STORE_ORCPT_MAX, "ORCPT limits differ");
_Static_assert(SMTP_NOTIFY_SUCCESS == STORE_NOTIFY_SUCCESS &&
        SMTP_NOTIFY_FAILURE == STORE_NOTIFY_FAILURE &&
        SMTP_NOTIFY_DELAY == STORE_NOTIFY_DELAY &&
        SMTP_NOTIFY_NEVER == STORE_NOTIFY_NEVER,
    "NOTIFY bits differ");

/* Copies a client string for a log line. */
#define SAFE(buf, sl) log_safe((buf), sizeof(buf), (sl))

static void
cmd_helo_common(struct smtp_session *s, struct slice args, bool esmtp)
{
	char safe[128];
	size_t i, n;

	args = slice_trim(args);
	if (args.len == 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return;
	}
	/* Kept for the Received: field: printable ASCII only, so that a
	 * client cannot inject header syntax. */
	n = args.len < sizeof(s->helo) - 1 ? args.len : sizeof(s->helo) - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)args.p[i];

		s->helo[i] =
		    (c > 32 && c < 127 && c != '(' && c != ')' && c != ';')
		    ? (char)c
		    : '?';
	}
	s->helo[n] = '\0';
	s->esmtp = esmtp;
	s->state = SMTP_STATE_READY;
	smtp_txn_reset(s);
	log_info(&s->log, "event=helo helo=\"%s\" esmtp=%d tls=%d",
	    SAFE(safe, args), esmtp, s->tls_on);
}

static void
cmd_ehlo(struct smtp_session *s, struct slice args)
{
	cmd_helo_common(s, args, true);
	if (s->state != SMTP_STATE_READY)
		return;
	smtp_reply(s, "250-%s Hello %s [%s]", s->hostname, s->helo, s->peer);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %llu", (unsigned long long)s->max_size);
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-DSN");
	if (s->tls != NULL && !s->tls_on)
		smtp_reply(s, "250-STARTTLS");
	/* RFC 4954 §4 allows hiding AUTH until TLS: no password is ever
	 * invited over plaintext. */
	if (s->submission && s->tls_on)
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250 CHUNKING");
}

static void
cmd_helo(struct smtp_session *s, struct slice args)
{
	cmd_helo_common(s, args, false);
	if (s->state == SMTP_STATE_READY)
		smtp_reply(s, "250 %s", s->hostname);
}

/* Submission: the sender must be one of the user's own addresses (not
 * the null path), and the user within their hourly message limit. Replies
 * and returns false otherwise. */
static bool
submit_sender_ok(struct smtp_session *s, const struct smtp_path *p)
{
	struct err err = { 0 };
	char safe[128];
	bool owned = false;

	if (p->len == 0) {
		log_info(&s->log,
		    "event=reject cmd=MAIL reason=null-sender user=%s",
		    s->user);
		smtp_reply(s,
		    "553 5.7.1 Sender address rejected: not owned "
		    "by you");
		return false;
	}
	if (store_addr_owned(s->srv->st, s->user_id,
	        slice_make(p->addr, p->len), &owned, &err) != 0) {
		log_warn(&s->log, "event=error cmd=MAIL err=\"%s\"", err.msg);
		smtp_reply(s, "451 4.3.0 Temporary lookup failure");
		return false;
	}
	if (!owned) {
		log_info(&s->log,
		    "event=reject cmd=MAIL reason=not-owned user=%s "
		    "from=\"%s\"",
		    s->user, SAFE(safe, slice_make(p->addr, p->len)));
		smtp_reply(s,
		    "553 5.7.1 Sender address rejected: not owned "
		    "by you");
		return false;
	}
	if (!smtp_ratelimit_allows(s->srv->ratelimit, s->user_id, clock_now(),
	        1, 0)) {
		log_info(&s->log,
		    "event=reject cmd=MAIL reason=rate-messages user=%s",
		    s->user);
		smtp_reply(s,
		    "451 4.7.1 Too many messages this hour, try "
		    "again later");
		return false;
	}
	return true;
}

static void
cmd_mail(struct smtp_session *s, struct slice args)
{
	struct smtp_mail_args m;
	char safe[128];

	if (s->srv->shutting_down) {
		smtp_close_421(s, "4.3.2 Service shutting down");
		return;
	}
	switch (smtp_parse_mail(args, &m)) {
	case SMTP_PARSE_OK:
		break;
	case SMTP_PARSE_SYNTAX:
		smtp_reply_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	case SMTP_PARSE_BAD_ADDR:
		smtp_reply_error(s, "501 5.1.7 Bad sender address syntax");
		return;
	case SMTP_PARSE_TOO_LONG:
		smtp_reply_error(s, "501 5.1.7 Sender address too long");
		return;
	case SMTP_PARSE_BAD_PARAM:
		smtp_reply_error(s, "555 5.5.4 Unsupported MAIL parameter");
		return;
	case SMTP_PARSE_NEED_UTF8:
		smtp_reply_error(s, "553 5.6.7 UTF-8 address needs SMTPUTF8");
		return;
	}
	if (m.has_size && m.size > s->max_size) {
		log_info(&s->log, "event=reject cmd=MAIL reason=size size=%llu",
		    (unsigned long long)m.size);
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	if (s->submission && !submit_sender_ok(s, &m.path))
		return;
	memcpy(s->sender, m.path.addr, m.path.len + 1);
	s->smtputf8 = m.smtputf8;
	s->body_8bit = m.body == SMTP_BODY_8BITMIME;
	s->ret = m.ret;
	memcpy(s->envid, m.envid, sizeof(s->envid));
	s->state = SMTP_STATE_MAIL;
	log_debug(&s->log, "event=mail from=\"%s\"",
	    SAFE(safe, slice_make(m.path.addr, m.path.len)));
	smtp_reply(s, "250 2.1.0 Ok");
}

/* Adds the resolved user ids, each once (an alias and its target, or two
 * aliases sharing a user, deliver one copy). */
static bool
add_users(struct smtp_session *s, const int64_t *ids, size_t n)
{
	size_t i, j, cap;
	int64_t *p;

	for (i = 0; i < n; i++) {
		for (j = 0; j < s->n_users; j++)
			if (s->users[j] == ids[i])
				break;
		if (j < s->n_users)
			continue;
		if (s->n_users == s->cap_users) {
			cap = s->cap_users ? s->cap_users * 2 : 16;
			p = arena_alloc(s->txn, cap * sizeof(*p));
			if (p == NULL)
				return false;
			if (s->n_users > 0)
				memcpy(p, s->users, s->n_users * sizeof(*p));
			s->users = p;
			s->cap_users = cap;
		}
		s->users[s->n_users++] = ids[i];
	}
	return true;
}

static bool
has_rec(const struct smtp_rcpt_rec *v, size_t n, struct slice addr)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (slice_eq(slice_cstr(v[i].rcpt), addr))
			return true;
	return false;
}

/* Appends a recipient record (strings copied into the transaction
 * arena). false when the arena's budget is spent. */
static bool
add_rec(struct smtp_session *s, struct smtp_rcpt_rec **v, size_t *n,
    size_t *cap, struct slice addr, const struct smtp_rcpt_args *r)
{
	struct smtp_rcpt_rec *p;
	char *a, *o = NULL;
	size_t c;

	if (*n == *cap) {
		c = *cap ? *cap * 2 : 8;
		p = arena_alloc(s->txn, c * sizeof(*p));
		if (p == NULL)
			return false;
		if (*n > 0)
			memcpy(p, *v, *n * sizeof(*p));
		*v = p;
		*cap = c;
	}
	a = arena_alloc(s->txn, addr.len + 1);
	if (a == NULL)
		return false;
	memcpy(a, addr.p, addr.len);
	a[addr.len] = '\0';
	if (r->has_orcpt) {
		c = strlen(r->orcpt);
		o = arena_alloc(s->txn, c + 1);
		if (o == NULL)
			return false;
		memcpy(o, r->orcpt, c + 1);
	}
	(*v)[*n] = (struct smtp_rcpt_rec){ a, o, r->notify };
	(*n)++;
	return true;
}

static void
cmd_rcpt(struct smtp_session *s, struct slice args)
{
	struct smtp_rcpt_args r;
	enum store_addr_status st;
	int64_t ids[STORE_TARGETS_MAX];
	char pm[SMTP_MAILBOX_MAX + 1], safe[128];
	struct slice addr;
	struct err err = { 0 };
	size_t n = 0;

	switch (smtp_parse_rcpt(args, s->smtputf8, &r)) {
	case SMTP_PARSE_OK:
		break;
	case SMTP_PARSE_SYNTAX:
		smtp_reply_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	case SMTP_PARSE_BAD_ADDR:
		smtp_reply_error(s, "501 5.1.3 Bad recipient address syntax");
		return;
	case SMTP_PARSE_TOO_LONG:
		smtp_reply_error(s, "501 5.1.3 Recipient address too long");
		return;
	case SMTP_PARSE_BAD_PARAM:
		smtp_reply_error(s, "555 5.5.4 Unsupported RCPT parameter");
		return;
	case SMTP_PARSE_NEED_UTF8:
		smtp_reply_error(s, "553 5.6.7 UTF-8 address needs SMTPUTF8");
		return;
	}
	if (s->n_rcpt >= s->max_rcpt) {
		smtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	addr = slice_make(r.path.addr, r.path.len);
	if (r.postmaster) { /* RFC 5321 §4.5.1: postmaster of our host */
		if (!str_fmt(pm, sizeof(pm), "postmaster@%s", s->hostname)) {
			smtp_reply(s, "550 5.1.1 No such user");
			return;
		}
		addr = slice_cstr(pm);
	}
	if (store_addr_resolve(s->srv->st, addr, &st, ids, STORE_TARGETS_MAX,
	        &n, &err) != 0) {
		log_warn(&s->log, "event=error cmd=RCPT err=\"%s\"", err.msg);
		smtp_reply(s, "451 4.3.0 Temporary lookup failure");
		return;
	}
	if (s->submission &&
	    !smtp_ratelimit_allows(s->srv->ratelimit, s->user_id, clock_now(),
	        1, (unsigned)s->n_rcpt + 1)) {
		log_info(&s->log,
		    "event=reject cmd=RCPT reason=rate-recipients user=%s",
		    s->user);
		smtp_reply(s,
		    "451 4.7.1 Too many recipients this hour, try "
		    "again later");
		return;
	}
	switch (st) {
	case STORE_ADDR_LOCAL:
		break;
	case STORE_ADDR_FOREIGN:
		if (!s->submission)
			goto relay;
		/* An authenticated user's mail to the world: queued, once
		 * per address however often it is named. */
		if (!has_rec(s->remote, s->n_remote, addr) &&
		    !add_rec(s, &s->remote, &s->n_remote, &s->cap_remote, addr,
		        &r)) {
			smtp_reply(s, "452 4.5.3 Too many recipients");
			return;
		}
		s->n_rcpt++;
		s->state = SMTP_STATE_RCPT;
		smtp_reply(s, "250 2.1.5 Ok");
		return;
	case STORE_ADDR_UNKNOWN_USER:
		log_info(&s->log,
		    "event=reject cmd=RCPT reason=unknown-user "
		    "rcpt=\"%s\"",
		    SAFE(safe, addr));
		smtp_reply_error(s, "550 5.1.1 No such user here");
		return;
	default:
	relay:
		log_info(&s->log,
		    "event=reject cmd=RCPT reason=relay rcpt=\"%s\"",
		    SAFE(safe, addr));
		smtp_reply_error(s, "554 5.7.1 Relay access denied");
		return;
	}
	if (n == 0 || !add_users(s, ids, n) ||
	    ((r.notify & SMTP_NOTIFY_SUCCESS) &&
	        !add_rec(s, &s->notify_ok, &s->n_notify_ok, &s->cap_notify_ok,
	            addr, &r))) {
		smtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	s->n_rcpt++;
	s->state = SMTP_STATE_RCPT;
	smtp_reply(s, "250 2.1.5 Ok");
}

static void
cmd_data(struct smtp_session *s, struct slice args)
{
	int rc;

	if (args.len > 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->state == SMTP_STATE_MAIL) {
		smtp_reply_error(s, "554 5.5.1 No valid recipients");
		return;
	}
	rc = smtp_ingest_begin(s, true);
	if (rc != 0) {
		smtp_reply(s, "%s", smtp_txn_error_text(rc));
		smtp_txn_reset(s);
		return;
	}
	s->state = SMTP_STATE_DATA;
	s->input = SMTP_IN_DATA;
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* BDAT chunk-size [SP "LAST"] (RFC 3030 §2). The chunk's bytes follow at
 * once, so every outcome must still read exactly chunk-size bytes. */
static void
cmd_bdat(struct smtp_session *s, struct slice args)
{
	struct slice size_s = args, last = { 0 };
	size_t sp = slice_find(args, ' ');
	uint64_t size;

	if (sp != SIZE_MAX) {
		size_s = slice_make(args.p, sp);
		last = slice_skip(args, sp + 1);
	}
	if (size_s.len == 0 || size_s.len > 20 ||
	    num_parse_u64_slice(size_s, 0, UINT64_MAX, &size) != 0 ||
	    (last.len > 0 && !slice_eq_ci(last, SLICE_LIT("LAST")))) {
		/* No size we trust: the chunk cannot be skipped. */
		smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		smtp_close_421(s, "4.7.0 Cannot resynchronise");
		return;
	}
	if (size > s->max_size ||
	    (s->bdat_used && s->body_size + size > s->max_size)) {
		/* Swallowing gigabytes to stay in sync is not worth it. */
		log_info(&s->log,
		    "event=reject cmd=BDAT reason=size "
		    "size=%llu",
		    (unsigned long long)size);
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		smtp_close_421(s, "4.3.4 Message too big");
		return;
	}
	s->chunk_left = size;
	s->chunk_last = last.len > 0;
	s->input = SMTP_IN_CHUNK;
	if (s->state == SMTP_STATE_RCPT) {
		s->bdat_used = true;
		s->state = SMTP_STATE_CHUNKING;
		s->txn_error = smtp_ingest_begin(s, false); /* 0 or swallow */
	} else if (s->state != SMTP_STATE_CHUNKING) {
		/* Out of sequence: read the chunk, then say so. */
		s->txn_error = SMTP_TXN_SEQUENCE;
	}
	if (size == 0)
		smtp_ingest_chunk_end(s);
}

static void
cmd_rset(struct smtp_session *s, struct slice args)
{
	(void)args;
	smtp_txn_reset(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct smtp_session *s, struct slice args)
{
	(void)args;
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct smtp_session *s, struct slice args)
{
	(void)args;
	smtp_reply(s, "221 2.0.0 %s Bye", s->hostname);
	smtp_flush(s);
	s->closing = true;
	if (s->conn != NULL)
		net_conn_close(s->conn);
}

static void
cmd_help(struct smtp_session *s, struct slice args)
{
	(void)args;
	smtp_reply(s, "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET");
	smtp_reply(s, "214 2.0.0 NOOP QUIT HELP VRFY STARTTLS%s",
	    s->submission ? " AUTH" : "");
}

static void
cmd_vrfy(struct smtp_session *s, struct slice args)
{
	if (slice_trim(args).len == 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	/* RFC 5321 §3.5.3: no user enumeration. */
	smtp_reply(s,
	    "252 2.5.2 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
cmd_starttls(struct smtp_session *s, struct slice args)
{
	if (args.len > 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->tls == NULL || s->tls_on) {
		smtp_reply_error(s, "503 5.5.1 STARTTLS not available");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 §4.2: forget everything the client said before. */
	smtp_txn_reset(s);
	s->state = SMTP_STATE_GREETED;
	s->helo[0] = '\0';
	s->esmtp = false;
	s->starttls_now = true;
	log_info(&s->log, "event=starttls");
}

#define IDLE (SMTP_STATE_GREETED | SMTP_STATE_READY)
#define TXN  (SMTP_STATE_MAIL | SMTP_STATE_RCPT)

static const struct smtp_cmd commands[] = {
	{ "EHLO", IDLE | TXN | SMTP_STATE_CHUNKING, cmd_ehlo },
	{ "HELO", IDLE | TXN | SMTP_STATE_CHUNKING, cmd_helo },
	{ "MAIL", SMTP_STATE_READY, cmd_mail, true },
	{ "RCPT", TXN, cmd_rcpt, true },
	{ "DATA", TXN, cmd_data, true },
	{ "AUTH", SMTP_STATE_READY, smtp_cmd_auth },
	{ "BDAT", SMTP_STATES_ANY, cmd_bdat }, /* reads its chunk always */
	{ "RSET", IDLE | TXN | SMTP_STATE_CHUNKING, cmd_rset },
	{ "NOOP", SMTP_STATES_ANY, cmd_noop },
	{ "QUIT", SMTP_STATES_ANY, cmd_quit },
	{ "HELP", SMTP_STATES_ANY, cmd_help },
	{ "VRFY", IDLE | TXN, cmd_vrfy },
	{ "STARTTLS", IDLE, cmd_starttls },
};

void
smtp_dispatch(struct smtp_session *s, struct slice line)
{
	struct slice verb, args;
	char safe[32];
	size_t i;

	smtp_parse_verb(line, &verb, &args);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (slice_eq_ci(verb, slice_cstr(commands[i].verb)))
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		log_info(&s->log,
		    "event=reject reason=unknown-command verb=\"%s\"",
		    SAFE(safe, verb));
		smtp_reply_error(s, "500 5.5.1 Command unrecognized");
		return;
	}
	if (commands[i].needs_auth && s->submission && s->user_id == 0 &&
	    s->state != SMTP_STATE_GREETED) {
		smtp_reply_error(s, "530 5.7.0 Authentication required");
		return;
	}
	if (!(commands[i].states & s->state)) {
		if (s->state == SMTP_STATE_GREETED)
			smtp_reply_error(s, "503 5.5.1 Send EHLO first");
		else
			smtp_reply_error(s,
			    "503 5.5.1 Bad sequence of commands");
		return;
	}
	commands[i].handler(s, args);
}
