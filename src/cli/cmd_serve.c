/* SPDX-License-Identifier: MIT */
/* despatch serve: runs the node in the foreground until SIGTERM/SIGINT.
 * One libuv loop owns the SMTP sessions; the store commits on its own
 * thread and reports back to this loop. SIGHUP re-reads the config and
 * the certificate and applies them only if every value checks out.
 * Started as root it binds its ports, reads its key, and becomes the data
 * dir's owner for good before the loop reads a byte from the network. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "imap/imap.h"
#include "lib/banned.h"
#include "lib/dio.h"
#include "lib/log.h"
#include "lib/str.h"
#include "net/tls.h"
#include "smtp/queue.h"
#include "smtp/smtp.h"
#include "store/store.h"

/* How long sessions in DATA/BDAT get to finish on SIGTERM before 421. */
#define SERVE_GRACE_MS 10000

static const char usage_text[] =
    "usage: despatch serve [--data DIR]\n\n"
    "Runs despatch in the foreground with the listeners of\n"
    "DIR/despatch.conf, logging one line per event to stderr.\n"
    "SIGTERM or SIGINT stops it gracefully: listeners close, idle\n"
    "sessions get 421, sessions sending a message have up to 10 seconds\n"
    "to finish. A second signal stops at once. SIGHUP re-reads the\n"
    "config and the TLS certificate and key (for new connections); if\n"
    "either is invalid the running ones stay and the log says why.\n"
    "Only one serve may run per data dir (DIR/serve.lock).\n\n"
    "Started as root, serve binds its ports and reads its key, then runs\n"
    "as the owner of DIR (user despatch after `despatch init` as root)\n"
    "before it reads from the network; it refuses a DIR owned by root\n"
    "and stops if it cannot leave root.\n";

static const struct log_ctx lctx = { "serve", 0 };

struct serve {
	uv_loop_t loop;
	uv_signal_t sig_term, sig_int, sig_hup;
	const char *data;
	struct config cfg;
	struct store *st;
	struct tls_ctx *tls;
	struct smtp_server *smtp;
	struct imap_server *imap;
	struct smtp_queue *queue;
	unsigned running; /* servers not yet shut down */
	bool stopping;
	/* Started as root: whom we become. */
	bool priv_on;
	struct cli_priv priv;
};

static void
listeners_text(const struct config *c, char *out, size_t size)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < c->n_listeners; i++) {
		const struct listener_config *l = &c->listeners[i];
		bool v6 = strchr(l->addr, ':') != NULL;

		if (!str_fmt(out + o, size - o, "%s%s:%s%s%s:%u", i ? "," : "",
		        cli_listener_kind_name(l->kind), v6 ? "[" : "", l->addr,
		        v6 ? "]" : "", l->port))
			return;
		o += strlen(out + o);
	}
}

static void
apply_log_level(const struct config *c)
{
	int lv = log_level_parse(c->log_level);

	log_set_level(lv < 0 ? LOG_INFO : (enum log_level)lv);
}

static void
on_closed(uv_handle_t *h)
{
	(void)h;
}

/* The queue has stopped: the store closes last. */
static void
on_queue_done(void *ctx)
{
	struct serve *s = ctx;

	smtp_queue_free(&s->queue);
	store_close(&s->st); /* closes its uv handles: the loop can end */
	tls_ctx_free(&s->tls);
	uv_close((uv_handle_t *)&s->sig_term, on_closed);
	uv_close((uv_handle_t *)&s->sig_int, on_closed);
	uv_close((uv_handle_t *)&s->sig_hup, on_closed);
	log_info(&lctx, "event=stopped");
}

/* The SMTP and IMAP servers have no session left; then the queue stops
 * (sessions no longer wake it), then the store closes. */
static void
on_server_done(void *ctx)
{
	struct serve *s = ctx;

	if (--s->running > 0)
		return;
	smtp_server_free(&s->smtp);
	imap_server_free(&s->imap);
	smtp_queue_shutdown(s->queue, on_queue_done, s);
}

/* A server of a failed start has closed its listeners. */
static void
on_failed_done(void *ctx)
{
	(void)ctx;
}

static void
on_stop(uv_signal_t *h, int signum)
{
	struct serve *s = h->data;

	if (s->stopping) {
		/* Nothing acknowledged is at risk: a 250 was only sent after
		 * its commit; an unanswered sender retries. */
		log_warn(&lctx, "event=stop signal=%d mode=immediate", signum);
		_exit(CLI_EXIT_FAIL);
	}
	s->stopping = true;
	log_info(&lctx, "event=stop signal=%d grace_ms=%d", signum,
	    SERVE_GRACE_MS);
	s->running = 2;
	smtp_server_shutdown(s->smtp, SERVE_GRACE_MS, on_server_done, s);
	imap_server_shutdown(s->imap, SERVE_GRACE_MS, on_server_done, s);
}

