/* SPDX-License-Identifier: MIT */
/* Parses and writes DATA/despatch.conf. Every setting is checked for type
 * and range and an unknown one is an error: a typo must not pass silently
 * and leave a default in force that the operator thinks is changed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "cli/config.h"
#include "lib/banned.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/str.h"

struct kind_info {
	enum listener_kind kind;
	const char *name;
	unsigned std_port;
	bool served; /* does this version serve it? */
};

static const struct kind_info kinds[] = {
	{ LISTENER_SMTP, "smtp", 25, true },
	{ LISTENER_IMAP, "imap", 143, true },
	{ LISTENER_IMAPS, "imaps", 993, true },
	{ LISTENER_SUBMISSION, "submission", 587, true },
	{ LISTENER_SUBMISSIONS, "submissions", 465, true },
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

const char *
cli_listener_kind_name(enum listener_kind k)
{
	size_t i;

	for (i = 0; i < N_KINDS; i++)
		if (kinds[i].kind == k)
			return kinds[i].name;
	return "?";
}

unsigned
cli_listener_std_port(enum listener_kind k)
{
	size_t i;

	for (i = 0; i < N_KINDS; i++)
		if (kinds[i].kind == k)
			return kinds[i].std_port;
	return 0;
}

bool
cli_hostname_ok(const char *h)
{
	size_t len = strlen(h), label = 0, i;

	if (len == 0 || len > 253 || h[0] == '.' || h[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return h[len - 1] != '-';
}

bool
cli_addr_ok(const char *a)
{
	unsigned char sa[16];

	return inet_pton(AF_INET, a, sa) == 1 ||
	    inet_pton(AF_INET6, a, sa) == 1;
}

/* --- parsing ---------------------------------------------------------- */

struct pctx {
	const char *name; /* file name for messages */
	struct err *err;
};

/* "listeners[1].port", "smtp.max_recipients". */
static void
setting_path(const config_setting_t *s, char *out, size_t size)
{
	const config_setting_t *chain[8];
	size_t n = 0, o = 0;

	out[0] = '\0';
	while (s != NULL && config_setting_parent(s) != NULL && n < 8) {
		chain[n++] = s;
		s = config_setting_parent(s);
	}
	while (n-- > 0) {
		const char *nm = config_setting_name(chain[n]);
		bool ok;

		if (nm != NULL)
			ok = str_fmt(out + o, size - o, "%s%s", o ? "." : "",
			    nm);
		else
			ok = str_fmt(out + o, size - o, "[%d]",
			    config_setting_index(chain[n]));
		if (!ok)
			return;
		o += strlen(out + o);
	}
}

static int fail(const struct pctx *p, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets p->err to "file:line: setting: message"; returns ERR_INPUT. */
static int
fail(const struct pctx *p, const config_setting_t *s, const char *fmt, ...)
{
	char what[192], where[96];
	const char *file = NULL;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	setting_path(s, where, sizeof(where));
	if (s != NULL)
		file = config_setting_source_file(s);
	return err_set(p->err, ERR_INPUT, "%s:%u: %s: %s",
	    file != NULL ? file : p->name,
	    s != NULL ? config_setting_source_line(s) : 0,
	    where[0] != '\0' ? where : "(top level)", what);
}

static const char *
type_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a decimal number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "true or false";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	}
	return "unknown";
}

/* Every child of group s must be named in `allowed` (NULL-terminated). */
static int
check_keys(const struct pctx *p, const config_setting_t *s,
    const char *const *allowed)
{
	int i, n = config_setting_length(s);

	for (i = 0; i < n; i++) {
		const config_setting_t *c = config_setting_get_elem(s, i);
		const char *nm = config_setting_name(c);
		size_t k;

		for (k = 0; allowed[k] != NULL; k++)
			if (nm != NULL && strcmp(nm, allowed[k]) == 0)
				break;
		if (allowed[k] == NULL)
			return fail(p, c, "unknown setting");
	}
	return 0;
}

static int
want_type(const struct pctx *p, const config_setting_t *s, int type)
{
	int t = config_setting_type(s);

	if (t == type || (type == CONFIG_TYPE_INT && t == CONFIG_TYPE_INT64))
		return 0;
	return fail(p, s, "must be %s, not %s", type_name(type), type_name(t));
}

static int
get_string(const struct pctx *p, const config_setting_t *s, char *out,
    size_t size)
{
	int rc;

	if ((rc = want_type(p, s, CONFIG_TYPE_STRING)) != 0)
		return rc;
	if (!str_copy(out, size, config_setting_get_string(s)))
		return fail(p, s, "longer than %zu bytes", size - 1);
	return 0;
}

static int
get_uint(const struct pctx *p, const config_setting_t *s, uint64_t min,
    uint64_t max, uint64_t *out)
{
	long long v;
	int rc;

	/* libconfig types a number past 2^31 (or with an L suffix) int64. */
	if (config_setting_type(s) != CONFIG_TYPE_INT64 &&
	    (rc = want_type(p, s, CONFIG_TYPE_INT)) != 0)
		return rc;
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < min)
		return fail(p, s, "%lld is below the minimum of %llu", v,
		    (unsigned long long)min);
	if ((uint64_t)v > max)
		return fail(p, s, "%lld is over the cap of %llu", v,
		    (unsigned long long)max);
	*out = (uint64_t)v;
	return 0;
}

/* A byte count: an integer, or a string "N", "NK", "NM", "NG" (binary). */
static int
get_size(const struct pctx *p, const config_setting_t *s, uint64_t min,
    uint64_t max, uint64_t *out)
{
	char num[32];
	const char *str;
	size_t len;
	uint64_t v, mul = 1;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return get_uint(p, s, min, max, out);
	str = config_setting_get_string(s);
	len = strlen(str);
	if (len > 0 && len < sizeof(num)) {
		switch (str[len - 1]) {
		case 'K':
		case 'k':
			mul = 1ULL << 10;
			len--;
			break;
		case 'M':
		case 'm':
			mul = 1ULL << 20;
			len--;
			break;
		case 'G':
		case 'g':
			mul = 1ULL << 30;
			len--;
			break;
		}
	}
	if (len == 0 || len >= sizeof(num) ||
	    !str_from_slice(num, sizeof(num), slice_make(str, len)) ||
	    num_parse_u64(num, 0, UINT64_MAX / mul, &v) != 0)
		return fail(p, s,
		    "\"%.40s\" is not a size (bytes, or a number with K, M "
		    "or G)",
		    str);
	v *= mul;
	if (v < min)
		return fail(p, s, "%llu bytes is below the minimum of %llu",
		    (unsigned long long)v, (unsigned long long)min);
	if (v > max)
		return fail(p, s, "%llu bytes is over the cap of %llu",
		    (unsigned long long)v, (unsigned long long)max);
	*out = v;
	return 0;
}

static int
get_bool(const struct pctx *p, const config_setting_t *s, bool *out)
{
	int rc;

	if ((rc = want_type(p, s, CONFIG_TYPE_BOOL)) != 0)
		return rc;
	*out = config_setting_get_bool(s) != 0;
	return 0;
}

/* Group s's member name, if present, into *out: an integer in
 * [min, max]. */
static int
member_unsigned(const struct pctx *p, const config_setting_t *s,
    const char *name, uint64_t min, uint64_t max, unsigned *out)
{
	const config_setting_t *e = config_setting_get_member(s, name);
	uint64_t v;
	int rc;

	if (e == NULL)
		return 0;
	if ((rc = get_uint(p, e, min, max, &v)) != 0)
		return rc;
	*out = (unsigned)v;
	return 0;
}

/* Group s's member name, if present, into *out: a boolean. */
static int
member_bool(const struct pctx *p, const config_setting_t *s, const char *name,
    bool *out)
{
	const config_setting_t *e = config_setting_get_member(s, name);

	return e == NULL ? 0 : get_bool(p, e, out);
}

static int
parse_listener(const struct pctx *p, const config_setting_t *s,
    struct listener_config *l)
{
	static const char *const keys[] = { "kind", "address", "port", NULL };
	const config_setting_t *k, *a, *po;
	char kind[32];
	uint64_t port;
	size_t i;
	int rc;

	if ((rc = want_type(p, s, CONFIG_TYPE_GROUP)) != 0 ||
	    (rc = check_keys(p, s, keys)) != 0)
		return rc;
	k = config_setting_get_member(s, "kind");
	a = config_setting_get_member(s, "address");
	po = config_setting_get_member(s, "port");
	if (k == NULL || a == NULL || po == NULL)
		return fail(p, s, "a listener needs kind, address and port");
	if ((rc = get_string(p, k, kind, sizeof(kind))) != 0)
		return rc;
	for (i = 0; i < N_KINDS; i++)
		if (strcmp(kind, kinds[i].name) == 0)
			break;
	if (i == N_KINDS)
		return fail(p, k,
		    "unknown kind \"%s\" (smtp, submission, submissions, "
		    "imap, imaps)",
		    kind);
	if (!kinds[i].served)
		return fail(p, k,
		    "\"%s\" listeners are not yet available in this version",
		    kind);
	l->kind = kinds[i].kind;
	if ((rc = get_string(p, a, l->addr, sizeof(l->addr))) != 0)
		return rc;
	if (!cli_addr_ok(l->addr))
		return fail(p, a,
		    "\"%s\" is not a numeric IPv4 or IPv6 address", l->addr);
	if ((rc = get_uint(p, po, 1, 65535, &port)) != 0)
		return rc;
	l->port = (unsigned)port;
	return 0;
}

static int
parse_listeners(const struct pctx *p, const config_setting_t *s,
    struct config *c)
{
	int i, n, rc;

	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return fail(p, s, "must be a list ( { ... }, ... ), not %s",
		    type_name(config_setting_type(s)));
	n = config_setting_length(s);
	if (n == 0)
		return fail(p, s, "at least one listener is needed");
	if ((size_t)n > CONFIG_LISTENERS_MAX)
		return fail(p, s, "%d listeners, at most %d", n,
		    CONFIG_LISTENERS_MAX);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		struct listener_config *l = &c->listeners[i];
		size_t j;

		if ((rc = parse_listener(p, e, l)) != 0)
			return rc;
		for (j = 0; j < (size_t)i; j++)
			if (c->listeners[j].port == l->port &&
			    strcmp(c->listeners[j].addr, l->addr) == 0)
				return fail(p, e,
				    "%s port %u is already used by "
				    "listeners[%zu]",
				    l->addr, l->port, j);
	}
	c->n_listeners = (size_t)n;
	return 0;
}

