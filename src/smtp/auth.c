/* SPDX-License-Identifier: MIT */
/* SMTP AUTH (RFC 4954) on the submission listeners: PLAIN (RFC 4616, with
 * or without an initial response) and LOGIN, over TLS only. The password
 * check (argon2id) runs on the libuv pool with plain copied data, as
 * IMAP's LOGIN does; a failure, an unknown user and a banned address or
 * user all get the same 535 after the throttle's growing delay. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "lib/mem.h"
#include "lib/str.h"
#include "smtp/session_int.h"

#include "lib/banned.h"

#define AUTH_FAILED "535 5.7.8 Authentication credentials invalid"

struct auth_req {
	uv_work_t work;
	struct smtp_session *s;
	char user[AUTH_SASL_ID_MAX + 1];
	char hash[AUTH_PWHASH_SIZE]; /* "" for an unknown user */
	struct auth_secret *pw;
	int64_t user_id;
	bool banned, ok;
};

static uint64_t
now_ms(const struct smtp_session *s)
{
	return uv_now(s->srv->loop);
}

/* Wipes the bytes of a client line that carried a secret (they sit in
 * the connection's input buffer until it is reused). */
static void
wipe(struct slice line)
{
	if (line.len > 0)
		sodium_memzero((void *)(uintptr_t)line.p, line.len);
}

/* Ends an exchange with a reply and reads input again. */
static void
finish(struct smtp_session *s, const char *reply)
{
	s->sasl = SMTP_SASL_NONE;
	sodium_memzero(s->sasl_user, sizeof(s->sasl_user));
	smtp_reply(s, "%s", reply);
	smtp_flush(s);
	smtp_session_hold_input(s, false);
}

static void
auth_work(uv_work_t *w)
{
	struct auth_req *r = w->data;
	char dummy[AUTH_PWHASH_SIZE];
	struct err err;

	if (r->banned) {
		r->ok = false;
		return;
	}
	if (r->hash[0] == '\0') {
		/* Unknown user: spend the same time. */
		(void)auth_password_hash(r->pw->p, r->pw->len, dummy, &err);
		r->ok = false;
		return;
	}
	r->ok = auth_password_verify(r->hash, r->pw->p, r->pw->len);
}

static void
delay_done(uv_timer_t *t)
{
	struct smtp_session *s = t->data;

	finish(s, AUTH_FAILED);
}

static void
auth_done(uv_work_t *w, int status)
{
	struct auth_req *r = w->data;
	struct smtp_session *s = r->s;
	struct smtp_server *srv = s->srv;
	char safe[128];
	unsigned delay;

	s->auth_work = NULL;
	auth_secret_free(&r->pw);
	sodium_memzero(r->hash, sizeof(r->hash));
	if (s->conn == NULL || s->closing) {
		free(r);
		smtp_session_maybe_free(s);
		return;
	}
	if (status == 0 && r->ok) {
		auth_throttle_login_ok(srv->throttle, s->peer, r->user);
		s->user_id = r->user_id;
		(void)str_copy(s->user, sizeof(s->user), r->user);
		log_info(&s->log, "event=login user=%s", s->user);
		free(r);
		finish(s, "235 2.7.0 Authentication successful");
		return;
	}
	delay = auth_throttle_login_failed(srv->throttle, s->peer, r->user,
	    now_ms(s));
	log_info(&s->log, "event=auth-failed user=\"%s\" peer=%s%s",
	    log_safe(safe, sizeof(safe), slice_cstr(r->user)), s->peer,
	    r->banned ? " banned=1" : "");
	free(r);
	if (s->t_delay == NULL) {
		s->t_delay = xmalloc(sizeof(*s->t_delay));
		(void)uv_timer_init(srv->loop, s->t_delay);
		s->t_delay->data = s;
	}
	(void)uv_timer_start(s->t_delay, delay_done, delay, 0);
}

/* Starts verifying user/pw (takes pw). Input stays held until the
 * answer. */
