/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the config parser (cli_config_parse_string,
 * cli/config.c, on libconfig). Properties:
 * - the result is 0 or ERR_INPUT with a message that names the file;
 * - an accepted config has every value within the ranges of cli/config.h
 *   (a config may lower a cap, never exceed it), at most
 *   CONFIG_LISTENERS_MAX listeners on numeric addresses and ports
 *   1..65535 without duplicates, at most CONFIG_ROUTES_MAX routes with
 *   valid hosts, every string NUL-terminated within its array;
 * - parsing the same text twice gives the same struct.
 * Inputs with "@include" are skipped: libconfig would read other files
 * (the config file is the administrator's, so that is not an attack). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig 1.5's lexer (Debian 12) leaks the buffer of a string left
 * unterminated at the end of the text (found by this target: `"""""""""`
 * and a control byte leaks 1 byte per string, `"\xee"\xee` 64 bytes from
 * strbuf_append). It is libconfig's, once per bad config file read at
 * start-up, so it is suppressed here by function rather than hidden by
 * turning leak detection off for config.c. */
const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig_yylex\nleak:strbuf_append\n";
}

static struct config c1, c2;

#define TERM(a) (memchr((a), '\0', sizeof(a)) != NULL)
#define RANGE(v, lo, hi) ((v) >= (lo) && (v) <= (hi))

static void
check(const struct config *c)
{
	size_t i, j;

	if (!TERM(c->path) || !TERM(c->data_dir) || !TERM(c->hostname) ||
	    !TERM(c->log_level) || !TERM(c->tls_cert) || !TERM(c->tls_key) ||
	    !TERM(c->outbound_resolver) || !TERM(c->outbound_smarthost))
		abort();
	if (c->n_listeners > CONFIG_LISTENERS_MAX ||
	    c->n_routes > CONFIG_ROUTES_MAX)
		abort();
	for (i = 0; i < c->n_listeners; i++) {
		const struct listener_config *l = &c->listeners[i];

		if (!TERM(l->addr) || !cli_addr_ok(l->addr) ||
		    !RANGE(l->port, 1u, 65535u))
			abort();
		for (j = 0; j < i; j++)
			if (c->listeners[j].port == l->port &&
			    strcmp(c->listeners[j].addr, l->addr) == 0)
				abort();
	}
	for (i = 0; i < c->n_routes; i++) {
		const struct route_config *r = &c->routes[i];

		if (!TERM(r->domain) || !TERM(r->host) ||
		    !cli_route_host_ok(r->host))
			abort();
		for (j = 0; r->domain[j] != '\0'; j++)
			if (r->domain[j] >= 'A' && r->domain[j] <= 'Z')
				abort();
	}
	if (c->outbound_smarthost[0] != '\0' &&
	    !cli_route_host_ok(c->outbound_smarthost))
		abort();
	if (!RANGE(c->smtp_max_message_size, CLI_CONFIG_MESSAGE_SIZE_MIN,
	        CLI_CONFIG_MESSAGE_SIZE_CAP) ||
	    !RANGE(c->smtp_max_recipients, 1u, CLI_CONFIG_RECIPIENTS_CAP) ||
	    !RANGE(c->smtp_max_errors, 1u, CLI_CONFIG_ERRORS_CAP) ||
	    !RANGE(c->smtp_timeout_seconds, CLI_CONFIG_TIMEOUT_MIN,
	        CLI_CONFIG_TIMEOUT_CAP) ||
	    c->imap_quota_bytes > CLI_CONFIG_QUOTA_BYTES_CAP ||
	    c->imap_quota_messages > CLI_CONFIG_QUOTA_MESSAGES_CAP ||
	    !RANGE(c->imap_login_timeout_seconds, CLI_CONFIG_TIMEOUT_MIN,
	        CLI_CONFIG_IMAP_LOGIN_TIMEOUT_CAP) ||
	    !RANGE(c->blob_gc_grace_seconds, CLI_CONFIG_GC_GRACE_MIN,
	        CLI_CONFIG_GC_GRACE_CAP) ||
	    !RANGE(c->commit_batch_max, 1u, CLI_CONFIG_BATCH_CAP) ||
	    c->submission_max_messages_per_hour > CLI_CONFIG_PER_HOUR_CAP ||
	    c->submission_max_recipients_per_hour > CLI_CONFIG_PER_HOUR_CAP ||
	    !RANGE(c->queue_retry_min_seconds, 1u, CLI_CONFIG_RETRY_CAP) ||
	    !RANGE(c->queue_retry_max_seconds, 1u, CLI_CONFIG_RETRY_CAP) ||
	    !RANGE(c->queue_lifetime_seconds, 60u, CLI_CONFIG_LIFETIME_CAP) ||
	    c->queue_delay_notice_seconds > CLI_CONFIG_LIFETIME_CAP ||
	    !RANGE(c->queue_max_connections, 1u, CLI_CONFIG_CONNECTIONS_CAP) ||
	    !RANGE(c->outbound_port, 1u, 65535u) ||
	    !RANGE(c->outbound_connect_timeout_seconds, 1u,
	        CLI_CONFIG_TIMEOUT_CAP) ||
	    !RANGE(c->outbound_timeout_seconds, 1u,
	        CLI_CONFIG_OUTBOUND_TIMEOUT_CAP))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e1, e2;
	char *text;
	int r1, r2;

	if (size > 64 * 1024 || memchr(data, '\0', size) != NULL)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (strstr(text, "@include") != NULL) {
		free(text);
		return 0;
	}
	memset(&c1, 0, sizeof(c1));
	memset(&c2, 0, sizeof(c2));
	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	r1 = cli_config_parse_string(text, "fuzz.conf", "/var/fuzz", &c1, &e1);
	r2 = cli_config_parse_string(text, "fuzz.conf", "/var/fuzz", &c2, &e2);
	if (r1 != r2 || (r1 != 0 && r1 != ERR_INPUT))
		abort();
	if (r1 == 0) {
		check(&c1);
		if (memcmp(&c1, &c2, sizeof(c1)) != 0)
			abort();
	} else if (strncmp(e1.msg, "fuzz.conf", 9) != 0 ||
	    strcmp(e1.msg, e2.msg) != 0) {
		abort();
	}
	free(text);
	return 0;
}