/* How long the certificate just loaded stays valid: a warning from 30
 * days before it expires (the self-signed one of init lasts 397 days),
 * at every start and SIGHUP. */
static void
log_cert(const struct config *c, const struct tls_ctx *tls)
{
	int64_t left = tls_ctx_cert_expires_in(tls);
	char path[300];

	if (left == INT64_MAX)
		return;
	(void)log_safe(path, sizeof(path), slice_cstr(c->tls_cert));
	if (left < 30 * 86400)
		log_warn(&lctx,
		    "event=tls-certificate cert=\"%s\" expires_in_days=%lld "
		    "note=\"%s; install a new one and send SIGHUP\"",
		    path, (long long)(left / 86400),
		    left < 0 ? "expired" : "expires soon");
	else
		log_info(&lctx,
		    "event=tls-certificate cert=\"%s\" expires_in_days=%lld",
		    path, (long long)(left / 86400));
}

static bool
listeners_equal(const struct config *a, const struct config *b)
{
	size_t i;

	if (a->n_listeners != b->n_listeners)
		return false;
	for (i = 0; i < a->n_listeners; i++)
		if (a->listeners[i].kind != b->listeners[i].kind ||
		    a->listeners[i].port != b->listeners[i].port ||
		    strcmp(a->listeners[i].addr, b->listeners[i].addr) != 0)
			return false;
	return true;
}

static void
on_hup(uv_signal_t *h, int signum)
{
	struct serve *s = h->data;
	struct config nc;
	struct tls_ctx *tls = NULL;
	struct err err = { 0 };
	char why[300];

	(void)signum;
	if (s->stopping)
		return;
	if (cli_config_load(s->data, &nc, &err) != 0) {
		log_error(&lctx,
		    "event=reload status=refused reason=\"%s\" "
		    "note=\"running config kept\"",
		    log_safe(why, sizeof(why), slice_cstr(err.msg)));
		return;
	}
	/* A new certificate or key (renewed in place, or new paths) is
	 * loaded here and used by connections accepted from now on;
	 * sessions keep the context they started with. A broken one keeps
	 * the running certificate, config and all. */
	if (tls_ctx_new(nc.tls_cert, nc.tls_key, &tls, &err) != 0) {
		log_error(&lctx,
		    "event=reload status=refused reason=\"%s\" "
		    "note=\"running config and certificate kept\"",
		    log_safe(why, sizeof(why), slice_cstr(err.msg)));
		return;
	}
	if (!listeners_equal(&s->cfg, &nc))
		log_warn(&lctx,
		    "event=reload note=\"listener changes take "
		    "effect at the next start\"");
	if (nc.blob_gc_grace_seconds != s->cfg.blob_gc_grace_seconds ||
	    nc.commit_batch_max != s->cfg.commit_batch_max)
		log_warn(&lctx,
		    "event=reload note=\"store settings take "
		    "effect at the next start\"");
	apply_log_level(&nc);
	log_cert(&nc, tls);
	smtp_server_reload(s->smtp, &nc, tls);
	smtp_queue_reload(s->queue, &nc);
	imap_server_reload(s->imap, &nc, tls);
	/* The server now uses tls; sessions on the old context hold their
	 * own references to it. */
	tls_ctx_free(&s->tls);
	s->tls = tls;
	s->cfg = nc;
	log_info(&lctx, "event=reload status=ok config=%s", nc.path);
}

/* Takes DIR/serve.lock for the life of the process: a second serve on
 * the same data dir would bind the same ports and run a second commit
 * thread over the same store. Returns the fd or -1 (message printed). */
