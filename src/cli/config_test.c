/* SPDX-License-Identifier: MIT */
/* Unit tests for the config parser and writer: a valid file, the writer's
 * output read back, and each kind of invalid value naming line + setting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/config.h"

static const char valid[] =
    "hostname = \"mx.example.test\";\n"
    "log_level = \"debug\";\n"
    "listeners = (\n"
    "  { kind = \"smtp\"; address = \"127.0.0.1\"; port = 10025; },\n"
    "  { kind = \"smtp\"; address = \"::1\"; port = 10025; }\n"
    ");\n"
    "tls = { cert = \"tls/c.pem\"; key = \"/etc/k.pem\"; };\n"
    "smtp = {\n"
    "  max_message_size = \"10M\";\n"
    "  max_recipients = 100;\n"
    "  max_errors = 5;\n"
    "  timeout_seconds = 60;\n"
    "  reject_bare_lf = true;\n"
    "  max_connections = 200; max_connections_per_ip = 5;\n"
    "  limit_loopback = true; data_time_seconds = 30;\n"
    "};\n"
    "imap = { max_connections = 300; max_connections_per_ip = 7;"
    " limit_loopback = true; command_time_seconds = 40; };\n"
    "store = { gc_grace_seconds = 3600; commit_batch_max = 64; };\n"
    "submission = { max_messages_per_hour = 10; max_recipients_per_hour"
    " = 0; };\n"
    "queue = { retry_min_seconds = 1; retry_max_seconds = 2;"
    " lifetime_seconds = 600; delay_notice_seconds = 0;"
    " max_connections = 3; };\n"
    "outbound = { resolver = \"127.0.0.1@5353\"; port = 2525;"
    " smarthost = \"\"; starttls = false; connect_timeout_seconds = 5;"
    " timeout_seconds = 20;\n"
    "  routes = ( { domain = \"Example.ORG\"; host = \"[127.0.0.9]:26\"; },"
    " { domain = \".corp.test\"; host = \"relay.corp.test\"; } ); };\n";

static void
test_valid(void **state)
{
	struct config c;
	struct err err;

	(void)state;
	assert_int_equal(cli_config_parse_string(valid, "t.conf", "/data", &c,
	                     &err),
	    0);
	assert_string_equal(c.hostname, "mx.example.test");
	assert_string_equal(c.log_level, "debug");
	assert_int_equal(c.n_listeners, 2);
	assert_int_equal(c.listeners[0].kind, LISTENER_SMTP);
	assert_string_equal(c.listeners[1].addr, "::1");
	assert_int_equal(c.listeners[1].port, 10025);
	assert_string_equal(c.tls_cert, "/data/tls/c.pem");
	assert_string_equal(c.tls_key, "/etc/k.pem");
	assert_int_equal(c.smtp_max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c.smtp_max_recipients, 100);
	assert_int_equal(c.smtp_max_errors, 5);
	assert_int_equal(c.smtp_timeout_seconds, 60);
	assert_true(c.smtp_reject_bare_lf);
	assert_int_equal(c.smtp_max_connections, 200);
	assert_int_equal(c.smtp_max_connections_per_ip, 5);
	assert_true(c.smtp_limit_loopback);
	assert_int_equal(c.smtp_data_time_seconds, 30);
	assert_int_equal(c.imap_max_connections, 300);
	assert_int_equal(c.imap_max_connections_per_ip, 7);
	assert_true(c.imap_limit_loopback);
	assert_int_equal(c.imap_command_time_seconds, 40);
	assert_int_equal(c.blob_gc_grace_seconds, 3600);
	assert_int_equal(c.commit_batch_max, 64);
	assert_int_equal(c.submission_max_messages_per_hour, 10);
	assert_int_equal(c.submission_max_recipients_per_hour, 0);
	assert_int_equal(c.queue_retry_min_seconds, 1);
	assert_int_equal(c.queue_retry_max_seconds, 2);
	assert_int_equal(c.queue_lifetime_seconds, 600);
	assert_int_equal(c.queue_delay_notice_seconds, 0);
	assert_int_equal(c.queue_max_connections, 3);
	assert_string_equal(c.outbound_resolver, "127.0.0.1@5353");
	assert_int_equal(c.outbound_port, 2525);
	assert_false(c.outbound_starttls);
	assert_int_equal(c.outbound_connect_timeout_seconds, 5);
	assert_int_equal(c.outbound_timeout_seconds, 20);
	assert_int_equal(c.n_routes, 2);
	assert_string_equal(c.routes[0].domain, "example.org");
	assert_string_equal(c.routes[0].host, "[127.0.0.9]:26");
	assert_string_equal(c.routes[1].domain, ".corp.test");
	assert_string_equal(c.data_dir, "/data");
}

static void
test_defaults(void **state)
{
	struct config c, d;
	struct err err;

	(void)state;
	assert_int_equal(cli_config_parse_string("listeners = ({ kind = "
	                                         "\"smtp\"; address = "
	                                         "\"0.0.0.0\"; port = 25; });",
	                     "t.conf", "/d", &c, &err),
	    0);
	config_defaults(&d);
	assert_int_equal(c.smtp_max_message_size, d.smtp_max_message_size);
	assert_int_equal(c.smtp_max_recipients, d.smtp_max_recipients);
	assert_int_equal(c.commit_batch_max, d.commit_batch_max);
	assert_int_equal(c.smtp_max_connections, 1000);
	assert_int_equal(c.smtp_max_connections_per_ip, 50);
	assert_false(c.smtp_limit_loopback);
	assert_int_equal(c.smtp_data_time_seconds, 300);
	assert_int_equal(c.imap_max_connections, 1000);
	assert_int_equal(c.imap_max_connections_per_ip, 50);
	assert_false(c.imap_limit_loopback);
	assert_int_equal(c.imap_command_time_seconds, 300);
	assert_string_equal(c.tls_cert, "/d/tls/cert.pem");
	assert_string_equal(c.tls_key, "/d/tls/key.pem");
}

/* Writes a config with the writer, reads it back with the file loader. */
static void
test_write_roundtrip(void **state)
{
	char dir[] = "/tmp/despatch-config-test-XXXXXX", path[512], *text;
	struct config c, r;
	struct err err;
	FILE *f;
	long n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	config_defaults(&c);
	(void)snprintf(c.hostname, sizeof(c.hostname), "host.example.test");
	c.n_listeners = 1;
	c.listeners[0].kind = LISTENER_SMTP;
	(void)snprintf(c.listeners[0].addr, sizeof(c.listeners[0].addr),
	    "127.0.0.1");
	c.listeners[0].port = 10025;
	(void)snprintf(c.tls_cert, sizeof(c.tls_cert), "tls/cert.pem");
	(void)snprintf(c.tls_key, sizeof(c.tls_key), "tls/key.pem");
	c.smtp_max_recipients = 42;
	c.imap_quota_bytes = 2ULL << 30;
	c.imap_quota_messages = 50000;
	(void)snprintf(path, sizeof(path), "%s/despatch.conf", dir);
	assert_int_equal(cli_config_write(&c, 10000, path, &err), 0);
	assert_int_equal(cli_config_write(&c, 10000, path, &err), ERR_EXISTS);
	assert_int_equal(cli_config_load(dir, &r, &err), 0);
	assert_string_equal(r.hostname, "host.example.test");
	assert_int_equal(r.n_listeners, 1);
	assert_int_equal(r.listeners[0].port, 10025);
	assert_int_equal(r.smtp_max_recipients, 42);
	assert_int_equal(r.imap_quota_bytes, 2ULL << 30);
	assert_int_equal(r.imap_quota_messages, 50000);
	assert_int_equal(r.smtp_max_message_size, c.smtp_max_message_size);
	assert_string_equal(r.path, path);
	assert_int_equal(r.queue_retry_min_seconds, 300);
	assert_int_equal(r.queue_lifetime_seconds, 5 * 24 * 3600);
	assert_int_equal(r.outbound_port, 25);
	assert_true(r.outbound_starttls);
	assert_int_equal(r.submission_max_messages_per_hour, 1000);

	/* Every kind is served now: no commented listener lines. */
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	(void)fclose(f);
	assert_null(strstr(text, "Not yet served"));
	assert_non_null(strstr(text, "retry_min_seconds = 300;"));
	assert_non_null(strstr(text, "lifetime_seconds = 432000;"));
	assert_non_null(strstr(text, "routes = ( );"));
	assert_non_null(strstr(text, "max_connections_per_ip = 50;"));
	assert_non_null(strstr(text, "limit_loopback = false;"));
	assert_non_null(strstr(text, "data_time_seconds = 300;"));
	assert_non_null(strstr(text, "command_time_seconds = 300;"));
	free(text);
	(void)unlink(path);
	(void)rmdir(dir);

	assert_int_equal(cli_config_load("/nonexistent-despatch", &r, &err),
	    ERR_NOTFOUND);
}

