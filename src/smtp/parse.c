/* SPDX-License-Identifier: MIT */
/* MAIL/RCPT argument parsing (RFC 5321 §4.1.2 grammar, with RFC 6531
 * UTF-8 where the transaction allows it). Strict about the path, lenient
 * in one place real clients need: spaces after "FROM:" / "TO:". */
#include <string.h>

#include "lib/str.h"
#include "smtp/parse.h"

#include "lib/banned.h"

struct cur {
	const char *p, *end;
};

static bool
at_end(const struct cur *c)
{
	return c->p >= c->end;
}

static int
peek(const struct cur *c)
{
	return at_end(c) ? -1 : (unsigned char)*c->p;
}

static bool
is_alnum(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9');
}

/* RFC 5322 atext, plus UTF-8 bytes when allowed (RFC 6531 §3.3). */
static bool
is_atext(int ch)
{
	return ch >= 0 &&
	    (is_alnum(ch) || (ch >= 0x80 && ch <= 0xff) ||
	        (ch != 0 && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL));
}

static enum smtp_parse_rc
put(struct smtp_path *out, const char *p, size_t n)
{
	if (n > SMTP_MAILBOX_MAX - out->len)
		return SMTP_PARSE_TOO_LONG;
	memcpy(out->addr + out->len, p, n);
	out->len += n;
	out->addr[out->len] = '\0';
	return SMTP_PARSE_OK;
}

/* dot-string = Atom *("." Atom), over a whole range. */
static bool
is_dot_string(const char *p, size_t n)
{
	size_t i;
	bool atom = false;

	for (i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (!atom)
				return false;
			atom = false;
		} else if (is_atext((unsigned char)p[i])) {
			atom = true;
		} else {
			return false;
		}
	}
	return atom;
}