static int
parse_tls(const struct pctx *p, const config_setting_t *s, struct config *c)
{
	static const char *const keys[] = { "cert", "key", NULL };
	const config_setting_t *e;
	int rc;

	if ((rc = want_type(p, s, CONFIG_TYPE_GROUP)) != 0 ||
	    (rc = check_keys(p, s, keys)) != 0)
		return rc;
	if ((e = config_setting_get_member(s, "cert")) != NULL &&
	    (rc = get_string(p, e, c->tls_cert, sizeof(c->tls_cert))) != 0)
		return rc;
	if ((e = config_setting_get_member(s, "key")) != NULL &&
	    (rc = get_string(p, e, c->tls_key, sizeof(c->tls_key))) != 0)
		return rc;
	if (c->tls_cert[0] == '\0')
		return fail(p, s, "cert must not be empty");
	if (c->tls_key[0] == '\0')
		return fail(p, s, "key must not be empty");
	return 0;
}

static int
parse_smtp(const struct pctx *p, const config_setting_t *s, struct config *c)
{
	static const char *const keys[] = { "max_message_size",
		"max_recipients", "max_errors", "timeout_seconds",
		"reject_bare_lf", "max_connections", "max_connections_per_ip",
		"limit_loopback", "data_time_seconds", NULL };
	const config_setting_t *e;
	uint64_t v;
	int rc;

	if ((rc = want_type(p, s, CONFIG_TYPE_GROUP)) != 0 ||
	    (rc = check_keys(p, s, keys)) != 0)
		return rc;
	if ((e = config_setting_get_member(s, "max_message_size")) != NULL) {
		if ((rc = get_size(p, e, CLI_CONFIG_MESSAGE_SIZE_MIN,
		         CLI_CONFIG_MESSAGE_SIZE_CAP, &v)) != 0)
			return rc;
		c->smtp_max_message_size = v;
	}
	if ((rc = member_unsigned(p, s, "max_recipients", 1,
	         CLI_CONFIG_RECIPIENTS_CAP, &c->smtp_max_recipients)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "max_errors", 1, CLI_CONFIG_ERRORS_CAP,
	         &c->smtp_max_errors)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "timeout_seconds",
	         CLI_CONFIG_TIMEOUT_MIN, CLI_CONFIG_TIMEOUT_CAP,
	         &c->smtp_timeout_seconds)) != 0)
		return rc;
	if ((rc = member_bool(p, s, "reject_bare_lf",
	         &c->smtp_reject_bare_lf)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "max_connections", 1, SMTP_CONNS_MAX,
	         &c->smtp_max_connections)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "max_connections_per_ip", 1,
	         SMTP_CONNS_PER_IP_MAX, &c->smtp_max_connections_per_ip)) != 0)
		return rc;
	if ((rc = member_bool(p, s, "limit_loopback",
	         &c->smtp_limit_loopback)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "data_time_seconds", 1,
	         SMTP_DATA_TIME_MAX, &c->smtp_data_time_seconds)) != 0)
		return rc;
	return 0;
}

