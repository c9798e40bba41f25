/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the SMTP session state machine (session.c,
 * cmd_table.c, ingest.c, auth.c, submit.c) driven over a connected
 * socket, the way a client drives it: the server runs on a libuv loop
 * with a real store in a temp dir (/dev/shm) holding the domain
 * example.test and the user alice@example.test (password "secret"); each
 * input is written in fuzzer-chosen pieces, the loop runs between them
 * until the session goes quiet or closes, then the client closes and the
 * session must be freed within FUZZ_CLOSE_MS.
 *
 * Input: byte 0 bit 0 picks port 25 (MX) or submission (587, taken as
 * if STARTTLS had happened, so AUTH is offered and required); bytes 1-4
 * steer the split points; the rest is what the client sends.
 *
 * Properties checked on the server's output (when not truncated): CRLF
 * lines only, each "ddd" or "ddd-text"/"ddd text" with a code 2xx..5xx,
 * no NUL or bare CR/LF, at most 512 octets with CRLF (RFC 5321
 * §4.5.3.1.5); a multi-line reply keeps its code; it starts with 220;
 * nothing follows a final 221 or 421; and no "250 ... queued as" without
 * a message made durable (the store's commit count rose at least as
 * much as the number of such replies). State (rate limits, the
 * failed-login ban, delivered mail) stays bounded: see FUZZ_RENEW. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/fuzz_drive.h"
#include "lib/fuzz_pwhash.h"
#include "lib/log.h"
#include "smtp/session_int.h"
#include "smtp/smtp.h"
#include "store/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every FUZZ_RENEW inputs the server is made again (rate limits, the
 * failed-login ban, caches); every FUZZ_RENEW_STORE inputs the store
 * too (delivered mail, created mailboxes). Rarely: closing and opening
 * a store stops and starts its commit thread inside an input, and
 * libFuzzer's leak check once reported the new thread's live batch
 * array (512 bytes from commit_thread) as leaked; it did not reproduce,
 * and the array is freed when the thread ends. */
#define FUZZ_RENEW       256
#define FUZZ_RENEW_STORE 16384
#define REPLY_LINE_MAX 512

static char dir[64], sdir[80], sock[128];
static uv_loop_t loop;
static uv_pipe_t lp;
static struct store *st;
static struct smtp_server *srv;
static enum smtp_kind next_kind;
static struct smtp_session *cur;
static struct fuzz_drive drv;
static unsigned runs;

static void
on_conn(uv_stream_t *server, int status)
{
	if (status != 0)
		abort();
	smtp_session_accept(srv, server, next_kind);
	cur = srv->sessions; /* the newest is first */
	if (cur == NULL)
		abort();
	if (next_kind != SMTP_KIND_MX)
		cur->tls_on = true; /* as after STARTTLS: AUTH offered */
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
	return srv->n_sessions > 0 &&
	    (cur->state == SMTP_STATE_COMMIT || cur->auth_work != NULL);
}

/* A store with example.test, alice (password "secret") and
 * postmaster as her alias; a server on it. `store` false: only the
 * server is made again. */
static void
setup(bool store)
{
	struct store_opts so = { sdir, &loop, 86400, 64 };
	char hash[crypto_pwhash_STRBYTES];
	const struct auth_throttle_opts fast = { 1, 4, 10, 50 };
	struct auth_throttle *t;
	struct config cfg;
	struct err err;
	int64_t uid;

	if (store &&
	    (store_open(&so, &st, &err) != 0 ||
	        store_domain_add(st, "example.test", &err) != 0 ||
	        crypto_pwhash_str_alg(hash, "secret", 6, 0, 0,
	            crypto_pwhash_ALG_ARGON2ID13) != 0 ||
	        store_user_add(st, "alice@example.test", hash, &uid, &err) !=
	            0 ||
	        store_alias_add(st, "postmaster@example.test",
	            "alice@example.test", &err) != 0)) {
		fprintf(stderr, "fuzz: store setup: %s\n", err.msg);
		abort();
	}
	config_defaults(&cfg);
	cfg.n_listeners = 0;
	(void)snprintf(cfg.hostname, sizeof(cfg.hostname), "mx.example.test");
	if (smtp_server_start(&loop, &cfg, st, NULL, &srv, &err) != 0) {
		fprintf(stderr, "fuzz: smtp_server_start: %s\n", err.msg);
		abort();
	}
	/* The failed-AUTH delays and ban in milliseconds, not seconds: a
	 * session holds its input (and does not see the client leave)
	 * until the delay ends. Same code paths, shorter waits. */
	t = auth_throttle_new(&fast);
	smtp_server_share_throttle(srv, t);
	auth_throttle_free(&t);
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

	smtp_server_shutdown(srv, 0, shut_done, &done);
	while (!done)
		(void)uv_run(&loop, UV_RUN_ONCE);
	smtp_server_free(&srv);
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
	fuzz_workdir_listen("smtp", &loop, &lp, on_conn, dir, sizeof(dir));
	(void)snprintf(sdir, sizeof(sdir), "%s/store", dir);
	(void)snprintf(sock, sizeof(sock), "%s/sock", dir);
	fuzz_drive_init(&drv, &loop, gone, busy);
	setup(true);
	return 0;
}

