/* SPDX-License-Identifier: MIT */
/* despatch store stats|verify|gc: the state and health of the store. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "lib/banned.h"
#include "lib/str.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: despatch store stats                     [--data DIR]\n"
    "       despatch store verify                    [--data DIR]\n"
    "       despatch store gc [--grace SECONDS]      [--data DIR]\n\n"
    "stats prints `key: value` lines: messages, entries (mailbox\n"
    "entries; one message may have many), logical_bytes (sum of stored\n"
    "message sizes), unique_parts (distinct blobs), physical_bytes (blob\n"
    "bytes as stored, compressed), unreferenced_blobs, file_blobs\n"
    "(of unique_parts, those stored as files under store/blobs/) and\n"
    "fts_pending (messages not yet in the full-text index: it is filled\n"
    "after delivery and may lag behind under load) and queue_rows\n"
    "(remote recipients waiting in the outbound queue).\n"
    "verify re-hashes every blob and checks every reference; it prints\n"
    "one line per problem and exits 1 if there is any.\n"
    "gc deletes blobs no message has referenced for SECONDS (default:\n"
    "store.gc_grace_seconds of the config, else 86400).\n";

struct gc_opts {
	bool has_grace;
	uint64_t grace;
};

static int
on_opt(void *ctx, int val, const char *arg)
{
	struct gc_opts *g = ctx;

	if (val != 'g')
		return CLI_EXIT_USAGE;
	if (num_parse_u64(arg, 0, CLI_CONFIG_GC_GRACE_CAP, &g->grace) != 0) {
		cli_error("store gc: --grace \"%s\" is not a number of seconds "
		          "from 0 to %llu",
		    arg, (unsigned long long)CLI_CONFIG_GC_GRACE_CAP);
		return CLI_EXIT_USAGE;
	}
	g->has_grace = true;
	return CLI_EXIT_OK;
}

static void
print_problem(void *ctx, const char *problem)
{
	unsigned long *n = ctx;

	(*n)++;
	(void)printf("problem: %s\n", problem);
}

static int
stats(struct store *st)
{
	struct store_stats s;
	struct err err = { 0 };

	if (store_stats_get(st, &s, &err) != 0) {
		cli_error_err("store stats", &err);
		return CLI_EXIT_FAIL;
	}
	(void)printf("messages: %" PRIu64 "\n"
	             "entries: %" PRIu64 "\n"
	             "logical_bytes: %" PRIu64 "\n"
	             "unique_parts: %" PRIu64 "\n"
	             "physical_bytes: %" PRIu64 "\n"
	             "unreferenced_blobs: %" PRIu64 "\n"
	             "file_blobs: %" PRIu64 "\n"
	             "fts_pending: %" PRIu64 "\n"
	             "queue_rows: %" PRIu64 "\n",
	    s.messages, s.entries, s.logical_bytes, s.unique_parts,
	    s.physical_bytes, s.unreferenced_blobs, s.file_blobs,
	    s.fts_pending, s.queue_rows);
	return CLI_EXIT_OK;
}

static int
verify(struct store *st)
{
	struct err err = { 0 };
	unsigned long problems = 0;
	int rc;

	rc = store_verify(st, print_problem, &problems, &err);
	(void)fflush(stdout);
	if (rc == 0 && problems == 0) {
		(void)printf("store verify: ok\n");
		return CLI_EXIT_OK;
	}
	if (rc == 0 || rc == ERR_INPUT) {
		cli_error("store verify: %lu problem%s found", problems,
		    problems == 1 ? "" : "s");
		return CLI_EXIT_FAIL;
	}
	cli_error_err("store verify", &err);
	return CLI_EXIT_FAIL;
}

static int
gc(struct store *st, const char *data, const struct gc_opts *g)
{
	struct config c;
	struct err err = { 0 };
	uint64_t grace = g->grace, removed = 0;

	if (!g->has_grace) {
		/* The configured grace; a missing config means the default,
		 * a broken one is an error (it may hold a longer grace). */
		int rc = cli_config_load(data, &c, &err);

		if (rc != 0 && rc != ERR_NOTFOUND) {
			cli_error_err("store gc", &err);
			return CLI_EXIT_FAIL;
		}
		if (rc == ERR_NOTFOUND)
			config_defaults(&c);
		grace = c.blob_gc_grace_seconds;
	}
	if (store_gc(st, grace, &removed, &err) != 0) {
		cli_error_err("store gc", &err);
		return CLI_EXIT_FAIL;
	}
	(void)printf("removed_blobs: %" PRIu64 "\ngrace_seconds: %" PRIu64 "\n",
	    removed, grace);
	return CLI_EXIT_OK;
}

int
cli_cmd_store(int argc, char **argv)
{
	static const struct option extra[] = {
		{ "grace", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	struct gc_opts g = { false, 0 };
	struct cli_opts o;
	struct store *st = NULL;
	const char *verb;
	int first, n, rc;

	if ((rc = cli_opts_parse(argc, argv, &o, extra, on_opt, &g, &first)))
		return rc;
	if (o.help) {
		(void)fputs(usage_text, stdout);
		return CLI_EXIT_OK;
	}
	n = argc - first;
	verb = n > 0 ? argv[first] : "";
	if (n != 1 ||
	    (strcmp(verb, "stats") != 0 && strcmp(verb, "verify") != 0 &&
	        strcmp(verb, "gc") != 0)) {
		cli_error("store: expected stats, verify or gc (see despatch "
		          "store --help)");
		return CLI_EXIT_USAGE;
	}
	if (g.has_grace && strcmp(verb, "gc") != 0) {
		cli_error("store %s: --grace is only for gc", verb);
		return CLI_EXIT_USAGE;
	}
	if ((rc = cli_store_open(o.data, &st)) != CLI_EXIT_OK)
		return rc;
	if (strcmp(verb, "stats") == 0)
		rc = stats(st);
	else if (strcmp(verb, "verify") == 0)
		rc = verify(st);
	else
		rc = gc(st, o.data, &g);
	store_close(&st);
	return rc;
}
