/* SPDX-License-Identifier: MIT */
/* RFC 3464 delivery status notifications: the multipart/report message a
 * sender gets for failed, delayed, delivered or relayed recipients.
 * Formatting only, over the caller's read and write callbacks. */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "smtp/dsn.h"

#include "lib/banned.h"

/* Lines are folded at a space once they pass DSN_LINE_SOFT characters
 * (RFC 5322 §2.1.1's 78) and cut inside a word at DSN_LINE_HARD so that
 * no line we write comes near the 998 limit, whatever a remote replied. */
#define DSN_LINE_SOFT 78
#define DSN_LINE_HARD 900
/* The original's header block copied at most (the store keeps at most
 * 1 MiB + 2 of it). */
#define DSN_HEADERS_MAX (1024 * 1024 + 2)
/* The bytes of report text formatted before each write. */
#define DSN_BUF_MAX (1024 * 1024)
/* The chunk the original is read in. */
#define DSN_READ_CHUNK (64 * 1024)

struct out {
	struct buf b;
	dsn_write_fn write;
	void *ctx;
	struct err *err;
};

static int
flush(struct out *o)
{
	int rc;

	if (o->b.len == 0)
		return 0;
	rc = o->write(o->ctx, o->b.p, o->b.len, o->err);
	buf_reset(&o->b);
	return rc;
}

/* Appends, flushing first when the buffer would pass its ceiling. */
static int
put(struct out *o, const void *p, size_t n)
{
	int rc;

	if (n > o->b.max - o->b.len) {
		if ((rc = flush(o)) != 0)
			return rc;
		if (n > o->b.max)
			return o->write(o->ctx, p, n, o->err);
	}
	return buf_append(&o->b, p, n);
}

static int
puts_(struct out *o, const char *s)
{
	return put(o, s, strlen(s));
}

static bool
has_8bit(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* Spaces and control characters separate words; controls never reach
 * the output. */
static bool
is_blank(char c)
{
	return c == ' ' || (unsigned char)c < 0x20 || c == 0x7f;
}

/* Writes head, then the words of value each after one space, folding
 * (CRLF + cont) before a word that would pass DSN_LINE_SOFT and inside a
 * word at DSN_LINE_HARD, then CRLF. Control characters in value become
 * spaces: a remote's reply must not end our line or start a field. */
static int
put_wrapped(struct out *o, const char *head, const char *value,
    const char *cont)
{
	size_t col = strlen(head), w, chunk, words = 0;
	bool sep = head[0] != '\0';
	const char *p = value != NULL ? value : "";
	int rc;

	if ((rc = puts_(o, head)) != 0)
		return rc;
	for (;;) {
		while (*p != '\0' && is_blank(*p))
			p++;
		if (*p == '\0')
			break;
		for (w = 0; p[w] != '\0' && !is_blank(p[w]); w++)
			;
		if (words > 0 && col + 1 + w > DSN_LINE_SOFT) {
			if ((rc = puts_(o, "\r\n")) != 0 ||
			    (rc = puts_(o, cont)) != 0)
				return rc;
			col = strlen(cont);
			words = 0;
		} else if (sep) {
			if ((rc = puts_(o, " ")) != 0)
				return rc;
			col++;
		}
		while (w > 0) {
			if (col >= DSN_LINE_HARD) {
				if ((rc = puts_(o, "\r\n")) != 0 ||
				    (rc = puts_(o, cont)) != 0)
					return rc;
				col = strlen(cont);
			}
			chunk =
			    DSN_LINE_HARD - col < w ? DSN_LINE_HARD - col : w;
			if ((rc = put(o, p, chunk)) != 0)
				return rc;
			col += chunk;
			p += chunk;
			w -= chunk;
		}
		words++;
		sep = true;
	}
	return puts_(o, "\r\n");
}

/* "Name: value" with folding: a header or delivery-status field. */
static int
put_field(struct out *o, const char *name, const char *prefix,
    const char *value)
{
	char head[128];

	if (!str_fmt(head, sizeof(head), "%s:%s%s", name, prefix ? " " : "",
	        prefix ? prefix : ""))
		return err_set(o->err, ERR_INTERNAL, "dsn: field name");
	return put_wrapped(o, head, value, " ");
}

/* RFC 5322 §3.3 date-time in UTC. */
static void
fmt_date(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, size, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		(void)str_copy(out, size, "Thu, 01 Jan 1970 00:00:00 +0000");
}

static const char *
action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED:
		return "failed";
	case DSN_DELAYED:
		return "delayed";
	case DSN_DELIVERED:
		return "delivered";
	case DSN_RELAYED:
		return "relayed";
	}
	return "failed";
}