static int
take_lock(const char *data_dir)
{
	char path[PATH_MAX], pid[32];
	int fd;

	if (!str_fmt(path, sizeof(path), "%s/serve.lock", data_dir)) {
		cli_error("serve: %s: path too long", data_dir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		cli_error("serve: %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			cli_error("serve: another despatch serve is running on "
			          "%s (%s is locked)",
			    data_dir, path);
		else
			cli_error("serve: lock %s: %s", path, strerror(errno));
		(void)close(fd);
		return -1;
	}
	/* For the operator's eyes only; the lock is the flock. */
	(void)str_fmt(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)!write(fd, pid, strlen(pid));
	return fd;
}

static int
start_signal(struct serve *s, uv_signal_t *h, uv_signal_cb cb, int signum)
{
	int r;

	if ((r = uv_signal_init(&s->loop, h)) != 0)
		return r;
	h->data = s;
	return uv_signal_start(h, cb, signum);
}

static int
run(struct serve *s)
{
	char text[CONFIG_LISTENERS_MAX * 80], store_dir[PATH_MAX];
	struct store_opts so;
	struct err err = { 0 };
	int r, rc;

	(void)str_fmt(store_dir, sizeof(store_dir), "%s/store",
	    s->cfg.data_dir);
	so = (struct store_opts){ .dir = store_dir,
		.loop = &s->loop,
		.gc_grace_seconds = s->cfg.blob_gc_grace_seconds,
		.batch_max = s->cfg.commit_batch_max };
	/* As root, the store is opened (and recovered, and its commit
	 * thread started) with the owner's effective ids, so that every file
	 * it makes is the owner's; then root again to bind. */
	if (s->priv_on && cli_priv_assume("serve", &s->priv) != CLI_EXIT_OK)
		return CLI_EXIT_FAIL;
	rc = store_open(&so, &s->st, &err);
	if (s->priv_on && cli_priv_restore("serve") != CLI_EXIT_OK)
		return CLI_EXIT_FAIL;
	if (rc != 0) {
		cli_error_err(store_dir, &err);
		return CLI_EXIT_FAIL;
	}
	if (tls_ctx_new(s->cfg.tls_cert, s->cfg.tls_key, &s->tls, &err) != 0) {
		cli_error_err("serve: tls", &err);
		return CLI_EXIT_FAIL;
	}
	log_cert(&s->cfg, s->tls);
	if ((r = start_signal(s, &s->sig_term, on_stop, SIGTERM)) != 0 ||
	    (r = start_signal(s, &s->sig_int, on_stop, SIGINT)) != 0 ||
	    (r = start_signal(s, &s->sig_hup, on_hup, SIGHUP)) != 0) {
		cli_error("serve: signals: %s", uv_strerror(r));
		return CLI_EXIT_FAIL;
	}
	if (smtp_server_start(&s->loop, &s->cfg, s->st, s->tls, &s->smtp,
	        &err) != 0) {
		cli_error_err("serve", &err);
		return CLI_EXIT_FAIL;
	}
	if (imap_server_start(&s->loop, &s->cfg, s->st, s->tls, &s->imap,
	        &err) != 0) {
		cli_error_err("serve", &err);
		return CLI_EXIT_FAIL;
	}
	/* Ports are bound, the key is read: leave root before the loop
	 * runs, i.e. before a byte is read from a client, and before the
	 * outbound queue starts (it needs no privilege). */
	if (s->priv_on) {
		if (cli_priv_drop("serve", &s->priv) != CLI_EXIT_OK)
			return CLI_EXIT_FAIL;
		log_info(&lctx, "event=privileges user=%s uid=%lu gid=%lu",
		    s->priv.name, (unsigned long)s->priv.uid,
		    (unsigned long)s->priv.gid);
	}
	if (smtp_queue_start(&s->loop, &s->cfg, s->st, &s->queue, &err) != 0) {
		cli_error_err("serve: outbound queue", &err);
		return CLI_EXIT_FAIL;
	}
	smtp_server_set_queue(s->smtp, s->queue);
	/* One failed-login record for IMAP and submission: a guess on
	 * either counts toward the delays and the ban of both. */
	smtp_server_share_throttle(s->smtp, imap_server_throttle(s->imap));
	listeners_text(&s->cfg, text, sizeof(text));
	log_info(&lctx,
	    "event=start version=%s pid=%ld data=%s hostname=%s "
	    "listeners=%s",
	    CLI_VERSION, (long)getpid(), s->cfg.data_dir, s->cfg.hostname,
	    text);
	/* Test builds: DESPATCH_FAULT counts from here, the first request. */
	dio_fault_arm();
	(void)uv_run(&s->loop, UV_RUN_DEFAULT);
	return CLI_EXIT_OK;
}

/* Every session and every open blob costs a descriptor, and systemd and
 * login shells start us with a soft RLIMIT_NOFILE of 1024, which would
 * cap serve near 1,000 connections while the hard limit allows far more
 * (systemd's is 524288). The soft limit goes up to the hard one; no
 * privilege is needed for that. */
static void
raise_nofile(void)
{
	struct rlimit r;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max)
		return;
	was = r.rlim_cur;
	r.rlim_cur = r.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &r) != 0)
		log_warn(&lctx, "event=nofile soft=%llu hard=%llu msg=\"%s\"",
		    (unsigned long long)was, (unsigned long long)r.rlim_max,
		    strerror(errno));
	else
		log_info(&lctx, "event=nofile soft=%llu was=%llu",
		    (unsigned long long)r.rlim_cur, (unsigned long long)was);
}

