/* SPDX-License-Identifier: MIT */
/* MX and host lookups through libunbound on the libuv loop: the context
 * resolves in its own thread (ub_ctx_async(ctx, 1)) and signals answers
 * on ub_fd, which a uv_poll watches; ub_process then runs our per-query
 * callbacks on the loop thread. A job (one dns_resolve_* call) is a few
 * queries: MX, then A and AAAA of each exchanger (RFC 5321 §5.1). Jobs
 * that finish are handed to their caller from a timer callback, never
 * from inside dns_resolve_* nor from inside ub_process. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <unbound.h>

#include "lib/err.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "smtp/dns.h"

#include "lib/banned.h"

/* A job that has not finished after this long is ERR_TEMP: libunbound's
 * own retries against a dead forwarder can take minutes. */
#define DNS_JOB_TIMEOUT_MS 30000
/* How often the timer looks for jobs past their deadline. */
#define DNS_TICK_MS 1000

#define RR_A     1
#define RR_MX    15
#define RR_AAAA  28
#define RCODE_NX 3

/* Queries of one job: its MX (or none), A and AAAA per exchanger. */
#define QUERIES_MAX (1 + 2 * DNS_HOSTS_MAX)

enum qkind { Q_MX, Q_A, Q_AAAA };

struct dns_job;

struct query {
	struct dns_job *job;
	enum qkind kind;
	unsigned mx; /* index into job->mx for A/AAAA */
	int async_id;
	bool pending;
};

/* One exchanger (or the domain itself, or a route's host). */
struct exch {
	char name[256];
	unsigned pref;
	char a[DNS_HOSTS_MAX][64], aaaa[DNS_HOSTS_MAX][64];
	unsigned n_a, n_aaaa;
	int a_status, aaaa_status; /* 0, ERR_NOTFOUND, ERR_TEMP */
};

struct dns_job {
	struct dns_resolver *r;
	struct dns_job *next;
	dns_cb cb;
	void *ctx;
	char domain[256];
	unsigned port;
	uint64_t deadline;
	bool done; /* waiting for the timer to report */

	struct query q[QUERIES_MAX];
	unsigned n_q, n_pending;
	struct exch mx[DNS_HOSTS_MAX];
	unsigned n_mx;

	struct dns_result res;
	struct dns_host hosts[DNS_HOSTS_MAX];
};

/* libuv handles outlive the resolver until their close callbacks. */
struct handles {
	uv_poll_t poll;
	uv_timer_t timer;
	unsigned open;
	struct dns_resolver *r; /* NULL once the resolver is gone */
};

struct dns_resolver {
	uv_loop_t *loop;
	struct ub_ctx *ub;
	struct handles *h;
	struct dns_job *jobs; /* pending and done */
	bool dispatching, dead;
};

static void resolver_destroy(struct dns_resolver *r);

static void
handle_closed(uv_handle_t *hd)
{
	struct handles *h = hd->data;

	if (--h->open == 0)
		free(h);
}

static void on_tick(uv_timer_t *t);

static void
arm_timer(struct dns_resolver *r, uint64_t ms)
{
	(void)uv_timer_start(&r->h->timer, on_tick, ms, 0);
}

