/* SPDX-License-Identifier: MIT */
/* The resolver against a private unbound (/usr/sbin/unbound, skipped
 * when absent) on 127.0.0.1:<free port> with static test zones: MX
 * order, IPv4 before IPv6, the A fallback, NXDOMAIN, null MX, an MX
 * without address, REFUSED, host lookups, address literals without DNS,
 * bad names, and free with queries outstanding. */
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/str.h"
#include "smtp/dns.h"

#define UNBOUND "/usr/sbin/unbound"

static const char zones[] =
    "  local-zone: \".\" static\n"
    "  local-zone: \"mx.test.\" static\n"
    "  local-data: \"mx.test. 60 IN MX 20 mx2.mx.test.\"\n"
    "  local-data: \"mx.test. 60 IN MX 10 mx1.mx.test.\"\n"
    "  local-data: \"mx1.mx.test. 60 IN A 127.0.0.2\"\n"
    "  local-data: \"mx1.mx.test. 60 IN AAAA ::2\"\n"
    "  local-data: \"mx2.mx.test. 60 IN A 127.0.0.3\"\n"
    "  local-data: \"mx2.mx.test. 60 IN A 127.0.0.4\"\n"
    "  local-zone: \"aonly.test.\" static\n"
    "  local-data: \"aonly.test. 60 IN A 127.0.0.5\"\n"
    "  local-zone: \"nx.test.\" static\n"
    "  local-zone: \"nullmx.test.\" static\n"
    "  local-data: \"nullmx.test. 60 IN MX 0 .\"\n"
    "  local-zone: \"noaddr.test.\" static\n"
    "  local-data: \"noaddr.test. 60 IN MX 10 ghost.noaddr.test.\"\n"
    "  local-zone: \"refused.test.\" refuse\n"
    "  local-zone: \"eq.test.\" static\n"
    "  local-data: \"eq.test. 60 IN MX 10 a.eq.test.\"\n"
    "  local-data: \"eq.test. 60 IN MX 10 b.eq.test.\"\n"
    "  local-data: \"eq.test. 60 IN MX 5 first.eq.test.\"\n"
    "  local-data: \"a.eq.test. 60 IN A 127.0.0.6\"\n"
    "  local-data: \"b.eq.test. 60 IN A 127.0.0.7\"\n"
    "  local-data: \"first.eq.test. 60 IN A 127.0.0.8\"\n"
    "  local-zone: \"xn--bcher-kva.test.\" static\n"
    "  local-data: \"xn--bcher-kva.test. 60 IN A 127.0.0.9\"\n"
    "  local-zone: \"xn--r8jz45g.xn--zckzah.\" static\n"
    "  local-data: \"xn--r8jz45g.xn--zckzah. 60 IN A 127.0.0.10\"\n";

struct env {
	uv_loop_t loop;
	char dir[256];
	pid_t pid;
	unsigned port;
	struct dns_resolver *r;
	bool done;
	struct dns_result res;
	struct dns_host hosts[DNS_HOSTS_MAX];
	char why[256];
};

