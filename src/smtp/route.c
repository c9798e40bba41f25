/* SPDX-License-Identifier: MIT */
/* The outbound queue's pure parts: routes, back-off, status codes, the
 * grouping of due rows into client jobs and the in-flight row set. */
#include <string.h>
#include <strings.h>

#include "lib/mem.h"
#include "lib/str.h"
#include "smtp/queue_int.h"

#include "lib/banned.h"

static int
parse_port(const char *s, unsigned *out)
{
	uint64_t v;

	if (num_parse_u64(s, 1, 65535, &v) != 0)
		return ERR_INPUT;
	*out = (unsigned)v;
	return 0;
}

int
queue_route_parse(const char *spec, unsigned default_port,
    struct queue_route *out)
{
	const char *close, *colon;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->port = default_port;
	if (spec == NULL || spec[0] == '\0')
		return ERR_INPUT;
	if (spec[0] == '[') {
		close = strchr(spec, ']');
		if (close == NULL)
			return ERR_INPUT;
		n = (size_t)(close - spec - 1);
		if (n == 0 || n >= sizeof(out->host))
			return ERR_INPUT;
		memcpy(out->host, spec + 1, n);
		out->host[n] = '\0';
		out->literal = true;
		if (close[1] == '\0')
			return 0;
		if (close[1] != ':')
			return ERR_INPUT;
		return parse_port(close + 2, &out->port);
	}
	colon = strchr(spec, ':');
	if (colon == NULL || strchr(colon + 1, ':') != NULL) {
		/* A name, or an IPv6 address without brackets (and so
		 * without a port). */
		return str_copy(out->host, sizeof(out->host), spec) ? 0
		                                                    : ERR_INPUT;
	}
	n = (size_t)(colon - spec);
	if (n == 0 || n >= sizeof(out->host))
		return ERR_INPUT;
	memcpy(out->host, spec, n);
	out->host[n] = '\0';
	return parse_port(colon + 1, &out->port);
}

bool
queue_domain_literal(const char *domain, unsigned port, struct queue_route *out)
{
	const char *p = domain + 1;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (domain[0] != '[')
		return false;
	if (strncasecmp(p, "IPv6:", 5) == 0)
		p += 5;
	n = strlen(p);
	if (n < 2 || p[n - 1] != ']' || n - 1 >= sizeof(out->host))
		return false;
	memcpy(out->host, p, n - 1);
	out->host[n - 1] = '\0';
	if (strchr(out->host, ']') != NULL || strchr(out->host, '[') != NULL)
		return false;
	out->port = port;
	out->literal = true;
	return true;
}

const char *
queue_route_find(const struct config *cfg, const char *domain)
{
	size_t i, dlen = strlen(domain), rlen, best_len = 0;
	const char *best = NULL;

	for (i = 0; i < cfg->n_routes; i++) {
		const char *rd = cfg->routes[i].domain;

		if (rd[0] != '.' && strcasecmp(rd, domain) == 0)
			return cfg->routes[i].host;
	}
	for (i = 0; i < cfg->n_routes; i++) {
		const char *rd = cfg->routes[i].domain;

		rlen = strlen(rd);
		/* ".example.org" matches a.example.org, not example.org */
		if (rd[0] == '.' && dlen > rlen &&
		    strcasecmp(domain + dlen - rlen, rd) == 0 &&
		    rlen > best_len) {
			best = cfg->routes[i].host;
			best_len = rlen;
		}
	}
	if (best != NULL)
		return best;
	return cfg->outbound_smarthost[0] != '\0' ? cfg->outbound_smarthost
	                                          : NULL;
}

uint64_t
queue_backoff(unsigned retry_min, unsigned retry_max, unsigned attempts)
{
	uint64_t wait = retry_min;

	if (retry_min == 0)
		wait = 1;
	while (attempts-- > 0 && wait < retry_max)
		wait *= 2;
	return wait > retry_max && retry_max > 0 ? retry_max : wait;
}

static bool
digits(const char **pp, unsigned lo, unsigned hi)
{
	const char *p = *pp;
	unsigned n = 0;

	while (*p >= '0' && *p <= '9' && n <= hi) {
		p++;
		n++;
	}
	if (n < lo || n > hi)
		return false;
	*pp = p;
	return true;
}

/* An enhanced status of class cls at the start of p, followed by a space
 * or the end: copied to out (16 bytes). */
static bool
enhanced_at(const char *p, char cls, char *out)
{
	const char *start = p;

	if (*p != cls || p[1] != '.')
		return false;
	p += 2;
	if (!digits(&p, 1, 3) || *p != '.')
		return false;
	p++;
	if (!digits(&p, 1, 3) || (*p != ' ' && *p != '\0') ||
	    (size_t)(p - start) >= 16)
		return false;
	memcpy(out, start, (size_t)(p - start));
	out[p - start] = '\0';
	return true;
}

