/* SPDX-License-Identifier: MIT */
/* despatch queue list|show|retry|hold|release|remove|flush: the outbound
 * queue, one row per remote recipient. Each command is one transaction on
 * the store and works while `serve` runs: serve polls the queue every
 * second, so a retry, release or flush takes effect within a second. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "lib/banned.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/str.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: despatch queue list            [--data DIR]\n"
    "       despatch queue show ID         [--data DIR]\n"
    "       despatch queue retry ID|all    [--data DIR]\n"
    "       despatch queue hold ID|all     [--data DIR]\n"
    "       despatch queue release ID|all  [--data DIR]\n"
    "       despatch queue remove ID|all   [--data DIR]\n"
    "       despatch queue flush           [--data DIR]\n\n"
    "The outbound queue holds one entry per remote recipient of a\n"
    "message that is waiting to be delivered.\n"
    "  list     every entry: id, state, attempts, next attempt, sender,\n"
    "           recipient and the last reply of the remote server\n"
    "  show     one entry in full\n"
    "  retry    try the entry again now (a held entry stays held)\n"
    "  hold     stop trying the entry until it is released\n"
    "  release  let a held entry be tried again (at its next attempt)\n"
    "  remove   drop the entry: it is not delivered and no bounce is sent\n"
    "  flush    retry every entry now (retry all)\n"
    "A running `despatch serve` picks changes up within a second.\n";

static void
when_text(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		(void)str_copy(out, size, "-");
		return;
	}
	(void)gmtime_r(&tt, &tm);
	(void)strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct list_ctx {
	size_t n;
	int64_t now;
};

static void
print_row(void *ctx, const struct store_queue_entry *e)
{
	struct list_ctx *lc = ctx;
	char next[32], safe_s[300], safe_r[300], safe_l[STORE_REPLY_MAX + 1];

	if (lc->n++ == 0)
		(void)printf("%-8s %-7s %8s %-20s %s -> %s: %s\n", "ID", "STATE",
		    "ATTEMPTS", "NEXT", "SENDER", "RECIPIENT", "LAST REPLY");
	when_text(e->next_attempt, next, sizeof(next));
	(void)printf("%-8" PRId64 " %-7s %8u %-20s <%s> -> <%s>: %s\n", e->id,
	    e->held                     ? "held"
	        : e->next_attempt <= lc->now ? "due"
	                                     : "waiting",
	    e->attempts, next,
	    log_safe(safe_s, sizeof(safe_s), slice_cstr(e->sender)),
	    log_safe(safe_r, sizeof(safe_r), slice_cstr(e->rcpt)),
	    e->last_reply[0] != '\0'
	        ? log_safe(safe_l, sizeof(safe_l), slice_cstr(e->last_reply))
	        : "(not tried yet)");
}

static const char *
notify_text(unsigned n, char *out, size_t size)
{
	if (n == 0)
		return "(not given: FAILURE,DELAY)";
	if (n & STORE_NOTIFY_NEVER)
		return "NEVER";
	(void)str_fmt(out, size, "%s%s%s%s%s",
	    n & STORE_NOTIFY_SUCCESS ? "SUCCESS" : "",
	    (n & STORE_NOTIFY_SUCCESS) && (n & ~STORE_NOTIFY_SUCCESS) ? ","
	                                                              : "",
	    n & STORE_NOTIFY_FAILURE ? "FAILURE" : "",
	    (n & STORE_NOTIFY_FAILURE) && (n & STORE_NOTIFY_DELAY) ? "," : "",
	    n & STORE_NOTIFY_DELAY ? "DELAY" : "");
	return out;
}

static void
print_one(void *ctx, const struct store_queue_entry *e)
{
	struct list_ctx *lc = ctx;
	char created[32], next[32], last[32], nt[40], safe[600];

	lc->n++;
	when_text(e->created, created, sizeof(created));
	when_text(e->next_attempt, next, sizeof(next));
	when_text(e->last_attempt, last, sizeof(last));
	(void)printf("id:             %" PRId64 "\n", e->id);
	(void)printf("state:          %s\n", e->held ? "held"
	                                     : e->next_attempt <= lc->now
	                                     ? "due"
	                                     : "waiting");
	(void)printf("sender:         <%s>\n",
	    log_safe(safe, sizeof(safe), slice_cstr(e->sender)));
	(void)printf("recipient:      <%s>\n",
	    log_safe(safe, sizeof(safe), slice_cstr(e->rcpt)));
	(void)printf("domain:         %s\n",
	    log_safe(safe, sizeof(safe), slice_cstr(e->domain)));
	if (e->orcpt != NULL)
		(void)printf("orcpt:          %s\n",
		    log_safe(safe, sizeof(safe), slice_cstr(e->orcpt)));
	if (e->envid != NULL)
		(void)printf("envid:          %s\n",
		    log_safe(safe, sizeof(safe), slice_cstr(e->envid)));
	(void)printf("notify:         %s\n",
	    notify_text(e->notify, nt, sizeof(nt)));
	(void)printf("ret:            %s\n", e->ret == STORE_RET_FULL ? "FULL"
	                                     : e->ret == STORE_RET_HDRS
	                                     ? "HDRS"
	                                     : "(not given: headers)");
	(void)printf("message:        %" PRId64 " (%" PRIu64 " bytes%s%s)\n",
	    e->message_id, e->size, e->smtputf8 ? ", SMTPUTF8" : "",
	    e->body_8bit ? ", 8BITMIME" : "");
	(void)printf("queued:         %s\n", created);
	(void)printf("attempts:       %u\n", e->attempts);
	(void)printf("last attempt:   %s\n", last);
	(void)printf("next attempt:   %s\n", next);
	(void)printf("delay notice:   %s\n", e->delay_notified ? "sent" : "no");
	(void)printf("last reply:     %s\n",
	    e->last_reply[0] != '\0'
	        ? log_safe(safe, sizeof(safe), slice_cstr(e->last_reply))
	        : "(not tried yet)");
}

/* "all" -> 0; a positive decimal id; -1 otherwise. */
static int64_t
parse_id(const char *s, bool all_ok)
{
	uint64_t v;

	if (all_ok && strcmp(s, "all") == 0)
		return 0;
	if (num_parse_u64(s, 1, INT64_MAX, &v) != 0)
		return -1;
	return (int64_t)v;
}