/* The report as a whole is as bad as its worst recipient. */
static enum dsn_action
report_kind(const struct dsn_report *r)
{
	bool delayed = false, delivered = false;
	size_t i;

	for (i = 0; i < r->n_rcpts; i++) {
		if (r->rcpts[i].action == DSN_FAILED)
			return DSN_FAILED;
		if (r->rcpts[i].action == DSN_DELAYED)
			delayed = true;
		if (r->rcpts[i].action == DSN_DELIVERED)
			delivered = true;
	}
	if (delayed)
		return DSN_DELAYED;
	return delivered || r->n_rcpts == 0 ? DSN_DELIVERED : DSN_RELAYED;
}

static const char *
subject_for(enum dsn_action k)
{
	switch (k) {
	case DSN_FAILED:
		return "Undelivered Mail Returned to Sender";
	case DSN_DELAYED:
		return "Delayed Mail (still being retried)";
	case DSN_DELIVERED:
		return "Successful Mail Delivery Report";
	case DSN_RELAYED:
		return "Relayed Mail Delivery Report";
	}
	return "Mail Delivery Report";
}

/* An SMTP reply ("550 5.1.1 ...") is diagnostic type smtp (RFC 3464
 * §2.3.6); anything else we noticed ourselves (a DNS failure, a refused
 * connection) is ours: X-Despatch. */
static bool
is_smtp_reply(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' &&
	    s[2] >= '0' && s[2] <= '9' &&
	    (s[3] == ' ' || s[3] == '-' || s[3] == '\0');
}

static int
put_human(struct out *o, const struct dsn_report *r, enum dsn_action kind)
{
	char line[1200], date[64];
	const struct dsn_rcpt *rc;
	size_t i;
	int e;

	if (!str_fmt(line, sizeof(line), "This is the mail system at host %s.",
	        r->reporting_mta))
		return err_set(o->err, ERR_INPUT,
		    "dsn: reporting mta too long");
	if ((e = put_wrapped(o, "", line, "")) != 0 ||
	    (e = puts_(o, "\r\n")) != 0)
		return e;
	switch (kind) {
	case DSN_FAILED:
		e = puts_(o,
		    "Your message could not be delivered to one or more\r\n"
		    "recipients, listed below with the reason. This report\r\n"
		    "comes with the original message or its headers.\r\n");
		break;
	case DSN_DELAYED:
		e = puts_(o,
		    "Your message has not been delivered yet to one or more\r\n"
		    "recipients, listed below. It stays queued and delivery\r\n"
		    "will be retried; you need not send it again. You will\r\n"
		    "hear from us again only if it cannot be delivered.\r\n");
		break;
	case DSN_DELIVERED:
		e = puts_(o,
		    "Your message was delivered to the recipients listed\r\n"
		    "below, as you asked.\r\n");
		break;
	case DSN_RELAYED:
		e = puts_(o,
		    "Your message was handed on to the mail servers of the\r\n"
		    "recipients listed below. Those servers do not send\r\n"
		    "delivery reports, so this is the last report you "
		    "get.\r\n");
		break;
	}
	if (e != 0)
		return e;
	for (i = 0; i < r->n_rcpts; i++) {
		rc = &r->rcpts[i];
		if ((e = puts_(o, "\r\n")) != 0)
			return e;
		if (!str_fmt(line, sizeof(line), "<%s>: %s", rc->rcpt,
		        action_name(rc->action)))
			(void)str_copy(line, sizeof(line), "<?>");
		if ((e = put_wrapped(o, "", line, "    ")) != 0)
			return e;
		if (rc->remote_mta != NULL && rc->diagnostic != NULL) {
			if (!str_fmt(line, sizeof(line), "host %s said: %s",
			        rc->remote_mta, rc->diagnostic))
				line[0] = '\0';
		} else if (rc->diagnostic != NULL) {
			if (!str_fmt(line, sizeof(line), "%s", rc->diagnostic))
				line[0] = '\0';
		} else if (rc->remote_mta != NULL) {
			if (!str_fmt(line, sizeof(line), "by host %s",
			        rc->remote_mta))
				line[0] = '\0';
		} else {
			line[0] = '\0';
		}
		if (line[0] != '\0' &&
		    (e = put_wrapped(o, "   ", line, "    ")) != 0)
			return e;
		if (rc->action == DSN_DELAYED && rc->retry_until != 0) {
			fmt_date(rc->retry_until, date, sizeof(date));
			if (!str_fmt(line, sizeof(line),
			        "Delivery will be retried until %s.", date) ||
			    (e = put_wrapped(o, "   ", line, "    ")) != 0)
				return e != 0 ? e : ERR_INTERNAL;
		}
	}
	return 0;
}

