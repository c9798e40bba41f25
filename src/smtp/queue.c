/* SPDX-License-Identifier: MIT */
/* The outbound queue scheduler: due rows from the store, grouped by
 * domain into client jobs, routed (routes, smarthost, MX), delivered, and
 * every outcome recorded: done, deferred with back-off, or failed with a
 * bounce committed in the transaction that deletes the rows it reports.
 *
 * A row is in flight from the scan that picks it until the store has
 * recorded its outcome (the store's update is asynchronous): the next
 * scan, a second later, must not start it again meanwhile. */
#include <string.h>

#include <sodium.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "net/tls.h"
#include "smtp/queue.h"
#include "smtp/queue_int.h"

#include "lib/banned.h"

/* The scan timer's period: `despatch queue retry|flush|release` from
 * another process are seen within this long. */
#define QUEUE_TICK_MS 1000
/* Rows whose outcome the store failed to record (disk full ...) stay
 * out of the scans this long: their delivered state is unknown to the
 * store, and retrying at once would deliver them again every second. */
#define QUEUE_COOLDOWN_SECONDS 60

struct cooldown {
	int64_t id, until;
};

enum job_state {
	JOB_ROUTE,  /* waiting for DNS */
	JOB_CLIENT, /* the client is delivering */
	JOB_RECORD, /* outcomes handed to the store */
};

struct smtp_queue {
	uv_loop_t *loop;
	struct config *cfg;
	struct store *st;
	struct dns_resolver *dns;
	struct tls_ctx *tls;
	uv_timer_t timer;
	bool timer_closing, timer_closed;
	struct queue_job *jobs; /* running */
	size_t n_jobs;
	unsigned n_ops; /* store commits not tied to a job */
	struct queue_idset inflight;
	struct bounce_wait *waits; /* bounces waiting for other jobs */
	struct cooldown *cool;     /* rows kept in flight for a while */
	size_t n_cool, cap_cool;
	bool stopping;
	void (*done)(void *ctx);
	void *done_ctx;
};

static const struct log_ctx qlog = { "queue", 0 };

/* The failed rows of one message gathered from every job that carried
 * some of its rows, so that the sender gets one bounce per message: it
 * is sent once no running job has rows of the message left. Each row
 * holds its job (ops), whose strings the report points at. */
struct bounce_wait {
	struct bounce_wait *next;
	int64_t message_id;
	const struct smtp_client_msg *m; /* of the first job: sender ... */
	int64_t arrival, now;
	struct dsn_rcpt *rcpts;
	char (*status)[16];
	int64_t *ids;
	struct store_queue_update *defer; /* if the bounce fails */
	struct queue_job **jobs;
	size_t n, cap;
};

/* One report commit in progress, with what to do if it fails. */
struct report_op {
	struct smtp_queue *q;
	struct queue_job *j;    /* NULL: smtp_queue_notify_delivered */
	struct bounce_wait *bw; /* a bounce: its rows' jobs are held */
	enum dsn_action action;
	int64_t message_id;
	/* On failure: these updates instead (a bounce: the rows are
	 * deferred so that it is tried again; a relayed report: the rows
	 * are done anyway, the mail went out). */
	struct store_queue_update *fallback;
	size_t n_fallback;
};

struct update_op {
	struct smtp_queue *q;
	struct queue_job *j;
	size_t n;
};

static void scan(struct smtp_queue *q);

static void
timer_closed(uv_handle_t *h)
{
	struct smtp_queue *q = h->data;
	void (*done)(void *) = q->done;

	q->timer_closed = true;
	q->done = NULL;
	if (done != NULL)
		done(q->done_ctx); /* may free q */
}

/* Once stopping and idle: the timer closes, and its close callback says
 * done. So done never runs inside a store or client callback (serve
 * closes the store from it). */
static void
maybe_done(struct smtp_queue *q)
{
	if (!q->stopping || q->n_jobs > 0 || q->n_ops > 0 || q->timer_closing)
		return;
	q->timer_closing = true;
	uv_close((uv_handle_t *)&q->timer, timer_closed);
}

static void
job_unlink(struct smtp_queue *q, struct queue_job *j)
{
	struct queue_job **pp;

	for (pp = &q->jobs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			j->next = NULL;
			q->n_jobs--;
			return;
		}
	}
}

/* The job's rows leave the in-flight set once every store operation
 * about them has called back; if one failed, only after the cooldown. */
static void
job_maybe_finish(struct queue_job *j)
{
	struct smtp_queue *q = j->q;
	size_t i, k;

	if (j->state != JOB_RECORD || j->ops > 0)
		return;
	for (i = 0; i < j->n_msgs; i++) {
		for (k = 0; k < j->msgs[i].n_rcpts; k++) {
			int64_t id = j->msgs[i].rcpts[k].queue_id;

			if (!j->store_failed) {
				queue_idset_del(&q->inflight, id);
				continue;
			}
			if (q->n_cool == q->cap_cool) {
				q->cap_cool =
				    q->cap_cool ? q->cap_cool * 2 : 64;
				q->cool = xrealloc(q->cool,
				    q->cap_cool * sizeof(*q->cool));
			}
			q->cool[q->n_cool++] = (struct cooldown){ .id = id,
				.until = clock_now() + QUEUE_COOLDOWN_SECONDS };
		}
	}
	job_unlink(q, j);
	queue_job_free(&j);
	if (q->stopping)
		maybe_done(q);
	else
		smtp_queue_kick(q); /* a slot is free */
}

