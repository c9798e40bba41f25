/* SPDX-License-Identifier: MIT */
/* The SMTP client's reply parser (RFC 5321 §4.2, §4.2.1): byte by byte
 * into one fixed line buffer, so memory is bounded whatever the server
 * sends; see reply.h for the contract. */
#include <stdint.h>
#include <string.h>

#include "lib/slice.h"
#include "smtp/reply.h"

#include "lib/banned.h"

/* line_code after an error: every later push answers BAD until init. */
#define POISON (-1)

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

static void
reply_begin(struct smtp_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	r->text[0] = '\0';
	r->n_lines = 0;
	r->ext_pipelining = r->ext_size = r->ext_8bitmime = false;
	r->ext_smtputf8 = r->ext_starttls = r->ext_dsn = false;
	r->ext_enhancedstatuscodes = r->ext_chunking = false;
	r->ext_size_max = 0;
	r->line_code = 0;
	r->in_reply = true;
}

/* Appends printable ASCII of s to r->text, others as '?', cut at
 * SMTP_REPLY_TEXT_MAX. */
static void
text_add(struct smtp_reply *r, const char *p, size_t n)
{
	size_t len = strlen(r->text), i;

	for (i = 0; i < n && len < SMTP_REPLY_TEXT_MAX; i++) {
		unsigned char ch = (unsigned char)p[i];

		r->text[len++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	r->text[len] = '\0';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3463 §2: class "." subject "." detail, class 2, 4 or 5, subject
 * 1-3 digits, detail 1-3 digits, followed by SP or the end. */
static void
parse_enhanced(struct smtp_reply *r, struct slice t)
{
	size_t i = 0, part, n;

	if (t.len < 5 || (t.p[0] != '2' && t.p[0] != '4' && t.p[0] != '5') ||
	    t.p[1] != '.')
		return;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (n = 0; i < t.len && is_digit(t.p[i]) && n < 4; i++)
			n++;
		if (n == 0 || n > 3)
			return;
		if (part == 0) {
			if (i >= t.len || t.p[i] != '.')
				return;
			i++;
		}
	}
	if (i < t.len && t.p[i] != ' ')
		return;
	memcpy(r->enhanced, t.p, i); /* i <= 9 < sizeof(enhanced) */
	r->enhanced[i] = '\0';
}

static bool
keyword_is(struct slice kw, const char *name)
{
	return slice_eq_ci(kw, slice_cstr(name));
}

/* An EHLO reply line after the first: "KEYWORD [params]" (RFC 5321
 * §4.1.1.1). Unknown keywords are ignored. */
static void
parse_keyword(struct smtp_reply *r, struct slice t)
{
	size_t sp = slice_find(t, ' '), i;
	struct slice kw = sp == SIZE_MAX ? t : slice_make(t.p, sp);
	struct slice arg = sp == SIZE_MAX ? slice_make(t.p + t.len, 0)
	                                  : slice_trim(slice_skip(t, sp + 1));
	unsigned long long v = 0;

	if (keyword_is(kw, "PIPELINING"))
		r->ext_pipelining = true;
	else if (keyword_is(kw, "8BITMIME"))
		r->ext_8bitmime = true;
	else if (keyword_is(kw, "SMTPUTF8"))
		r->ext_smtputf8 = true;
	else if (keyword_is(kw, "STARTTLS"))
		r->ext_starttls = true;
	else if (keyword_is(kw, "DSN"))
		r->ext_dsn = true;
	else if (keyword_is(kw, "ENHANCEDSTATUSCODES"))
		r->ext_enhancedstatuscodes = true;
	else if (keyword_is(kw, "CHUNKING"))
		r->ext_chunking = true;
	else if (keyword_is(kw, "SIZE")) {
		r->ext_size = true;
		/* RFC 1870 §4: "SIZE" [SP number]; 0 or absent: no fixed
		 * maximum. A value that is not a number (or overflows 20
		 * digits) counts as none given. */
		for (i = 0; i < arg.len && i < 20 && is_digit(arg.p[i]); i++)
			v = v * 10 + (unsigned long long)(arg.p[i] - '0');
		r->ext_size_max = i == arg.len && i > 0 && i < 20 ? v : 0;
	}
}

/* One complete line (without CRLF) of len bytes in r->line. */
static enum smtp_reply_rc
finish_line(struct smtp_reply *r, size_t len)
{
	const char *l = r->line;
	struct slice t;
	int code;
	bool last;

	if (len < 3 || !is_digit(l[0]) || !is_digit(l[1]) || !is_digit(l[2]))
		return SMTP_REPLY_BAD;
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (code < 200 || code > 599)
		return SMTP_REPLY_BAD;
	/* "ddd" alone or "ddd SP text" ends the reply, "ddd-text" goes on;
	 * anything else after the code is not a reply line. */
	if (len == 3 || l[3] == ' ')
		last = true;
	else if (l[3] == '-')
		last = false;
	else
		return SMTP_REPLY_BAD;
	if (r->n_lines > 0 && code != r->line_code)
		return SMTP_REPLY_BAD; /* §4.2.1: every line has the code */
	if (++r->n_lines > SMTP_REPLY_LINES_MAX)
		return SMTP_REPLY_TOO_LONG;
	r->line_code = code;
	t = len > 4 ? slice_make(l + 4, len - 4) : slice_make(l + len, 0);
	if (r->n_lines == 1) {
		text_add(r, l, 3);
		if (t.len > 0)
			text_add(r, " ", 1);
		parse_enhanced(r, t);
	} else {
		text_add(r, " / ", 3);
		parse_keyword(r, t);
	}
	text_add(r, t.p, t.len);
	if (!last)
		return SMTP_REPLY_MORE;
	r->code = code;
	r->in_reply = false;
	return SMTP_REPLY_DONE;
}

static enum smtp_reply_rc
fail(struct smtp_reply *r, enum smtp_reply_rc rc, size_t used, size_t *used_out)
{
	r->in_reply = true;
	r->line_code = POISON;
	*used_out = used;
	return rc;
}

enum smtp_reply_rc
smtp_reply_push(struct smtp_reply *r, struct slice in, size_t *used_out)
{
	enum smtp_reply_rc rc;
	size_t i;
	char ch;

	*used_out = 0;
	if (r->in_reply && r->line_code == POISON)
		return SMTP_REPLY_BAD;
	for (i = 0; i < in.len; i++) {
		ch = in.p[i];
		if (!r->in_reply)
			reply_begin(r);
		if (ch == '\n') {
			/* A bare LF is never a line end (smuggling). */
			if (r->line_len == 0 ||
			    r->line[r->line_len - 1] != '\r')
				return fail(r, SMTP_REPLY_BAD, i, used_out);
			rc = finish_line(r, r->line_len - 1);
			r->line_len = 0;
			if (rc == SMTP_REPLY_DONE) {
				*used_out = i + 1;
				return rc;
			}
			if (rc != SMTP_REPLY_MORE)
				return fail(r, rc, i, used_out);
			continue;
		}
		if (ch == '\0' ||
		    (r->line_len > 0 && r->line[r->line_len - 1] == '\r'))
			return fail(r, SMTP_REPLY_BAD, i,
			    used_out); /* bare CR */
		if (ch != '\r' && r->line_len >= SMTP_REPLY_LINE_MAX)
			return fail(r, SMTP_REPLY_TOO_LONG, i, used_out);
		r->line[r->line_len++] = ch;
	}
	*used_out = in.len;
	return SMTP_REPLY_MORE;
}
