/* SPDX-License-Identifier: MIT */
/* despatch init: a runnable data dir (config, self-signed certificate,
 * empty store, optionally the first domain). The config is written last:
 * its presence means "initialised", so an init that failed half-way can
 * simply be run again. As root, init creates the system user `despatch`
 * if missing and makes everything as that user. */
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cert.h"
#include "cli/cli.h"
#include "cli/config.h"
#include "lib/banned.h"
#include "lib/str.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: despatch init [--data DIR] [--domain DOMAIN] [--hostname HOST]\n"
    "                     [--listen ADDRESS] [--port-offset N]\n\n"
    "Makes DIR (mode 0700) a data dir: DIR/despatch.conf listing every\n"
    "listener, a self-signed certificate for HOST in DIR/tls/, an empty\n"
    "store in DIR/store/, and DOMAIN as the first local domain.\n"
    "Refuses to touch a DIR that already has a despatch.conf.\n"
    "As root, init creates the system user despatch (no login, home DIR)\n"
    "if it does not exist, and DIR and all in it belong to that user;\n"
    "`despatch serve` started as root runs as that user.\n\n"
    "  --hostname HOST    our name in greetings and Received: (default:\n"
    "                     this machine's host name)\n"
    "  --listen ADDRESS   numeric IPv4/IPv6 address to listen on\n"
    "                     (default 0.0.0.0)\n"
    "  --port-offset N    added to every standard port: SMTP on 25+N\n"
    "                     (default 0; `make run` uses 10000)\n";

struct init_opts {
	const char *domain, *hostname, *listen;
	uint64_t offset;
};

static int
on_opt(void *ctx, int val, const char *arg)
{
	struct init_opts *io = ctx;

	switch (val) {
	case 'D':
		io->domain = arg;
		return CLI_EXIT_OK;
	case 'H':
		io->hostname = arg;
		return CLI_EXIT_OK;
	case 'l':
		io->listen = arg;
		return CLI_EXIT_OK;
	case 'p':
		/* The highest standard port (993) + N must stay a port. */
		if (num_parse_u64(arg, 0, 65535 - 993, &io->offset) != 0) {
			cli_error("init: --port-offset \"%s\" is not a number "
			          "from 0 to %d",
			    arg, 65535 - 993);
			return CLI_EXIT_USAGE;
		}
		return CLI_EXIT_OK;
	}
	return CLI_EXIT_USAGE;
}

static int
make_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	cli_error("init: mkdir %s: %s", path,
	    errno == EEXIST ? "exists and is not a folder" : strerror(errno));
	return -1;
}

/* --- root: the system user and its data dir --------------------------- */

static uid_t chown_uid;
static gid_t chown_gid;

static int
chown_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)flag;
	(void)f;
	if (sb->st_uid == chown_uid && sb->st_gid == chown_gid)
		return 0;
	/* lchown, and nftw with FTW_PHYS: a symlink is never followed. */
	if (lchown(path, chown_uid, chown_gid) == -1) {
		cli_error("init: chown %s: %s", path, strerror(errno));
		return 1;
	}
	return 0;
}

/* Runs useradd for CLI_USER; true if the user exists afterwards (another
 * init may have made it at the same time). Prints why not if `last`. */
