/* SPDX-License-Identifier: MIT */
/* despatch user add|passwd|list|remove. Passwords come from stdin when it
 * is not a terminal and holds something, otherwise one is generated and
 * printed once; only the argon2id hash is stored. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "auth/password.h"
#include "cli/cli.h"
#include "lib/banned.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: despatch user add ADDRESS     [--data DIR]\n"
    "       despatch user passwd ADDRESS  [--data DIR]\n"
    "       despatch user list [DOMAIN]   [--data DIR]\n"
    "       despatch user remove ADDRESS  [--data DIR]\n\n"
    "add creates a user of an existing local domain with the mailboxes\n"
    "INBOX, Sent, Drafts, Trash, Junk and Archive. add and passwd read\n"
    "the password as one line from stdin when stdin is not a terminal\n"
    "(e.g. `echo \"$PW\" | despatch user add ...`); when stdin is a\n"
    "terminal or empty they generate one and print it once. Only an\n"
    "argon2id hash of it is stored. remove deletes the user, their\n"
    "mailboxes and messages.\n";

/* Reads the password from a non-terminal stdin into s: one line, its
 * CRLF or LF dropped. s->len == 0 when stdin is a terminal or empty.
 * CLI_EXIT_OK, CLI_EXIT_FAIL (message printed). */
static int
read_password(struct auth_secret *s)
{
	size_t n = 0;

	s->len = 0;
	if (isatty(STDIN_FILENO))
		return CLI_EXIT_OK;
	while (n < s->cap) {
		ssize_t r = read(STDIN_FILENO, s->p + n, s->cap - n);

		if (r == -1) {
			if (errno == EINTR)
				continue;
			cli_error("reading the password from stdin: %s",
			    strerror(errno));
			return CLI_EXIT_FAIL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n == s->cap) { /* more than any password plus CRLF */
		cli_error("the password on stdin is longer than %d bytes",
		    AUTH_PASSWORD_MAX);
		return CLI_EXIT_FAIL;
	}
	if (n > 0 && s->p[n - 1] == '\n')
		n--;
	if (n > 0 && s->p[n - 1] == '\r')
		n--;
	if (n > AUTH_PASSWORD_MAX) {
		cli_error("the password on stdin is longer than %d bytes",
		    AUTH_PASSWORD_MAX);
		return CLI_EXIT_FAIL;
	}
	if (memchr(s->p, '\n', n) != NULL || memchr(s->p, '\r', n) != NULL ||
	    memchr(s->p, '\0', n) != NULL) {
		cli_error("the password on stdin must be a single line");
		return CLI_EXIT_FAIL;
	}
	s->p[n] = '\0';
	s->len = n;
	return CLI_EXIT_OK;
}

/* Fills hash_out from stdin's password or a generated one (*generated_out
 * then, with the password left in s for printing). */
static int
get_hash(struct auth_secret *s, char hash_out[AUTH_PWHASH_SIZE],
    bool *generated_out)
{
	struct err err = { 0 };
	int rc;

	*generated_out = false;
	if ((rc = read_password(s)) != CLI_EXIT_OK)
		return rc;
	if (s->len == 0) {
		if (auth_password_generate(s, &err) != 0) {
			cli_error_err("generating a password", &err);
			return CLI_EXIT_FAIL;
		}
		*generated_out = true;
	}
	if (auth_password_hash(s->p, s->len, hash_out, &err) != 0) {
		cli_error_err("hashing the password", &err);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static void
print_user(void *ctx, const struct store_user *u)
{
	(void)ctx;
	(void)printf("%s\n", u->address);
}

static int
set_password(struct store *st, const char *verb, const char *address)
{
	struct auth_secret *s = NULL;
	struct err err = { 0 };
	char hash[AUTH_PWHASH_SIZE], what[300];
	bool generated;
	int64_t id;
	int rc;

	/* Room for the longest password, CRLF, and one byte that shows the
	 * input is longer than that. */
	if (auth_secret_new(AUTH_PASSWORD_MAX + 3, &s, &err) != 0) {
		cli_error_err("password buffer", &err);
		return CLI_EXIT_FAIL;
	}
	if ((rc = get_hash(s, hash, &generated)) != CLI_EXIT_OK)
		goto out;
	(void)snprintf(what, sizeof(what), "user %s %s", verb, address);
	if (strcmp(verb, "add") == 0)
		rc = store_user_add(st, address, hash, &id, &err);
	else
		rc = store_user_passwd(st, address, hash, &err);
	if (rc != 0) {
		cli_error_err(what, &err);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	(void)printf("user %s: %s\n", address,
	    strcmp(verb, "add") == 0 ? "added" : "password changed");
	if (generated)
		(void)printf("password: %s\n"
		             "(shown once: only its argon2id hash is stored)\n",
		    s->p);
	rc = CLI_EXIT_OK;
out:
	sodium_memzero(hash, sizeof(hash));
	auth_secret_free(&s);
	return rc;
}

int
cli_cmd_user(int argc, char **argv)
{
	struct cli_opts o;
	struct store *st = NULL;
	struct err err = { 0 };
	const char *verb, *arg;
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
	arg = n > 1 ? argv[first + 1] : NULL;
	if (!(((strcmp(verb, "add") == 0 || strcmp(verb, "passwd") == 0 ||
	           strcmp(verb, "remove") == 0) &&
	          n == 2) ||
	        (strcmp(verb, "list") == 0 && n <= 2))) {
		cli_error("user: expected add ADDRESS, passwd ADDRESS, list "
		          "[DOMAIN] or remove ADDRESS (see despatch user "
		          "--help)");
		return CLI_EXIT_USAGE;
	}
	if (arg != NULL && strcmp(verb, "list") != 0 &&
	    !cli_address_ok("user", arg))
		return CLI_EXIT_USAGE;
	if ((rc = cli_store_open(o.data, &st)) != CLI_EXIT_OK)
		return rc;
	(void)snprintf(what, sizeof(what), "user %s %s", verb, arg ? arg : "");
	if (strcmp(verb, "add") == 0 || strcmp(verb, "passwd") == 0) {
		rc = set_password(st, verb, arg);
	} else if (strcmp(verb, "remove") == 0) {
		rc = store_user_remove(st, arg, &err);
		if (rc == 0)
			(void)printf("user %s: removed\n", arg);
	} else {
		rc = store_user_list(st, arg, print_user, NULL, &err);
	}
	if (rc < 0) {
		cli_error_err(what, &err);
		rc = CLI_EXIT_FAIL;
	}
	store_close(&st);
	return rc;
}