static int
put_status(struct out *o, const struct dsn_report *r, bool utf8)
{
	const char *atype = utf8 ? "utf-8;" : "rfc822;";
	const struct dsn_rcpt *rc;
	char date[64];
	size_t i;
	int e;

	if ((e = put_field(o, "Reporting-MTA", "dns;", r->reporting_mta)) != 0)
		return e;
	if (r->envid != NULL &&
	    (e = put_field(o, "Original-Envelope-Id", NULL, r->envid)) != 0)
		return e;
	if (r->arrival != 0) {
		fmt_date(r->arrival, date, sizeof(date));
		if ((e = put_field(o, "Arrival-Date", NULL, date)) != 0)
			return e;
	}
	for (i = 0; i < r->n_rcpts; i++) {
		rc = &r->rcpts[i];
		if ((e = puts_(o, "\r\n")) != 0)
			return e;
		if (rc->orcpt != NULL &&
		    (e = put_field(o, "Original-Recipient", NULL, rc->orcpt)) !=
		        0)
			return e;
		if ((e = put_field(o, "Final-Recipient", atype, rc->rcpt)) !=
		        0 ||
		    (e = put_field(o, "Action", NULL,
		         action_name(rc->action))) != 0 ||
		    (e = put_field(o, "Status", NULL, rc->status)) != 0)
			return e;
		if (rc->remote_mta != NULL &&
		    (e = put_field(o, "Remote-MTA", "dns;", rc->remote_mta)) !=
		        0)
			return e;
		if (rc->diagnostic != NULL &&
		    (e = put_field(o, "Diagnostic-Code",
		         is_smtp_reply(rc->diagnostic) ? "smtp;"
		                                       : "X-Despatch;",
		         rc->diagnostic)) != 0)
			return e;
		if (rc->last_attempt != 0) {
			fmt_date(rc->last_attempt, date, sizeof(date));
			if ((e = put_field(o, "Last-Attempt-Date", NULL,
			         date)) != 0)
				return e;
		}
		if (rc->action == DSN_DELAYED && rc->retry_until != 0) {
			fmt_date(rc->retry_until, date, sizeof(date));
			if ((e = put_field(o, "Will-Retry-Until", NULL,
			         date)) != 0)
				return e;
		}
	}
	return 0;
}

/* Copies the original's header block (without the blank line that ends
 * it) or, with full, all of it; the part then ends with CRLF. */
