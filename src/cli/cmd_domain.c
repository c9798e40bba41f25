/* SPDX-License-Identifier: MIT */
/* despatch domain add|list|remove: the domains mail is accepted for. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "lib/banned.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: despatch domain add DOMAIN    [--data DIR]\n"
    "       despatch domain list          [--data DIR]\n"
    "       despatch domain remove DOMAIN [--data DIR]\n\n"
    "Local domains: mail to them is delivered to their users and\n"
    "aliases, mail to any other domain is refused (no relay). A domain\n"
    "with users or aliases left cannot be removed.\n";

static void
print_domain(void *ctx, const char *domain)
{
	(void)ctx;
	(void)printf("%s\n", domain);
}

int
cli_cmd_domain(int argc, char **argv)
{
	struct cli_opts o;
	struct store *st = NULL;
	struct err err = { 0 };
	const char *verb;
	char what[300];
	int first, n, rc;

	if ((rc = cli_opts_parse(argc, argv, &o, NULL, NULL, NULL, &first)))
		return rc;
	if (o.help) {
		(void)fputs(usage_text, stdout);
		return CLI_EXIT_OK;
	}
	n = argc - first;
	verb = n > 0 ? argv[first] : "";
	if (!((strcmp(verb, "add") == 0 && n == 2) ||
	        (strcmp(verb, "remove") == 0 && n == 2) ||
	        (strcmp(verb, "list") == 0 && n == 1))) {
		cli_error("domain: expected add DOMAIN, list or remove DOMAIN "
		          "(see despatch domain --help)");
		return CLI_EXIT_USAGE;
	}
	if (n == 2 && !cli_hostname_ok(argv[first + 1])) {
		cli_error("domain %s: \"%s\" is not a valid domain name", verb,
		    argv[first + 1]);
		return CLI_EXIT_USAGE;
	}
	if ((rc = cli_store_open(o.data, &st)) != CLI_EXIT_OK)
		return rc;
	(void)snprintf(what, sizeof(what), "domain %s %s", verb,
	    n == 2 ? argv[first + 1] : "");
	if (strcmp(verb, "add") == 0)
		rc = store_domain_add(st, argv[first + 1], &err);
	else if (strcmp(verb, "remove") == 0)
		rc = store_domain_remove(st, argv[first + 1], &err);
	else
		rc = store_domain_list(st, print_domain, NULL, &err);
	if (rc != 0) {
		cli_error_err(what, &err);
		rc = CLI_EXIT_FAIL;
	} else if (n == 2) {
		(void)printf("domain %s: %s\n",
		    strcmp(verb, "add") == 0 ? "added" : "removed",
		    argv[first + 1]);
	}
	store_close(&st);
	return rc;
}
