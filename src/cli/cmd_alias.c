/* SPDX-License-Identifier: MIT */
/* despatch alias add|list|remove: an address delivered to local users. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/banned.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: despatch alias add ALIAS TARGET       [--data DIR]\n"
    "       despatch alias list                   [--data DIR]\n"
    "       despatch alias remove ALIAS [TARGET]  [--data DIR]\n\n"
    "An alias is an address of a local domain delivered to one or more\n"
    "local users (TARGET, a user's address; add once per target, at most\n"
    "64). remove without TARGET drops the alias with all its targets.\n"
    "list prints one \"ALIAS TARGET\" line per target.\n";

static void
print_alias(void *ctx, const char *alias, const char *target)
{
	(void)ctx;
	(void)printf("%s %s\n", alias, target);
}

int
cli_cmd_alias(int argc, char **argv)
{
	struct cli_opts o;
	struct store *st = NULL;
	struct err err = { 0 };
	const char *verb, *alias = NULL, *target = NULL;
	char what[600];
	int first, n, rc;

	if ((rc = cli_opts_parse(argc, argv, &o, NULL, NULL, NULL, &first)))
		return rc;
	if (o.help) {
		(void)fputs(usage_text, stdout);
		return CLI_EXIT_OK;
	}
	n = argc - first;
	verb = n > 0 ? argv[first] : "";
	if (!((strcmp(verb, "add") == 0 && n == 3) ||
	        (strcmp(verb, "remove") == 0 && (n == 2 || n == 3)) ||
	        (strcmp(verb, "list") == 0 && n == 1))) {
		cli_error("alias: expected add ALIAS TARGET, list or remove "
		          "ALIAS [TARGET] (see despatch alias --help)");
		return CLI_EXIT_USAGE;
	}
	if (n >= 2) {
		alias = argv[first + 1];
		if (!cli_address_ok("alias", alias))
			return CLI_EXIT_USAGE;
	}
	if (n == 3) {
		target = argv[first + 2];
		if (!cli_address_ok("alias target", target))
			return CLI_EXIT_USAGE;
	}
	if ((rc = cli_store_open(o.data, &st)) != CLI_EXIT_OK)
		return rc;
	(void)snprintf(what, sizeof(what), "alias %s%s%s%s%s", verb,
	    alias ? " " : "", alias ? alias : "", target ? " " : "",
	    target ? target : "");
	if (strcmp(verb, "add") == 0)
		rc = store_alias_add(st, alias, target, &err);
	else if (strcmp(verb, "remove") == 0)
		rc = store_alias_remove(st, alias, target, &err);
	else
		rc = store_alias_list(st, print_alias, NULL, &err);
	if (rc != 0) {
		cli_error_err(what, &err);
		rc = CLI_EXIT_FAIL;
	} else if (strcmp(verb, "add") == 0) {
		(void)printf("alias %s -> %s added\n", alias, target);
	} else if (strcmp(verb, "remove") == 0) {
		(void)printf("alias %s%s%s removed\n", alias,
		    target ? " -> " : "", target ? target : "");
	}
	store_close(&st);
	return rc;
}
