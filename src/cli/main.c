/* SPDX-License-Identifier: MIT */
/* `despatch`: one binary, one subcommand group per file (cmd_*.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "cli/cli.h"
#include "lib/banned.h"

struct cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct cmd cmds[] = {
	{ "init", cli_cmd_init,
	    "make a data dir: config, self-signed certificate, empty store" },
	{ "serve", cli_cmd_serve, "run the server in the foreground" },
	{ "domain", cli_cmd_domain, "add, list, remove local domains" },
	{ "user", cli_cmd_user, "add, passwd, list, remove users" },
	{ "alias", cli_cmd_alias, "add, list, remove aliases" },
	{ "mail", cli_cmd_mail, "list a mailbox, print a stored message" },
	{ "store", cli_cmd_store, "stats, verify, gc of the message store" },
	{ "queue", cli_cmd_queue,
	    "list, show, retry, hold, release, remove outbound mail" },
};
#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void
usage(FILE *f)
{
	size_t i;

	(void)fprintf(f,
	    "usage: despatch COMMAND [ARGS] [--data DIR]\n\n"
	    "A mail server. Every command takes --data DIR (default %s)\n"
	    "and --help, and is safe to run while `despatch serve` runs.\n\n"
	    "commands:\n",
	    CLI_DATA_DEFAULT);
	for (i = 0; i < N_CMDS; i++)
		(void)fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	(void)fprintf(f,
	    "\nExit status: 0 ok, 1 failure (or problems found), 2 usage "
	    "error.\n");
}

int
main(int argc, char **argv)
{
	const char *name;
	size_t i;

	/* Everything despatch creates (store, keys, config) is private to
	 * its user; files meant to be readable are chmod'ed explicitly. */
	(void)umask(077);
	/* A closed stdout (`despatch mail cat ... | head`) is an EPIPE
	 * error, reported, not a silent death by signal. */
	(void)signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		cli_error("libsodium failed to start");
		return CLI_EXIT_FAIL;
	}
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
	    strcmp(name, "help") == 0) {
		if (argc > 2 && strcmp(name, "help") == 0) {
			char help[] = "--help";
			char *sub[] = { argv[2], help, NULL };

			for (i = 0; i < N_CMDS; i++)
				if (strcmp(argv[2], cmds[i].name) == 0)
					return cmds[i].run(2, sub);
			cli_error(
			    "unknown command \"%s\" (see despatch --help)",
			    argv[2]);
			return CLI_EXIT_USAGE;
		}
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
		(void)printf("despatch %s\n", CLI_VERSION);
		return CLI_EXIT_OK;
	}
	for (i = 0; i < N_CMDS; i++)
		if (strcmp(name, cmds[i].name) == 0)
			return cmds[i].run(argc - 1, argv + 1);
	cli_error("unknown command \"%s\" (see despatch --help)", name);
	return CLI_EXIT_USAGE;
}