static int
parse_imap(const struct pctx *p, const config_setting_t *s, struct config *c)
{
	static const char *const keys[] = { "quota_bytes", "quota_messages",
		"login_timeout_seconds", "max_connections",
		"max_connections_per_ip", "limit_loopback",
		"command_time_seconds", NULL };
	const config_setting_t *e;
	uint64_t v;
	int rc;

	if ((rc = want_type(p, s, CONFIG_TYPE_GROUP)) != 0 ||
	    (rc = check_keys(p, s, keys)) != 0)
		return rc;
	if ((e = config_setting_get_member(s, "quota_bytes")) != NULL) {
		if ((rc = get_size(p, e, 0, CLI_CONFIG_QUOTA_BYTES_CAP, &v)) !=
		    0)
			return rc;
		c->imap_quota_bytes = v;
	}
	if ((e = config_setting_get_member(s, "quota_messages")) != NULL) {
		if ((rc = get_uint(p, e, 0, CLI_CONFIG_QUOTA_MESSAGES_CAP,
		         &v)) != 0)
			return rc;
		c->imap_quota_messages = v;
	}
	if ((rc = member_unsigned(p, s, "login_timeout_seconds",
	         CLI_CONFIG_TIMEOUT_MIN, CLI_CONFIG_IMAP_LOGIN_TIMEOUT_CAP,
	         &c->imap_login_timeout_seconds)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "max_connections", 1, IMAP_CONNS_MAX,
	         &c->imap_max_connections)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "max_connections_per_ip", 1,
	         IMAP_CONNS_PER_IP_MAX, &c->imap_max_connections_per_ip)) != 0)
		return rc;
	if ((rc = member_bool(p, s, "limit_loopback",
	         &c->imap_limit_loopback)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "command_time_seconds", 1,
	         IMAP_COMMAND_TIME_MAX, &c->imap_command_time_seconds)) != 0)
		return rc;
	return 0;
}

