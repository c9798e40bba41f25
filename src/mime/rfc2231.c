/* SPDX-License-Identifier: MIT */
/* RFC 2231 parameter values (see rfc2231.h). One pass over the field
 * records where each section of the wanted parameter is (a fixed table
 * of MIME_RFC2231_SECTIONS_MAX slices); a second step joins them into a
 * bounded byte buffer and converts that once, so a multi-byte character
 * split across sections (as Thunderbird and Outlook split long file
 * names) comes out whole. */
#include <string.h>

#include "lib/err.h"
#include "lib/str.h"
#include "mime/imapdata.h"
#include "mime/lex.h"
#include "mime/limits.h"
#include "mime/rfc2231.h"

#include "lib/banned.h"

struct section {
	struct slice v; /* raw value: quoted string with its quotes, or token */
	bool set, ext;
};

struct found {
	struct section sec[MIME_RFC2231_SECTIONS_MAX];
	struct section star, plain;
	bool limit;
};

/* Skips whitespace and (nested) comments from i; returns the new i. */
static size_t
skip_cfws(struct slice s, size_t i)
{
	unsigned nest = 0;

	while (i < s.len) {
		if (nest > 0) {
			if (s.p[i] == '\\' && i + 1 < s.len)
				i++;
			else if (s.p[i] == '(')
				nest++;
			else if (s.p[i] == ')')
				nest--;
			i++;
		} else if (s.p[i] == '(') {
			nest++;
			i++;
		} else if (mime_is_ws(s.p[i])) {
			i++;
		} else {
			break;
		}
	}
	return i;
}

/* To the next top-level ';' (or the end). */
static size_t
skip_to_semi(struct slice s, size_t i)
{
	while (i < s.len && s.p[i] != ';') {
		if (s.p[i] == '"')
			i = mime_skip_quoted(s, i);
		else if (s.p[i] == '(')
			i = skip_cfws(s, i);
		else
			i++;
	}
	return i;
}

static void
keep(struct section *sec, struct slice v, bool ext)
{
	if (sec->set)
		return; /* a repeated name: the first one counts */
	sec->set = true;
	sec->v = v;
	sec->ext = ext;
}

/* attr is "name", "name*", "name*N" or "name*N*"; records v if name is
 * the one wanted. */
static void
record(struct found *f, const char *name, struct slice attr, struct slice v)
{
	size_t star = slice_find(attr, '*'), i, n = 0;
	struct slice base, rest;
	bool ext = false;

	if (star == SIZE_MAX) {
		if (slice_eq_ci(attr, slice_cstr(name)))
			keep(&f->plain, v, false);
		return;
	}
	base = slice_make(attr.p, star);
	if (!slice_eq_ci(base, slice_cstr(name)))
		return;
	rest = slice_skip(attr, star + 1);
	if (rest.len == 0) {
		keep(&f->star, v, true);
		return;
	}
	if (rest.p[rest.len - 1] == '*') {
		ext = true;
		rest.len--;
	}
	/* section := "0" / (non-zero-digit *digit) */
	if (rest.len == 0 || (rest.p[0] == '0' && rest.len > 1))
		return;
	for (i = 0; i < rest.len; i++) {
		if (rest.p[i] < '0' || rest.p[i] > '9')
			return;
		if (n < MIME_RFC2231_SECTIONS_MAX)
			n = n * 10 + (size_t)(rest.p[i] - '0');
	}
	if (n >= MIME_RFC2231_SECTIONS_MAX) {
		f->limit = true;
		return;
	}
	keep(&f->sec[n], v, ext);
}

static void
scan(struct slice s, const char *name, struct found *f)
{
	size_t i = skip_to_semi(s, 0), a, v;

	while (i < s.len) {
		i = skip_cfws(s, i + 1); /* past the ';' */
		a = i;
		while (i < s.len && mime_is_token_char(s.p[i]))
			i++;
		if (i == a) {
			i = skip_to_semi(s, i);
			continue;
		}
		struct slice attr = slice_make(s.p + a, i - a);

		i = skip_cfws(s, i);
		if (i >= s.len || s.p[i] != '=') {
			i = skip_to_semi(s, i);
			continue;
		}
		i = skip_cfws(s, i + 1);
		v = i;
		if (i < s.len && s.p[i] == '"') {
			i = mime_skip_quoted(s, i);
		} else {
			while (i < s.len && mime_is_token_char(s.p[i]))
				i++;
		}
		record(f, name, attr, slice_make(s.p + v, i - v));
		i = skip_to_semi(s, i);
	}
}

/* A quoted string without its quotes and escapes, or a token as is. */
static int
put_plain(struct buf *raw, struct slice v)
{
	size_t i, end;

	if (v.len == 0 || v.p[0] != '"')
		return buf_append_slice(raw, v);
	end = v.len > 1 && v.p[v.len - 1] == '"' ? v.len - 1 : v.len;
	for (i = 1; i < end; i++) {
		if (v.p[i] == '\\' && i + 1 < end)
			i++;
		if (buf_append(raw, v.p + i, 1) != 0)
			return ERR_LIMIT;
	}
	return 0;
}