void
queue_status(enum smtp_rcpt_status st, int code, const char *reply, char *out)
{
	char cls = st == SMTP_RCPT_OK ? '2' : st == SMTP_RCPT_PERM ? '5' : '4';

	if (st == SMTP_RCPT_OK) {
		(void)str_copy(out, 16, "2.0.0");
		return;
	}
	if (reply != NULL) {
		/* "550 5.1.1 text" or "550-5.1.1 text" (RFC 2034 §4). */
		if (code != 0 && strlen(reply) > 4 &&
		    (reply[3] == ' ' || reply[3] == '-') &&
		    enhanced_at(reply + 4, cls, out))
			return;
		/* The client's own verdicts without a reply: "5.3.4 message
		 * too big for the remote server ...". */
		if (code == 0 && enhanced_at(reply, cls, out))
			return;
	}
	if (st == SMTP_RCPT_PERM)
		(void)str_copy(out, 16, "5.0.0");
	else
		(void)str_copy(out, 16, code == 0 ? "4.4.1" : "4.0.0");
}

/* Does NOTIFY ask for this report? No NOTIFY means FAILURE,DELAY (RFC
 * 3461 §4.1); NEVER excludes everything. */
static bool
wants(unsigned notify, unsigned bit)
{
	if (notify & STORE_NOTIFY_NEVER)
		return false;
	if (notify == 0)
		return bit == STORE_NOTIFY_FAILURE || bit == STORE_NOTIFY_DELAY;
	return (notify & bit) != 0;
}

void
queue_decide(const struct config *c, enum smtp_rcpt_status st, int code,
    const char *reply, const char *fixed_status, unsigned notify,
    bool null_sender, bool remote_dsn, bool stopping,
    const struct queue_row *row, int64_t now, struct queue_decision *out)
{
	int64_t age = now - row->created;

	memset(out, 0, sizeof(*out));
	if (st == SMTP_RCPT_PENDING)
		st = SMTP_RCPT_TEMP;
	if (fixed_status != NULL && fixed_status[0] != '\0' &&
	    st != SMTP_RCPT_OK)
		(void)str_copy(out->status, sizeof(out->status), fixed_status);
	else
		queue_status(st, code, reply, out->status);
	if (st == SMTP_RCPT_OK) {
		/* A remote without DSN cannot report SUCCESS: we do. */
		out->verdict = wants(notify, STORE_NOTIFY_SUCCESS) &&
		        !remote_dsn && !null_sender
		    ? QUEUE_RELAYED
		    : QUEUE_DONE;
		return;
	}
	if (st == SMTP_RCPT_TEMP && stopping) {
		out->verdict = QUEUE_LEAVE;
		return;
	}
	if (st == SMTP_RCPT_TEMP &&
	    (age < 0 || (uint64_t)age < c->queue_lifetime_seconds)) {
		out->verdict = QUEUE_DEFER;
		out->next_attempt = now +
		    (int64_t)queue_backoff(c->queue_retry_min_seconds,
		        c->queue_retry_max_seconds, row->attempts);
		out->delay_notice = c->queue_delay_notice_seconds > 0 &&
		    !row->delay_notified && !null_sender && age >= 0 &&
		    (uint64_t)age >= c->queue_delay_notice_seconds &&
		    wants(notify, STORE_NOTIFY_DELAY);
		return;
	}
	if (st == SMTP_RCPT_TEMP) {
		out->expired = true;
		(void)str_copy(out->status, sizeof(out->status), "4.4.7");
	}
	out->verdict = null_sender || !wants(notify, STORE_NOTIFY_FAILURE)
	    ? QUEUE_FAIL_SILENT
	    : QUEUE_FAIL_REPORT;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static struct queue_job *
job_new(const char *domain)
{
	struct queue_job *j = xcalloc(1, sizeof(*j));

	j->domain = xstrdup(domain);
	return j;
}

bool
queue_group_add(struct queue_job **list, size_t *n_jobs, size_t max_jobs,
    const struct store_queue_entry *e)
{
	struct queue_job *j = *list, **tail = list;
	struct smtp_client_msg *m = NULL;
	struct smtp_client_rcpt *r;
	struct queue_row *row;
	size_t i;

	while (j != NULL && j->next != NULL)
		j = j->next;
	if (j != NULL)
		tail = &j->next;
	if (j != NULL && strcmp(j->domain, e->domain) == 0 && j->n_msgs > 0) {
		m = &j->msgs[j->n_msgs - 1];
		if (m->message_id != e->message_id ||
		    m->n_rcpts >= QUEUE_RCPTS_PER_TXN)
			m = NULL;
		if (m == NULL && j->n_msgs >= QUEUE_MSGS_PER_JOB)
			j = NULL; /* full: a new job for the same domain */
	} else {
		j = NULL;
	}
	if (j == NULL) {
		if (*n_jobs >= max_jobs)
			return false;
		j = job_new(e->domain);
		*tail = j;
		(*n_jobs)++;
	}
	if (m == NULL) {
		if (j->n_msgs == j->cap_msgs) {
			j->cap_msgs = j->cap_msgs ? j->cap_msgs * 2 : 4;
			j->msgs =
			    xrealloc(j->msgs, j->cap_msgs * sizeof(*j->msgs));
			j->rows =
			    xrealloc(j->rows, j->cap_msgs * sizeof(*j->rows));
			j->user_ids = xrealloc(j->user_ids,
			    j->cap_msgs * sizeof(*j->user_ids));
		}
		i = j->n_msgs++;
		m = &j->msgs[i];
		memset(m, 0, sizeof(*m));
		m->message_id = e->message_id;
		m->sender = xstrdup(e->sender);
		m->envid = dup_or_null(e->envid);
		m->ret = e->ret;
		m->smtputf8 = e->smtputf8;
		m->body_8bit = e->body_8bit;
		m->size = e->size;
		m->rcpts = xcalloc(QUEUE_RCPTS_PER_TXN, sizeof(*m->rcpts));
		j->rows[i] = xcalloc(QUEUE_RCPTS_PER_TXN, sizeof(**j->rows));
		j->user_ids[i] = e->user_id;
	}
	r = &m->rcpts[m->n_rcpts];
	row = &j->rows[j->n_msgs - 1][m->n_rcpts];
	m->n_rcpts++;
	j->n_rcpts++;
	r->queue_id = e->id;
	r->addr = xstrdup(e->rcpt);
	r->orcpt = dup_or_null(e->orcpt);
	r->notify = e->notify;
	r->status = SMTP_RCPT_PENDING;
	row->attempts = e->attempts;
	row->created = e->created;
	row->delay_notified = e->delay_notified;
	return true;
}

void
queue_job_free(struct queue_job **jp)
{
	struct queue_job *j = *jp;
	size_t i, k;

	if (j == NULL)
		return;
	for (i = 0; i < j->n_msgs; i++) {
		struct smtp_client_msg *m = &j->msgs[i];

		for (k = 0; k < m->n_rcpts; k++) {
			xfree(&m->rcpts[k].addr);
			xfree(&m->rcpts[k].orcpt);
		}
		xfree(&m->rcpts);
		xfree(&m->sender);
		xfree(&m->envid);
		xfree(&j->rows[i]);
	}
	xfree(&j->msgs);
	xfree(&j->rows);
	xfree(&j->user_ids);
	xfree(&j->domain);
	xfree(jp);
}

/* --- the in-flight set: open addressing, linear probing ------------ */

#define SLOT_EMPTY 0
#define SLOT_GONE  (-1)

static size_t
slot_of(int64_t id, size_t cap)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (cap - 1);
}