static int
parse_store(const struct pctx *p, const config_setting_t *s, struct config *c)
{
	static const char *const keys[] = { "gc_grace_seconds",
		"commit_batch_max", NULL };
	const config_setting_t *e;
	uint64_t v;
	int rc;

	if ((rc = want_type(p, s, CONFIG_TYPE_GROUP)) != 0 ||
	    (rc = check_keys(p, s, keys)) != 0)
		return rc;
	if ((e = config_setting_get_member(s, "gc_grace_seconds")) != NULL) {
		if ((rc = get_uint(p, e, CLI_CONFIG_GC_GRACE_MIN,
		         CLI_CONFIG_GC_GRACE_CAP, &v)) != 0)
			return rc;
		c->blob_gc_grace_seconds = v;
	}
	if ((rc = member_unsigned(p, s, "commit_batch_max", 1,
	         CLI_CONFIG_BATCH_CAP, &c->commit_batch_max)) != 0)
		return rc;
	return 0;
}

static int
parse_submission(const struct pctx *p, const config_setting_t *s,
    struct config *c)
{
	static const char *const keys[] = { "max_messages_per_hour",
		"max_recipients_per_hour", NULL };
	int rc;

	if ((rc = want_type(p, s, CONFIG_TYPE_GROUP)) != 0 ||
	    (rc = check_keys(p, s, keys)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "max_messages_per_hour", 0,
	         CLI_CONFIG_PER_HOUR_CAP,
	         &c->submission_max_messages_per_hour)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "max_recipients_per_hour", 0,
	         CLI_CONFIG_PER_HOUR_CAP,
	         &c->submission_max_recipients_per_hour)) != 0)
		return rc;
	return 0;
}

static int
parse_queue(const struct pctx *p, const config_setting_t *s, struct config *c)
{
	static const char *const keys[] = { "retry_min_seconds",
		"retry_max_seconds", "lifetime_seconds", "delay_notice_seconds",
		"max_connections", NULL };
	const config_setting_t *e;
	uint64_t v;
	int rc;

	if ((rc = want_type(p, s, CONFIG_TYPE_GROUP)) != 0 ||
	    (rc = check_keys(p, s, keys)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "retry_min_seconds", 1,
	         CLI_CONFIG_RETRY_CAP, &c->queue_retry_min_seconds)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "retry_max_seconds", 1,
	         CLI_CONFIG_RETRY_CAP, &c->queue_retry_max_seconds)) != 0)
		return rc;
	if (c->queue_retry_max_seconds < c->queue_retry_min_seconds)
		return fail(p, s,
		    "retry_max_seconds (%u) is below retry_min_seconds (%u)",
		    c->queue_retry_max_seconds, c->queue_retry_min_seconds);
	if ((e = config_setting_get_member(s, "lifetime_seconds")) != NULL) {
		if ((rc = get_uint(p, e, 60, CLI_CONFIG_LIFETIME_CAP, &v)) !=
		    0)
			return rc;
		c->queue_lifetime_seconds = v;
	}
	if ((e = config_setting_get_member(s, "delay_notice_seconds")) !=
	    NULL) {
		if ((rc = get_uint(p, e, 0, CLI_CONFIG_LIFETIME_CAP, &v)) != 0)
			return rc;
		c->queue_delay_notice_seconds = v;
	}
	if ((rc = member_unsigned(p, s, "max_connections", 1,
	         CLI_CONFIG_CONNECTIONS_CAP, &c->queue_max_connections)) != 0)
		return rc;
	return 0;
}

/* "name", "name:port", "[ip]", "[ip]:port", "ip" (IPv4 or IPv6). */
bool
cli_route_host_ok(const char *h)
{
	char host[300];
	const char *colon;
	uint64_t port;

	if (h[0] == '[') {
		const char *close = strchr(h, ']');

		if (close == NULL ||
		    !str_from_slice(host, sizeof(host),
		        slice_make(h + 1, (size_t)(close - h - 1))) ||
		    !cli_addr_ok(host))
			return false;
		if (close[1] == '\0')
			return true;
		return close[1] == ':' &&
		    num_parse_u64(close + 2, 1, 65535, &port) == 0;
	}
	if (cli_addr_ok(h))
		return true; /* a bare IPv6 address has colons of its own */
	colon = strrchr(h, ':');
	if (colon == NULL)
		return cli_hostname_ok(h);
	if (!str_from_slice(host, sizeof(host),
	        slice_make(h, (size_t)(colon - h))))
		return false;
	return (cli_hostname_ok(host) || cli_addr_ok(host)) &&
	    num_parse_u64(colon + 1, 1, 65535, &port) == 0;
}

static int
parse_routes(const struct pctx *p, const config_setting_t *s,
    struct config *c)
{
	static const char *const keys[] = { "domain", "host", NULL };
	int i, n, rc;

	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return fail(p, s, "must be a list ( { ... }, ... ), not %s",
		    type_name(config_setting_type(s)));
	n = config_setting_length(s);
	if ((size_t)n > CONFIG_ROUTES_MAX)
		return fail(p, s, "%d routes, at most %d", n,
		    CONFIG_ROUTES_MAX);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const config_setting_t *d, *h;
		struct route_config *r = &c->routes[i];
		char *q;

