/* SPDX-License-Identifier: MIT */
/* Helpers shared by the subcommands: option parsing, error lines, opening
 * the store of a data dir. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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