static enum smtp_parse_rc
parse_dot_string(struct cur *c, struct smtp_path *out)
{
	const char *start = c->p;

	while (!at_end(c) && (is_atext(peek(c)) || peek(c) == '.'))
		c->p++;
	if (!is_dot_string(start, (size_t)(c->p - start)))
		return SMTP_PARSE_BAD_ADDR;
	return put(out, start, (size_t)(c->p - start));
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE. Kept quoted unless the
 * content is a plain dot-string, in which case the quotes are noise
 * ("john"@x is john@x, RFC 5321 §4.1.2) and are dropped. */
static enum smtp_parse_rc
parse_quoted(struct cur *c, struct smtp_path *out)
{
	char plain[SMTP_MAILBOX_MAX];
	const char *start = c->p;
	size_t n = 0;
	int ch;

	c->p++; /* DQUOTE */
	for (;;) {
		ch = peek(c);
		if (ch == -1)
			return SMTP_PARSE_BAD_ADDR;
		if (ch == '"')
			break;
		if (ch == '\\') {
			c->p++;
			ch = peek(c);
			if (ch < 32 || ch > 126)
				return SMTP_PARSE_BAD_ADDR;
		} else if (!((ch >= 32 && ch <= 126) || ch >= 0x80)) {
			return SMTP_PARSE_BAD_ADDR;
		}
		if (n == sizeof(plain))
			return SMTP_PARSE_TOO_LONG;
		plain[n++] = (char)ch;
		c->p++;
	}
	c->p++; /* DQUOTE */
	if (is_dot_string(plain, n))
		return put(out, plain, n);
	return put(out, start, (size_t)(c->p - start));
}

/* Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str].
 * U-labels (8-bit) pass when UTF-8 is allowed; the caller checks. */
static enum smtp_parse_rc
parse_domain(struct cur *c, struct smtp_path *out)
{
	const char *start = c->p;
	int ch, prev = '.';

	if (peek(c) == '[') { /* address-literal: "[" 1*dcontent "]" */
		c->p++;
		while ((ch = peek(c)) != ']') {
			if (ch < 33 || ch > 126 || ch == '[' || ch == '\\')
				return SMTP_PARSE_BAD_ADDR;
			c->p++;
		}
		c->p++;
		if (c->p - start < 3)
			return SMTP_PARSE_BAD_ADDR;
		return put(out, start, (size_t)(c->p - start));
	}
	for (;;) {
		ch = peek(c);
		if (ch == '.') {
			if (prev == '.' || prev == '-')
				return SMTP_PARSE_BAD_ADDR;
		} else if (ch == '-') {
			if (prev == '.')
				return SMTP_PARSE_BAD_ADDR;
		} else if (!(is_alnum(ch) || ch >= 0x80)) {
			break;
		}
		prev = ch;
		c->p++;
	}
	if (prev == '.' || prev == '-')
		return SMTP_PARSE_BAD_ADDR;
	return put(out, start, (size_t)(c->p - start));
}

/* A-d-l = At-domain *( "," At-domain ) ":", obsolete and ignored. */
static enum smtp_parse_rc
skip_source_route(struct cur *c)
{
	struct smtp_path tmp = { 0 };
	enum smtp_parse_rc rc;

	for (;;) {
		if (peek(c) != '@')
			return SMTP_PARSE_BAD_ADDR;
		c->p++;
		tmp.len = 0;
		rc = parse_domain(c, &tmp);
		if (rc != SMTP_PARSE_OK)
			return rc;
		if (peek(c) == ':') {
			c->p++;
			return SMTP_PARSE_OK;
		}
		if (peek(c) != ',')
			return SMTP_PARSE_BAD_ADDR;
		c->p++;
	}
}

/* "<" [ A-d-l ":" ] Mailbox ">" or, when allowed, "<>" or a local part
 * alone (for <postmaster>). */
static enum smtp_parse_rc
parse_path(struct cur *c, bool allow_null, struct smtp_path *out)
{
	enum smtp_parse_rc rc;
	size_t i;

	memset(out, 0, sizeof(*out));
	while (peek(c) == ' ') /* "MAIL FROM: <a@b>" is common in the wild */
		c->p++;
	if (peek(c) != '<')
		return SMTP_PARSE_SYNTAX;
	c->p++;
	if (peek(c) == '>') {
		c->p++;
		out->at = 0;
		return allow_null ? SMTP_PARSE_OK : SMTP_PARSE_BAD_ADDR;
	}
	if (peek(c) == '@' && (rc = skip_source_route(c)) != SMTP_PARSE_OK)
		return rc;
	rc = peek(c) == '"' ? parse_quoted(c, out) : parse_dot_string(c, out);
	if (rc != SMTP_PARSE_OK)
		return rc;
	out->at = out->len;
	if (peek(c) == '@') {
		if ((rc = put(out, "@", 1)) != SMTP_PARSE_OK)
			return rc;
		c->p++;
		if ((rc = parse_domain(c, out)) != SMTP_PARSE_OK)
			return rc;
		if (out->len == out->at + 1)
			return SMTP_PARSE_BAD_ADDR;
	}
	if (peek(c) != '>')
		return SMTP_PARSE_BAD_ADDR;
	c->p++;
	for (i = 0; i < out->len; i++)
		if ((unsigned char)out->addr[i] >= 0x80)
			out->utf8 = true;
	return SMTP_PARSE_OK;
}

/* The next SP-separated esmtp-param: keyword and value (value.p == NULL
 * when there is no "="). false at the end of the line. */
static bool
next_param(struct cur *c, struct slice *kw, struct slice *val,
    enum smtp_parse_rc *rc)
{
	const char *start;

	*rc = SMTP_PARSE_OK;
	while (peek(c) == ' ')
		c->p++;
	if (at_end(c))
		return false;
	start = c->p;
	while (!at_end(c) && (is_alnum(peek(c)) || peek(c) == '-'))
		c->p++;
	*kw = slice_make(start, (size_t)(c->p - start));
	*val = slice_make(NULL, 0);
	if (kw->len == 0 || !is_alnum((unsigned char)start[0])) {
		*rc = SMTP_PARSE_BAD_PARAM;
		return false;
	}
	if (peek(c) == '=') {
		start = ++c->p;
		/* esmtp-value = 1*(%d33-60 / %d62-126) */
		while (!at_end(c) && peek(c) >= 33 && peek(c) <= 126 &&
		    peek(c) != '=')
			c->p++;
		*val = slice_make(start, (size_t)(c->p - start));
		if (val->len == 0) {
			*rc = SMTP_PARSE_BAD_PARAM;
			return false;
		}
	}
	if (!at_end(c) && peek(c) != ' ') {
		*rc = SMTP_PARSE_BAD_PARAM;
		return false;
	}
	return true;
}

static int
hex_upper(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

bool
smtp_xtext_decode(struct slice in, char *out, size_t cap, size_t *len_out)
{
	size_t i, n = 0;
	int ch, hi, lo;

	for (i = 0; i < in.len; i++) {
		ch = (unsigned char)in.p[i];
		if (ch == '+') {
			if (in.len - i < 3)
				return false;
			hi = hex_upper((unsigned char)in.p[i + 1]);
			lo = hex_upper((unsigned char)in.p[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			ch = hi * 16 + lo;
			i += 2;
			if (ch < 0x20 || ch == 0x7f)
				return false; /* no CR, LF, NUL into reports */
		} else if (ch < '!' || ch > '~' || ch == '=') {
			return false;
		}
		if (n == cap)
			return false;
		out[n++] = (char)ch;
	}
	out[n] = '\0';
	*len_out = n;
	return true;
}

/* RET=FULL|HDRS. */
static bool
parse_ret(struct slice val, enum smtp_ret *out)
{
	if (slice_eq_ci(val, SLICE_LIT("FULL")))
		*out = SMTP_RET_FULL;
	else if (slice_eq_ci(val, SLICE_LIT("HDRS")))
		*out = SMTP_RET_HDRS;
	else
		return false;
	return true;
}

/* ENVID=xtext: at most SMTP_ENVID_MAX characters as sent, printable
 * ASCII once decoded (RFC 3461 §4.4). */
static bool
parse_envid(struct slice val, struct smtp_mail_args *out)
{
	size_t i, n;

	if (val.len > SMTP_ENVID_MAX ||
	    !smtp_xtext_decode(val, out->envid, SMTP_ENVID_MAX, &n) || n == 0)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)out->envid[i] >= 0x80)
			return false;
	out->has_envid = true;
	return true;
}

/* NOTIFY=NEVER / NOTIFY=SUCCESS,FAILURE,DELAY (any subset, each once). */
static bool
parse_notify(struct slice val, unsigned *out)
{
	struct slice item;
	size_t comma;
	unsigned bit, bits = 0;

	while (val.len > 0 || bits == 0) {
		comma = slice_find(val, ',');
		if (comma == SIZE_MAX) {
			item = val;
			val = slice_make(val.p + val.len, 0);
		} else {
			item = slice_make(val.p, comma);
			val = slice_skip(val, comma + 1);
			if (val.len == 0)
				return false; /* trailing comma */
		}
		if (slice_eq_ci(item, SLICE_LIT("NEVER")))
			bit = SMTP_NOTIFY_NEVER;
		else if (slice_eq_ci(item, SLICE_LIT("SUCCESS")))
			bit = SMTP_NOTIFY_SUCCESS;
		else if (slice_eq_ci(item, SLICE_LIT("FAILURE")))
			bit = SMTP_NOTIFY_FAILURE;
		else if (slice_eq_ci(item, SLICE_LIT("DELAY")))
			bit = SMTP_NOTIFY_DELAY;
		else
			return false;
		if (bits & bit)
			return false;
		bits |= bit;
	}
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return false;
	*out = bits;
	return true;
}

/* ORCPT=addr-type;xtext (RFC 3461 §4.2): at most SMTP_ORCPT_MAX
 * characters as sent; addr-type is an atom ("rfc822", "utf-8"). */
static bool
parse_orcpt(struct slice val, struct smtp_rcpt_args *out)
{
	size_t semi = slice_find(val, ';'), i, n;

	if (val.len > SMTP_ORCPT_MAX || semi == SIZE_MAX || semi == 0 ||
	    semi + 1 == val.len)
		return false;
	for (i = 0; i < semi; i++)
		if (!is_atext((unsigned char)val.p[i]) ||
		    (unsigned char)val.p[i] >= 0x80)
			return false;
	memcpy(out->orcpt, val.p, semi + 1);
	if (!smtp_xtext_decode(slice_skip(val, semi + 1), out->orcpt + semi + 1,
	        SMTP_ORCPT_MAX - semi - 1, &n))
		return false;
	out->has_orcpt = true;
	return true;
}

/* Consumes "FROM:" / "TO:" at the start. */
static bool
expect_ci(struct cur *c, struct slice word)
{
	struct slice s = slice_make(c->p, (size_t)(c->end - c->p));

	if (!slice_has_prefix_ci(s, word))
		return false;
	c->p += word.len;
	return true;
}

enum smtp_parse_rc
smtp_parse_mail(struct slice args, struct smtp_mail_args *out)
{
	struct cur c = { args.p, args.p + args.len };
	struct slice kw, val;
	enum smtp_parse_rc rc;
	bool seen_body = false, seen_ret = false;

	memset(out, 0, sizeof(*out));
	if (!expect_ci(&c, SLICE_LIT("FROM:")))
		return SMTP_PARSE_SYNTAX;
	rc = parse_path(&c, true, &out->path);
	if (rc != SMTP_PARSE_OK)
		return rc;
	if (out->path.len > 0 && out->path.at == out->path.len)
		return SMTP_PARSE_BAD_ADDR; /* a sender needs a domain */
	if (!at_end(&c) && peek(&c) != ' ')
		return SMTP_PARSE_SYNTAX;
	while (next_param(&c, &kw, &val, &rc)) {
		if (slice_eq_ci(kw, SLICE_LIT("SIZE"))) {
			/* RFC 1870: size-value = 1*20DIGIT */
			if (out->has_size || val.p == NULL || val.len > 20 ||
			    num_parse_u64_slice(val, 0, UINT64_MAX,
			        &out->size) != 0)
				return SMTP_PARSE_BAD_PARAM;
			out->has_size = true;
		} else if (slice_eq_ci(kw, SLICE_LIT("BODY"))) {
			if (seen_body || val.p == NULL)
				return SMTP_PARSE_BAD_PARAM;
			seen_body = true;
			if (slice_eq_ci(val, SLICE_LIT("7BIT")))
				out->body = SMTP_BODY_7BIT;
			else if (slice_eq_ci(val, SLICE_LIT("8BITMIME")))
				out->body = SMTP_BODY_8BITMIME;
			else /* BINARYMIME is not offered */
				return SMTP_PARSE_BAD_PARAM;
		} else if (slice_eq_ci(kw, SLICE_LIT("SMTPUTF8"))) {
			if (out->smtputf8 || val.p != NULL)
				return SMTP_PARSE_BAD_PARAM;
			out->smtputf8 = true;
		} else if (slice_eq_ci(kw, SLICE_LIT("RET"))) {
			if (seen_ret || val.p == NULL ||
			    !parse_ret(val, &out->ret))
				return SMTP_PARSE_BAD_PARAM;
			seen_ret = true;
		} else if (slice_eq_ci(kw, SLICE_LIT("ENVID"))) {
			if (out->has_envid || val.p == NULL ||
			    !parse_envid(val, out))
				return SMTP_PARSE_BAD_PARAM;
		} else if (slice_eq_ci(kw, SLICE_LIT("AUTH"))) {
			/* RFC 4954 §5: accepted and ignored (we do not
			 * trust another MTA's word on who sent it). */
			if (out->has_auth || val.p == NULL)
				return SMTP_PARSE_BAD_PARAM;
			out->has_auth = true;
		} else {
			return SMTP_PARSE_BAD_PARAM;
		}
	}
	if (rc != SMTP_PARSE_OK)
		return rc;
	if (out->path.utf8 && !out->smtputf8)
		return SMTP_PARSE_NEED_UTF8;
	return SMTP_PARSE_OK;
}

enum smtp_parse_rc
smtp_parse_rcpt(struct slice args, bool utf8, struct smtp_rcpt_args *out)
{
	struct cur c = { args.p, args.p + args.len };
	struct slice kw, val;
	enum smtp_parse_rc rc;

	memset(out, 0, sizeof(*out));
	if (!expect_ci(&c, SLICE_LIT("TO:")))
		return SMTP_PARSE_SYNTAX;
	rc = parse_path(&c, false, &out->path);
	if (rc != SMTP_PARSE_OK)
		return rc;
	if (out->path.at == out->path.len) {
		if (!slice_eq_ci(slice_make(out->path.addr, out->path.len),
		        SLICE_LIT("postmaster")))
			return SMTP_PARSE_BAD_ADDR;
		out->postmaster = true;
	}
	if (!at_end(&c) && peek(&c) != ' ')
		return SMTP_PARSE_SYNTAX;
	while (next_param(&c, &kw, &val, &rc)) {
		if (slice_eq_ci(kw, SLICE_LIT("NOTIFY"))) {
			if (out->notify != 0 || val.p == NULL ||
			    !parse_notify(val, &out->notify))
				return SMTP_PARSE_BAD_PARAM;
		} else if (slice_eq_ci(kw, SLICE_LIT("ORCPT"))) {
			if (out->has_orcpt || val.p == NULL ||
			    !parse_orcpt(val, out))
				return SMTP_PARSE_BAD_PARAM;
		} else {
			return SMTP_PARSE_BAD_PARAM;
		}
	}
	if (rc != SMTP_PARSE_OK)
		return rc;
	if (out->path.utf8 && !utf8)
		return SMTP_PARSE_NEED_UTF8;
	return SMTP_PARSE_OK;
}

void
smtp_parse_verb(struct slice line, struct slice *verb_out,
    struct slice *rest_out)
{
	size_t sp = slice_find(line, ' ');

	if (sp == SIZE_MAX) {
		*verb_out = line;
		*rest_out = slice_make(line.p + line.len, 0);
		return;
	}
	*verb_out = slice_make(line.p, sp);
	*rest_out = slice_skip(line, sp + 1);
}