		if ((rc = want_type(p, e, CONFIG_TYPE_GROUP)) != 0 ||
		    (rc = check_keys(p, e, keys)) != 0)
			return rc;
		d = config_setting_get_member(e, "domain");
		h = config_setting_get_member(e, "host");
		if (d == NULL || h == NULL)
			return fail(p, e, "a route needs domain and host");
		if ((rc = get_string(p, d, r->domain, sizeof(r->domain))) !=
		        0 ||
		    (rc = get_string(p, h, r->host, sizeof(r->host))) != 0)
			return rc;
		for (q = r->domain; *q != '\0'; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		if (!cli_hostname_ok(r->domain[0] == '.' ? r->domain + 1
		                                         : r->domain))
			return fail(p, d,
			    "\"%.100s\" is not a domain (or .domain for its "
			    "subdomains)",
			    r->domain);
		if (!cli_route_host_ok(r->host))
			return fail(p, h,
			    "\"%.100s\" is not host, host:port, [ip] or "
			    "[ip]:port",
			    r->host);
	}
	c->n_routes = (size_t)n;
	return 0;
}

/* "ip" or "ip@port". */
static bool
resolver_ok(const char *r)
{
	char ip[64];
	const char *at = strchr(r, '@');
	uint64_t port;

	if (at == NULL)
		return cli_addr_ok(r);
	return str_from_slice(ip, sizeof(ip), slice_make(r, (size_t)(at - r))) &&
	    cli_addr_ok(ip) && num_parse_u64(at + 1, 1, 65535, &port) == 0;
}

static int
parse_outbound(const struct pctx *p, const config_setting_t *s,
    struct config *c)
{
	static const char *const keys[] = { "resolver", "port", "smarthost",
		"routes", "starttls", "connect_timeout_seconds",
		"timeout_seconds", NULL };
	const config_setting_t *e;
	int rc;

	if ((rc = want_type(p, s, CONFIG_TYPE_GROUP)) != 0 ||
	    (rc = check_keys(p, s, keys)) != 0)
		return rc;
	if ((e = config_setting_get_member(s, "resolver")) != NULL) {
		if ((rc = get_string(p, e, c->outbound_resolver,
		         sizeof(c->outbound_resolver))) != 0)
			return rc;
		if (c->outbound_resolver[0] != '\0' &&
		    !resolver_ok(c->outbound_resolver))
			return fail(p, e,
			    "\"%.100s\" is not \"\", an IP address or "
			    "ip@port",
			    c->outbound_resolver);
	}
	if ((rc = member_unsigned(p, s, "port", 1, 65535, &c->outbound_port)) !=
	    0)
		return rc;
	if ((e = config_setting_get_member(s, "smarthost")) != NULL) {
		if ((rc = get_string(p, e, c->outbound_smarthost,
		         sizeof(c->outbound_smarthost))) != 0)
			return rc;
		if (c->outbound_smarthost[0] != '\0' &&
		    !cli_route_host_ok(c->outbound_smarthost))
			return fail(p, e,
			    "\"%.100s\" is not host, host:port, [ip] or "
			    "[ip]:port",
			    c->outbound_smarthost);
	}
	if ((e = config_setting_get_member(s, "routes")) != NULL &&
	    (rc = parse_routes(p, e, c)) != 0)
		return rc;
	if ((rc = member_bool(p, s, "starttls", &c->outbound_starttls)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "connect_timeout_seconds", 1,
	         CLI_CONFIG_TIMEOUT_CAP,
	         &c->outbound_connect_timeout_seconds)) != 0)
		return rc;
	if ((rc = member_unsigned(p, s, "timeout_seconds", 1,
	         CLI_CONFIG_OUTBOUND_TIMEOUT_CAP,
	         &c->outbound_timeout_seconds)) != 0)
		return rc;
	return 0;
}

/* Makes a relative path absolute against the data dir. */
static int
resolve(const struct pctx *p, const char *data_dir, char *path, size_t size,
    const char *what)
{
	char tmp[PATH_MAX];

	if (path[0] == '/')
		return 0;
	if (!str_fmt(tmp, sizeof(tmp), "%s/%s", data_dir, path) ||
	    !str_copy(path, size, tmp))
		return err_set(p->err, ERR_INPUT, "%s: %s path too long",
		    p->name, what);
	return 0;
}

static int
parse_root(const struct pctx *p, config_t *cf, const char *data_dir,
    struct config *c)
{
	static const char *const keys[] = { "hostname", "log_level",
		"listeners", "tls", "smtp", "imap", "store", "submission",
		"queue", "outbound", NULL };
	const config_setting_t *root = config_root_setting(cf), *e;
	int rc;