struct bad_case {
	const char *text;   /* appended after a valid listeners line */
	const char *expect; /* substring of the error message */
};

#define LISTEN                                                                 \
	"listeners = ({ kind = \"smtp\"; address = \"127.0.0.1\"; port = "     \
	"25; });\n"

static const struct bad_case bad[] = {
	/* syntax */
	{ LISTEN "hostname = ;\n", "t.conf:2: syntax error" },
	/* unknown keys at each level */
	{ LISTEN "hostnme = \"x\";\n", "t.conf:2: hostnme: unknown setting" },
	{ LISTEN "smtp = { max_recipient = 5; };\n",
	    "t.conf:2: smtp.max_recipient: unknown setting" },
	{ LISTEN "store = { grace = 5; };\n", "store.grace: unknown setting" },
	{ LISTEN "tls = { crt = \"x\"; };\n", "tls.crt: unknown setting" },
	{ "listeners = ({ kind = \"smtp\"; address = \"127.0.0.1\"; port = "
	  "25; bind = 1; });\n",
	    "t.conf:1: listeners[0].bind: unknown setting" },
	/* ports */
	{ "listeners = ({ kind = \"smtp\"; address = \"127.0.0.1\"; port = "
	  "0; });\n",
	    "listeners[0].port: 0 is below the minimum of 1" },
	{ "listeners = ({ kind = \"smtp\"; address = \"127.0.0.1\"; port = "
	  "65536; });\n",
	    "listeners[0].port: 65536 is over the cap of 65535" },
	{ "listeners = ({ kind = \"smtp\"; address = \"127.0.0.1\"; port = "
	  "-1; });\n",
	    "is below the minimum" },
	{ "listeners = ({ kind = \"smtp\"; address = \"127.0.0.1\"; port = "
	  "\"25\"; });\n",
	    "port: must be an integer, not a string" },
	/* addresses */
	{ "listeners = ({ kind = \"smtp\"; address = \"localhost\"; port = "
	  "25; });\n",
	    "\"localhost\" is not a numeric IPv4 or IPv6 address" },
	{ "listeners = ({ kind = \"smtp\"; address = \"1.2.3.256\"; port = "
	  "25; });\n",
	    "not a numeric" },
	/* listeners */
	{ "listeners = ();\n", "at least one listener" },
	{ "hostname = \"a\";\n", "listeners: missing" },
	{ "listeners = ({ kind = \"smtp\"; address = \"127.0.0.1\"; });\n",
	    "needs kind, address and port" },
	{ "listeners = ({ kind = \"smpt\"; address = \"127.0.0.1\"; port = "
	  "25; });\n",
	    "unknown kind \"smpt\"" },
	{ "listeners = ({ kind = \"smtp\"; address = \"127.0.0.1\"; port = "
	  "25; },\n { kind = \"smtp\"; address = \"127.0.0.1\"; port = 25; "
	  "});\n",
	    "t.conf:2: listeners[1]: 127.0.0.1 port 25 is already used" },
	/* sizes and counts */
	{ LISTEN "smtp = { max_message_size = 1073741825; };\n",
	    "1073741825 is over the cap of 1073741824" },
	{ LISTEN "smtp = { max_message_size = \"2G\"; };\n",
	    "2147483648 bytes is over the cap" },
	{ LISTEN "smtp = { max_message_size = \"ten\"; };\n", "is not a size" },
	{ LISTEN "smtp = { max_message_size = 100; };\n",
	    "below the minimum of 1024" },
	{ LISTEN "smtp = { max_recipients = 1001; };\n",
	    "smtp.max_recipients: 1001 is over the cap of 1000" },
	{ LISTEN "smtp = { max_recipients = 0; };\n", "below the minimum" },
	{ LISTEN "smtp = { max_errors = 11; };\n", "over the cap of 10" },
	{ LISTEN "smtp = { timeout_seconds = 5; };\n",
	    "below the minimum of 10" },
	{ LISTEN "smtp = { timeout_seconds = 301; };\n",
	    "smtp.timeout_seconds: 301 is over the cap of 300" },
	/* connection caps and slow-sender bounds, at cap and cap+1 */
	{ LISTEN "smtp = { max_connections = 10001; };\n",
	    "smtp.max_connections: 10001 is over the cap of 10000" },
	{ LISTEN "smtp = { max_connections = 0; };\n", "below the minimum" },
	{ LISTEN "smtp = { max_connections_per_ip = 1001; };\n",
	    "over the cap of 1000" },
	{ LISTEN "smtp = { data_time_seconds = 301; };\n",
	    "smtp.data_time_seconds: 301 is over the cap of 300" },
	{ LISTEN "smtp = { data_time_seconds = 0; };\n", "below the minimum" },
	{ LISTEN "smtp = { limit_loopback = 1; };\n", "must be true or false" },
	{ LISTEN "imap = { max_connections = 10001; };\n",
	    "imap.max_connections: 10001 is over the cap of 10000" },
	{ LISTEN "imap = { max_connections_per_ip = 1001; };\n",
	    "over the cap of 1000" },
	{ LISTEN "imap = { command_time_seconds = 301; };\n",
	    "imap.command_time_seconds: 301 is over the cap of 300" },
	{ LISTEN "smtp = { reject_bare_lf = 1; };\n",
	    "must be true or false, not an integer" },
	{ LISTEN "smtp = { max_recipients = 1.5; };\n",
	    "must be an integer, not a decimal number" },
	{ LISTEN "store = { commit_batch_max = 4097; };\n",
	    "over the cap of 4096" },
	{ LISTEN "imap = { quota_messages = 1000000001; };\n",
	    "imap.quota_messages: 1000000001 is over the cap" },
	{ LISTEN "imap = { quota_bytes = \"lots\"; };\n", "is not a size" },
	{ LISTEN "imap = { quota = 1; };\n", "quota" },
	{ LISTEN "imap = { login_timeout_seconds = 61; };\n",
	    "over the cap of 60" },
	{ LISTEN "store = { gc_grace_seconds = 10; };\n",
	    "below the minimum of 60" },
	/* strings */
	{ LISTEN "hostname = \"bad_host\";\n", "not a valid host name" },
	{ LISTEN "hostname = \"-a.example\";\n", "not a valid host name" },
	{ LISTEN "log_level = \"loud\";\n", "not one of debug" },
	{ LISTEN "smtp = 5;\n", "smtp: must be a group" },
	{ LISTEN "tls = { cert = \"\"; };\n", "cert must not be empty" },
	/* submission, queue, outbound */
	{ LISTEN "submission = { max_messages = 5; };\n",
	    "submission.max_messages: unknown setting" },
	{ LISTEN "queue = { retry_min_seconds = 0; };\n",
	    "queue.retry_min_seconds: 0 is below the minimum of 1" },
	{ LISTEN "queue = { retry_min_seconds = 600; retry_max_seconds ="
	         " 60; };\n",
	    "retry_max_seconds (60) is below retry_min_seconds (600)" },
	{ LISTEN "queue = { lifetime_seconds = 30; };\n",
	    "below the minimum of 60" },
	{ LISTEN "queue = { max_connections = 0; };\n", "below the minimum" },
	{ LISTEN "outbound = { resolver = \"dns.example\"; };\n",
	    "is not \"\", an IP address or ip@port" },
	{ LISTEN "outbound = { resolver = \"127.0.0.1@0\"; };\n",
	    "is not \"\", an IP address" },
	{ LISTEN "outbound = { port = 0; };\n", "below the minimum of 1" },
	{ LISTEN "outbound = { smarthost = \"[relay.example]\"; };\n",
	    "is not host, host:port, [ip] or [ip]:port" },
	{ LISTEN "outbound = { smarthost = \"relay:99999\"; };\n",
	    "is not host, host:port" },
	{ LISTEN "outbound = { routes = ( { domain = \"a.test\"; } ); };\n",
	    "outbound.routes[0]: a route needs domain and host" },
	{ LISTEN "outbound = { routes = ( { domain = \"a_b\"; host ="
	         " \"x\"; } ); };\n",
	    "is not a domain" },
	{ LISTEN "outbound = { routes = { domain = \"a\"; }; };\n",
	    "outbound.routes: must be a list" },
};

