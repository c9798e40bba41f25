/* SPDX-License-Identifier: MIT */
/* RFC 5322 §3.4 address lists, with the obsolete forms of §4.4 (routes,
 * CFWS anywhere) and whatever garbage real mail carries: every address is
 * a set of slices into the value, nothing is copied or rejected. */
#include <string.h>

#include "mime/imapdata.h"
#include "mime/lex.h"

#include "lib/banned.h"

#define NONE SIZE_MAX

static size_t
skip_comment(struct slice s, size_t i)
{
	unsigned nest = 0;

	for (; i < s.len; i++) {
		if (s.p[i] == '\\' && i + 1 < s.len)
			i++;
		else if (s.p[i] == '(')
			nest++;
		else if (s.p[i] == ')' && --nest == 0)
			return i + 1;
	}
	return s.len;
}

static size_t
skip_literal(struct slice s, size_t i)
{
	for (i++; i < s.len; i++) {
		if (s.p[i] == '\\' && i + 1 < s.len)
			i++;
		else if (s.p[i] == ']')
			return i + 1;
	}
	return s.len;
}

/* Drops comments and whitespace at both ends. */
static struct slice
trim_cfws(struct slice s)
{
	size_t i = 0, first = NONE, last = 0;

	while (i < s.len) {
		if (mime_is_ws(s.p[i])) {
			i++;
			continue;
		}
		if (s.p[i] == '(') {
			i = skip_comment(s, i);
			continue;
		}
		if (first == NONE)
			first = i;
		if (s.p[i] == '"')
			i = mime_skip_quoted(s, i);
		else if (s.p[i] == '[')
			i = skip_literal(s, i);
		else
			i++;
		last = i;
	}
	if (first == NONE)
		return slice_make(s.p, 0);
	return slice_make(s.p + first, last - first);
}

static struct slice
trim_ws(struct slice s)
{
	while (s.len > 0 && mime_is_ws(s.p[0]))
		s = slice_skip(s, 1);
	while (s.len > 0 && mime_is_ws(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* The text inside the first top-level comment of s, or empty. */
static struct slice
first_comment(struct slice s)
{
	size_t i = 0, end;

	while (i < s.len) {
		if (s.p[i] == '"') {
			i = mime_skip_quoted(s, i);
		} else if (s.p[i] == '(') {
			end = skip_comment(s, i);
			if (end > i + 1 && s.p[end - 1] == ')')
				return trim_ws(
				    slice_make(s.p + i + 1, end - i - 2));
			return trim_ws(slice_make(s.p + i + 1, end - i - 1));
		} else {
			i++;
		}
	}
	return slice_make(s.p, 0);
}

/* Up to the first top-level whitespace or comment. */
static struct slice
first_word(struct slice s)
{
	size_t i = 0;

	while (i < s.len && !mime_is_ws(s.p[i]) && s.p[i] != '(') {
		if (s.p[i] == '"')
			i = mime_skip_quoted(s, i);
		else if (s.p[i] == '[')
			i = skip_literal(s, i);
		else
			i++;
	}
	return slice_make(s.p, i);
}

/* local-part "@" domain; the first top-level '@' splits them, and the
 * domain ends at whitespace ("a@b c@d" is a@b, as Dovecot reads it). */
static void
addr_spec(struct slice s, struct mime_address *a)
{
	size_t i = 0, at = NONE;

	s = trim_cfws(s);
	while (i < s.len && at == NONE) {
		if (s.p[i] == '"')
			i = mime_skip_quoted(s, i);
		else if (s.p[i] == '(')
			i = skip_comment(s, i);
		else if (s.p[i] == '[')
			i = skip_literal(s, i);
		else if (s.p[i++] == '@')
			at = i - 1;
	}
	if (at == NONE) {
		a->mailbox = s;
		a->host = slice_make(s.p + s.len, 0);
		return;
	}
	a->mailbox = trim_cfws(slice_make(s.p, at));
	a->host = first_word(trim_cfws(slice_skip(s, at + 1)));
}

/* One mailbox: [phrase] "<" [route ":"] addr-spec ">", or addr-spec. */
static void
mailbox(struct slice s, size_t lt, size_t gt, struct mime_address *a)
{
	struct slice in;
	size_t i;

	memset(a, 0, sizeof(*a));
	a->adl = slice_make(s.p, 0);
	if (lt == NONE) {
		addr_spec(s, a);
		a->name = first_comment(s);
		return;
	}
	a->name = trim_ws(slice_make(s.p, lt));
	in = slice_make(s.p + lt + 1, (gt != NONE ? gt : s.len) - lt - 1);
	in = trim_cfws(in);
	/* RFC 5322 §4.4 obs-route: "@a,@b:" before the address. */
	if (in.len > 0 && in.p[0] == '@') {
		for (i = 0; i < in.len; i++) {
			if (in.p[i] == '"' || in.p[i] == '[' || in.p[i] == '(')
				break;
			if (in.p[i] == ':') {
				a->adl = trim_cfws(slice_make(in.p, i));
				in = slice_skip(in, i + 1);
				break;
			}
		}
	}
	addr_spec(in, a);
}

static bool
is_empty(const struct mime_address *a)
{
	return a->name.len == 0 && a->mailbox.len == 0 && a->host.len == 0;
}

size_t
mime_address_parse(struct slice v, struct mime_address *out, size_t max)
{
	size_t i = 0, j, start, lt, gt, colon, n = 0;
	bool in_group = false, in_angle;
	struct mime_address a;

	while (i < v.len) {
		start = i;
		lt = gt = colon = NONE;
		in_angle = false;
		for (j = i; j < v.len;) {
			char c = v.p[j];

			if (c == '"') {
				j = mime_skip_quoted(v, j);
				continue;
			}
			if (c == '(') {
				j = skip_comment(v, j);
				continue;
			}
			if (in_angle) {
				if (c == '>') {
					gt = j - start;
					in_angle = false;
				}
				j++;
				continue;
			}
			if (c == '<' && lt == NONE) {
				lt = j - start;
				in_angle = true;
			} else if (c == ':' && lt == NONE && !in_group) {
				colon = j;
				break;
			} else if (c == ',' || c == ';') {
				break;
			}
			j++;
		}
		if (colon != NONE) { /* display-name ":" opens a group */
			if (n + 2 <= max) {
				memset(&out[n], 0, sizeof(out[n]));
				out[n].name = trim_ws(
				    slice_make(v.p + start, colon - start));
				out[n].adl = out[n].mailbox = out[n].host =
				    slice_make(v.p + colon, 0);
				out[n++].group_start = true;
				in_group = true;
			}
			i = colon + 1;
			continue;
		}
		mailbox(slice_make(v.p + start, j - start), lt, gt, &a);
		/* Inside a group one slot stays free for its end marker. */
		if (!is_empty(&a) && n + (in_group ? 1 : 0) < max)
			out[n++] = a;
		if (j < v.len && v.p[j] == ';' && in_group) {
			memset(&out[n], 0, sizeof(out[n]));
			out[n].name = out[n].adl = out[n].mailbox =
			    out[n].host = slice_make(v.p + j, 0);
			out[n++].group_end = true;
			in_group = false;
		}
		i = j < v.len ? j + 1 : j;
	}
	if (in_group) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].name = out[n].adl = out[n].mailbox = out[n].host =
		    slice_make(v.p + v.len, 0);
		out[n++].group_end = true;
	}
	return n;
}
