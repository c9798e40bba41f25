/* SPDX-License-Identifier: MIT */
/* UTF-8 checks, IMAP string output (RFC 9051 §4.3) and display-name
 * normalisation shared by ENVELOPE and BODYSTRUCTURE. */
#include <string.h>

#include "lib/err.h"
#include "mime/imapdata_int.h"

#include "lib/banned.h"

size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	cp = utf8_get(s, len);
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

uint32_t
utf8_get(const unsigned char *s, size_t len)
{
	switch (len) {
	case 1:
		return s[0];
	case 2:
		return (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
	case 3:
		return (uint32_t)(s[0] & 0x0f) << 12 |
		    (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
	default:
		return (uint32_t)(s[0] & 0x07) << 18 |
		    (uint32_t)(s[1] & 0x3f) << 12 |
		    (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
	}
}

bool
utf8_is_valid(struct slice s)
{
	const unsigned char *u = (const unsigned char *)s.p;
	size_t i = 0, k;

	while (i < s.len) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_seq_len(u + i, s.len - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

int
utf8_put(struct buf *out, uint32_t cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, b, n);
}

/* Quoted strings may hold TEXT-CHAR minus the specials we escape; bytes
 * outside 0x01..0x7f and CR, LF need a literal. Long strings use one too
 * (RFC 9051 leaves the choice to the server; it keeps lines short). */
#define QUOTED_MAX 1024

int
imap_put_string(struct buf *out, struct slice s)
{
	size_t i, n = 0;
	bool literal = s.len > QUOTED_MAX;

	for (i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c == 0)
			continue;
		n++;
		if (c >= 0x80 || c == '\r' || c == '\n')
			literal = true;
	}
	if (literal) {
		if (buf_printf(out, "{%zu}\r\n", n) != 0)
			return ERR_LIMIT;
		for (i = 0; i < s.len; i++)
			if (s.p[i] != '\0' && buf_append(out, s.p + i, 1) != 0)
				return ERR_LIMIT;
		return 0;
	}
	if (buf_append(out, "\"", 1) != 0)
		return ERR_LIMIT;
	for (i = 0; i < s.len; i++) {
		if (s.p[i] == '\0')
			continue;
		if ((s.p[i] == '"' || s.p[i] == '\\') &&
		    buf_append(out, "\\", 1) != 0)
			return ERR_LIMIT;
		if (buf_append(out, s.p + i, 1) != 0)
			return ERR_LIMIT;
	}
	return buf_append(out, "\"", 1) != 0 ? ERR_LIMIT : 0;
}

int
imap_put_nstring(struct buf *out, struct slice s)
{
	if (s.p == NULL)
		return buf_append(out, "NIL", 3) != 0 ? ERR_LIMIT : 0;
	return imap_put_string(out, s);
}

int
imap_put_upper(struct buf *out, struct slice s)
{
	char tmp[128];
	size_t i;

	if (s.len > sizeof(tmp))
		return imap_put_string(out, s);
	for (i = 0; i < s.len; i++)
		tmp[i] = s.p[i] >= 'a' && s.p[i] <= 'z'
		    ? (char)(s.p[i] - 'a' + 'A')
		    : s.p[i];
	return imap_put_string(out, slice_make(tmp, s.len));
}

static bool
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* One pass over the phrase; with comments, the text inside top-level
 * comments is taken instead of the words outside them. */
static int
phrase_pass(struct slice raw, bool comments, struct buf *out)
{
	size_t i = 0, start = out->len;
	unsigned nest = 0;
	bool space = false, inq = false;
	char c;

	for (i = 0; i < raw.len; i++) {
		c = raw.p[i];
		if (inq) {
			if (c == '"') {
				inq = false;
				continue;
			}
			if (c == '\\' && i + 1 < raw.len)
				c = raw.p[++i];
			if (comments || c == '\r' || c == '\n')
				continue;
		} else if (nest > 0) {
			if (c == '\\' && i + 1 < raw.len) {
				c = raw.p[++i];
			} else if (c == '(') {
				nest++;
			} else if (c == ')') {
				if (--nest == 0) {
					space = true;
					continue;
				}
			}
			if (!comments)
				continue;
			if (is_fws(c)) {
				space = true;
				continue;
			}
		} else if (c == '(') {
			nest++;
			space = true;
			continue;
		} else if (c == '"') {
			inq = true;
			continue;
		} else if (comments) {
			continue;
		} else if (is_fws(c)) {
			space = true;
			continue;
		}
		if (space && out->len > start && buf_append(out, " ", 1) != 0)
			return ERR_LIMIT;
		space = false;
		if (buf_append(out, &c, 1) != 0)
			return ERR_LIMIT;
	}
	return 0;
}

int
phrase_normalize(struct slice raw, struct buf *out)
{
	size_t start = out->len;
	int rc;

	if ((rc = phrase_pass(raw, false, out)) != 0 || out->len > start)
		return rc;
	return phrase_pass(raw, true, out);
}