/* Appends p with %XX decoded; a '%' not followed by two hex digits
 * stays as it is. */
static int
pct_decode(struct buf *raw, const char *p, size_t n)
{
	size_t i;
	int h, l;
	char c;

	for (i = 0; i < n; i++) {
		c = p[i];
		if (c == '%' && i + 2 < n && (h = str_hexval(p[i + 1])) >= 0 &&
		    (l = str_hexval(p[i + 2])) >= 0) {
			c = (char)(h << 4 | l);
			i += 2;
		}
		if (buf_append(raw, &c, 1) != 0)
			return ERR_LIMIT;
	}
	return 0;
}

/* An extended value: %XX-decoded. One written as a quoted string (not
 * allowed, but seen) is unquoted first. */
static int
put_ext(struct buf *raw, struct slice v)
{
	struct buf q;
	int rc;

	if (v.len == 0 || v.p[0] != '"')
		return pct_decode(raw, v.p, v.len);
	buf_init(&q, MIME_FIELD_MAX);
	rc = put_plain(&q, v);
	if (rc == 0 && q.len > 0)
		rc = pct_decode(raw, q.p, q.len);
	buf_clear(&q);
	return rc;
}

/* Splits charset'language'rest off an extended initial value. */
static struct slice
split_initial(struct slice v, struct mime_param_info *pi)
{
	size_t q1, q2;
	struct slice rest;

	if (v.len == 0)
		return v;
	q1 = slice_find(v, '\'');
	if (q1 == SIZE_MAX)
		return v; /* no charset: the bytes as they are */
	rest = slice_skip(v, q1 + 1);
	q2 = slice_find(rest, '\'');
	if (q2 == SIZE_MAX)
		return v;
	if (!str_from_slice(pi->charset, sizeof(pi->charset),
	        slice_make(v.p, q1)))
		pi->charset[0] = '\0'; /* too long: treated as unknown */
	if (!str_from_slice(pi->language, sizeof(pi->language),
	        slice_make(rest.p, q2)))
		pi->language[0] = '\0';
	return slice_skip(rest, q2 + 1);
}

/* The first (or only) extended section: charset'language'%XX. */
static int
put_initial(struct buf *raw, struct slice v, struct mime_param_info *pi)
{
	struct buf q;
	int rc = 0;

	buf_init(&q, MIME_FIELD_MAX);
	if (v.len > 0 && v.p[0] == '"') { /* quoted: not allowed, but seen */
		rc = put_plain(&q, v);
		v = buf_slice(&q);
	}
	if (rc == 0) {
		v = split_initial(v, pi);
		rc = pct_decode(raw, v.p, v.len);
	}
	buf_clear(&q);
	return rc;
}

int
mime_param_get(struct slice value, const char *name, struct buf *out,
    struct mime_param_info *info)
{
	struct found f;
	struct mime_param_info pi;
	struct buf raw, utf8;
	size_t k;
	int rc = 0;

	memset(&f.star, 0, sizeof(f.star));
	memset(&f.plain, 0, sizeof(f.plain));
	for (k = 0; k < MIME_RFC2231_SECTIONS_MAX; k++)
		f.sec[k].set = false;
	f.limit = false;
	memset(&pi, 0, sizeof(pi));
	scan(value, name, &f);
	if (f.limit)
		return ERR_LIMIT;
	if (!f.sec[0].set && !f.star.set && !f.plain.set)
		return ERR_NOTFOUND;

	buf_init(&raw, MIME_FIELD_MAX);
	buf_init(&utf8, MIME_RFC2231_VALUE_MAX);
	if (f.sec[0].set) {
		for (k = 0; k < MIME_RFC2231_SECTIONS_MAX && f.sec[k].set &&
		     rc == 0;
		     k++) {
			struct slice v = f.sec[k].v;

			if (k == 0 && f.sec[0].ext)
				rc = put_initial(&raw, v, &pi);
			else
				rc = f.sec[k].ext ? put_ext(&raw, v)
				                  : put_plain(&raw, v);
		}
		pi.sections = k;
	} else if (f.star.set) {
		rc = put_initial(&raw, f.star.v, &pi);
		pi.sections = 1;
	} else {
		rc = put_plain(&raw, f.plain.v);
	}
	if (rc == 0 && raw.len > 0)
		rc = mime_charset_to_utf8(pi.charset, buf_slice(&raw), &utf8);
	if (rc == 0 && utf8.len > 0 && buf_append_slice(out, buf_slice(&utf8)) != 0)
		rc = ERR_LIMIT;
	if (rc == 0 && info != NULL)
		*info = pi;
	buf_clear(&raw);
	buf_clear(&utf8);
	return rc != 0 ? ERR_LIMIT : 0;
}