static int
put_original(struct out *o, bool full, dsn_read_fn rd, void *read_ctx)
{
	char *chunk = xmalloc(DSN_READ_CHUNK);
	uint64_t copied = 0, limit = full ? DSN_FULL_MAX : DSN_HEADERS_MAX;
	bool at_bol = true, pending_cr = false, done = false;
	size_t n, i, start;
	char last = '\n';
	int e = 0;

	while (!done) {
		if ((e = rd(read_ctx, chunk, DSN_READ_CHUNK, &n, o->err)) != 0)
			goto out;
		if (n == 0)
			break;
		if (full) {
			if (n > limit - copied) {
				/* Grown past what original_size said: keep
				 * the bound, cut at a line end. */
				n = (size_t)(limit - copied);
				done = true;
			}
			if (n > 0 && (e = put(o, chunk, n)) != 0)
				goto out;
			if (n > 0)
				last = chunk[n - 1];
			copied += n;
			continue;
		}
		/* Headers: stop at the first empty line. A CR at the start
		 * of a line is held until the next byte says whether the
		 * line is empty. */
		start = 0;
		for (i = 0; i < n && !done; i++) {
			char c = chunk[i];

			if (pending_cr) {
				pending_cr = false;
				if (c == '\n') {
					done = true;
					break;
				}
				if ((e = put(o, "\r", 1)) != 0)
					goto out;
				last = '\r';
				at_bol = false;
			}
			if (at_bol && (c == '\r' || c == '\n')) {
				if (i > start &&
				    (e = put(o, chunk + start, i - start)) != 0)
					goto out;
				copied += i - start;
				start = i + 1;
				if (c == '\n') {
					done = true;
					break;
				}
				pending_cr = true;
				continue;
			}
			at_bol = c == '\n';
			last = c;
		}
		if (!done && i > start) {
			if ((e = put(o, chunk + start, i - start)) != 0)
				goto out;
			copied += i - start;
		}
		if (copied >= limit)
			done = true; /* no blank line in sight: cut */
	}
	/* A CR held at the start of a line when the original ends is the
	 * start of the empty line: dropped. */
	if (last != '\n')
		e = puts_(o, "\r\n");
out:
	xfree(&chunk);
	return e;
}

