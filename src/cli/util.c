/* SPDX-License-Identifier: MIT */
/* Helpers shared by the subcommands: option parsing, error lines, opening
 * the store of a data dir, leaving root for the data dir's owner. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "lib/banned.h"
#include "lib/config.h"
#include "lib/str.h"
#include "store/store.h"

void
cli_error(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)fprintf(stderr, "despatch: %s\n", line);
}

void
cli_error_err(const char *what, const struct err *err)
{
	cli_error("%s: %s", what,
	    err->msg[0] != '\0' ? err->msg : err_name(err->code));
}

int
cli_opts_parse(int argc, char **argv, struct cli_opts *o,
    const struct option *extra,
    int (*on_extra)(void *ctx, int val, const char *arg), void *ctx,
    int *first_out)
{
	struct option longopts[16];
	size_t n = 0, i;
	int c, rc;

	o->data = CLI_DATA_DEFAULT;
	o->help = false;
	longopts[n++] = (struct option){ "data", required_argument, NULL, 'd' };
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	for (i = 0; extra != NULL && extra[i].name != NULL && n < 15; i++)
		longopts[n++] = extra[i];
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };

	optind = 1;
	opterr = 0;
	/* Leading '-' would return positionals in order as 1; "+" would stop
	 * at the first one. Neither: GNU permutation lets `user add ADDR
	 * --data DIR` work as `make run` writes it. */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (optarg[0] == '\0') {
				cli_error("%s: --data needs a folder", argv[0]);
				return CLI_EXIT_USAGE;
			}
			o->data = optarg;
			break;
		case 'h':
			o->help = true;
			break;
		case ':':
			cli_error("%s: %s needs a value (see --help)", argv[0],
			    argv[optind - 1]);
			return CLI_EXIT_USAGE;
		case '?':
			cli_error("%s: unknown option %s (see --help)", argv[0],
			    argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			if (on_extra == NULL)
				return CLI_EXIT_USAGE;
			if ((rc = on_extra(ctx, c, optarg)) != CLI_EXIT_OK)
				return rc;
			break;
		}
	}
	*first_out = optind;
	return CLI_EXIT_OK;
}

int
cli_store_open(const char *data, struct store **out)
{
	char dir[PATH_MAX];
	struct store_opts so;
	struct config def;
	struct err err = { 0 };
	struct stat st;

	*out = NULL;
	if (geteuid() == 0) {
		struct cli_priv p;

		/* A missing DATA: the check below says what to do. */
		if (cli_priv_owner(data, &p) == CLI_EXIT_OK && p.uid != 0 &&
		    (cli_priv_drop(data, &p) != CLI_EXIT_OK ||
		        cli_priv_reachable(data, data, NULL) != CLI_EXIT_OK))
			return CLI_EXIT_FAIL;
	}
	if (!str_fmt(dir, sizeof(dir), "%s/store", data)) {
		cli_error("%s: path too long", data);
		return CLI_EXIT_FAIL;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		const char *why =
		    S_ISDIR(st.st_mode) ? "not a folder" : strerror(errno);

		cli_error("%s is not a despatch data dir (%s: %s); create "
		          "one with `despatch init --data %s`",
		    data, dir, why, data);
		return CLI_EXIT_FAIL;
	}
	config_defaults(&def);
	so = (struct store_opts){ .dir = dir,
		.loop = NULL,
		.gc_grace_seconds = def.blob_gc_grace_seconds,
		.batch_max = def.commit_batch_max };
	if (store_open(&so, out, &err) != 0) {
		cli_error_err(dir, &err);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

bool
cli_address_ok(const char *what, const char *addr)
{
	const char *at = strchr(addr, '@');

	if (at == NULL || at == addr || strchr(at + 1, '@') != NULL ||
	    !cli_hostname_ok(at + 1) || strlen(addr) > 254) {
		cli_error("%s: \"%s\" is not an address of the form "
		          "local@domain",
		    what, addr);
		return false;
	}
	return true;
}

int
cli_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* --- privileges ------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__) /* gcc */
#define CLI_ASAN 1
#elif defined(__has_feature) /* clang */
#if __has_feature(address_sanitizer)
#define CLI_ASAN 1
#endif
#endif

int
cli_priv_owner(const char *data, struct cli_priv *p)
{
	struct stat st;
	struct passwd *pw;

	if (stat(data, &st) == -1)
		return CLI_EXIT_FAIL;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return CLI_EXIT_FAIL;
	}
	p->uid = st.st_uid;
	p->gid = st.st_gid;
	pw = getpwuid(st.st_uid);
	if (pw != NULL) {
		p->gid = pw->pw_gid;
		if (str_copy(p->name, sizeof(p->name), pw->pw_name))
			return CLI_EXIT_OK;
	}
	(void)str_fmt(p->name, sizeof(p->name), "%lu", (unsigned long)p->uid);
	return CLI_EXIT_OK;
}