int
cli_cmd_queue(int argc, char **argv)
{
	struct cli_opts o;
	struct store *st = NULL;
	struct err err = { 0 };
	struct list_ctx lc = { 0, clock_now() };
	const char *verb;
	char what[64];
	int first, n, rc;
	int64_t id = 0;
	size_t changed = 0;
	bool takes_id, one_id;

	if ((rc = cli_opts_parse(argc, argv, &o, NULL, NULL, NULL, &first)))
		return rc;
	if (o.help) {
		(void)fputs(usage_text, stdout);
		return CLI_EXIT_OK;
	}
	n = argc - first;
	verb = n > 0 ? argv[first] : "";
	one_id = strcmp(verb, "show") == 0;
	takes_id = one_id || strcmp(verb, "retry") == 0 ||
	    strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0 ||
	    strcmp(verb, "remove") == 0;
	if (!((takes_id && n == 2) ||
	        ((strcmp(verb, "list") == 0 || strcmp(verb, "flush") == 0) &&
	            n == 1))) {
		cli_error("queue: expected list, show ID, retry ID|all, hold "
		          "ID|all, release ID|all, remove ID|all or flush (see "
		          "despatch queue --help)");
		return CLI_EXIT_USAGE;
	}
	if (takes_id && (id = parse_id(argv[first + 1], !one_id)) < 0) {
		cli_error("queue %s: \"%s\" is not an entry id%s", verb,
		    argv[first + 1], one_id ? "" : " or all");
		return CLI_EXIT_USAGE;
	}
	if ((rc = cli_store_open(o.data, &st)) != CLI_EXIT_OK)
		return rc;
	(void)str_fmt(what, sizeof(what), "queue %s", verb);
	if (strcmp(verb, "list") == 0) {
		rc = store_queue_list(st, print_row, &lc, &err);
		if (rc == 0)
			(void)printf("%zu %s queued\n", lc.n,
			    lc.n == 1 ? "recipient" : "recipients");
	} else if (one_id) {
		rc = store_queue_get(st, id, print_one, &lc, &err);
	} else if (strcmp(verb, "retry") == 0 || strcmp(verb, "flush") == 0) {
		rc = store_queue_retry(st, id, clock_now(), &changed, &err);
	} else if (strcmp(verb, "hold") == 0 ||
	    strcmp(verb, "release") == 0) {
		rc = store_queue_hold(st, id, strcmp(verb, "hold") == 0,
		    &changed, &err);
	} else {
		rc = store_queue_remove(st, id, &changed, &err);
	}
	if (rc != 0) {
		cli_error_err(what, &err);
		rc = CLI_EXIT_FAIL;
	} else if (strcmp(verb, "list") != 0 && !one_id) {
		(void)printf("queue %s: %zu %s\n", verb, changed,
		    changed == 1 ? "entry" : "entries");
	}
	store_close(&st);
	return rc;
}