static void
job_unlink(struct dns_job *j)
{
	struct dns_job **pp;

	for (pp = &j->r->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
}

static void
job_cancel_queries(struct dns_job *j)
{
	unsigned i;

	for (i = 0; i < j->n_q; i++)
		if (j->q[i].pending) {
			(void)ub_cancel(j->r->ub, j->q[i].async_id);
			j->q[i].pending = false;
		}
	j->n_pending = 0;
}

/* Marks the job finished; the timer reports it on its next run. */
static void
job_finish(struct dns_job *j, int status, const char *why)
{
	if (j->done)
		return;
	job_cancel_queries(j);
	j->done = true;
	j->res.status = status;
	if (status != 0 && j->res.why[0] == '\0')
		(void)str_copy(j->res.why, sizeof(j->res.why), why);
	j->res.hosts = j->hosts;
	arm_timer(j->r, 0);
}

static void
on_tick(uv_timer_t *t)
{
	struct handles *h = t->data;
	struct dns_resolver *r = h->r;
	struct dns_job *j, *next;
	uint64_t now;
	bool pending = false;

	if (r == NULL)
		return;
	now = uv_now(r->loop);
	for (j = r->jobs; j != NULL; j = j->next)
		if (!j->done && now >= j->deadline) {
			j->res.n_hosts = 0;
			job_finish(j, ERR_TEMP, "DNS lookup timed out");
		}
	r->dispatching = true;
	for (j = r->jobs; j != NULL && !r->dead; j = next) {
		next = j->next;
		if (!j->done) {
			pending = true;
			continue;
		}
		job_unlink(j);
		j->cb(j->ctx, &j->res); /* may start jobs or free r */
		free(j);
		next = r->jobs; /* the list may have changed */
	}
	r->dispatching = false;
	if (r->dead) {
		resolver_destroy(r);
		return;
	}
	for (j = r->jobs; j != NULL; j = j->next)
		pending = pending || !j->done;
	if (pending)
		arm_timer(r, DNS_TICK_MS);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct handles *h = p->data;

	(void)events;
	if (h->r == NULL)
		return;
	if (status < 0)
		return; /* EBADF and the like: the job deadlines catch it */
	(void)ub_process(h->r->ub); /* runs on_answer for ready queries */
}

/* Is s a host name we will look up: 1..253 characters, labels of
 * letters, digits, '-' and '_' (some MX host names have it), 1..63
 * each, one trailing dot allowed. */
static bool
is_hostname(const char *s)
{
	size_t len = strlen(s), lab = 0, i;

	if (len == 0 || len > 254 || (len == 254 && s[253] != '.'))
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (++lab > 63)
			return false;
	}
	return true;
}

/* "1.2.3.4", "::1", "[1.2.3.4]" or "[IPv6:::1]": the numeric address into
 * out (64 bytes). */
static bool
numeric_addr(const char *s, char out[64])
{
	unsigned char bin[16];
	char tmp[64];
	size_t len = strlen(s);

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
		if (len > 5 && strncmp(s, "IPv6:", 5) == 0) {
			s += 5;
			len -= 5;
		}
	}
	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, bin) != 1 &&
	    inet_pton(AF_INET6, tmp, bin) != 1)
		return false;
	return str_copy(out, 64, tmp);
}

/* The wire-format name at p (uncompressed, as libunbound hands rdata)
 * as dotted text, without the trailing dot ("" for the root). false if
 * malformed or not a host name we would use. */
static bool
wire_name(const unsigned char *p, size_t len, char *out, size_t out_size)
{
	size_t i = 0, o = 0, n;

	while (i < len) {
		n = p[i++];
		if (n == 0) {
			out[o] = '\0';
			return o == 0 || is_hostname(out);
		}
		if (n > 63 || n > len - i || o + n + 2 > out_size)
			return false;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	return false;
}

/* --- internationalised names (RFC 5891 §4.4, RFC 3492) -------------
 * A UTF-8 domain (SMTPUTF8 mail) is looked up by its A-labels: each
 * label with non-ASCII characters becomes "xn--" + Punycode. No IDNA2008
 * mapping or NFC normalisation is done here (no libidn2): names are
 * expected as users type them, lowercase and composed; anything else
 * simply does not resolve. */

#define PUNY_BASE 36
#define PUNY_TMIN 1
#define PUNY_TMAX 26
#define PUNY_SKEW 38
#define PUNY_DAMP 700
/* Code points in one label at most (a label is at most 63 octets). */
#define PUNY_LABEL_MAX 63

static uint32_t
puny_adapt(uint32_t delta, uint32_t numpoints, bool first)
{
	uint32_t k = 0;

	delta = first ? delta / PUNY_DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2) {
		delta /= PUNY_BASE - PUNY_TMIN;
		k += PUNY_BASE;
	}
	return k + (PUNY_BASE - PUNY_TMIN + 1) * delta / (delta + PUNY_SKEW);
}

static char
puny_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* Decodes one UTF-8 label of len bytes into cps; false if malformed
 * (overlong, surrogate, past U+10FFFF) or too long. */
