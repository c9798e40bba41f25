/* SPDX-License-Identifier: MIT */
/* What the `despatch` subcommands share: exit codes, the data dir, error
 * lines, opening the store. */
#ifndef DESPATCH_CLI_CLI_H
#define DESPATCH_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
 * mistyped --data does not make a new empty store. As root, first
 * becomes DATA's owner for good (cli_priv_drop), unless that is root. Prints
 * the error; returns CLI_EXIT_OK or CLI_EXIT_FAIL. */
int cli_store_open(const char *data, struct store **out);

/* Checks local@domain roughly (one @, both sides non-empty, domain a
 * host name); prints the error. */
bool cli_address_ok(const char *what, const char *addr);

/* Writes all of p to fd; -1 with errno on failure. */
int cli_write_all(int fd, const void *p, size_t n);

/* --- privileges ---------------------------------------------------------
 * Started as root, despatch runs as the owner of its data dir (`init`, as
 * root, creates the system user CLI_USER and gives it the data dir): the
 * server after binding its ports, the admin commands before they open the
 * store (a root-owned SQLite -wal/-shm or blob file would lock the server
 * out). The user must be able to reach the data dir by its path (SQLite
 * makes every path absolute): its parents must be searchable by it.
 * Not root: nothing changes. */

#define CLI_USER "despatch"

/* Whom to run as. */
struct cli_priv {
	uid_t uid;
	gid_t gid;
	char name[64]; /* user name, or the uid in decimal */
};

/* Fills p from the owner of DATA (a folder): its uid, that user's
 * primary group (the folder's group if the uid has no passwd entry).
 * CLI_EXIT_OK, or CLI_EXIT_FAIL with errno set (stat failed; no message). */
int cli_priv_owner(const char *data, struct cli_priv *p);
/* For good: clears the supplementary groups, sets real, effective and
 * saved gid, then uid, to p's, and checks that it took (setuid(0) must
 * fail). CLI_EXIT_OK, or CLI_EXIT_FAIL with "<what>: ... refusing to run as
 * root" printed; the caller must then exit. */
int cli_priv_drop(const char *what, const struct cli_priv *p);
/* For a while (root only): effective ids become p's, so that files made
 * now belong to p; cli_priv_restore returns to root. Both apply to every
 * thread (glibc). CLI_EXIT_OK or CLI_EXIT_FAIL (message printed). */
int cli_priv_assume(const char *what, const struct cli_priv *p);
int cli_priv_restore(const char *what);
/* Whether the user p (NULL: the current effective user) can read, write
 * and search DATA by that path; if not, prints why (a parent folder it
 * cannot search, typically). CLI_EXIT_OK or CLI_EXIT_FAIL. */
int cli_priv_reachable(const char *what, const char *data,
    const struct cli_priv *p);

#endif