/* The reply stream's grammar (see the top of the file). */
static void
check_replies(const char *p, size_t n)
{
	size_t i = 0, len;
	const char *lf;
	int code, multi = 0;
	bool first = true, closed = false;

	while (i < n) {
		lf = memchr(p + i, '\n', n - i);
		if (lf == NULL)
			break; /* a last partial line (the server may still
			        * be writing when we close): not judged */
		len = (size_t)(lf - (p + i)) + 1;
		if (closed || len < 5 || len > REPLY_LINE_MAX ||
		    p[i + len - 2] != '\r')
			goto bad;
		if (memchr(p + i, '\0', len) != NULL ||
		    memchr(p + i, '\r', len - 2) != NULL)
			goto bad;
		if (p[i] < '2' || p[i] > '5' || p[i + 1] < '0' ||
		    p[i + 1] > '9' || p[i + 2] < '0' || p[i + 2] > '9')
			goto bad;
		if (len > 5 && p[i + 3] != ' ' && p[i + 3] != '-')
			goto bad;
		code = (p[i] - '0') * 100 + (p[i + 1] - '0') * 10 +
		    (p[i + 2] - '0');
		if (first && code != 220)
			goto bad;
		if (multi != 0 && code != multi)
			goto bad;
		multi = len > 5 && p[i + 3] == '-' ? code : 0;
		if (multi == 0 && (code == 221 || code == 421))
			closed = true;
		first = false;
		i += len;
	}
	return;
bad:
	fprintf(stderr, "fuzz: bad SMTP reply line at %zu: \"%.*s\"\n", i,
	    (int)(n - i < 200 ? n - i : 200), p + i);
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

/* "250 2.0.0 Ok: queued as" replies in the output. */
static uint64_t
count_queued(const char *p, size_t n)
{
	static const char what[] = "250 2.0.0 Ok: queued as ";
	const size_t wl = sizeof(what) - 1;
	uint64_t k = 0;
	size_t i;

	for (i = 0; i + wl <= n; i++)
		if ((i == 0 || p[i - 1] == '\n') && memcmp(p + i, what, wl) == 0)
			k++;
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_split sp;
	uint64_t before, queued;
	uint32_t seed;
	unsigned turns;

	if (size < 1)
		return 0;
	next_kind = data[0] & 1 ? SMTP_KIND_SUBMISSION : SMTP_KIND_MX;
	data++;
	size--;
	seed = fuzz_take_u32(&data, &size);
	/* Pieces: often the whole input at once, else 1..64 bytes. */
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
	fuzz_close(&drv, "SMTP");
	if (getenv("FUZZ_SHOW") != NULL) /* to write seeds: the replies */
		fprintf(stderr, "%.*s", (int)drv.out.len, drv.out.p);
	if (drv.dropped == 0) {
		check_replies(drv.out.p, drv.out.len);
		queued = count_queued(drv.out.p, drv.out.len);
		if (queued > durable_count() - before) {
			fprintf(stderr, "fuzz: %llu \"queued as\" replies, %llu "
			                "messages made durable\n",
			    (unsigned long long)queued,
			    (unsigned long long)(durable_count() - before));
			abort();
		}
	}
	return 0;
}
