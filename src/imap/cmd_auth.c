/* SPDX-License-Identifier: MIT */
/* Commands of any state and of login: CAPABILITY, NOOP, LOGOUT, ID,
 * STARTTLS, LOGIN, AUTHENTICATE PLAIN (SASL-IR and continuation),
 * ENABLE, IDLE, COMPRESS. Password verification (argon2id) runs on the
 * libuv pool with plain copied data; failures are answered after a
 * growing delay, the same way for an unknown user and a wrong password. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "auth/sasl.h"
#include "imap/session_int.h"
#include "lib/mem.h"
#include "lib/str.h"

#include "lib/banned.h"

/* --- any state ---------------------------------------------------------- */

void
cmd_capability(struct imap_session *s, const struct imap_command *cmd)
{
	struct buf b;

	if (cmd->n_args != 0) {
		imap_cmd_finish(s, "BAD", "CAPABILITY takes no arguments");
		return;
	}
	buf_init(&b, 4096);
	imap_capabilities(s, &b);
	imap_printf(s, "* CAPABILITY %s\r\n", b.p != NULL ? b.p : "");
	buf_clear(&b);
	imap_cmd_finish(s, "OK", "CAPABILITY completed");
}

void
cmd_noop(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	imap_cmd_finish(s, "OK", "NOOP completed");
}

void
cmd_check(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	imap_cmd_finish(s, "OK", "CHECK completed");
}

void
cmd_logout(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	imap_printf(s, "* BYE Logging out\r\n");
	s->state = IMAP_STATE_LOGOUT;
	imap_cmd_finish(s, "OK", "LOGOUT completed");
}

void
cmd_id(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *a = cmd->args;

	if (cmd->n_args != 1 ||
	    (a->type != IMAP_ARG_NIL && a->type != IMAP_ARG_LIST)) {
		imap_cmd_finish(s, "BAD", "ID takes a list or NIL");
		return;
	}
	imap_printf(s,
	    "* ID (\"name\" \"despatch\" \"version\" \"0.1.0\")\r\n");
	imap_cmd_finish(s, "OK", "ID completed");
}

void
cmd_starttls(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	if (!imap_session_starttls_offered(s)) {
		imap_cmd_finish(s, "BAD", "STARTTLS not available");
		return;
	}
	imap_cmd_finish(s, "OK", "Begin TLS negotiation now");
	imap_session_starttls(s);
}

/* --- login -------------------------------------------------------------- */

struct auth_req {
	uv_work_t work;
	struct imap_session *s;
	char user[AUTH_SASL_ID_MAX + 1];
	char hash[AUTH_PWHASH_SIZE]; /* "" for an unknown user */
	struct auth_secret *pw;
	bool ok;
	int64_t user_id;
	bool banned;
};

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

static uint64_t
now_ms(struct imap_session *s)
{
	return uv_now(s->srv->loop);
}

static void
fail_answer(struct imap_session *s)
{
	imap_cmd_finish(s, "NO",
	    "[AUTHENTICATIONFAILED] Authentication failed");
}

static void
auth_done(uv_work_t *w, int status)
{
	struct auth_req *r = w->data;
	struct imap_session *s = r->s;
	struct imap_server *srv = s->srv;
	unsigned delay;
	struct buf caps;

	s->priv->auth_work = NULL;
	auth_secret_free(&r->pw);
	sodium_memzero(r->hash, sizeof(r->hash));
	if (status == 0 && r->ok && !imap_session_gone(s)) {
		auth_throttle_login_ok(srv->throttle, imap_session_peer(s),
		    r->user);
		s->user_id = r->user_id;
		(void)str_copy(s->user, sizeof(s->user), r->user);
		log_info(&s->log, "event=login user=%s", s->user);
		free(r);
		imap_session_logged_in(s);
		buf_init(&caps, 4096);
		imap_capabilities(s, &caps);
		imap_cmd_finish(s, "OK", "[CAPABILITY %s] Logged in",
		    caps.p != NULL ? caps.p : "IMAP4rev1");
		buf_clear(&caps);
		return;
	}
	delay = auth_throttle_login_failed(srv->throttle, imap_session_peer(s),
	    r->user, now_ms(s));
	{
		char safe[128];

		log_info(&s->log, "event=auth-failed user=\"%s\" peer=%s",
		    log_safe(safe, sizeof(safe), slice_cstr(r->user)),
		    imap_session_peer(s));
	}
	free(r);
	if (imap_session_gone(s)) {
		fail_answer(s);
		return;
	}
	imap_session_delay(s, delay, fail_answer);
}

