/* SPDX-License-Identifier: MIT */
/* What the `despatch` subcommands share: exit codes, the data dir, error
 * lines, opening the store. */
#ifndef DESPATCH_CLI_CLI_H
#define DESPATCH_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

struct store;

enum cli_exit {
	CLI_EXIT_OK = 0,    /* done */
	CLI_EXIT_FAIL = 1,  /* failed, or problems found */
	CLI_EXIT_USAGE = 2, /* bad command line */
};

#define CLI_DATA_DEFAULT "/var/lib/despatch"
#define CLI_VERSION      "0.1.0"

/* One subcommand group: `despatch NAME ...`; argv[0] is NAME. */
int cli_cmd_init(int argc, char **argv);
int cli_cmd_serve(int argc, char **argv);
int cli_cmd_domain(int argc, char **argv);
int cli_cmd_user(int argc, char **argv);
int cli_cmd_alias(int argc, char **argv);
int cli_cmd_mail(int argc, char **argv);
int cli_cmd_store(int argc, char **argv);
int cli_cmd_queue(int argc, char **argv);

/* Prints "despatch: <message>" as one line on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "despatch: <what>: <err->msg or code name>" on stderr. */
void cli_error_err(const char *what, const struct err *err);

/* Options every command takes; extra ones come back to the caller. */
struct cli_opts {
	const char *data; /* --data, default CLI_DATA_DEFAULT */
	bool help;        /* --help / -h given */
};

/* Parses argv with getopt_long: --data and --help, plus `extra` (may be
 * NULL; terminated by a zero entry, `flag` unused). Options may come
 * after positionals. For each extra option on_extra(ctx, val, optarg) is
 * called and returns 0 or an exit code. On return argv[*first_out..argc)
 * are the positionals. CLI_EXIT_OK or CLI_EXIT_USAGE (message printed). */
int cli_opts_parse(int argc, char **argv, struct cli_opts *o,
    const struct option *extra,
    int (*on_extra)(void *ctx, int val, const char *arg), void *ctx,
    int *first_out);

/* Opens DATA/store for an admin command (no loop: commits are inline).
 * Refuses a data dir without a store rather than creating one, so that a
 * mistyped --data does not make a new empty store. Prints the error;
 * returns CLI_EXIT_OK or CLI_EXIT_FAIL. */
int cli_store_open(const char *data, struct store **out);

/* Checks local@domain roughly (one @, both sides non-empty, domain a
 * host name); prints the error. */
bool cli_address_ok(const char *what, const char *addr);

/* Writes all of p to fd; -1 with errno on failure. */
int cli_write_all(int fd, const void *p, size_t n);

#endif