static unsigned
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	unsigned port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* One raw query for "mx.test" MX: true once unbound answers. */
static bool
probe(unsigned port)
{
	static const unsigned char q[] = { 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0,
		0, 0, 2, 'm', 'x', 4, 't', 'e', 's', 't', 0, 0, 15, 0, 1 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { 0, 200000 };
	unsigned char buf[512];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	ssize_t n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&sa, sizeof(sa));
	n = recv(fd, buf, sizeof(buf), 0);
	close(fd);
	return n >= 12;
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char conf[300], text[4096], fwd[64];
	struct err err = { 0 };
	FILE *f;
	int i;

	if (access(UNBOUND, X_OK) != 0) {
		free(e);
		*state = NULL;
		return 0;
	}
	(void)str_copy(e->dir, sizeof(e->dir), "/tmp/despatch-dns-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	e->port = free_port();
	(void)str_fmt(conf, sizeof(conf), "%s/unbound.conf", e->dir);
	assert_true(str_fmt(text, sizeof(text),
	    "server:\n  verbosity: 0\n  interface: 127.0.0.1@%u\n"
	    "  do-ip6: no\n  do-daemonize: no\n  username: \"\"\n"
	    "  chroot: \"\"\n  directory: \"%s\"\n  pidfile: \"%s/pid\"\n"
	    "  use-syslog: no\n  access-control: 127.0.0.0/8 allow\n"
	    "  module-config: \"iterator\"\n  num-threads: 1\n%s"
	    "remote-control:\n  control-enable: no\n",
	    e->port, e->dir, e->dir, zones));
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execl(UNBOUND, UNBOUND, "-d", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100 && !probe(e->port); i++)
		;
	assert_true(i < 100);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	(void)str_fmt(fwd, sizeof(fwd), "127.0.0.1@%u", e->port);
	assert_int_equal(dns_resolver_new(&e->loop, fwd, &e->r, &err), 0);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;
	char cmd[300];

	if (e == NULL)
		return 0;
	dns_resolver_free(&e->r);
	(void)uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	kill(e->pid, SIGTERM);
	(void)waitpid(e->pid, NULL, 0);
	(void)str_fmt(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	(void)system(cmd);
	free(e);
	return 0;
}

static void
on_result(void *ctx, const struct dns_result *res)
{
	struct env *e = ctx;

	assert_false(e->done);
	e->done = true;
	e->res = *res;
	assert_true(res->n_hosts <= DNS_HOSTS_MAX);
	memcpy(e->hosts, res->hosts, res->n_hosts * sizeof(*res->hosts));
	e->res.hosts = e->hosts;
	/* UV_RUN_ONCE would go on to block in poll after a timer callback:
	 * stop the loop instead. */
	uv_stop(&e->loop);
}

static const struct dns_result *
run(struct env *e, bool mx, const char *name)
{
	e->done = false;
	assert_int_equal(mx ? dns_resolve_mx(e->r, name, 25, on_result, e)
	                    : dns_resolve_host(e->r, name, 2525, on_result, e),
	    0);
	assert_false(e->done); /* never inside the call */
	while (!e->done)
		(void)uv_run(&e->loop, UV_RUN_DEFAULT);
	return &e->res;
}

#define SKIP_WITHOUT_UNBOUND(e)                                                \
	do {                                                                   \
		if ((e) == NULL) {                                             \
			skip();                                                \
			return;                                                \
		}                                                              \
	} while (0)

static void
test_mx_order(void **state)
{
	struct env *e = *state;
	const struct dns_result *r;

	SKIP_WITHOUT_UNBOUND(e);
	r = run(e, true, "mx.test");
	assert_int_equal(r->status, 0);
	assert_int_equal(r->n_hosts, 4);
	assert_string_equal(r->hosts[0].name, "mx1.mx.test");
	assert_string_equal(r->hosts[0].addr, "127.0.0.2");
	assert_int_equal(r->hosts[0].pref, 10);
	assert_int_equal(r->hosts[0].port, 25);
	assert_string_equal(r->hosts[1].name, "mx1.mx.test");
	assert_string_equal(r->hosts[1].addr, "::2");
	assert_string_equal(r->hosts[2].name, "mx2.mx.test");
	assert_int_equal(r->hosts[2].pref, 20);
	assert_string_equal(r->hosts[3].name, "mx2.mx.test");
	/* The order within an RRset is the server's (round robin). */
	assert_true(strcmp(r->hosts[2].addr, "127.0.0.3") == 0 ||
	    strcmp(r->hosts[2].addr, "127.0.0.4") == 0);
	assert_string_not_equal(r->hosts[2].addr, r->hosts[3].addr);
}

/* Equal preferences come in random order (RFC 5321 §5.1), after the
 * lower preference. */
static void
test_equal_pref_shuffled(void **state)
{
	struct env *e = *state;
	const struct dns_result *r;
	bool a_first = false, b_first = false;
	int i;

	SKIP_WITHOUT_UNBOUND(e);
	for (i = 0; i < 40 && !(a_first && b_first); i++) {
		r = run(e, true, "eq.test");
		assert_int_equal(r->status, 0);
		assert_int_equal(r->n_hosts, 3);
		assert_string_equal(r->hosts[0].name, "first.eq.test");
		a_first = a_first || strcmp(r->hosts[1].name, "a.eq.test") == 0;
		b_first = b_first || strcmp(r->hosts[1].name, "b.eq.test") == 0;
	}
	assert_true(a_first && b_first);
}

/* UTF-8 domains are looked up by their A-labels (RFC 3492 vectors). */
static void
test_idn(void **state)
{
	struct env *e = *state;
	const struct dns_result *r;

	SKIP_WITHOUT_UNBOUND(e);
	r = run(e, true,
	    "b\xc3\xbc"
	    "cher.test");
	assert_int_equal(r->status, 0);
	assert_int_equal(r->n_hosts, 1);
	assert_string_equal(r->hosts[0].addr, "127.0.0.9");
	assert_string_equal(r->hosts[0].name, "xn--bcher-kva.test");
	r = run(e, false,
	    "B\xc3\xbc"
	    "cher.test");
	assert_string_equal(r->hosts[0].addr, "127.0.0.9");
	/* 例え.テスト */
	r = run(e, true,
	    "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88");
	assert_int_equal(r->status, 0);
	assert_string_equal(r->hosts[0].addr, "127.0.0.10");
	assert_string_equal(r->hosts[0].name, "xn--r8jz45g.xn--zckzah");
	/* Not UTF-8, overlong, surrogate: not a name. */
	assert_int_equal(dns_resolve_mx(e->r, "b\xff.test", 25, on_result, e),
	    ERR_INPUT);
	assert_int_equal(dns_resolve_mx(e->r, "b\xc0\xaf.test", 25, on_result,
	                     e),
	    ERR_INPUT);
	assert_int_equal(dns_resolve_mx(e->r, "b\xed\xa0\x80.test", 25,
	                     on_result, e),
	    ERR_INPUT);
}

static void
test_a_fallback(void **state)
{
	struct env *e = *state;
	const struct dns_result *r;

	SKIP_WITHOUT_UNBOUND(e);
	r = run(e, true, "aonly.test");
	assert_int_equal(r->status, 0);
	assert_int_equal(r->n_hosts, 1);
	assert_string_equal(r->hosts[0].name, "aonly.test");
	assert_string_equal(r->hosts[0].addr, "127.0.0.5");
	assert_int_equal(r->hosts[0].pref, 0);
}

static void
test_negative(void **state)
{
	struct env *e = *state;
	const struct dns_result *r;

	SKIP_WITHOUT_UNBOUND(e);
	r = run(e, true, "nothere.nx.test");
	assert_int_equal(r->status, ERR_NOTFOUND);
	assert_false(r->null_mx);
	r = run(e, true, "nullmx.test");
	assert_int_equal(r->status, ERR_NOTFOUND);
	assert_true(r->null_mx);
	assert_int_equal(r->n_hosts, 0);
	r = run(e, true, "noaddr.test");
	assert_int_equal(r->status, ERR_NOTFOUND);
	assert_false(r->null_mx);
	r = run(e, true, "x.refused.test");
	assert_int_equal(r->status, ERR_TEMP);
	r = run(e, false, "ghost.noaddr.test");
	assert_int_equal(r->status, ERR_NOTFOUND);
}

static void
test_host(void **state)
{
	struct env *e = *state;
	const struct dns_result *r;

	SKIP_WITHOUT_UNBOUND(e);
	r = run(e, false, "mx1.mx.test");
	assert_int_equal(r->status, 0);
	assert_int_equal(r->n_hosts, 2);
	assert_string_equal(r->hosts[0].addr, "127.0.0.2");
	assert_string_equal(r->hosts[1].addr, "::2");
	assert_int_equal(r->hosts[0].port, 2525);
	r = run(e, false, "[127.0.0.9]");
	assert_int_equal(r->status, 0);
	assert_int_equal(r->n_hosts, 1);
	assert_string_equal(r->hosts[0].addr, "127.0.0.9");
	r = run(e, false, "::1");
	assert_string_equal(r->hosts[0].addr, "::1");
	r = run(e, true, "[IPv6:::1]");
	assert_string_equal(r->hosts[0].addr, "::1");
	r = run(e, true, "[192.0.2.1]");
	assert_string_equal(r->hosts[0].addr, "192.0.2.1");
	assert_int_equal(r->hosts[0].port, 25);
}

static void
test_bad_input_and_free(void **state)
{
	struct env *e = *state;
	struct err err = { 0 };
	struct dns_resolver *r2;

	SKIP_WITHOUT_UNBOUND(e);
	assert_int_equal(dns_resolve_mx(e->r, "a..b", 25, on_result, e),
	    ERR_INPUT);
	assert_int_equal(dns_resolve_mx(e->r, "", 25, on_result, e), ERR_INPUT);
	assert_int_equal(dns_resolve_mx(e->r, "a b.test", 25, on_result, e),
	    ERR_INPUT);
	assert_int_equal(dns_resolver_new(&e->loop, "not-an-ip", &r2, &err),
	    ERR_INPUT);
	assert_int_equal(dns_resolver_new(&e->loop, "127.0.0.1@99999", &r2,
	                     &err),
	    ERR_INPUT);
	/* Random bytes as names (UTF-8 lead and continuation bytes, dots,
	 * letters): ERR_INPUT or a lookup, never a crash (ASan). */
	{
		static const unsigned char alpha[] = { 'a', 'Z', '0', '-', '.',
			'.', 0xc3, 0xbc, 0xe4, 0xbe, 0x8b, 0xf0, 0x9f, 0x98,
			0x80, 0xff, 0x80, 0xed, 0xa0 };
		char name[320];
		unsigned seed = 1;
		size_t len, i;
		int n;

		for (n = 0; n < 3000; n++) {
			seed = seed * 1103515245u + 12345u;
			len = 1 + (seed >> 8) % 300;
			for (i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				name[i] =
				    (char)alpha[(seed >> 16) % sizeof(alpha)];
			}
			name[len] = '\0';
			(void)dns_resolve_mx(e->r, name, 25, on_result, e);
		}
	}
	/* Outstanding queries: cancelled, no callback. */
	e->done = false;
	assert_int_equal(dns_resolve_mx(e->r, "mx.test", 25, on_result, e), 0);
	assert_int_equal(dns_resolve_host(e->r, "[10.0.0.1]", 25, on_result, e),
	    0);
	dns_resolver_free(&e->r);
	assert_null(e->r);
	(void)uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_false(e->done);
}

/* Without a forwarder: /etc/resolv.conf and /etc/hosts; "localhost"
 * never leaves the machine (libunbound's own zone or the hosts file). */
static void
test_system_resolver(void **state)
{
	struct env e2 = { 0 };
	struct err err = { 0 };
	const struct dns_result *r;
	size_t i;
	bool v4 = false;

	(void)state;
	assert_int_equal(uv_loop_init(&e2.loop), 0);
	assert_int_equal(dns_resolver_new(&e2.loop, "", &e2.r, &err), 0);
	r = run(&e2, false, "localhost");
	assert_int_equal(r->status, 0);
	for (i = 0; i < r->n_hosts; i++)
		v4 = v4 || strcmp(r->hosts[i].addr, "127.0.0.1") == 0;
	assert_true(v4);
	dns_resolver_free(&e2.r);
	(void)uv_run(&e2.loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&e2.loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mx_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_fallback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_negative, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_equal_pref_shuffled, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_input_and_free, setup,
		    teardown),
		cmocka_unit_test(test_system_resolver),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