/* Starts verifying user/pw (takes pw). The command finishes later. */
static void
auth_start(struct imap_session *s, const char *user, struct auth_secret *pw)
{
	struct auth_req *r = xcalloc(1, sizeof(*r));
	struct imap_server *srv = s->srv;
	struct err err = { 0 };
	int rc;

	r->s = s;
	r->pw = pw;
	(void)str_copy(r->user, sizeof(r->user), user);
	str_lower(r->user);
	r->banned = auth_throttle_login_banned(srv->throttle,
	    imap_session_peer(s), r->user, now_ms(s));
	rc = store_user_get(s->st, r->user, &r->user_id, r->hash,
	    sizeof(r->hash), &err);
	if (rc == ERR_TEMP) {
		auth_secret_free(&r->pw);
		free(r);
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] Try again later");
		return;
	}
	if (rc != 0)
		r->hash[0] = '\0';
	r->work.data = r;
	s->priv->auth_work = &r->work;
	if (uv_queue_work(srv->loop, &r->work, auth_work, auth_done) != 0) {
		s->priv->auth_work = NULL;
		auth_secret_free(&r->pw);
		free(r);
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] Try again later");
	}
}

static bool
login_check(struct imap_session *s)
{
	if (!imap_session_login_allowed(s)) {
		imap_cmd_finish(s, "NO",
		    "[PRIVACYREQUIRED] Use STARTTLS or IMAPS first");
		return false;
	}
	return true;
}

void
cmd_login(struct imap_session *s, const struct imap_command *cmd)
{
	struct slice user, pass;
	char ubuf[AUTH_SASL_ID_MAX + 1];
	struct auth_secret *pw = NULL;
	struct err err = { 0 };

	if (cmd->n_args != 2 || !imap_arg_string(cmd->args, &user) ||
	    !imap_arg_string(cmd->args->next, &pass)) {
		imap_cmd_finish(s, "BAD", "LOGIN user password");
		return;
	}
	if (!login_check(s))
		return;
	if (user.len == 0 || user.len > AUTH_SASL_ID_MAX || pass.len == 0 ||
	    pass.len > AUTH_PASSWORD_MAX ||
	    memchr(user.p, '\0', user.len) != NULL) {
		imap_cmd_finish(s, "NO",
		    "[AUTHENTICATIONFAILED] Authentication failed");
		return;
	}
	if (auth_secret_new(pass.len, &pw, &err) != 0) {
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] Try again later");
		return;
	}
	memcpy(pw->p, pass.p, pass.len);
	pw->len = pass.len;
	/* The password's copy in the command arena is wiped now. */
	sodium_memzero((void *)(uintptr_t)pass.p, pass.len);
	(void)str_from_slice(ubuf, sizeof(ubuf), user);
	auth_start(s, ubuf, pw);
}

static void
plain_response(struct imap_session *s, struct slice b64)
{
	char authz[AUTH_SASL_ID_MAX + 1], authc[AUTH_SASL_ID_MAX + 1];
	struct auth_secret *pw = NULL;
	struct err err = { 0 };
	int rc;

	if (b64.len == 1 && b64.p[0] == '*') {
		imap_cmd_finish(s, "BAD", "Authentication cancelled");
		return;
	}
	rc = auth_sasl_plain(b64, authz, authc, &pw, &err);
	if (rc == ERR_TEMP) {
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] Try again later");
		return;
	}
	if (rc != 0) {
		imap_cmd_finish(s, "BAD", "Invalid PLAIN response");
		return;
	}
	if (authz[0] != '\0' && strcasecmp(authz, authc) != 0) {
		auth_secret_free(&pw);
		imap_cmd_finish(s, "NO",
		    "[AUTHORIZATIONFAILED] Proxy authorization not allowed");
		return;
	}
	auth_start(s, authc, pw);
}

static void
sasl_line(struct imap_session *s, struct slice line)
{
	plain_response(s, line);
}

