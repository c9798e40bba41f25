/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the IMAP session (session.c and every command
 * handler) driven over a connected socket, as a client drives it: the
 * server runs on a libuv loop with a real store in a temp dir (/dev/shm)
 * where alice@example.test (password "secret") has an INBOX of four
 * messages (plain, multipart with an attachment, alternative with
 * quoted-printable HTML, a forwarded message/rfc822); each input is
 * written in fuzzer-chosen pieces, the loop runs between them until the
 * session goes quiet or closes, then the client closes and the session
 * must be freed within FUZZ_CLOSE_MS. The peer counts as loopback, so
 * LOGIN is allowed over plaintext, as the server allows it on 127.0.0.1.
 *
 * Input: byte 0 bit 0: start logged in as alice (as after a successful
 * LOGIN) instead of before authentication; bytes 1-4 steer the split
 * points; the rest is what the client sends.
 *
 * Properties checked on the server's output (when not truncated): it
 * starts "* OK"; every line ends in CRLF with no NUL, CR or LF inside
 * it; a literal "{n}" CRLF is followed by n bytes; nothing but a tagged
 * reply follows "* BYE"; no "OK [APPENDUID" without a message made
 * durable (the store's commit count rose at least as much). State stays
 * bounded: see FUZZ_RENEW below. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "imap/imap.h"
#include "imap/session_int.h"
#include "lib/fuzz_drive.h"
#include "lib/fuzz_pwhash.h"
#include "lib/log.h"
#include "store/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every FUZZ_RENEW inputs the server is made again (rate limits, the
 * failed-login ban, caches); every FUZZ_RENEW_STORE inputs the store
 * too (appended mail, created mailboxes). Kept for 16384 inputs, the
 * store grew until the target ran 7 times slower (19 against 137-219
 * inputs a second); renewed every 256, libFuzzer's leak check reported
 * the new store's live commit-thread batch array (512 bytes from
 * commit_thread, freed when the thread ends, not reproducible) once in
 * about 300 renewals, as in the SMTP target. 4096 keeps brief runs
 * (make test) free of renewals and long ones fast. */
#define FUZZ_RENEW       256
#define FUZZ_RENEW_STORE 4096

static char dir[64], sdir[80], sock[128];
static uv_loop_t loop;
static uv_pipe_t lp;
static struct store *st;
static struct imap_server *srv;
static struct imap_session_priv *cur;
static bool start_authed;
static int64_t alice;
static struct fuzz_drive drv;
static unsigned runs;

static const char *const inbox[] = {
	"Return-Path: <bob@remote.test>\r\n"
	"Received: from mail.remote.test ([192.0.2.7]) by mx.example.test\r\n"
	"\twith ESMTP id 1a2b3c; Mon, 23 Nov 2026 09:00:00 +0000\r\n"
	"From: Bob Example <bob@remote.test>\r\n"
	"To: Alice <alice@example.test>\r\n"
	"Subject: =?UTF-8?Q?Caf=C3=A9_tomorrow=3F?=\r\n"
	"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
	"Message-ID: <1@remote.test>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"Hi Alice,\r\n\r\ncoffee at 10? \xe2\x98\x95\r\n\r\nBob\r\n",

	"From: \"Doe, John\" <john@remote.test>\r\n"
	"To: alice@example.test, Undisclosed recipients:;\r\n"
	"Cc: =?iso-8859-1?Q?J=FCrgen?= <j@remote.test>\r\n"
	"Subject: Re: [list] report\r\n"
	"Date: Tue, 24 Nov 2026 10:15:00 +0100\r\n"
	"Message-ID: <2@remote.test>\r\n"
	"In-Reply-To: <1@remote.test>\r\n"
	"References: <1@remote.test>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	"\r\n"
	"--b1\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"See the attachment.\r\n"
	"--b1\r\n"
	"Content-Type: application/pdf; name=\"report.pdf\"\r\n"
	"Content-Disposition: attachment;\r\n"
	" filename*0*=UTF-8''Bericht%20%C3%BCber;\r\n"
	" filename*1=\" 2026.pdf\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFt\r\n"
	"CnRlc3QKZW5kc3RyZWFtCmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK\r\n"
	"--b1--\r\n",

	"From: Outlook User <o@contoso.test>\r\n"
	"To: Alice <alice@example.test>\r\n"
	"Subject: Quarterly figures\r\n"
	"Date: Wed, 25 Nov 2026 08:05:00 +0000\r\n"
	"Message-ID: <3@contoso.test>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative;\r\n"
	"\tboundary=\"_000_alt_\"\r\n"
	"\r\n"
	"--_000_alt_\r\n"
	"Content-Type: text/plain; charset=\"iso-8859-1\"\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Hello =96 figures attached.\r\n"
	"--_000_alt_\r\n"
	"Content-Type: text/html; charset=\"iso-8859-1\"\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"<html><body><p class=3D\"MsoNormal\">Hello =96 figures attached.<o:p>=\r\n"
	"</o:p></p></body></html>\r\n"
	"--_000_alt_--\r\n",

	"From: Alice <alice@example.test>\r\n"
	"To: carol@remote.test\r\n"
	"Subject: Fwd: Coffee\r\n"
	"Date: Thu, 26 Nov 2026 18:00:00 -0800\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=outer\r\n"
	"\r\n"
	"--outer\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"Forwarded below.\r\n"
	"--outer\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"From: Bob <bob@remote.test>\r\n"
	"Subject: Coffee\r\n"
	"\r\n"
	"Tomorrow?\r\n"
	"--outer--\r\n",
};