int
dsn_write(const struct dsn_report *r, uint64_t original_size, dsn_read_fn rd,
    void *read_ctx, dsn_write_fn wr, void *write_ctx, struct err *err)
{
	struct out o = { .write = wr, .ctx = write_ctx, .err = err };
	enum dsn_action kind = report_kind(r);
	bool utf8 = has_8bit(r->sender) || has_8bit(r->envid);
	bool full = r->ret == STORE_RET_FULL && original_size <= DSN_FULL_MAX;
	unsigned char rnd[16];
	char boundary[64], hex[33], date[64], line[400];
	const char *desc;
	size_t i;
	int e;

	if (r->reporting_mta == NULL || r->sender == NULL ||
	    r->message_id == NULL || (r->n_rcpts > 0 && r->rcpts == NULL))
		return err_set(err, ERR_INPUT, "dsn: incomplete report");
	for (i = 0; i < r->n_rcpts; i++) {
		if (r->rcpts[i].rcpt == NULL || r->rcpts[i].status == NULL)
			return err_set(err, ERR_INPUT, "dsn: incomplete rcpt");
		utf8 = utf8 || has_8bit(r->rcpts[i].rcpt) ||
		    has_8bit(r->rcpts[i].orcpt);
	}
	/* "=_" cannot occur in base64 or quoted-printable text and 128
	 * random bits cannot be guessed by whoever wrote the original: the
	 * boundary occurs nowhere in the content. */
	randombytes_buf(rnd, sizeof(rnd));
	str_hex(hex, rnd, sizeof(rnd));
	(void)str_fmt(boundary, sizeof(boundary), "=_despatch_%s", hex);
	buf_init(&o.b, DSN_BUF_MAX);
	fmt_date(r->now, date, sizeof(date));

	if (!str_fmt(line, sizeof(line),
	        "\"Mail Delivery System\" <MAILER-DAEMON@%s>",
	        r->reporting_mta)) {
		e = err_set(err, ERR_INPUT, "dsn: reporting mta too long");
		goto out;
	}
	if ((e = put_field(&o, "From", NULL, line)) != 0)
		goto out;
	if (!str_fmt(line, sizeof(line), "<%s>", r->sender)) {
		e = err_set(err, ERR_INPUT, "dsn: sender too long");
		goto out;
	}
	if ((e = put_field(&o, "To", NULL, line)) != 0 ||
	    (e = put_field(&o, "Subject", NULL, subject_for(kind))) != 0 ||
	    (e = put_field(&o, "Date", NULL, date)) != 0)
		goto out;
	if (!str_fmt(line, sizeof(line), "<%s>", r->message_id)) {
		e = err_set(err, ERR_INPUT, "dsn: message id too long");
		goto out;
	}
	if ((e = put_field(&o, "Message-ID", NULL, line)) != 0 ||
	    (e = puts_(&o,
	         "MIME-Version: 1.0\r\n"
	         "Auto-Submitted: auto-replied\r\n"
	         "Content-Type: multipart/report;"
	         " report-type=delivery-status;\r\n"
	         "\tboundary=\"")) != 0 ||
	    (e = puts_(&o, boundary)) != 0 ||
	    (e = puts_(&o,
	         "\"\r\n\r\n"
	         "This is a MIME-encapsulated message.\r\n")) != 0)
		goto out;

	/* 1: for people. */
	if ((e = puts_(&o, "\r\n--")) != 0 || (e = puts_(&o, boundary)) != 0 ||
	    (e = puts_(&o, "\r\nContent-Description: Notification\r\n")) != 0 ||
	    (e = puts_(&o,
	         utf8 ? "Content-Type: text/plain; charset=utf-8\r\n"
	                "Content-Transfer-Encoding: 8bit\r\n\r\n"
	              : "Content-Type: text/plain;"
	                " charset=us-ascii\r\n\r\n")) != 0 ||
	    (e = put_human(&o, r, kind)) != 0)
		goto out;

	/* 2: for programs (RFC 3464 §2; RFC 6533 when addresses are
	 * UTF-8). */
	if ((e = puts_(&o, "\r\n--")) != 0 || (e = puts_(&o, boundary)) != 0 ||
	    (e = puts_(&o, "\r\nContent-Description: Delivery report\r\n")) !=
	        0 ||
	    (e = puts_(&o,
	         utf8 ? "Content-Type: message/global-delivery-status"
	                "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
	              : "Content-Type: message/delivery-status"
	                "\r\n\r\n")) != 0 ||
	    (e = put_status(&o, r, utf8)) != 0)
		goto out;

	/* 3: what was sent. */
	if (rd != NULL) {
		switch (kind) {
		case DSN_FAILED:
			desc = full ? "Undelivered Message"
			            : "Undelivered Message Headers";
			break;
		case DSN_DELAYED:
			desc = full ? "Delayed Message"
			            : "Delayed Message Headers";
			break;
		default:
			desc = full ? "Delivered Message"
			            : "Delivered Message Headers";
			break;
		}
		if ((e = puts_(&o, "\r\n--")) != 0 ||
		    (e = puts_(&o, boundary)) != 0 ||
		    (e = puts_(&o, "\r\nContent-Description: ")) != 0 ||
		    (e = puts_(&o, desc)) != 0 ||
		    (e = puts_(&o,
		         full ? "\r\nContent-Type: message/rfc822\r\n"
		              : "\r\nContent-Type: text/rfc822-headers"
		                "\r\n")) != 0 ||
		    (r->original_8bit &&
		        (e = puts_(&o,
		             "Content-Transfer-Encoding: 8bit\r\n")) != 0) ||
		    (e = puts_(&o, "\r\n")) != 0 ||
		    (e = put_original(&o, full, rd, read_ctx)) != 0)
			goto out;
	}
	if ((e = puts_(&o, "\r\n--")) != 0 || (e = puts_(&o, boundary)) != 0 ||
	    (e = puts_(&o, "--\r\n")) != 0)
		goto out;
	e = flush(&o);
out:
	buf_clear(&o.b);
	if (e == ERR_LIMIT)
		e = err_set(err, ERR_INTERNAL, "dsn: buffer limit");
	return e;
}