static void
auth_start(struct smtp_session *s, const char *user, struct auth_secret *pw)
{
	struct auth_req *r = xcalloc(1, sizeof(*r));
	struct smtp_server *srv = s->srv;
	struct err err = { 0 };
	int rc;

	r->s = s;
	r->pw = pw;
	(void)str_copy(r->user, sizeof(r->user), user);
	str_lower(r->user);
	r->banned = auth_throttle_login_banned(srv->throttle, s->peer, r->user,
	    now_ms(s));
	rc = store_user_get(srv->st, r->user, &r->user_id, r->hash,
	    sizeof(r->hash), &err);
	if (rc == ERR_TEMP) {
		log_warn(&s->log, "event=error op=user_get err=\"%s\"",
		    err.msg);
		auth_secret_free(&r->pw);
		free(r);
		finish(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	if (rc != 0)
		r->hash[0] = '\0';
	r->work.data = r;
	s->auth_work = &r->work;
	smtp_session_hold_input(s, true);
	if (uv_queue_work(srv->loop, &r->work, auth_work, auth_done) != 0) {
		s->auth_work = NULL;
		auth_secret_free(&r->pw);
		free(r);
		finish(s, "454 4.7.0 Temporary authentication failure");
	}
}

static bool
cancelled(struct slice line)
{
	return line.len == 1 && line.p[0] == '*';
}

static void
plain_response(struct smtp_session *s, struct slice b64)
{
	char authz[AUTH_SASL_ID_MAX + 1], authc[AUTH_SASL_ID_MAX + 1];
	struct auth_secret *pw = NULL;
	struct err err = { 0 };
	int rc;

	rc = auth_sasl_plain(b64, authz, authc, &pw, &err);
	if (rc == ERR_TEMP) {
		finish(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	if (rc != 0) {
		s->sasl = SMTP_SASL_NONE;
		smtp_reply_error(s, "501 5.5.2 Invalid PLAIN response");
		return;
	}
	if (authz[0] != '\0' && strcasecmp(authz, authc) != 0) {
		/* No proxy authorization: one may only act as oneself. */
		auth_secret_free(&pw);
		sodium_memzero(authc, sizeof(authc));
		s->sasl = SMTP_SASL_NONE;
		smtp_reply(s, AUTH_FAILED);
		return;
	}
	s->sasl = SMTP_SASL_NONE;
	auth_start(s, authc, pw);
}

static void
login_user(struct smtp_session *s, struct slice b64)
{
	struct err err = { 0 };

	if (auth_sasl_login_user(b64, s->sasl_user, &err) != 0) {
		s->sasl = SMTP_SASL_NONE;
		smtp_reply_error(s, "501 5.5.2 Invalid LOGIN response");
		return;
	}
	s->sasl = SMTP_SASL_LOGIN_PASS;
	smtp_reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
}

static void
login_pass(struct smtp_session *s, struct slice b64)
{
	struct auth_secret *pw = NULL;
	struct err err = { 0 };
	char user[AUTH_SASL_ID_MAX + 1];
	int rc;

	rc = auth_sasl_login_pass(b64, &pw, &err);
	if (rc == ERR_TEMP) {
		finish(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	if (rc != 0) {
		s->sasl = SMTP_SASL_NONE;
		sodium_memzero(s->sasl_user, sizeof(s->sasl_user));
		smtp_reply_error(s, "501 5.5.2 Invalid LOGIN response");
		return;
	}
	memcpy(user, s->sasl_user, sizeof(user));
	sodium_memzero(s->sasl_user, sizeof(s->sasl_user));
	s->sasl = SMTP_SASL_NONE;
	auth_start(s, user, pw);
}

void
smtp_auth_line(struct smtp_session *s, struct slice line)
{
	enum smtp_sasl step = s->sasl;

	if (cancelled(line)) {
		/* RFC 4954 §4: "*" cancels with 501. */
		s->sasl = SMTP_SASL_NONE;
		sodium_memzero(s->sasl_user, sizeof(s->sasl_user));
		smtp_reply(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	switch (step) {
	case SMTP_SASL_PLAIN:
		plain_response(s, line);
		break;
	case SMTP_SASL_LOGIN_USER:
		login_user(s, line);
		break;
	case SMTP_SASL_LOGIN_PASS:
		login_pass(s, line);
		break;
	case SMTP_SASL_NONE:
	default:
		break;
	}
	wipe(line);
}

void
smtp_cmd_auth(struct smtp_session *s, struct slice args)
{
	struct slice mech = args, ir = { 0 };
	size_t sp = slice_find(args, ' ');
	bool plain, login;

	if (!s->submission) {
		smtp_reply_error(s, "503 5.5.1 AUTH not available");
		return;
	}
	if (s->user_id != 0) {
		smtp_reply_error(s, "503 5.5.1 Already authenticated");
		return;
	}
	if (sp != SIZE_MAX) {
		mech = slice_make(args.p, sp);
		ir = slice_skip(args, sp + 1);
	}
	plain = slice_eq_ci(mech, SLICE_LIT("PLAIN"));
	login = slice_eq_ci(mech, SLICE_LIT("LOGIN"));
	if (mech.len == 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	if (!s->tls_on) {
		/* RFC 4954 §4: no password over a plaintext channel. */
		wipe(ir);
		smtp_reply(s,
		    "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return;
	}
	if (!plain && !login) {
		wipe(ir);
		smtp_reply_error(s,
		    "504 5.5.4 Unrecognized authentication type");
		return;
	}
	if (ir.len == 1 && ir.p[0] == '=') {
		/* RFC 4954 §4: "=" is an empty initial response. */
		smtp_reply_error(s, "501 5.5.2 Invalid initial response");
		return;
	}
	if (cancelled(ir)) {
		smtp_reply(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	if (plain) {
		if (ir.len > 0) {
			plain_response(s, ir);
			wipe(ir);
			return;
		}
		s->sasl = SMTP_SASL_PLAIN;
		smtp_reply(s, "334 ");
		return;
	}
	if (ir.len > 0) {
		/* LOGIN with the user name as initial response. */
		login_user(s, ir);
		wipe(ir);
		return;
	}
	s->sasl = SMTP_SASL_LOGIN_USER;
	smtp_reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
}