	if ((rc = check_keys(p, root, keys)) != 0)
		return rc;
	if ((e = config_setting_get_member(root, "hostname")) != NULL) {
		if ((rc = get_string(p, e, c->hostname, sizeof(c->hostname))) !=
		    0)
			return rc;
		if (!cli_hostname_ok(c->hostname))
			return fail(p, e, "\"%.100s\" is not a valid host name",
			    c->hostname);
	}
	if ((e = config_setting_get_member(root, "log_level")) != NULL) {
		if ((rc = get_string(p, e, c->log_level,
		         sizeof(c->log_level))) != 0)
			return rc;
		if (log_level_parse(c->log_level) < 0)
			return fail(p, e,
			    "\"%s\" is not one of debug, info, warn, error",
			    c->log_level);
	}
	e = config_setting_get_member(root, "listeners");
	if (e == NULL)
		return err_set(p->err, ERR_INPUT,
		    "%s: listeners: missing (at least one smtp listener is "
		    "needed)",
		    p->name);
	if ((rc = parse_listeners(p, e, c)) != 0)
		return rc;
	(void)str_copy(c->tls_cert, sizeof(c->tls_cert), "tls/cert.pem");
	(void)str_copy(c->tls_key, sizeof(c->tls_key), "tls/key.pem");
	if ((e = config_setting_get_member(root, "tls")) != NULL &&
	    (rc = parse_tls(p, e, c)) != 0)
		return rc;
	if ((e = config_setting_get_member(root, "smtp")) != NULL &&
	    (rc = parse_smtp(p, e, c)) != 0)
		return rc;
	if ((e = config_setting_get_member(root, "imap")) != NULL &&
	    (rc = parse_imap(p, e, c)) != 0)
		return rc;
	if ((e = config_setting_get_member(root, "store")) != NULL &&
	    (rc = parse_store(p, e, c)) != 0)
		return rc;
	if ((e = config_setting_get_member(root, "submission")) != NULL &&
	    (rc = parse_submission(p, e, c)) != 0)
		return rc;
	if ((e = config_setting_get_member(root, "queue")) != NULL &&
	    (rc = parse_queue(p, e, c)) != 0)
		return rc;
	if ((e = config_setting_get_member(root, "outbound")) != NULL &&
	    (rc = parse_outbound(p, e, c)) != 0)
		return rc;
	if (!str_copy(c->data_dir, sizeof(c->data_dir), data_dir))
		return err_set(p->err, ERR_INPUT, "data dir path too long");
	if ((rc = resolve(p, data_dir, c->tls_cert, sizeof(c->tls_cert),
	         "tls.cert")) != 0 ||
	    (rc = resolve(p, data_dir, c->tls_key, sizeof(c->tls_key),
	         "tls.key")) != 0)
		return rc;
	return 0;
}

static int
syntax_error(const struct pctx *p, const config_t *cf)
{
	const char *file = config_error_file(cf);

	return err_set(p->err, ERR_INPUT, "%s:%d: syntax error: %s",
	    file != NULL ? file : p->name, config_error_line(cf),
	    config_error_text(cf));
}

int
cli_config_parse_string(const char *text, const char *name,
    const char *data_dir, struct config *out, struct err *err)
{
	struct pctx p = { name, err };
	config_t cf;
	int rc;

	config_defaults(out);
	(void)str_copy(out->path, sizeof(out->path), name);
	config_init(&cf);
	config_set_options(&cf, 0); /* no int to float or other coercion */
	if (config_read_string(&cf, text) != CONFIG_TRUE)
		rc = syntax_error(&p, &cf);
	else
		rc = parse_root(&p, &cf, data_dir, out);
	config_destroy(&cf);
	return rc;
}

int
cli_config_load(const char *data_dir, struct config *out, struct err *err)
{
	char abs[PATH_MAX], path[PATH_MAX];
	struct pctx p = { path, err };
	config_t cf;
	int rc;

	config_defaults(out);
	if (realpath(data_dir, abs) == NULL)
		return err_set(err, errno == ENOENT ? ERR_NOTFOUND : ERR_TEMP,
		    "data dir %s: %s", data_dir, strerror(errno));
	if (!str_fmt(path, sizeof(path), "%s/%s", abs, CLI_CONFIG_FILE))
		return err_set(err, ERR_INPUT, "data dir path too long");
	if (access(path, R_OK) == -1)
		return err_set(err, errno == ENOENT ? ERR_NOTFOUND : ERR_TEMP,
		    "%s: %s%s", path, strerror(errno),
		    errno == ENOENT ? " (run `despatch init` first)" : "");
	(void)str_copy(out->path, sizeof(out->path), path);
	config_init(&cf);
	config_set_options(&cf, 0);
	config_set_include_dir(&cf, abs);
	if (config_read_file(&cf, path) != CONFIG_TRUE)
		rc = config_error_type(&cf) == CONFIG_ERR_FILE_IO
		    ? err_set(err, ERR_TEMP, "%s: cannot read", path)
		    : syntax_error(&p, &cf);
	else
		rc = parse_root(&p, &cf, abs, out);
	config_destroy(&cf);
	return rc;
}

/* --- writing ---------------------------------------------------------- */