static void
test_invalid(void **state)
{
	size_t i, failed = 0;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config c;
		struct err err = { 0 };
		int rc;

		rc = cli_config_parse_string(bad[i].text, "t.conf", "/d", &c,
		    &err);
		if (rc != ERR_INPUT || strstr(err.msg, bad[i].expect) == NULL) {
			print_error("case %zu: rc %d, message \"%s\", want "
			            "\"%s\"\n",
			    i, rc, err.msg, bad[i].expect);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void
test_hostname_addr(void **state)
{
	(void)state;
	assert_true(cli_hostname_ok("localhost"));
	assert_true(cli_hostname_ok("mx-1.example.test"));
	assert_false(cli_hostname_ok(""));
	assert_false(cli_hostname_ok("a..b"));
	assert_false(cli_hostname_ok("a-.b"));
	assert_false(cli_hostname_ok("a.b."));
	assert_true(cli_addr_ok("0.0.0.0"));
	assert_true(cli_addr_ok("::"));
	assert_false(cli_addr_ok("example.test"));
	assert_true(cli_route_host_ok("relay.example"));
	assert_true(cli_route_host_ok("relay.example:2525"));
	assert_true(cli_route_host_ok("[192.0.2.1]"));
	assert_true(cli_route_host_ok("[2001:db8::1]:25"));
	assert_true(cli_route_host_ok("2001:db8::1"));
	assert_true(cli_route_host_ok("192.0.2.1:25"));
	assert_false(cli_route_host_ok("[relay.example]"));
	assert_false(cli_route_host_ok("relay.example:"));
	assert_false(cli_route_host_ok("[192.0.2.1]25"));
	assert_false(cli_route_host_ok(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_write_roundtrip),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_hostname_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