void
queue_idset_init(struct queue_idset *s)
{
	memset(s, 0, sizeof(*s));
}

void
queue_idset_clear(struct queue_idset *s)
{
	xfree(&s->slots);
	memset(s, 0, sizeof(*s));
}

bool
queue_idset_has(const struct queue_idset *s, int64_t id)
{
	size_t i, n;

	if (s->cap == 0)
		return false;
	for (i = slot_of(id, s->cap), n = 0; n < s->cap;
	     i = (i + 1) & (s->cap - 1), n++) {
		if (s->slots[i] == id)
			return true;
		if (s->slots[i] == SLOT_EMPTY)
			return false;
	}
	return false;
}

static void
rehash(struct queue_idset *s, size_t cap)
{
	int64_t *old = s->slots;
	size_t old_cap = s->cap, i, k;

	s->slots = xcalloc(cap, sizeof(*s->slots));
	s->cap = cap;
	s->used = s->live = 0;
	for (i = 0; i < old_cap; i++) {
		if (old[i] == SLOT_EMPTY || old[i] == SLOT_GONE)
			continue;
		for (k = slot_of(old[i], cap); s->slots[k] != SLOT_EMPTY;
		     k = (k + 1) & (cap - 1))
			;
		s->slots[k] = old[i];
		s->used++;
		s->live++;
	}
	xfree(&old);
}

void
queue_idset_add(struct queue_idset *s, int64_t id)
{
	size_t i;

	if (id <= 0 || queue_idset_has(s, id))
		return;
	if ((s->used + 1) * 2 > s->cap)
		rehash(s,
		    s->cap == 0                      ? 64
		        : (s->live + 1) * 4 > s->cap ? s->cap * 2
		                                     : s->cap);
	for (i = slot_of(id, s->cap);
	     s->slots[i] != SLOT_EMPTY && s->slots[i] != SLOT_GONE;
	     i = (i + 1) & (s->cap - 1))
		;
	if (s->slots[i] == SLOT_EMPTY)
		s->used++;
	s->slots[i] = id;
	s->live++;
}

void
queue_idset_del(struct queue_idset *s, int64_t id)
{
	size_t i, n;

	if (s->cap == 0)
		return;
	for (i = slot_of(id, s->cap), n = 0; n < s->cap;
	     i = (i + 1) & (s->cap - 1), n++) {
		if (s->slots[i] == id) {
			s->slots[i] = SLOT_GONE;
			s->live--;
			return;
		}
		if (s->slots[i] == SLOT_EMPTY)
			return;
	}
}