static int
render(const struct config *c, unsigned port_offset, struct buf *b)
{
	size_t i, k;
	int rc = 0;
	unsigned unserved_said = 0;

	rc |= buf_printf(b,
	    "# despatch configuration (libconfig syntax: name = value;).\n"
	    "# Every setting is checked when `despatch serve` starts and on "
	    "SIGHUP;\n"
	    "# an unknown name or a value out of range is an error that "
	    "names the line.\n"
	    "# Relative paths are relative to the data dir holding this "
	    "file.\n\n");
	rc |= buf_printf(b,
	    "# Our name in the SMTP greeting and in Received: headers.\n"
	    "hostname = \"%s\";\n\n",
	    c->hostname);
	rc |= buf_printf(b,
	    "# debug, info, warn or error. Logs go to stderr, one line per "
	    "event.\n"
	    "log_level = \"%s\";\n\n",
	    c->log_level);
	rc |= buf_printf(b,
	    "# Each listener: kind, numeric address, port (1-65535). Changes "
	    "here need\n"
	    "# a restart; SIGHUP does not rebind.\n"
	    "listeners = (\n");
	for (i = 0; i < c->n_listeners; i++) {
		const struct listener_config *l = &c->listeners[i];

		rc |= buf_printf(b,
		    "  { kind = \"%s\"; address = \"%s\"; port = %u; }%s\n",
		    cli_listener_kind_name(l->kind), l->addr, l->port,
		    i + 1 < c->n_listeners ? "," : "");
	}
	for (k = 0; k < N_KINDS; k++) {
		if (kinds[k].served)
			continue;
		if (!unserved_said++)
			rc |= buf_printf(b, "  # Not yet served by this version"
			                    " (later releases):\n");
		rc |= buf_printf(b,
		    "  # , { kind = \"%s\"; address = \"%s\"; port = %u; }\n",
		    kinds[k].name,
		    c->n_listeners > 0 ? c->listeners[0].addr : "0.0.0.0",
		    kinds[k].std_port + port_offset);
	}
	rc |= buf_printf(b, ");\n\n");
	rc |= buf_printf(b,
	    "# Certificate chain and key (PEM) for STARTTLS. `despatch init` "
	    "made a\n"
	    "# self-signed pair; replace the files or point these at your "
	    "own.\n"
	    "tls = {\n  cert = \"%s\";\n  key = \"%s\";\n};\n\n",
	    c->tls_cert, c->tls_key);
	rc |= buf_printf(b,
	    "smtp = {\n"
	    "  # Largest message accepted, advertised in SIZE: bytes, or "
	    "\"50M\"-style\n"
	    "  # (K, M, G). Default 50M, at least 1K, at most 1G.\n"
	    "  max_message_size = %llu;\n"
	    "  # Recipients per message; more get 452 4.5.3. Default and "
	    "cap 1000.\n"
	    "  max_recipients = %u;\n"
	    "  # Bad commands before the session is closed with 421. "
	    "Default and cap 10.\n"
	    "  max_errors = %u;\n"
	    "  # Idle seconds waiting for a command or data. Default and cap "
	    "300,\n  # at least 10.\n"
	    "  timeout_seconds = %u;\n"
	    "  # true: refuse a message with a bare CR or LF in DATA; false: "
	    "normalise\n"
	    "  # it"
	    " to CRLF. Command lines always reject them. Default false.\n"
	    "  reject_bare_lf = %s;\n"
	    "  # Sessions at once (421 4.7.0 past it). Default 1000, cap "
	    "10000.\n"
	    "  max_connections = %u;\n"
	    "  # Sessions at once from one client address. Default 50, cap "
	    "1000.\n"
	    "  max_connections_per_ip = %u;\n"
	    "  # true: the per-address cap applies to 127.0.0.1 and ::1 "
	    "too. Default\n  # false.\n"
	    "  limit_loopback = %s;\n"
	    "  # Seconds a message's data may take, plus one per 500 bytes "
	    "received,\n  # and a command line (slow senders get 421 4.4.2). "
	    "Default and cap\n  # 300, at least 1.\n"
	    "  data_time_seconds = %u;\n"
	    "};\n\n",
	    (unsigned long long)c->smtp_max_message_size,
	    c->smtp_max_recipients, c->smtp_max_errors, c->smtp_timeout_seconds,
	    c->smtp_reject_bare_lf ? "true" : "false", c->smtp_max_connections,
	    c->smtp_max_connections_per_ip,
	    c->smtp_limit_loopback ? "true" : "false",
	    c->smtp_data_time_seconds);
	rc |= buf_printf(b,
	    "imap = {\n"
	    "  # Quota per user over all mailboxes (RFC 9208): bytes, or "
	    "\"2G\"-style,\n"
	    "  # and messages; 0 means unlimited. APPEND past it gets NO "
	    "[OVERQUOTA].\n"
	    "  # SMTP delivery is not refused by the quota.\n"
	    "  quota_bytes = \"%llu\";\n"
	    "  quota_messages = %llu;\n"
	    "  # Seconds a connection may stay without logging in. Default "
	    "and cap 60,\n  # at least 10. (After login: 30 minutes, RFC "
	    "9051.)\n"
	    "  login_timeout_seconds = %u;\n"
	    "  # Sessions at once (* BYE past it). Default 1000, cap 10000.\n"
	    "  max_connections = %u;\n"
	    "  # Sessions at once from one client address. Default 50, cap "
	    "1000.\n"
	    "  max_connections_per_ip = %u;\n"
	    "  # true: the per-address cap applies to 127.0.0.1 and ::1 "
	    "too. Default\n  # false.\n"
	    "  limit_loopback = %s;\n"
	    "  # Seconds a command may take to arrive, literals included, "
	    "plus one per\n  # 500 bytes (slow senders get * BYE). Default "
	    "and cap 300, at least 1.\n"
	    "  command_time_seconds = %u;\n"
	    "};\n\n",
	    (unsigned long long)c->imap_quota_bytes,
	    (unsigned long long)c->imap_quota_messages,
	    c->imap_login_timeout_seconds, c->imap_max_connections,
	    c->imap_max_connections_per_ip,
	    c->imap_limit_loopback ? "true" : "false",
	    c->imap_command_time_seconds);
	rc |= buf_printf(b,
	    "store = {\n"
	    "  # Seconds an unreferenced blob is kept before `despatch store "
	    "gc` may\n"
	    "  # delete it. Default 86400, 60 to 31622400.\n"
	    "  gc_grace_seconds = %llu;\n"
	    "  # Most messages sharing one group commit (one fsync). Default "
	    "256,\n"
	    "  # 1 to 4096.\n"
	    "  commit_batch_max = %u;\n"
	    "};\n",
	    (unsigned long long)c->blob_gc_grace_seconds, c->commit_batch_max);
	rc |= buf_printf(b,
	    "\nsubmission = {\n"
	    "  # Per authenticated user over the last hour, on 587 and 465;"
	    " past\n"
	    "  # either the client gets 451 4.7.1. 0 means unlimited.\n"
	    "  max_messages_per_hour = %u;\n"
	    "  max_recipients_per_hour = %u;\n"
	    "};\n\n",
	    c->submission_max_messages_per_hour,
	    c->submission_max_recipients_per_hour);
	rc |= buf_printf(b,
	    "queue = {\n"
	    "  # A remote recipient that fails temporarily is retried after"
	    " retry_min,\n"
	    "  # then after twice the last wait, at most retry_max seconds"
	    " apart.\n"
	    "  retry_min_seconds = %u;\n"
	    "  retry_max_seconds = %u;\n"
	    "  # After lifetime_seconds (default 5 days) it bounces to the"
	    " sender.\n"
	    "  lifetime_seconds = %llu;\n"
	    "  # The sender is told once that it is delayed after this long"
	    " (0: never).\n"
	    "  delay_notice_seconds = %llu;\n"
	    "  # Outbound SMTP sessions at once (one per destination"
	    " domain).\n"
	    "  max_connections = %u;\n"
	    "};\n\n",
	    c->queue_retry_min_seconds, c->queue_retry_max_seconds,
	    (unsigned long long)c->queue_lifetime_seconds,
	    (unsigned long long)c->queue_delay_notice_seconds,
	    c->queue_max_connections);
	rc |= buf_printf(b,
	    "outbound = {\n"
	    "  # DNS: \"\" uses /etc/resolv.conf; \"ip\" or \"ip@port\""
	    " sends every query\n"
	    "  # to that recursive resolver.\n"
	    "  resolver = \"%s\";\n"
	    "  # The port remote mail exchangers are reached on (25).\n"
	    "  port = %u;\n"
	    "  # \"\": deliver by MX. Otherwise all remote mail goes to this"
	    " host:\n"
	    "  # \"name\", \"name:port\", \"[ip]\" or \"[ip]:port\".\n"
	    "  smarthost = \"%s\";\n"
	    "  # Per-domain routes (\".example.org\" also matches its"
	    " subdomains):\n"
	    "  # routes = ( { domain = \"example.org\"; host ="
	    " \"[192.0.2.1]:25\"; } );\n"
	    "  routes = (",
	    c->outbound_resolver, c->outbound_port, c->outbound_smarthost);
	for (k = 0; k < c->n_routes; k++)
		rc |= buf_printf(b, "%s\n    { domain = \"%s\"; host = \"%s\"; }",
		    k ? "," : "", c->routes[k].domain, c->routes[k].host);
	rc |= buf_printf(b,
	    "%s);\n"
	    "  # Use STARTTLS when the remote offers it (no certificate"
	    " check).\n"
	    "  starttls = %s;\n"
	    "  connect_timeout_seconds = %u;\n"
	    "  # Seconds to wait for each reply of the remote.\n"
	    "  timeout_seconds = %u;\n"
	    "};\n",
	    c->n_routes ? "\n  " : " ", c->outbound_starttls ? "true" : "false",
	    c->outbound_connect_timeout_seconds, c->outbound_timeout_seconds);
	return rc != 0 ? ERR_LIMIT : 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
cli_config_write(const struct config *c, unsigned port_offset, const char *path,
    struct err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	struct buf b;
	char *slash;
	int fd = -1, dfd, rc = ERR_TEMP;

	buf_init(&b, 64 * 1024);
	if (render(c, port_offset, &b) != 0) {
		buf_clear(&b);
		return err_set(err, ERR_INTERNAL, "config text too long");
	}
	if (!str_fmt(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) ||
	    !str_copy(dir, sizeof(dir), path)) {
		buf_clear(&b);
		return err_set(err, ERR_INPUT, "%s: path too long", path);
	}
	slash = strrchr(dir, '/');
	if (slash == NULL)
		(void)str_copy(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		err_set(err, ERR_TEMP, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, b.p, b.len) == -1 || fsync(fd) == -1) {
		err_set(err, ERR_TEMP, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	/* link(2), unlike rename(2), fails if the name exists: an existing
	 * config is never replaced, even by a concurrent init. */
	if (link(tmp, path) == -1) {
		rc = errno == EEXIST ? ERR_EXISTS : ERR_TEMP;
		err_set(err, rc, "%s: %s", path,
		    errno == EEXIST ? "exists already" : strerror(errno));
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd != -1) {
		(void)fsync(dfd);
		(void)close(dfd);
	}
	rc = 0;
out:
	if (fd != -1) {
		(void)close(fd);
		(void)unlink(tmp);
	}
	buf_clear(&b);
	return rc;
}
