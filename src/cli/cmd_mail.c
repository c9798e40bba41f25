/* SPDX-License-Identifier: MIT */
/* despatch mail list|cat: what a mailbox holds, and one message's stored
 * bytes exactly (trace headers included). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth/password.h"
#include "cli/cli.h"
#include "lib/banned.h"
#include "lib/str.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: despatch mail list USER [MAILBOX]      [--data DIR]\n"
    "       despatch mail cat USER MAILBOX UID     [--data DIR]\n\n"
    "list prints one line per message of MAILBOX (default INBOX): UID,\n"
    "date received (UTC), size in bytes, From and Subject.\n"
    "cat writes the stored bytes of one message to stdout, unchanged:\n"
    "the Return-Path: and Received: headers despatch added, then the\n"
    "message as received.\n";

/* Header values are the sender's bytes: control characters (an ESC
 * sequence could drive the terminal) print as '?'; UTF-8 stays. */
static void
print_clean(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		(void)putchar(c < 0x20 || c == 0x7f ? '?' : c);
	}
	if (s[i] != '\0')
		(void)fputs("...", stdout);
}

static void
print_entry(void *ctx, const struct store_entry *e)
{
	char date[32];
	struct tm tm;
	time_t t = (time_t)e->internaldate;

	(void)ctx;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)str_copy(date, sizeof(date), "?");
	(void)printf("%-6" PRIu32 " %-20s %10" PRIu64 "  ", e->uid, date,
	    e->size);
	print_clean(e->from, 60);
	(void)fputs("  ", stdout);
	print_clean(e->subject, 200);
	(void)putchar('\n');
}

static int
user_id(struct store *st, const char *address, int64_t *id_out)
{
	char hash[AUTH_PWHASH_SIZE];
	struct err err = { 0 };
	char what[300];
	int rc;

	rc = store_user_get(st, address, id_out, hash, sizeof(hash), &err);
	sodium_memzero(hash, sizeof(hash));
	if (rc != 0) {
		(void)snprintf(what, sizeof(what), "user %s", address);
		if (rc == ERR_NOTFOUND)
			cli_error("user %s: no such user", address);
		else
			cli_error_err(what, &err);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int
cat(struct store *st, const char *user, int64_t uid_user, const char *mailbox,
    uint32_t uid)
{
	static char chunk[64 * 1024];
	struct store_reader *r = NULL;
	struct err err = { 0 };
	char what[600];
	size_t got;
	int rc;

	(void)snprintf(what, sizeof(what), "mail cat %s %s %" PRIu32, user,
	    mailbox, uid);
	if ((rc = store_reader_open(st, uid_user, mailbox, uid, &r, &err))) {
		if (rc == ERR_NOTFOUND)
			cli_error("%s: no such message", what);
		else
			cli_error_err(what, &err);
		return CLI_EXIT_FAIL;
	}
	for (;;) {
		if (store_reader_read(r, chunk, sizeof(chunk), &got, &err)) {
			cli_error_err(what, &err);
			rc = CLI_EXIT_FAIL;
			break;
		}
		if (got == 0) {
			rc = CLI_EXIT_OK;
			break;
		}
		if (cli_write_all(STDOUT_FILENO, chunk, got) == -1) {
			cli_error("%s: writing to stdout: %s", what,
			    strerror(errno));
			rc = CLI_EXIT_FAIL;
			break;
		}
	}
	store_reader_close(&r);
	return rc;
}

int
cli_cmd_mail(int argc, char **argv)
{
	struct cli_opts o;
	struct store *st = NULL;
	struct err err = { 0 };
	const char *verb, *mailbox;
	uint64_t uid = 0;
	int64_t id;
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
	if (!((strcmp(verb, "list") == 0 && (n == 2 || n == 3)) ||
	        (strcmp(verb, "cat") == 0 && n == 4))) {
		cli_error("mail: expected list USER [MAILBOX] or cat USER "
		          "MAILBOX UID (see despatch mail --help)");
		return CLI_EXIT_USAGE;
	}
	mailbox = n >= 3 ? argv[first + 2] : "INBOX";
	if (n == 4 &&
	    num_parse_u64(argv[first + 3], 1, UINT32_MAX, &uid) != 0) {
		cli_error("mail cat: UID \"%s\" is not a number from 1 to %u",
		    argv[first + 3], UINT32_MAX);
		return CLI_EXIT_USAGE;
	}
	if ((rc = cli_store_open(o.data, &st)) != CLI_EXIT_OK)
		return rc;
	if ((rc = user_id(st, argv[first + 1], &id)) != CLI_EXIT_OK)
		goto out;
	if (strcmp(verb, "cat") == 0) {
		rc = cat(st, argv[first + 1], id, mailbox, (uint32_t)uid);
		goto out;
	}
	(void)printf("%-6s %-20s %10s  %s  %s\n", "UID", "DATE", "SIZE", "FROM",
	    "SUBJECT");
	rc = store_entry_list(st, id, mailbox, print_entry, NULL, &err);
	if (rc != 0) {
		(void)snprintf(what, sizeof(what), "mail list %s %s",
		    argv[first + 1], mailbox);
		if (rc == ERR_NOTFOUND)
			cli_error("%s: no such mailbox", what);
		else
			cli_error_err(what, &err);
		rc = CLI_EXIT_FAIL;
	}
out:
	if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
		cli_error("writing to stdout: %s", strerror(errno));
		rc = CLI_EXIT_FAIL;
	}
	store_close(&st);
	return rc;
}