static bool
utf8_label(const unsigned char *p, size_t len, uint32_t *cps, size_t *n_out)
{
	size_t i = 0, n = 0, extra;
	uint32_t c, min;

	while (i < len) {
		c = p[i++];
		if (c < 0x80) {
			extra = 0;
			min = 0;
		} else if ((c & 0xe0) == 0xc0) {
			c &= 0x1f;
			extra = 1;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			c &= 0x0f;
			extra = 2;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			c &= 0x07;
			extra = 3;
			min = 0x10000;
		} else {
			return false;
		}
		if (extra > len - i)
			return false;
		for (; extra > 0; extra--) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			c = c << 6 | (p[i++] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		if (n >= PUNY_LABEL_MAX)
			return false;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		cps[n++] = c;
	}
	*n_out = n;
	return n > 0;
}

/* RFC 3492 §6.3 for one label; appends to out at *o. */
static bool
puny_encode(const uint32_t *cps, size_t len, char *out, size_t size, size_t *o)
{
	uint32_t n = 0x80, delta = 0, bias = 72, m, q, k, t;
	size_t h, b = 0, i, start = *o;

#define PUT(ch)                                                                \
	do {                                                                   \
		if (*o + 1 >= size || *o - start >= 63)                        \
			return false;                                          \
		out[(*o)++] = (ch);                                            \
	} while (0)
	PUT('x');
	PUT('n');
	PUT('-');
	PUT('-');
	for (i = 0; i < len; i++)
		if (cps[i] < 0x80) {
			PUT((char)cps[i]);
			b++;
		}
	if (b > 0)
		PUT('-');
	for (h = b; h < len;) {
		m = UINT32_MAX;
		for (i = 0; i < len; i++)
			if (cps[i] >= n && cps[i] < m)
				m = cps[i];
		delta += (m - n) * (uint32_t)(h + 1); /* < 2^21 * 64 */
		n = m;
		for (i = 0; i < len; i++) {
			if (cps[i] < n)
				delta++;
			if (cps[i] != n)
				continue;
			for (q = delta, k = PUNY_BASE;; k += PUNY_BASE) {
				t = k <= bias               ? PUNY_TMIN
				    : k >= bias + PUNY_TMAX ? PUNY_TMAX
				                            : k - bias;
				if (q < t)
					break;
				PUT(puny_digit(t + (q - t) % (PUNY_BASE - t)));
				q = (q - t) / (PUNY_BASE - t);
			}
			PUT(puny_digit(q));
			bias = puny_adapt(delta, (uint32_t)h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		n++;
	}
#undef PUT
	out[*o] = '\0';
	return true;
}

/* name with its non-ASCII labels as A-labels into out; false if not
 * valid UTF-8 or too long. ASCII names are copied unchanged. */
static bool
to_ascii(const char *name, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)name;
	uint32_t cps[PUNY_LABEL_MAX];
	size_t o = 0, i, lab, n;
	bool wide;

	while (*p != '\0') {
		for (lab = 0, wide = false; p[lab] != '\0' && p[lab] != '.';
		     lab++)
			wide = wide || p[lab] >= 0x80;
		if (!wide) {
			if (o + lab + 1 >= size)
				return false;
			memcpy(out + o, p, lab);
			o += lab;
		} else if (!utf8_label(p, lab, cps, &n) ||
		    !puny_encode(cps, n, out, size, &o)) {
			return false;
		}
		p += lab;
		if (*p == '.') {
			if (o + 2 >= size)
				return false;
			out[o++] = '.';
			p++;
		}
	}
	out[o] = '\0';
	for (i = 0; i < o; i++)
		if ((unsigned char)out[i] >= 0x80)
			return false;
	return true;
}

static void on_answer(void *data, int err, struct ub_result *res);

static int
query_start(struct dns_job *j, enum qkind kind, unsigned mx, const char *name)
{
	struct query *q;
	int rc, type;

	if (j->n_q >= QUERIES_MAX)
		return ERR_INTERNAL;
	q = &j->q[j->n_q++];
	q->job = j;
	q->kind = kind;
	q->mx = mx;
	type = kind == Q_MX ? RR_MX : kind == Q_A ? RR_A : RR_AAAA;
	rc = ub_resolve_async(j->r->ub, name, type, 1, q, on_answer,
	    &q->async_id);
	if (rc != 0) {
		(void)str_fmt(j->res.why, sizeof(j->res.why), "resolver: %s",
		    ub_strerror(rc));
		return ERR_TEMP;
	}
	q->pending = true;
	j->n_pending++;
	return 0;
}

/* All addresses known: the hosts in exchanger order, IPv4 first. */
static void
job_assemble(struct dns_job *j)
{
	struct dns_host *h;
	bool temp = false;
	unsigned i, k;

	j->res.n_hosts = 0;
	for (i = 0; i < j->n_mx; i++) {
		struct exch *x = &j->mx[i];

		temp = temp || x->a_status == ERR_TEMP ||
		    x->aaaa_status == ERR_TEMP;
		for (k = 0; k < x->n_a + x->n_aaaa; k++) {
			if (j->res.n_hosts >= DNS_HOSTS_MAX)
				break;
			h = &j->hosts[j->res.n_hosts++];
			(void)str_copy(h->name, sizeof(h->name), x->name);
			(void)str_copy(h->addr, sizeof(h->addr),
			    k < x->n_a ? x->a[k] : x->aaaa[k - x->n_a]);
			h->port = j->port;
			h->pref = x->pref;
		}
	}
	if (j->res.n_hosts > 0) {
		job_finish(j, 0, NULL);
		return;
	}
	/* No address at all: temporary if any lookup failed temporarily
	 * (an SMTP client must not bounce on a SERVFAIL), else permanent
	 * (RFC 3463 5.1.2 / 5.4.4). */
	if (temp)
		job_finish(j, ERR_TEMP, "address lookup failed temporarily");
	else
		job_finish(j, ERR_NOTFOUND, "no address for the mail host");
}

/* Starts A and AAAA of every exchanger in j->mx. */
static void
job_addresses(struct dns_job *j)
{
	unsigned i;
	int rc;

	for (i = 0; i < j->n_mx; i++) {
		rc = query_start(j, Q_A, i, j->mx[i].name);
		if (rc == 0)
			rc = query_start(j, Q_AAAA, i, j->mx[i].name);
		if (rc != 0) {
			job_finish(j, ERR_TEMP, "resolver error");
			return;
		}
	}
}

static int
cmp_pref(const void *a, const void *b)
{
	const struct exch *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

static void
mx_answer(struct dns_job *j, struct ub_result *res)
{
	struct exch tmp;
	bool root = false;
	unsigned i, k;
	size_t n;

	if (!res->havedata) {
		/* NODATA: RFC 5321 §5.1, the domain is its own exchanger. */
		(void)str_copy(j->mx[0].name, sizeof(j->mx[0].name), j->domain);
		j->mx[0].pref = 0;
		j->n_mx = 1;
		job_addresses(j);
		return;
	}
	for (i = 0; res->data[i] != NULL; i++) {
		const unsigned char *p = (const unsigned char *)res->data[i];

		n = (size_t)res->len[i];
		if (n < 3)
			continue;
		memset(&tmp, 0, sizeof(tmp));
		tmp.pref = (unsigned)p[0] << 8 | p[1];
		if (!wire_name(p + 2, n - 2, tmp.name, sizeof(tmp.name)))
			continue;
		if (tmp.name[0] == '\0') {
			root = true; /* RFC 7505 null MX */
			continue;
		}
		if (j->n_mx >= DNS_HOSTS_MAX)
			continue;
		j->mx[j->n_mx++] = tmp;
	}
	if (j->n_mx == 0) {
		j->res.null_mx = root;
		job_finish(j, ERR_NOTFOUND,
		    root ? "the domain accepts no mail (null MX)"
		         : "no usable MX record");
		return;
	}
	/* RFC 5321 §5.1: equal preferences in random order (spreads the
	 * load); a shuffle first, then a stable insertion sort by
	 * preference (16 entries at most). */
	for (i = j->n_mx; i > 1; i--) {
		k = randombytes_uniform((uint32_t)i);
		tmp = j->mx[i - 1];
		j->mx[i - 1] = j->mx[k];
		j->mx[k] = tmp;
	}
	for (i = 1; i < j->n_mx; i++)
		for (k = i; k > 0 && cmp_pref(&j->mx[k - 1], &j->mx[k]) > 0;
		     k--) {
			tmp = j->mx[k];
			j->mx[k] = j->mx[k - 1];
			j->mx[k - 1] = tmp;
		}
	job_addresses(j);
}

static void
addr_answer(struct dns_job *j, struct query *q, struct ub_result *res)
{
	struct exch *x = &j->mx[q->mx];
	int af = q->kind == Q_A ? AF_INET : AF_INET6;
	size_t want = q->kind == Q_A ? 4 : 16;
	char(*dst)[64] = q->kind == Q_A ? x->a : x->aaaa;
	unsigned *n = q->kind == Q_A ? &x->n_a : &x->n_aaaa;
	unsigned i;

	if (!res->havedata)
		return;
	for (i = 0; res->data[i] != NULL && *n < DNS_HOSTS_MAX; i++) {
		if ((size_t)res->len[i] != want)
			continue;
		if (inet_ntop(af, res->data[i], dst[*n], 64) != NULL)
			(*n)++;
	}
}

static void
on_answer(void *data, int err, struct ub_result *res)
{
	struct query *q = data;
	struct dns_job *j = q->job;
	int status = 0;

	q->pending = false;
	j->n_pending--;
	if (err != 0) {
		(void)str_fmt(j->res.why, sizeof(j->res.why), "resolver: %s",
		    ub_strerror(err));
		status = ERR_TEMP;
	} else if (res->rcode == RCODE_NX || res->nxdomain) {
		status = ERR_NOTFOUND;
	} else if (res->rcode != 0) {
		(void)str_fmt(j->res.why, sizeof(j->res.why),
		    "DNS answer rcode %d for %s", res->rcode,
		    q->kind == Q_MX ? j->domain : j->mx[q->mx].name);
		status = ERR_TEMP;
	}
	if (j->done)
		goto out;
	if (q->kind == Q_MX) {
		if (status == ERR_NOTFOUND)
			job_finish(j, ERR_NOTFOUND,
			    "the domain does not exist");
		else if (status != 0)
			job_finish(j, status, "MX lookup failed");
		else
			mx_answer(j, res);
		goto out;
	}
	if (q->kind == Q_A)
		j->mx[q->mx].a_status = status;
	else
		j->mx[q->mx].aaaa_status = status;
	if (status == 0)
		addr_answer(j, q, res);
	if (j->n_pending == 0)
		job_assemble(j);
out:
	if (res != NULL)
		ub_resolve_free(res);
}

int
dns_resolver_new(uv_loop_t *loop, const char *forwarder,
    struct dns_resolver **out, struct err *err)
{
	struct dns_resolver *r;
	char addr[64];
	const char *at;
	uint64_t port;
	unsigned char bin[16];
	int rc;

	if (forwarder == NULL)
		forwarder = "";
	if (forwarder[0] != '\0') {
		/* "ip" or "ip@port". */
		at = strchr(forwarder, '@');
		if (!str_copy(addr, sizeof(addr), forwarder))
			return err_set(err, ERR_INPUT, "bad resolver: %s",
			    forwarder);
		if (at != NULL) {
			addr[at - forwarder] = '\0';
			if (num_parse_u64(at + 1, 1, 65535, &port) != 0)
				return err_set(err, ERR_INPUT,
				    "bad resolver port: %s", forwarder);
		}
		if (inet_pton(AF_INET, addr, bin) != 1 &&
		    inet_pton(AF_INET6, addr, bin) != 1)
			return err_set(err, ERR_INPUT,
			    "resolver is not an IP address: %s", forwarder);
	}
	r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->ub = ub_ctx_create();
	if (r->ub == NULL) {
		free(r);
		return err_set(err, ERR_INTERNAL, "ub_ctx_create failed");
	}
	/* Loopback resolvers are what tests (and systemd-resolved) use. */
	rc = ub_ctx_set_option(r->ub, "do-not-query-localhost:", "no");
	if (rc == 0)
		rc = ub_ctx_async(r->ub, 1);
	if (rc == 0 && forwarder[0] != '\0')
		rc = ub_ctx_set_fwd(r->ub, forwarder);
	/* libunbound answers "test." (RFC 6761) with NXDOMAIN itself; a
	 * forwarder we were given decides (tests serve test domains). */
	if (rc == 0 && forwarder[0] != '\0')
		(void)ub_ctx_zone_remove(r->ub, "test."); /* absent: fine */
	if (rc == 0 && forwarder[0] == '\0') {
		rc = ub_ctx_resolvconf(r->ub, NULL);
		if (rc == 0)
			rc = ub_ctx_hosts(r->ub, NULL);
	}
	if (rc != 0) {
		err_set(err, forwarder[0] != '\0' ? ERR_INPUT : ERR_INTERNAL,
		    "resolver setup (%s): %s", forwarder, ub_strerror(rc));
		ub_ctx_delete(r->ub);
		free(r);
		return err->code;
	}
	r->h = xcalloc(1, sizeof(*r->h));
	r->h->r = r;
	(void)uv_timer_init(loop, &r->h->timer);
	r->h->timer.data = r->h;
	r->h->open = 1;
	if (uv_poll_init(loop, &r->h->poll, ub_fd(r->ub)) != 0) {
		err_set(err, ERR_INTERNAL, "uv_poll_init on the resolver fd");
		r->h->r = NULL;
		uv_close((uv_handle_t *)&r->h->timer, handle_closed);
		ub_ctx_delete(r->ub);
		free(r);
		return ERR_INTERNAL;
	}
	r->h->poll.data = r->h;
	r->h->open = 2;
	(void)uv_poll_start(&r->h->poll, UV_READABLE, on_poll);
	*out = r;
	return 0;
}

static void
resolver_destroy(struct dns_resolver *r)
{
	struct dns_job *j;

	while ((j = r->jobs) != NULL) {
		r->jobs = j->next;
		job_cancel_queries(j);
		free(j);
	}
	r->h->r = NULL;
	/* uv_close stops the poll before ub_ctx_delete closes its fd. */
	uv_close((uv_handle_t *)&r->h->poll, handle_closed);
	uv_close((uv_handle_t *)&r->h->timer, handle_closed);
	ub_ctx_delete(r->ub);
	free(r);
}

void
dns_resolver_free(struct dns_resolver **rp)
{
	struct dns_resolver *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	if (r->dispatching) { /* inside a callback: on_tick finishes it */
		r->dead = true;
		return;
	}
	resolver_destroy(r);
}

static struct dns_job *
job_new(struct dns_resolver *r, const char *name, unsigned port, dns_cb cb,
    void *ctx)
{
	struct dns_job *j = xcalloc(1, sizeof(*j));

	j->r = r;
	j->cb = cb;
	j->ctx = ctx;
	j->port = port;
	(void)str_copy(j->domain, sizeof(j->domain), name);
	j->deadline = uv_now(r->loop) + DNS_JOB_TIMEOUT_MS;
	j->next = r->jobs;
	r->jobs = j;
	if (!uv_is_active((uv_handle_t *)&r->h->timer))
		arm_timer(r, DNS_TICK_MS);
	return j;
}

/* A name that is an address literal: the one host, reported from the
 * timer. */
static bool
try_numeric(struct dns_resolver *r, const char *name, unsigned port, dns_cb cb,
    void *ctx)
{
	struct dns_job *j;
	char addr[64];

	if (!numeric_addr(name, addr))
		return false;
	j = job_new(r, name, port, cb, ctx);
	(void)str_copy(j->hosts[0].name, sizeof(j->hosts[0].name), addr);
	(void)str_copy(j->hosts[0].addr, sizeof(j->hosts[0].addr), addr);
	j->hosts[0].port = port;
	j->res.n_hosts = 1;
	job_finish(j, 0, NULL);
	return true;
}

static int
resolve(struct dns_resolver *r, const char *name, unsigned port, bool mx,
    dns_cb cb, void *ctx)
{
	struct dns_job *j;
	char alabels[256];
	int rc;

	if (r == NULL || name == NULL || cb == NULL || port == 0 ||
	    port > 65535)
		return ERR_INPUT;
	if (try_numeric(r, name, port, cb, ctx))
		return 0;
	if (!to_ascii(name, alabels, sizeof(alabels)))
		return ERR_INPUT;
	name = alabels;
	if (!is_hostname(name))
		return ERR_INPUT;
	j = job_new(r, name, port, cb, ctx);
	if (mx) {
		rc = query_start(j, Q_MX, 0, name);
	} else {
		(void)str_copy(j->mx[0].name, sizeof(j->mx[0].name), name);
		j->n_mx = 1;
		rc = query_start(j, Q_A, 0, name);
		if (rc == 0)
			rc = query_start(j, Q_AAAA, 0, name);
	}
	if (rc != 0)
		job_finish(j, ERR_TEMP, "resolver error");
	return 0;
}

int
dns_resolve_mx(struct dns_resolver *r, const char *domain, unsigned port,
    dns_cb cb, void *ctx)
{
	return resolve(r, domain, port, true, cb, ctx);
}

int
dns_resolve_host(struct dns_resolver *r, const char *host, unsigned port,
    dns_cb cb, void *ctx)
{
	return resolve(r, host, port, false, cb, ctx);
}