void
cmd_authenticate(struct imap_session *s, const struct imap_command *cmd)
{
	struct slice mech, ir;

	if (cmd->n_args < 1 || cmd->n_args > 2 ||
	    !imap_arg_string(cmd->args, &mech)) {
		imap_cmd_finish(s, "BAD", "AUTHENTICATE mechanism [response]");
		return;
	}
	if (!slice_eq_ci(mech, SLICE_LIT("PLAIN"))) {
		imap_cmd_finish(s, "NO",
		    "[CANNOT] Unsupported authentication mechanism");
		return;
	}
	if (!login_check(s))
		return;
	if (cmd->n_args == 2) {
		if (!imap_arg_string(cmd->args->next, &ir)) {
			imap_cmd_finish(s, "BAD", "Invalid initial response");
			return;
		}
		if (ir.len == 1 && ir.p[0] == '=')
			ir.len = 0; /* RFC 4959: empty initial response */
		if (ir.len == 0) {
			imap_cmd_finish(s, "BAD", "Invalid PLAIN response");
			return;
		}
		plain_response(s, ir);
		sodium_memzero((void *)(uintptr_t)ir.p, ir.len);
		return;
	}
	s->priv->sasl_line = sasl_line;
	imap_session_set_mode(s, IMAP_IN_SASL);
	imap_printf(s, "+ \r\n");
	imap_flush(s);
}

void
imap_session_watch_cb(void *ctx, int64_t user_id, int64_t mailbox_id)
{
	struct imap_session *s = ctx;

	(void)user_id;
	if (s->view == NULL || s->view->mailbox_id != mailbox_id)
		return;
	if (s->priv->mode == IMAP_IN_IDLE && !imap_session_gone(s)) {
		(void)imap_view_sync(s, true, NULL);
		imap_flush(s);
		return;
	}
	s->priv->changes_pending = true;
}

/* --- authenticated ------------------------------------------------------- */

void
cmd_enable(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *a;
	struct buf b;
	struct slice w;
	unsigned bit;

	if (cmd->n_args == 0) {
		imap_cmd_finish(s, "BAD", "ENABLE what?");
		return;
	}
	buf_init(&b, 1024);
	(void)buf_append_slice(&b, SLICE_LIT("* ENABLED"));
	for (a = cmd->args; a != NULL; a = a->next) {
		if (a->type != IMAP_ARG_ATOM) {
			buf_clear(&b);
			imap_cmd_finish(s, "BAD", "ENABLE takes atoms");
			return;
		}
		w = a->str;
		if (slice_eq_ci(w, SLICE_LIT("IMAP4rev2")))
			bit = IMAP_ENABLED_REV2;
		else if (slice_eq_ci(w, SLICE_LIT("CONDSTORE")))
			bit = IMAP_ENABLED_CONDSTORE;
		else if (slice_eq_ci(w, SLICE_LIT("QRESYNC")))
			bit = IMAP_ENABLED_QRESYNC | IMAP_ENABLED_CONDSTORE;
		else if (slice_eq_ci(w, SLICE_LIT("UTF8=ACCEPT")))
			bit = IMAP_ENABLED_UTF8;
		else
			continue;
		if ((s->enabled & bit) == bit)
			continue;
		s->enabled |= bit;
		(void)buf_append(&b, " ", 1);
		(void)buf_append_slice(&b, w);
	}
	imap_printf(s, "%s\r\n", b.p);
	buf_clear(&b);
	imap_cmd_finish(s, "OK", "ENABLE completed");
}

void
cmd_idle(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 0) {
		imap_cmd_finish(s, "BAD", "IDLE takes no arguments");
		return;
	}
	if (s->view != NULL)
		(void)imap_view_sync(s, true, NULL);
	imap_printf(s, "+ idling\r\n");
	imap_flush(s);
	imap_session_set_mode(s, IMAP_IN_IDLE);
	imap_session_poll(s, true);
}

void
cmd_compress(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 1 || !imap_arg_atom_is(cmd->args, "DEFLATE")) {
		imap_cmd_finish(s, "BAD", "COMPRESS DEFLATE");
		return;
	}
	if (s->priv->compress) {
		imap_cmd_finish(s, "NO", "[COMPRESSIONACTIVE] Already on");
		return;
	}
	imap_cmd_finish(s, "OK", "DEFLATE active");
	if (imap_session_compress_start(s) != 0)
		imap_bye(s, "Compression failed");
}