static void
on_conn(uv_stream_t *server, int status)
{
	struct imap_session *s;

	if (status != 0)
		abort();
	imap_session_accept(srv, server, false);
	cur = srv->sessions; /* the newest is first */
	if (cur == NULL)
		abort();
	cur->loopback = true;
	if (start_authed) {
		s = cur->s;
		s->user_id = alice;
		(void)snprintf(s->user, sizeof(s->user), "alice@example.test");
		imap_session_logged_in(s);
	}
}

static bool
gone(void *ctx)
{
	(void)ctx;
	return srv->n_sessions == 0;
}

static bool
busy(void *ctx)
{
	(void)ctx;
	return srv->n_sessions > 0 && (cur->auth_work != NULL || cur->paused);
}

static void
committed(void *ctx, const struct store_commit_result *res)
{
	if (res->status != 0)
		abort();
	*(bool *)ctx = true;
}

/* A store where alice (password "secret") has the INBOX above (refilled
 * when sessions have expunged from it); a server on it. `store` false:
 * only the server is made again. */
static void
setup(bool store)
{
	const struct auth_throttle_opts fast = { 1, 4, 10, 50 };
	struct store_opts so = { sdir, &loop, 86400, 64 };
	struct store_delivery d = { 0 };
	struct store_mailbox_status ms;
	char hash[crypto_pwhash_STRBYTES];
	struct store_msg *m;
	struct config cfg;
	struct err err;
	bool done;
	size_t i;

	if (store &&
	    (store_open(&so, &st, &err) != 0 ||
	    store_domain_add(st, "example.test", &err) != 0 ||
	    crypto_pwhash_str_alg(hash, "secret", 6, 0, 0,
	        crypto_pwhash_ALG_ARGON2ID13) != 0 ||
	        store_user_add(st, "alice@example.test", hash, &alice, &err) !=
	            0)) {
		fprintf(stderr, "fuzz: store setup: %s\n", err.msg);
		abort();
	}
	if (store_mailbox_status(st, alice, "INBOX", &ms, &err) == 0 &&
	    ms.messages >= sizeof(inbox) / sizeof(inbox[0]))
		goto server;
	d.user_id = alice;
	d.mailbox = "INBOX";
	for (i = 0; i < sizeof(inbox) / sizeof(inbox[0]); i++) {
		d.flags = i % 2 ? "\\Seen $Forwarded" : NULL;
		done = false;
		if (store_msg_new(st, &m, &err) != 0 ||
		    store_msg_write(m, inbox[i], strlen(inbox[i]), &err) != 0 ||
		    store_msg_finish(m, &err) != 0 ||
		    store_msg_commit(&m, &d, 1, committed, &done) != 0) {
			fprintf(stderr, "fuzz: message %zu: %s\n", i, err.msg);
			abort();
		}
		while (!done)
			(void)uv_run(&loop, UV_RUN_ONCE);
	}
server:
	config_defaults(&cfg);
	cfg.n_listeners = 0;
	(void)snprintf(cfg.hostname, sizeof(cfg.hostname), "mx.example.test");
	if (imap_server_start(&loop, &cfg, st, NULL, &srv, &err) != 0) {
		fprintf(stderr, "fuzz: imap_server_start: %s\n", err.msg);
		abort();
	}
	/* The failed-login delays and ban in milliseconds, not seconds:
	 * same code paths, shorter waits. */
	auth_throttle_free(&srv->throttle);
	srv->throttle = auth_throttle_new(&fast);
}

static void
shut_done(void *ctx)
{
	*(bool *)ctx = true;
}

static void
teardown(bool store)
{
	bool done = false;

	imap_server_shutdown(srv, 0, shut_done, &done);
	while (!done)
		(void)uv_run(&loop, UV_RUN_ONCE);
	imap_server_free(&srv);
	if (!store)
		return;
	store_close(&st);
	(void)uv_run(&loop, UV_RUN_NOWAIT);
	if (!fuzz_remove_tree(sdir))
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	(void)signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_ERROR);
	if (sodium_init() < 0)
		abort();
	fuzz_workdir_listen("imap", &loop, &lp, on_conn, dir, sizeof(dir));
	(void)snprintf(sdir, sizeof(sdir), "%s/store", dir);
	(void)snprintf(sock, sizeof(sock), "%s/sock", dir);
	fuzz_drive_init(&drv, &loop, gone, busy);
	setup(true);
	return 0;
}