static bool
add_system_user(const char *home, bool last)
{
	const bool group = getgrnam(CLI_USER) != NULL;
	const char *argv[] = { "useradd", "--system", "--no-create-home",
		"--home-dir", home, "--shell", "/usr/sbin/nologin",
		group ? "--gid" : "--user-group", group ? CLI_USER : NULL, NULL,
		NULL };
	int status = 0;
	pid_t pid;

	argv[group ? 9 : 8] = CLI_USER;
	(void)fflush(stdout);
	pid = fork();
	if (pid == -1) {
		cli_error("init: fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0) {
		(void)dup2(STDERR_FILENO, STDOUT_FILENO);
		(void)execv("/usr/sbin/useradd", (char *const *)argv);
		(void)execvp("useradd", (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (getpwnam(CLI_USER) != NULL)
		return true;
	if (!last)
		return false;
	cli_error("init: `useradd --system ... %s` failed (status %d); create "
	          "the user %s and run init again",
	    CLI_USER, status, CLI_USER);
	return false;
}

/* Root: makes sure CLI_USER exists, gives it DATA (already made) and all
 * in it, and becomes CLI_USER for good. */
static int
become_owner(const char *data)
{
	char abs[PATH_MAX];
	struct passwd *pw;
	struct cli_priv p;

	if (realpath(data, abs) == NULL) {
		cli_error("init: %s: %s", data, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (getpwnam(CLI_USER) == NULL) {
		/* Twice: an init running at the same time may have made the
		 * group between our look-up and useradd (pytest-xdist). */
		if (!add_system_user(abs, false) && !add_system_user(abs, true))
			return CLI_EXIT_FAIL;
		(void)printf("created system user %s\n", CLI_USER);
	}
	pw = getpwnam(CLI_USER);
	if (pw == NULL || pw->pw_uid == 0) {
		cli_error("init: user %s %s; refusing to run as root", CLI_USER,
		    pw == NULL ? "vanished" : "has uid 0");
		return CLI_EXIT_FAIL;
	}
	p.uid = pw->pw_uid;
	p.gid = pw->pw_gid;
	(void)str_copy(p.name, sizeof(p.name), CLI_USER);
	chown_uid = p.uid;
	chown_gid = p.gid;
	if (nftw(abs, chown_one, 16, FTW_PHYS | FTW_MOUNT) != 0) {
		if (errno != 0)
			cli_error("init: chown %s: %s", abs, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (cli_priv_drop("init", &p) != CLI_EXIT_OK)
		return CLI_EXIT_FAIL;
	return cli_priv_reachable("init", abs, NULL);
}

static int
init_store(const char *data, const char *domain)
{
	char dir[PATH_MAX];
	struct store_opts so;
	struct store *st = NULL;
	struct config def;
	struct err err = { 0 };
	int rc = CLI_EXIT_OK;

	(void)str_fmt(dir, sizeof(dir), "%s/store", data);
	config_defaults(&def);
	so = (struct store_opts){ .dir = dir,
		.loop = NULL,
		.gc_grace_seconds = def.blob_gc_grace_seconds,
		.batch_max = def.commit_batch_max };
	if (store_open(&so, &st, &err) != 0) {
		cli_error_err(dir, &err);
		return CLI_EXIT_FAIL;
	}
	if (domain != NULL) {
		int r = store_domain_add(st, domain, &err);

		if (r != 0 && r != ERR_EXISTS) { /* EXISTS: a re-run */
			cli_error("init: domain add %s: %s", domain, err.msg);
			rc = CLI_EXIT_FAIL;
		}
	}
	store_close(&st);
	return rc;
}

int
cli_cmd_init(int argc, char **argv)
{
	static const struct option extra[] = {
		{ "domain", required_argument, NULL, 'D' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "listen", required_argument, NULL, 'l' },
		{ "port-offset", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct init_opts io = { NULL, NULL, "0.0.0.0", 0 };
	struct cli_opts o;
	struct config c;
	struct err err = { 0 };
	char conf[PATH_MAX], tls[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	char host[256];
	int first, rc;

	if ((rc = cli_opts_parse(argc, argv, &o, extra, on_opt, &io, &first)))
		return rc;
	if (o.help) {
		(void)fputs(usage_text, stdout);
		return CLI_EXIT_OK;
	}
	if (first != argc) {
		cli_error("init: unexpected argument \"%s\" (see despatch init "
		          "--help)",
		    argv[first]);
		return CLI_EXIT_USAGE;
	}
	if (io.hostname == NULL) {
		if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
			(void)str_copy(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		io.hostname = host;
	}
	if (!cli_hostname_ok(io.hostname)) {
		cli_error("init: --hostname \"%s\" is not a valid host name",
		    io.hostname);
		return CLI_EXIT_USAGE;
	}
	if (!cli_addr_ok(io.listen)) {
		cli_error("init: --listen \"%s\" is not a numeric IPv4 or IPv6 "
		          "address",
		    io.listen);
		return CLI_EXIT_USAGE;
	}
	if (io.domain != NULL && !cli_hostname_ok(io.domain)) {
		cli_error("init: --domain \"%s\" is not a valid domain name",
		    io.domain);
		return CLI_EXIT_USAGE;
	}
	if (!str_fmt(conf, sizeof(conf), "%s/%s", o.data, CLI_CONFIG_FILE) ||
	    !str_fmt(tls, sizeof(tls), "%s/tls", o.data) ||
	    !str_fmt(cert, sizeof(cert), "%s/cert.pem", tls) ||
	    !str_fmt(key, sizeof(key), "%s/key.pem", tls)) {
		cli_error("init: %s: path too long", o.data);
		return CLI_EXIT_USAGE;
	}
	if (access(conf, F_OK) == 0) {
		cli_error("init: %s exists; init never overwrites a data dir "
		          "(edit it, or choose another --data)",
		    conf);
		return CLI_EXIT_FAIL;
	}

	config_defaults(&c);
	(void)str_copy(c.hostname, sizeof(c.hostname), io.hostname);
	c.n_listeners = 5;
	c.listeners[0].kind = LISTENER_SMTP;
	c.listeners[0].port = 25 + (unsigned)io.offset;
	c.listeners[1].kind = LISTENER_SUBMISSION;
	c.listeners[1].port = 587 + (unsigned)io.offset;
	c.listeners[2].kind = LISTENER_SUBMISSIONS;
	c.listeners[2].port = 465 + (unsigned)io.offset;
	c.listeners[3].kind = LISTENER_IMAP;
	c.listeners[3].port = 143 + (unsigned)io.offset;
	c.listeners[4].kind = LISTENER_IMAPS;
	c.listeners[4].port = 993 + (unsigned)io.offset;
	for (size_t i = 0; i < c.n_listeners; i++)
		(void)str_copy(c.listeners[i].addr, sizeof(c.listeners[i].addr),
		    io.listen);
	(void)str_copy(c.tls_cert, sizeof(c.tls_cert), "tls/cert.pem");
	(void)str_copy(c.tls_key, sizeof(c.tls_key), "tls/key.pem");

	if (make_dir(o.data) != 0)
		return CLI_EXIT_FAIL;
	/* As root, everything below is made by CLI_USER in its data dir. */
	if (geteuid() == 0 && (rc = become_owner(o.data)) != CLI_EXIT_OK)
		return rc;
	if (make_dir(tls) != 0)
		return CLI_EXIT_FAIL;
	if (cli_cert_generate(io.hostname, cert, key, &err) != 0) {
		cli_error_err("init: certificate", &err);
		return CLI_EXIT_FAIL;
	}
	if ((rc = init_store(o.data, io.domain)) != CLI_EXIT_OK)
		return rc;
	if (cli_config_write(&c, (unsigned)io.offset, conf, &err) != 0) {
		cli_error_err("init", &err);
		return CLI_EXIT_FAIL;
	}
	(void)printf("initialised %s\n"
	             "  config:      %s\n"
	             "  certificate: %s (self-signed for %s)\n"
	             "  store:       %s/store\n"
	             "  smtp:        %s port %u\n"
	             "  submission:  %s port %u (STARTTLS), %u (TLS)\n"
	             "  imap:        %s port %u (STARTTLS), %u (TLS)\n",
	    o.data, conf, cert, io.hostname, o.data, io.listen,
	    c.listeners[0].port, io.listen, c.listeners[1].port,
	    c.listeners[2].port, io.listen, c.listeners[3].port,
	    c.listeners[4].port);
	if (io.domain != NULL)
		(void)printf("  domain:      %s\n", io.domain);
	return CLI_EXIT_OK;
}