/* Root: whom to become (the data dir's owner, never root), who must be
 * able to reach the data dir. CLI_EXIT_OK or CLI_EXIT_FAIL (message
 * printed). */
static int
leave_root_prepare(struct serve *s)
{
	const char *dir = s->cfg.data_dir;

	if (cli_priv_owner(dir, &s->priv) != CLI_EXIT_OK) {
		cli_error("serve: %s: %s", dir, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (s->priv.uid == 0) {
		cli_error("serve: the data dir %s is owned by root; serve does "
		          "not run as root but as the data dir's owner: run "
		          "`despatch init` as root (it creates the user %s), "
		          "or `chown -R %s: %s`",
		    dir, CLI_USER, CLI_USER, dir);
		return CLI_EXIT_FAIL;
	}
	s->priv_on = true;
	return cli_priv_reachable("serve", dir, &s->priv);
}

int
cli_cmd_serve(int argc, char **argv)
{
	static struct serve s; /* large (config paths); one per process */
	struct cli_opts o;
	struct err err = { 0 };
	int first, rc, lock_fd, r;

	if ((rc = cli_opts_parse(argc, argv, &o, NULL, NULL, NULL, &first)))
		return rc;
	if (o.help) {
		(void)fputs(usage_text, stdout);
		return CLI_EXIT_OK;
	}
	if (first != argc) {
		cli_error("serve: unexpected argument \"%s\"", argv[first]);
		return CLI_EXIT_USAGE;
	}
	if (cli_config_load(o.data, &s.cfg, &err) != 0) {
		cli_error_err("serve", &err);
		return CLI_EXIT_FAIL;
	}
	s.data = o.data;
	apply_log_level(&s.cfg);
	raise_nofile();
	if (geteuid() == 0 && (rc = leave_root_prepare(&s)) != CLI_EXIT_OK)
		return rc;
	if (s.priv_on && cli_priv_assume("serve", &s.priv) != CLI_EXIT_OK)
		return CLI_EXIT_FAIL;
	lock_fd = take_lock(s.cfg.data_dir);
	if (s.priv_on && cli_priv_restore("serve") != CLI_EXIT_OK)
		return CLI_EXIT_FAIL;
	if (lock_fd == -1)
		return CLI_EXIT_FAIL;
	if ((r = uv_loop_init(&s.loop)) != 0) {
		cli_error("serve: event loop: %s", uv_strerror(r));
		(void)close(lock_fd);
		return CLI_EXIT_FAIL;
	}
	rc = run(&s);
	if (rc != CLI_EXIT_OK) {
		/* A failed start: undo what was made, in reverse. A server
		 * that started has listeners on the loop: shut it down (it has
		 * no sessions, so at once) and let the loop close them. */
		s.running = (s.smtp != NULL) + (s.imap != NULL);
		s.stopping = true;
		if (s.smtp != NULL)
			smtp_server_shutdown(s.smtp, 0, on_failed_done, &s);
		if (s.imap != NULL)
			imap_server_shutdown(s.imap, 0, on_failed_done, &s);
		if (s.queue != NULL)
			smtp_queue_shutdown(s.queue, on_failed_done, &s);
		store_close(&s.st);
		tls_ctx_free(&s.tls);
		if (s.sig_term.loop != NULL)
			uv_close((uv_handle_t *)&s.sig_term, on_closed);
		if (s.sig_int.loop != NULL)
			uv_close((uv_handle_t *)&s.sig_int, on_closed);
		if (s.sig_hup.loop != NULL)
			uv_close((uv_handle_t *)&s.sig_hup, on_closed);
		(void)uv_run(&s.loop, UV_RUN_DEFAULT);
		smtp_server_free(&s.smtp);
		imap_server_free(&s.imap);
		smtp_queue_free(&s.queue);
	}
	if (uv_loop_close(&s.loop) != 0)
		log_warn(&lctx, "event=exit note=\"handles left open\"");
	(void)close(lock_fd); /* releases the flock */
	return rc;
}