/* The response stream's framing (see the top of the file). */
static void
check_responses(const char *p, size_t n)
{
	size_t i = 0, start = 0, lit, k;
	const char *lf, *open;
	bool bye = false, line_start = true;

	if (n >= 4 && memcmp(p, "* OK", 4) != 0)
		goto bad;
	while (i < n) {
		lf = memchr(p + i, '\n', n - i);
		if (lf == NULL)
			return; /* a last partial line: not judged */
		k = (size_t)(lf - p);
		if (k == i || p[k - 1] != '\r' ||
		    memchr(p + i, '\0', k - i) != NULL ||
		    memchr(p + i, '\r', k - 1 - i) != NULL)
			goto bad;
		if (line_start) {
			start = i;
			/* After COMPRESS the stream is deflated: not judged. */
			if (k - i >= 16 &&
			    memcmp(p + k - 15, " DEFLATE active", 15) == 0)
				return;
			if (bye && p[i] == '*')
				goto bad; /* untagged data after BYE */
			if (k - i >= 5 && memcmp(p + i, "* BYE", 5) == 0)
				bye = true;
			if (p[i] == ' ' || (unsigned char)p[i] < 0x21)
				goto bad;
		}
		/* "{n}" (or "~{n}") at the end: n bytes of literal follow,
		 * then the same response goes on. */
		line_start = true;
		if (k - 1 > i && p[k - 2] == '}') {
			open = NULL;
			for (size_t j = k - 2; j > i; j--)
				if (p[j - 1] == '{') {
					open = p + j - 1;
					break;
				} else if (p[j - 1] < '0' || p[j - 1] > '9') {
					break;
				}
			if (open != NULL && open + 1 < p + k - 2) {
				lit = strtoul(open + 1, NULL, 10);
				if (lit > n - (k + 1))
					return; /* cut short: not judged */
				i = k + 1 + lit;
				line_start = false;
				continue;
			}
		}
		i = k + 1;
	}
	return;
bad:
	fprintf(stderr, "fuzz: bad IMAP response at %zu: \"%.*s\"\n", start,
	    (int)(n - start < 200 ? n - start : 200), p + start);
	abort();
}

static uint64_t
durable_count(void)
{
	struct store_stats ss;
	struct err err;

	if (store_stats_get(st, &ss, &err) != 0) {
		fprintf(stderr, "fuzz: store_stats_get: %s\n", err.msg);
		abort();
	}
	return ss.commit_messages;
}

/* Tagged "OK [APPENDUID" replies (one per APPEND, MULTIAPPEND included,
 * which commits all its messages). */
static uint64_t
count_appended(const char *p, size_t n)
{
	static const char what[] = " OK [APPENDUID ";
	const size_t wl = sizeof(what) - 1;
	uint64_t k = 0;
	size_t i;

	for (i = 0; i + wl <= n; i++)
		if (memcmp(p + i, what, wl) == 0)
			k++;
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_split sp;
	uint64_t before, appended;
	uint32_t seed;
	unsigned turns;

	if (size < 1)
		return 0;
	start_authed = data[0] & 1;
	data++;
	size--;
	seed = fuzz_take_u32(&data, &size);
	fuzz_split_init(&sp, seed, seed % 4 == 0 ? size + 1 : 1 + seed % 64);

	if (++runs % FUZZ_RENEW == 0) {
		teardown(runs % FUZZ_RENEW_STORE == 0);
		setup(runs % FUZZ_RENEW_STORE == 0);
	}
	before = durable_count();
	cur = NULL;
	fuzz_connect(&drv, sock);
	for (turns = 0; cur == NULL; turns++) {
		if (turns > 100000)
			abort();
		(void)fuzz_turn(&drv);
	}
	fuzz_settle(&drv);
	fuzz_feed(&drv, data, size, &sp);
	fuzz_close(&drv, "IMAP");
	if (getenv("FUZZ_SHOW") != NULL) /* to write seeds: the responses */
		fprintf(stderr, "%.*s", (int)drv.out.len, drv.out.p);
	if (drv.dropped == 0) {
		check_responses(drv.out.p, drv.out.len);
		appended = count_appended(drv.out.p, drv.out.len);
		if (appended > durable_count() - before) {
			fprintf(stderr, "fuzz: %llu APPENDUID replies, %llu "
			                "messages made durable\n",
			    (unsigned long long)appended,
			    (unsigned long long)(durable_count() - before));
			abort();
		}
	}
	return 0;
}