/* ---- reports ---------------------------------------------------------- */

static int
reader_read(void *ctx, void *p, size_t n, size_t *n_out, struct err *err)
{
	return store_reader_read(ctx, p, n, n_out, err);
}

static int
msg_write(void *ctx, const void *p, size_t n, struct err *err)
{
	return store_msg_write(ctx, p, n, err);
}

static bool
has_8bit(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

static void report_done(void *ctx, const struct store_commit_result *res);

/* Writes report r about message_id and commits it to r->sender: local
 * delivery to INBOX, or one queue row with the null sender when the
 * sender is remote; done and notified rows change in the same
 * transaction. 0: op is owned by the commit (report_done runs).
 * ERR_NOTFOUND: the sender is a local address nobody has (no report
 * possible); ERR_TEMP and others: try later. */
static int
report_commit(struct smtp_queue *q, const struct dsn_report *r,
    int64_t message_id, uint64_t size, const int64_t *done, size_t n_done,
    const int64_t *notified, size_t n_notified, struct report_op *op,
    struct err *err)
{
	int64_t uids[STORE_TARGETS_MAX];
	struct store_delivery d[STORE_TARGETS_MAX];
	struct store_outbound rcpt = { 0 };
	struct store_envelope env = { 0 };
	enum store_addr_status ast;
	struct store_reader *rd = NULL;
	struct store_msg *m = NULL;
	static const char rp[] = "Return-Path: <>\r\n";
	size_t n_uids = 0, i;
	int rc;

	rc = store_addr_resolve(q->st, slice_cstr(r->sender), &ast, uids,
	    STORE_TARGETS_MAX, &n_uids, err);
	if (rc != 0)
		return rc;
	if (ast == STORE_ADDR_UNKNOWN_USER ||
	    (ast == STORE_ADDR_LOCAL && n_uids == 0))
		return err_set(err, ERR_NOTFOUND, "sender %s: no such user",
		    r->sender);
	if ((rc = store_msg_new(q->st, &m, err)) != 0)
		return rc;
	/* Our trace header, as ingest writes one: a relay drops it. */
	if ((rc = store_msg_write(m, rp, sizeof(rp) - 1, err)) != 0)
		goto fail;
	rc = store_reader_open_message(q->st, message_id, &rd, err);
	if (rc != 0 && rc != ERR_NOTFOUND)
		goto fail;
	/* A message gone meanwhile (removed by an admin) is reported
	 * without its headers. */
	rc = dsn_write(r, size, rd != NULL ? reader_read : NULL, rd, msg_write,
	    m, err);
	store_reader_close(&rd);
	if (rc != 0 || (rc = store_msg_finish(m, err)) != 0)
		goto fail;
	for (i = 0; i < n_uids && ast == STORE_ADDR_LOCAL; i++)
		d[i] = (struct store_delivery){ .user_id = uids[i],
			.mailbox = "INBOX" };
	env.sender = "";
	env.ret = STORE_RET_DEFAULT;
	env.smtputf8 = has_8bit(r->sender);
	env.body_8bit = r->original_8bit || env.smtputf8;
	env.now = r->now;
	if (ast == STORE_ADDR_FOREIGN) {
		rcpt.rcpt = r->sender;
		env.rcpts = &rcpt;
		env.n_rcpts = 1;
	}
	env.done_ids = done;
	env.n_done = n_done;
	env.notified_ids = notified;
	env.n_notified = n_notified;
	rc = store_msg_commit_out(&m, d, ast == STORE_ADDR_LOCAL ? n_uids : 0,
	    &env, report_done, op);
	if (rc != 0) {
		err_set(err, rc, "commit refused");
		goto fail;
	}
	return 0;
fail:
	store_msg_free(&m);
	return rc;
}

static void
update_done(void *ctx, const struct store_op_result *res)
{
	struct update_op *op = ctx;
	struct smtp_queue *q = op->q;

	if (res->status != 0) {
		log_warn(&qlog,
		    "event=error op=queue_update rows=%zu err=\"%s\"", op->n,
		    res->err.msg);
		if (op->j != NULL)
			op->j->store_failed = true;
	}
	if (op->j != NULL) {
		op->j->ops--;
		job_maybe_finish(op->j);
	} else {
		q->n_ops--;
		maybe_done(q);
	}
	xfree(&op);
}

/* Hands updates to the store; the job (if any) waits for the call
 * back. */
static void
apply_updates(struct smtp_queue *q, struct queue_job *j,
    const struct store_queue_update *u, size_t n)
{
	struct update_op *op;
	int rc;

	if (n == 0)
		return;
	op = xcalloc(1, sizeof(*op));
	op->q = q;
	op->j = j;
	op->n = n;
	if (j != NULL)
		j->ops++;
	else
		q->n_ops++;
	rc = store_queue_update(q->st, u, n, update_done, op);
	if (rc != 0) {
		log_warn(&qlog, "event=error op=queue_update rows=%zu err=%s",
		    n, err_name(rc));
		if (j != NULL) {
			j->ops--;
			j->store_failed = true;
		} else
			q->n_ops--;
		xfree(&op);
	}
}

enum bounce_end { BOUNCE_SENT, BOUNCE_DEFER, BOUNCE_DROP };

static void bounce_release(struct smtp_queue *q, struct bounce_wait *bw,
    enum bounce_end how, int64_t now);

static void
report_done(void *ctx, const struct store_commit_result *res)
{
	struct report_op *op = ctx;
	struct smtp_queue *q = op->q;

	if (op->bw != NULL) {
		if (res->status != 0)
			log_warn(&qlog,
			    "event=error op=bounce message=%lld err=%s "
			    "msg=\"%s\"",
			    (long long)op->message_id, err_name(res->status),
			    res->err.msg);
		else
			log_info(&qlog,
			    "event=report kind=bounce message=%lld rcpts=%zu "
			    "report=%lld",
			    (long long)op->message_id, op->bw->n,
			    (long long)res->message_id);
		bounce_release(q, op->bw,
		    res->status == 0 ? BOUNCE_SENT : BOUNCE_DEFER, 0);
		xfree(&op);
		return;
	}
	if (res->status != 0) {
		log_warn(&qlog,
		    "event=error op=report message=%lld err=%s msg=\"%s\"",
		    (long long)op->message_id, err_name(res->status),
		    res->err.msg);
		apply_updates(q, op->j, op->fallback, op->n_fallback);
	} else {
		log_info(&qlog, "event=report kind=%s message=%lld report=%lld",
		    op->action == DSN_FAILED          ? "bounce"
		        : op->action == DSN_DELAYED   ? "delay"
		        : op->action == DSN_DELIVERED ? "delivered"
		                                      : "relayed",
		    (long long)op->message_id, (long long)res->message_id);
	}
	if (op->j != NULL) {
		op->j->ops--;
		job_maybe_finish(op->j);
	} else {
		q->n_ops--;
		maybe_done(q);
	}
	xfree(&op->fallback);
	xfree(&op);
}

static void
report_id(struct smtp_queue *q, char *out, size_t size)
{
	unsigned char rnd[12];
	char hex[25];

	randombytes_buf(rnd, sizeof(rnd));
	str_hex(hex, rnd, sizeof(rnd));
	(void)str_fmt(out, size, "%s@%s", hex, q->cfg->hostname);
}

/* ---- recording outcomes ----------------------------------------------- */

/* What one message's recipients came to, gathered before any report. */
struct msg_outcome {
	struct dsn_rcpt *bounce; /* failed, wanting a report */
	int64_t *bounce_ids;
	size_t n_bounce;
	struct dsn_rcpt *relayed;
	int64_t *relayed_ids;
	size_t n_relayed;
	struct dsn_rcpt *delayed;
	int64_t *delayed_ids;
	size_t n_delayed;
	char (*status)[16];               /* per rcpt */
	struct store_queue_update *defer; /* bounce fallback, per bounce */
};

static void
log_outcome(const char *event, const struct queue_job *j,
    const struct smtp_client_msg *m, const struct smtp_client_rcpt *r,
    const char *status, const char *extra)
{
	char rcpt[200], reply[300], relay[280], dom[280];

	log_info(&qlog,
	    "event=%s queue_id=%lld message=%lld domain=%s rcpt=\"%s\" "
	    "relay=%s status=%s reply=\"%s\"%s",
	    event, (long long)r->queue_id, (long long)m->message_id,
	    log_safe(dom, sizeof(dom), slice_cstr(j->domain)),
	    log_safe(rcpt, sizeof(rcpt), slice_cstr(r->addr)),
	    m->remote[0] != '\0'
	        ? log_safe(relay, sizeof(relay), slice_cstr(m->remote))
	        : "none",
	    status, log_safe(reply, sizeof(reply), slice_cstr(r->reply)),
	    extra);
}

/* Commits the report of one kind for one message; on a synchronous
 * failure applies the fallback at once. */
static void
send_report(struct smtp_queue *q, struct queue_job *j, size_t mi,
    enum dsn_action action, const struct dsn_rcpt *rcpts, const int64_t *ids,
    size_t n, struct store_queue_update *fallback, int64_t arrival, int64_t now)
{
	struct smtp_client_msg *m = &j->msgs[mi];
	struct report_op *op = xcalloc(1, sizeof(*op));
	struct dsn_report r = { 0 };
	struct err err = { 0 };
	char id[320];
	int rc;

	report_id(q, id, sizeof(id));
	r.reporting_mta = q->cfg->hostname;
	r.envid = m->envid;
	r.sender = m->sender;
	r.arrival = arrival;
	r.now = now;
	r.ret = action == DSN_FAILED ? m->ret : STORE_RET_HDRS;
	r.rcpts = rcpts;
	r.n_rcpts = n;
	r.message_id = id;
	r.original_8bit = m->body_8bit || m->smtputf8;
	op->q = q;
	op->j = j;
	op->action = action;
	op->message_id = m->message_id;
	op->fallback = fallback;
	op->n_fallback = fallback != NULL ? n : 0;
	j->ops++;
	rc = report_commit(q, &r, m->message_id, m->size,
	    action == DSN_DELAYED ? NULL : ids, action == DSN_DELAYED ? 0 : n,
	    action == DSN_DELAYED ? ids : NULL, action == DSN_DELAYED ? n : 0,
	    op, &err);
	if (rc == 0)
		return;
	j->ops--;
	if (rc == ERR_NOTFOUND && action != DSN_DELAYED) {
		/* Nobody to tell: the rows are done. */
		struct store_queue_update *u = xcalloc(n, sizeof(*u));
		size_t i;

		log_warn(&qlog,
		    "event=report-dropped message=%lld reason=\"%s\"",
		    (long long)m->message_id, err.msg);
		for (i = 0; i < n; i++)
			u[i] = (struct store_queue_update){ .id = ids[i],
				.done = true,
				.last_attempt = now };
		apply_updates(q, j, u, n);
		xfree(&u);
	} else {
		log_warn(&qlog,
		    "event=error op=report message=%lld err=%s "
		    "msg=\"%s\"",
		    (long long)m->message_id, err_name(rc), err.msg);
		apply_updates(q, j, op->fallback, op->n_fallback);
	}
	xfree(&op->fallback);
	xfree(&op);
}

/* ---- bounces, one per message ------------------------------------------- */

/* Ends a bounce's wait: on failure its rows are deferred (reported on a
 * later try) or, with nobody to tell, done; then their jobs are let go. */
static void
bounce_release(struct smtp_queue *q, struct bounce_wait *bw,
    enum bounce_end how, int64_t now)
{
	struct store_queue_update u;
	size_t k;

	for (k = 0; k < bw->n; k++) {
		if (how == BOUNCE_DEFER) {
			apply_updates(q, bw->jobs[k], &bw->defer[k], 1);
		} else if (how == BOUNCE_DROP) {
			u = (struct store_queue_update){ .id = bw->ids[k],
				.done = true,
				.last_attempt = now };
			apply_updates(q, bw->jobs[k], &u, 1);
		}
	}
	/* A job's last reference is its last row here: freed then. */
	for (k = 0; k < bw->n; k++) {
		bw->jobs[k]->ops--;
		job_maybe_finish(bw->jobs[k]);
	}
	xfree(&bw->rcpts);
	xfree(&bw->status);
	xfree(&bw->ids);
	xfree(&bw->defer);
	xfree(&bw->jobs);
	xfree(&bw);
}

static void
bounce_send(struct smtp_queue *q, struct bounce_wait *bw)
{
	const struct smtp_client_msg *m = bw->m;
	struct report_op *op = xcalloc(1, sizeof(*op));
	struct dsn_report r = { 0 };
	struct err err = { 0 };
	char id[320];
	size_t k;
	int rc;

	for (k = 0; k < bw->n; k++)
		bw->rcpts[k].status = bw->status[k];
	report_id(q, id, sizeof(id));
	r.reporting_mta = q->cfg->hostname;
	r.envid = m->envid;
	r.sender = m->sender;
	r.arrival = bw->arrival;
	r.now = bw->now;
	r.ret = m->ret;
	r.rcpts = bw->rcpts;
	r.n_rcpts = bw->n;
	r.message_id = id;
	r.original_8bit = m->body_8bit || m->smtputf8;
	op->q = q;
	op->bw = bw;
	op->action = DSN_FAILED;
	op->message_id = bw->message_id;
	rc = report_commit(q, &r, bw->message_id, m->size, bw->ids, bw->n, NULL,
	    0, op, &err);
	if (rc == 0)
		return;
	xfree(&op);
	if (rc == ERR_NOTFOUND) {
		log_warn(&qlog,
		    "event=report-dropped message=%lld reason=\"%s\"",
		    (long long)bw->message_id, err.msg);
		bounce_release(q, bw, BOUNCE_DROP, bw->now);
	} else {
		log_warn(&qlog,
		    "event=error op=bounce message=%lld err=%s msg=\"%s\"",
		    (long long)bw->message_id, err_name(rc), err.msg);
		bounce_release(q, bw, BOUNCE_DEFER, bw->now);
	}
}

/* Adds one job's failed rows of message mi to that message's bounce. */
static void
bounce_add(struct smtp_queue *q, struct queue_job *j, size_t mi,
    const struct dsn_rcpt *rc, const int64_t *ids,
    const struct store_queue_update *defer, size_t n, int64_t arrival,
    int64_t now)
{
	const struct smtp_client_msg *m = &j->msgs[mi];
	struct bounce_wait *bw;
	size_t k;

	for (bw = q->waits; bw != NULL; bw = bw->next)
		if (bw->message_id == m->message_id)
			break;
	if (bw == NULL) {
		bw = xcalloc(1, sizeof(*bw));
		bw->message_id = m->message_id;
		bw->m = m;
		bw->arrival = arrival;
		bw->next = q->waits;
		q->waits = bw;
	}
	if (bw->n + n > bw->cap) {
		bw->cap = (bw->n + n) * 2;
		bw->rcpts = xrealloc(bw->rcpts, bw->cap * sizeof(*bw->rcpts));
		bw->status =
		    xrealloc(bw->status, bw->cap * sizeof(*bw->status));
		bw->ids = xrealloc(bw->ids, bw->cap * sizeof(*bw->ids));
		bw->defer = xrealloc(bw->defer, bw->cap * sizeof(*bw->defer));
		bw->jobs = xrealloc(bw->jobs, bw->cap * sizeof(*bw->jobs));
	}
	for (k = 0; k < n; k++, bw->n++) {
		bw->rcpts[bw->n] = rc[k];
		(void)str_copy(bw->status[bw->n], sizeof(bw->status[bw->n]),
		    rc[k].status);
		bw->ids[bw->n] = ids[k];
		bw->defer[bw->n] = defer[k];
		bw->jobs[bw->n] = j;
		j->ops++;
	}
	if (arrival < bw->arrival)
		bw->arrival = arrival;
	bw->now = now;
}

/* Does a job that has not recorded its outcomes carry rows of msg? */
static bool
running_has(const struct smtp_queue *q, int64_t message_id)
{
	const struct queue_job *j;
	size_t i;

	for (j = q->jobs; j != NULL; j = j->next) {
		if (j->state == JOB_RECORD)
			continue;
		for (i = 0; i < j->n_msgs; i++)
			if (j->msgs[i].message_id == message_id)
				return true;
	}
	return false;
}

/* Sends every bounce no running job can add to any more. */
static void
bounce_flush(struct smtp_queue *q)
{
	struct bounce_wait **pp = &q->waits, *bw;

	while ((bw = *pp) != NULL) {
		if (running_has(q, bw->message_id)) {
			pp = &bw->next;
			continue;
		}
		*pp = bw->next;
		bw->next = NULL;
		bounce_send(q, bw);
		pp = &q->waits; /* sending may have changed the list */
	}
}

static void
record_msg(struct smtp_queue *q, struct queue_job *j, size_t mi, int64_t now,
    struct store_queue_update *ups, size_t *n_ups)
{
	struct smtp_client_msg *m = &j->msgs[mi];
	const struct config *c = q->cfg;
	size_t n = m->n_rcpts, k;
	struct dsn_rcpt *bounce = xcalloc(n, sizeof(*bounce));
	struct dsn_rcpt *relayed = xcalloc(n, sizeof(*relayed));
	struct dsn_rcpt *delayed = xcalloc(n, sizeof(*delayed));
	int64_t *bounce_ids = xcalloc(n, sizeof(int64_t));
	int64_t *relayed_ids = xcalloc(n, sizeof(int64_t));
	int64_t *delayed_ids = xcalloc(n, sizeof(int64_t));
	struct store_queue_update *defer = xcalloc(n, sizeof(*defer));
	char(*status)[16] = xcalloc(n, sizeof(*status));
	size_t nb = 0, nr = 0, nd = 0;
	int64_t arrival = INT64_MAX;
	const char *remote = m->remote[0] != '\0' ? m->remote : NULL;
	bool null_sender = m->sender[0] == '\0';
	char extra[64];

	for (k = 0; k < n; k++) {
		struct smtp_client_rcpt *r = &m->rcpts[k];
		const struct queue_row *row = &j->rows[mi][k];
		struct queue_decision dc;
		const char *diag;

		if (row->created < arrival)
			arrival = row->created;
		if (r->status == SMTP_RCPT_PENDING && r->reply[0] == '\0')
			(void)str_copy(r->reply, sizeof(r->reply),
			    "not attempted");
		queue_decide(c, r->status, r->code, r->reply, j->fixed_status,
		    r->notify, null_sender, m->remote_dsn, q->stopping, row,
		    now, &dc);
		(void)str_copy(status[k], sizeof(status[k]), dc.status);
		diag = r->reply[0] != '\0' ? r->reply : NULL;
		switch (dc.verdict) {
		case QUEUE_DONE:
		case QUEUE_FAIL_SILENT:
			ups[(*n_ups)++] = (struct store_queue_update){
				.id = r->queue_id,
				.done = true,
				.last_attempt = now,
				.last_reply = r->reply,
			};
			if (dc.verdict == QUEUE_DONE)
				log_outcome("delivered", j, m, r, status[k],
				    "");
			else
				log_outcome("bounced", j, m, r, status[k],
				    dc.expired ? " reason=expired dsn=none"
				               : " dsn=none");
			break;
		case QUEUE_RELAYED:
			relayed_ids[nr] = r->queue_id;
			relayed[nr++] = (struct dsn_rcpt){
				.rcpt = r->addr,
				.orcpt = r->orcpt,
				.action = DSN_RELAYED,
				.status = status[k],
				.remote_mta = remote,
				.diagnostic = diag,
				.last_attempt = now,
			};
			log_outcome("delivered", j, m, r, status[k],
			    " dsn=relayed");
			break;
		case QUEUE_LEAVE:
			/* Aborted by shutdown: left as it was, tried again
			 * after the restart. */
			log_outcome("interrupted", j, m, r, status[k], "");
			break;
		case QUEUE_DEFER:
			ups[(*n_ups)++] = (struct store_queue_update){
				.id = r->queue_id,
				.last_attempt = now,
				.next_attempt = dc.next_attempt,
				.last_reply = r->reply,
			};
			(void)str_fmt(extra, sizeof(extra),
			    " attempts=%u next_attempt=%lld%s",
			    row->attempts + 1, (long long)dc.next_attempt,
			    dc.delay_notice ? " dsn=delay" : "");
			log_outcome("deferred", j, m, r, status[k], extra);
			if (!dc.delay_notice)
				break;
			delayed_ids[nd] = r->queue_id;
			delayed[nd++] = (struct dsn_rcpt){
				.rcpt = r->addr,
				.orcpt = r->orcpt,
				.action = DSN_DELAYED,
				.status = status[k],
				.remote_mta = r->code != 0 ? remote : NULL,
				.diagnostic = diag,
				.last_attempt = now,
				.retry_until = row->created +
				    (int64_t)c->queue_lifetime_seconds,
			};
			break;
		case QUEUE_FAIL_REPORT:
			/* If the report cannot be committed the row is
			 * deferred instead, and reported on a later try. */
			bounce_ids[nb] = r->queue_id;
			defer[nb] = (struct store_queue_update){
				.id = r->queue_id,
				.last_attempt = now,
				.next_attempt = now +
				    (int64_t)queue_backoff(
				        c->queue_retry_min_seconds,
				        c->queue_retry_max_seconds,
				        row->attempts),
				.last_reply = r->reply,
			};
			bounce[nb++] = (struct dsn_rcpt){
				.rcpt = r->addr,
				.orcpt = r->orcpt,
				.action = DSN_FAILED,
				.status = status[k],
				.remote_mta = r->code != 0 ? remote : NULL,
				.diagnostic = diag != NULL ? diag
				    : dc.expired ? "delivery time expired"
				                 : NULL,
				.last_attempt = now,
			};
			log_outcome("bounced", j, m, r, status[k],
			    dc.expired ? " reason=expired dsn=sent"
			               : " dsn=sent");
			break;
		}
	}
	if (arrival == INT64_MAX)
		arrival = 0;
	if (nb > 0)
		bounce_add(q, j, mi, bounce, bounce_ids, defer, nb, arrival,
		    now);
	if (nr > 0) {
		struct store_queue_update *u = xcalloc(nr, sizeof(*u));

		for (k = 0; k < nr; k++)
			u[k] =
			    (struct store_queue_update){ .id = relayed_ids[k],
				    .done = true,
				    .last_attempt = now };
		send_report(q, j, mi, DSN_RELAYED, relayed, relayed_ids, nr, u,
		    arrival, now);
	}
	if (nd > 0)
		send_report(q, j, mi, DSN_DELAYED, delayed, delayed_ids, nd,
		    NULL, arrival, now);
	xfree(&bounce);
	xfree(&relayed);
	xfree(&delayed);
	xfree(&bounce_ids);
	xfree(&relayed_ids);
	xfree(&delayed_ids);
	xfree(&defer);
	xfree(&status);
}

/* Every recipient of the job has an outcome (or none, when stopping):
 * record them all. The reports are written synchronously (they read the
 * original and stage the report before the commit is queued), so their
 * dsn_rcpt strings may point into the job. */
static void
record(struct queue_job *j)
{
	struct smtp_queue *q = j->q;
	int64_t now = clock_now();
	struct store_queue_update *ups =
	    xcalloc(j->n_rcpts ? j->n_rcpts : 1, sizeof(*ups));
	size_t n_ups = 0, i;

	j->state = JOB_RECORD;
	j->ops++; /* held while the operations are issued */
	for (i = 0; i < j->n_msgs; i++)
		record_msg(q, j, i, now, ups, &n_ups);
	apply_updates(q, j, ups, n_ups);
	xfree(&ups);
	bounce_flush(q);
	j->ops--;
	job_maybe_finish(j);
}

/* Every recipient of the job gets the same outcome (DNS, no client). */
static void
fail_all(struct queue_job *j, enum smtp_rcpt_status st, const char *status,
    const char *why)
{
	size_t i, k;
	char *p;

	(void)str_copy(j->fixed_status, sizeof(j->fixed_status), status);
	for (i = 0; i < j->n_msgs; i++) {
		for (k = 0; k < j->msgs[i].n_rcpts; k++) {
			struct smtp_client_rcpt *r = &j->msgs[i].rcpts[k];

			r->status = st;
			r->code = 0;
			(void)str_copy(r->reply, sizeof(r->reply), why);
			/* One printable line, as the client's replies are
			 * (why may quote names from DNS answers). */
			for (p = r->reply; *p != '\0'; p++)
				if ((unsigned char)*p < 0x20 ||
				    (unsigned char)*p > 0x7e)
					*p = '?';
		}
	}
	record(j);
}

/* ---- delivery ---------------------------------------------------------- */

static void
client_done(void *ctx, struct smtp_client_job *cj)
{
	struct queue_job *j = ctx;

	(void)cj;
	j->client = NULL;
	record(j);
}

static void
dns_done(void *ctx, const struct dns_result *res)
{
	struct queue_job *j = ctx;
	struct smtp_queue *q = j->q;
	struct smtp_client_opts opts = { 0 };
	size_t n;
	char why[300], dom[280], safe[300];

	if (res->status != 0 || res->n_hosts == 0) {
		(void)str_fmt(why, sizeof(why), "%s",
		    res->why[0] != '\0' ? res->why : "no address found");
		log_info(&qlog,
		    "event=route-failed domain=%s err=%s why=\"%s\"",
		    log_safe(dom, sizeof(dom), slice_cstr(j->domain)),
		    err_name(res->status),
		    log_safe(safe, sizeof(safe), slice_cstr(why)));
		/* A domain that does not exist or takes no mail is
		 * permanent; a route or smarthost that does not resolve is
		 * our configuration: retried. */
		if (res->status == ERR_NOTFOUND && !j->route_lookup)
			fail_all(j, SMTP_RCPT_PERM,
			    res->null_mx ? "5.1.10" : "5.1.2", why);
		else
			fail_all(j, SMTP_RCPT_TEMP, "4.4.3", why);
		return;
	}
	n = res->n_hosts < DNS_HOSTS_MAX ? res->n_hosts : DNS_HOSTS_MAX;
	memcpy(j->hosts, res->hosts, n * sizeof(*j->hosts));
	j->cj = (struct smtp_client_job){
		.domain = j->domain,
		.hosts = j->hosts,
		.n_hosts = n,
		.msgs = j->msgs,
		.n_msgs = j->n_msgs,
	};
	opts.helo = q->cfg->hostname;
	opts.tls = q->cfg->outbound_starttls ? q->tls : NULL;
	opts.connect_timeout_ms =
	    q->cfg->outbound_connect_timeout_seconds * 1000u;
	opts.reply_timeout_ms = q->cfg->outbound_timeout_seconds * 1000u;
	j->state = JOB_CLIENT;
	if (smtp_client_start(q->loop, q->st, &opts, &j->cj, client_done, j,
	        &j->client) != 0) {
		j->client = NULL;
		fail_all(j, SMTP_RCPT_TEMP, "4.3.0", "internal: client start");
	}
}

static void
job_start(struct smtp_queue *q, struct queue_job *j)
{
	const char *spec = queue_route_find(q->cfg, j->domain);
	struct queue_route route;
	int rc;

	j->q = q;
	j->state = JOB_ROUTE;
	if (spec != NULL) {
		j->route_lookup = true;
		if (queue_route_parse(spec, q->cfg->outbound_port, &route) !=
		    0) {
			fail_all(j, SMTP_RCPT_TEMP, "4.3.5", "bad route");
			return;
		}
		rc = dns_resolve_host(q->dns, route.host, route.port, dns_done,
		    j);
		if (rc != 0)
			fail_all(j, SMTP_RCPT_TEMP, "4.3.5", "bad route host");
		return;
	}
	if (queue_domain_literal(j->domain, q->cfg->outbound_port, &route)) {
		/* user@[192.0.2.1]: that host, no MX (RFC 5321 §5.1). */
		rc = dns_resolve_host(q->dns, route.host, route.port, dns_done,
		    j);
		if (rc != 0)
			fail_all(j, SMTP_RCPT_PERM, "5.1.2",
			    "bad address literal");
		return;
	}
	rc = dns_resolve_mx(q->dns, j->domain, q->cfg->outbound_port, dns_done,
	    j);
	if (rc != 0)
		fail_all(j, SMTP_RCPT_PERM, "5.1.2", "bad domain name");
}

struct scan_ctx {
	struct smtp_queue *q;
	struct queue_job *list;
	size_t n, max;
};

static void
scan_row(void *ctx, const struct store_queue_entry *e)
{
	struct scan_ctx *sc = ctx;

	if (queue_idset_has(&sc->q->inflight, e->id))
		return;
	(void)queue_group_add(&sc->list, &sc->n, sc->max, e);
}

static void
scan(struct smtp_queue *q)
{
	unsigned max =
	    q->cfg->queue_max_connections ? q->cfg->queue_max_connections : 1;
	struct scan_ctx sc = { .q = q };
	struct err err = { 0 };
	struct queue_job *j, *next, **tail;
	int64_t now = clock_now(), when;
	size_t i, k;

	if (q->stopping)
		return;
	for (i = 0, k = 0; i < q->n_cool; i++) {
		if (q->cool[i].until <= now)
			queue_idset_del(&q->inflight, q->cool[i].id);
		else
			q->cool[k++] = q->cool[i];
	}
	q->n_cool = k;
	if (q->n_jobs >= max)
		return;
	if (store_queue_next_due(q->st, &when, &err) != 0) {
		log_warn(&qlog, "event=error op=next_due err=\"%s\"", err.msg);
		return;
	}
	if (when > now)
		return;
	sc.max = max - q->n_jobs;
	if (store_queue_due(q->st, now, QUEUE_SCAN_MAX, scan_row, &sc, &err) !=
	    0) {
		log_warn(&qlog, "event=error op=queue_due err=\"%s\"", err.msg);
		/* Rows read before the error are fine to start. */
	}
	for (tail = &q->jobs; *tail != NULL; tail = &(*tail)->next)
		;
	for (j = sc.list; j != NULL; j = next) {
		next = j->next;
		j->next = NULL;
		for (i = 0; i < j->n_msgs; i++)
			for (k = 0; k < j->msgs[i].n_rcpts; k++)
				queue_idset_add(&q->inflight,
				    j->msgs[i].rcpts[k].queue_id);
		*tail = j;
		tail = &j->next;
		q->n_jobs++;
	}
	/* Started after linking: a job may finish (and unlink) at once. */
	for (j = sc.list; j != NULL; j = next) {
		next = j->next;
		job_start(q, j);
	}
}

static void
on_tick(uv_timer_t *t)
{
	scan(t->data);
}

/* ---- public ------------------------------------------------------------ */

static int
check_routes(const struct config *cfg, struct err *err)
{
	struct queue_route r;
	size_t i;

	for (i = 0; i < cfg->n_routes; i++)
		if (queue_route_parse(cfg->routes[i].host, cfg->outbound_port,
		        &r) != 0)
			return err_set(err, ERR_INPUT, "route %s: bad host %s",
			    cfg->routes[i].domain, cfg->routes[i].host);
	if (cfg->outbound_smarthost[0] != '\0' &&
	    queue_route_parse(cfg->outbound_smarthost, cfg->outbound_port,
	        &r) != 0)
		return err_set(err, ERR_INPUT, "bad smarthost %s",
		    cfg->outbound_smarthost);
	return 0;
}

int
smtp_queue_start(uv_loop_t *loop, const struct config *cfg, struct store *st,
    struct smtp_queue **out, struct err *err)
{
	struct smtp_queue *q;
	int rc;

	if ((rc = check_routes(cfg, err)) != 0)
		return rc;
	q = xcalloc(1, sizeof(*q));
	q->loop = loop;
	q->st = st;
	q->cfg = xmalloc(sizeof(*q->cfg));
	*q->cfg = *cfg;
	queue_idset_init(&q->inflight);
	if ((rc = dns_resolver_new(loop, cfg->outbound_resolver, &q->dns,
	         err)) != 0) {
		xfree(&q->cfg);
		xfree(&q);
		return rc;
	}
	if (tls_ctx_new_client(&q->tls, err) != 0) {
		/* Opportunistic TLS only: deliver in plain text. */
		log_warn(&qlog, "event=error op=tls_client err=\"%s\"",
		    err->msg);
		q->tls = NULL;
	}
	if (uv_timer_init(loop, &q->timer) != 0) {
		dns_resolver_free(&q->dns);
		tls_ctx_free(&q->tls);
		xfree(&q->cfg);
		xfree(&q);
		return err_set(err, ERR_INTERNAL, "uv_timer_init");
	}
	q->timer.data = q;
	(void)uv_timer_start(&q->timer, on_tick, 0, QUEUE_TICK_MS);
	log_info(&qlog,
	    "event=start max_connections=%u retry_min=%u retry_max=%u "
	    "lifetime=%llu routes=%zu smarthost=%s",
	    cfg->queue_max_connections, cfg->queue_retry_min_seconds,
	    cfg->queue_retry_max_seconds,
	    (unsigned long long)cfg->queue_lifetime_seconds, cfg->n_routes,
	    cfg->outbound_smarthost[0] ? cfg->outbound_smarthost : "none");
	*out = q;
	return 0;
}

void
smtp_queue_kick(struct smtp_queue *q)
{
	if (q == NULL || q->stopping)
		return;
	/* Coalesced: every kick of one loop iteration makes one scan. */
	(void)uv_timer_start(&q->timer, on_tick, 0, QUEUE_TICK_MS);
}

void
smtp_queue_reload(struct smtp_queue *q, const struct config *cfg)
{
	struct err err = { 0 };

	if (q == NULL)
		return;
	if (check_routes(cfg, &err) != 0) {
		log_warn(&qlog, "event=reload-rejected err=\"%s\"", err.msg);
		return;
	}
	/* Running jobs point at their own copies; the resolver stays as
	 * it was started. */
	*q->cfg = *cfg;
}

void
smtp_queue_shutdown(struct smtp_queue *q, void (*done)(void *ctx), void *ctx)
{
	struct queue_job *j, *next;

	if (q == NULL) {
		if (done != NULL)
			done(ctx);
		return;
	}
	if (q->stopping)
		return;
	q->stopping = true;
	q->done = done;
	q->done_ctx = ctx;
	(void)uv_timer_stop(&q->timer);
	/* Lookups in progress are cancelled (their callbacks will not
	 * run): those jobs end here, their rows untouched. */
	dns_resolver_free(&q->dns);
	for (j = q->jobs; j != NULL; j = next) {
		next = j->next;
		if (j->state == JOB_ROUTE) {
			job_unlink(q, j);
			queue_job_free(&j);
		} else if (j->state == JOB_CLIENT && j->client != NULL) {
			smtp_client_abort(j->client);
		}
	}
	/* Bounces that waited for those jobs' rows go now. */
	bounce_flush(q);
	maybe_done(q);
}

void
smtp_queue_free(struct smtp_queue **qp)
{
	struct smtp_queue *q = *qp;

	if (q == NULL)
		return;
	dns_resolver_free(&q->dns);
	tls_ctx_free(&q->tls);
	queue_idset_clear(&q->inflight);
	xfree(&q->cool);
	xfree(&q->cfg);
	xfree(qp);
}

/* ---- NOTIFY=SUCCESS for local recipients -------------------------------- */

void
smtp_queue_notify_delivered(struct smtp_queue *q, int64_t message_id,
    const char *sender, const char *envid, enum store_dsn_ret ret,
    int64_t arrival, const struct dsn_rcpt *rcpts, size_t n)
{
	struct report_op *op;
	struct dsn_report r = { 0 };
	struct err err = { 0 };
	char id[320], safe[200];
	int rc;

	(void)ret; /* a success report carries the headers only */
	if (q == NULL || q->stopping || sender == NULL || sender[0] == '\0' ||
	    n == 0)
		return;
	report_id(q, id, sizeof(id));
	r.reporting_mta = q->cfg->hostname;
	r.envid = envid;
	r.sender = sender;
	r.arrival = arrival;
	r.now = clock_now();
	r.ret = STORE_RET_HDRS;
	r.rcpts = rcpts;
	r.n_rcpts = n;
	r.message_id = id;
	r.original_8bit = true; /* not known here; 8bit is always safe */
	op = xcalloc(1, sizeof(*op));
	op->q = q;
	op->action = DSN_DELIVERED;
	op->message_id = message_id;
	q->n_ops++;
	rc = report_commit(q, &r, message_id, 0, NULL, 0, NULL, 0, op, &err);
	if (rc != 0) {
		q->n_ops--;
		log_warn(&qlog,
		    "event=error op=delivered-report message=%lld "
		    "sender=\"%s\" "
		    "err=%s msg=\"%s\"",
		    (long long)message_id,
		    log_safe(safe, sizeof(safe), slice_cstr(sender)),
		    err_name(rc), err.msg);
		xfree(&op);
	}
}
