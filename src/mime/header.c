/* SPDX-License-Identifier: MIT */
/* Parsing of the two header fields the MIME structure depends on:
 * Content-Type (RFC 2045 §5.1) and Content-Transfer-Encoding (§6.1). */
#include <string.h>

#include "lib/str.h"
#include "mime/lex.h"
#include "mime/parser.h"

#include "lib/banned.h"

struct cursor {
	const char *p, *end;
};

/* Skips folding whitespace and comments (nested, counted: no recursion). */
static void
skip_cfws(struct cursor *c)
{
	unsigned nest = 0;

	while (c->p < c->end) {
		if (nest > 0) {
			if (*c->p == '\\' && c->p + 1 < c->end)
				c->p++;
			else if (*c->p == '(')
				nest++;
			else if (*c->p == ')')
				nest--;
			c->p++;
		} else if (*c->p == '(') {
			nest++;
			c->p++;
		} else if (mime_is_ws(*c->p)) {
			c->p++;
		} else {
			break;
		}
	}
}

static struct slice
take_token(struct cursor *c)
{
	const char *s = c->p;

	while (c->p < c->end && mime_is_token_char(*c->p))
		c->p++;
	return slice_make(s, (size_t)(c->p - s));
}

static bool
lower_copy(char *dst, size_t size, struct slice s)
{
	if (s.len == 0 || !str_from_slice(dst, size, s))
		return false;
	str_lower(dst);
	return true;
}

/* A parameter value: a quoted-string, or (leniently) anything up to ';'
 * or whitespace, since senders write unquoted boundaries with '=' or '/'.
 * Writes at most size bytes to out; *len_out is the full length. */
static void
take_value(struct cursor *c, char *out, size_t size, size_t *len_out)
{
	size_t n = 0;

	if (c->p < c->end && *c->p == '"') {
		c->p++;
		while (c->p < c->end && *c->p != '"') {
			if (*c->p == '\\' && c->p + 1 < c->end)
				c->p++;
			if (*c->p != '\r' && *c->p != '\n') { /* unfold */
				if (n < size)
					out[n] = *c->p;
				n++;
			}
			c->p++;
		}
		if (c->p < c->end)
			c->p++; /* closing quote */
	} else {
		while (c->p < c->end && *c->p != ';' && !mime_is_ws(*c->p) &&
		    *c->p != '(') {
			if (n < size)
				out[n] = *c->p;
			n++;
			c->p++;
		}
	}
	*len_out = n;
}

static void
set_default(struct mime_content_type *ct)
{
	memset(ct, 0, sizeof(*ct));
	(void)str_copy(ct->type, sizeof(ct->type), "text");
	(void)str_copy(ct->subtype, sizeof(ct->subtype), "plain");
}

int
mime_content_type_parse(struct slice value, struct mime_content_type *ct_out)
{
	struct cursor c = { value.p, value.p + value.len };
	char val[MIME_BOUNDARY_MAX + 1];
	struct slice attr;
	size_t len;

	set_default(ct_out);
	skip_cfws(&c);
	if (!lower_copy(ct_out->type, sizeof(ct_out->type), take_token(&c)))
		goto bad;
	skip_cfws(&c);
	if (c.p == c.end || *c.p != '/')
		goto bad;
	c.p++;
	skip_cfws(&c);
	if (!lower_copy(ct_out->subtype, sizeof(ct_out->subtype),
	        take_token(&c)))
		goto bad;
	for (;;) {
		skip_cfws(&c);
		if (c.p == c.end || *c.p != ';')
			break;
		c.p++;
		skip_cfws(&c);
		attr = take_token(&c);
		skip_cfws(&c);
		if (attr.len == 0 || c.p == c.end || *c.p != '=')
			break;
		c.p++;
		skip_cfws(&c);
		take_value(&c, val, sizeof(val), &len);
		if (slice_eq_ci(attr, SLICE_LIT("boundary"))) {
			if (len > 0 && len <= MIME_BOUNDARY_MAX) {
				memcpy(ct_out->boundary, val, len);
				ct_out->boundary[len] = '\0';
				ct_out->boundary_len = len;
			}
		} else if (slice_eq_ci(attr, SLICE_LIT("charset"))) {
			if (len < sizeof(ct_out->charset)) {
				memcpy(ct_out->charset, val, len);
				ct_out->charset[len] = '\0';
			}
		}
	}
	return 0;
bad:
	set_default(ct_out);
	return ERR_INPUT;
}

enum mime_cte
mime_cte_parse(struct slice value)
{
	struct cursor c = { value.p, value.p + value.len };
	struct slice tok;

	skip_cfws(&c);
	tok = take_token(&c);
	if (slice_eq_ci(tok, SLICE_LIT("7bit")))
		return MIME_CTE_7BIT;
	if (slice_eq_ci(tok, SLICE_LIT("8bit")))
		return MIME_CTE_8BIT;
	if (slice_eq_ci(tok, SLICE_LIT("binary")))
		return MIME_CTE_BINARY;
	if (slice_eq_ci(tok, SLICE_LIT("base64")))
		return MIME_CTE_BASE64;
	if (slice_eq_ci(tok, SLICE_LIT("quoted-printable")))
		return MIME_CTE_QP;
	return MIME_CTE_OTHER;
}