int
cli_priv_drop(const char *what, const struct cli_priv *p)
{
	/* Groups first: once the uid is not 0 they can no longer change. */
	if (setgroups(0, NULL) == -1 ||
	    setresgid(p->gid, p->gid, p->gid) == -1 ||
	    setresuid(p->uid, p->uid, p->uid) == -1) {
		cli_error("%s: cannot switch from root to user %s (uid %lu, "
		          "gid %lu): %s; refusing to run as root",
		    what, p->name, (unsigned long)p->uid, (unsigned long)p->gid,
		    strerror(errno));
		return CLI_EXIT_FAIL;
	}
	/* Trust but verify (setuid(2) on a kernel that refuses part of it):
	 * root must be out of reach. */
	if (setuid(0) != -1 || getuid() != p->uid || geteuid() != p->uid ||
	    getgid() != p->gid || getegid() != p->gid ||
	    getgroups(0, NULL) != 0) {
		cli_error("%s: the switch to user %s did not take; refusing to "
		          "run as root",
		    what, p->name);
		return CLI_EXIT_FAIL;
	}
#ifdef CLI_ASAN
	/* The kernel made us undumpable when the ids changed; LeakSanitizer
	 * must ptrace this process at exit to check it. Sanitizer builds
	 * (tests) only: a release build stays undumpable. */
	(void)prctl(PR_SET_DUMPABLE, 1);
#endif
	return CLI_EXIT_OK;
}

int
cli_priv_assume(const char *what, const struct cli_priv *p)
{
	if (setgroups(0, NULL) == -1 || setegid(p->gid) == -1 ||
	    seteuid(p->uid) == -1) {
		cli_error("%s: cannot act as user %s (uid %lu): %s; refusing "
		          "to run as root",
		    what, p->name, (unsigned long)p->uid, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

int
cli_priv_restore(const char *what)
{
	if (seteuid(0) == -1 || setegid(0) == -1) {
		cli_error("%s: cannot return to root: %s", what,
		    strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

int
cli_priv_reachable(const char *what, const char *data, const struct cli_priv *p)
{
	struct cli_priv self;
	int ok, e;

	if (p != NULL && cli_priv_assume(what, p) != CLI_EXIT_OK)
		return CLI_EXIT_FAIL;
	/* euid, not uid: access(2) would check the real ids. */
	ok = faccessat(AT_FDCWD, data, R_OK | W_OK | X_OK, AT_EACCESS) == 0;
	e = errno;
	if (p != NULL && cli_priv_restore(what) != CLI_EXIT_OK)
		return CLI_EXIT_FAIL;
	if (ok)
		return CLI_EXIT_OK;
	if (p == NULL) {
		struct passwd *pw = getpwuid(geteuid());

		if (pw == NULL ||
		    !str_copy(self.name, sizeof(self.name), pw->pw_name))
			(void)str_fmt(self.name, sizeof(self.name), "%lu",
			    (unsigned long)geteuid());
		p = &self;
	}
	cli_error("%s: user %s cannot use the data dir %s: %s%s", what, p->name,
	    data, strerror(e),
	    e == EACCES ? " (every folder above it must be searchable by "
	                  "that user: chmod o+x, or move the data dir)"
	                : "");
	return CLI_EXIT_FAIL;
}
