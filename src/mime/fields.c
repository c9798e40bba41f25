/* SPDX-License-Identifier: MIT */
/* Header fields of a header block: iteration, unfolded values
 * (mime_header_get) and the exact bytes of chosen fields for
 * BODY[HEADER.FIELDS (...)] (mime_header_filter). */
#include <string.h>

#include "lib/err.h"
#include "mime/imapdata.h"
#include "mime/imapdata_int.h"
#include "mime/limits.h"

#include "lib/banned.h"

static bool
is_blank_line(struct slice s)
{
	return s.len > 0 &&
	    (s.p[0] == '\n' ||
	        (s.p[0] == '\r' && (s.len == 1 || s.p[1] == '\n')));
}

bool
hfield_next(struct slice *rest, struct hfield *f)
{
	const char *lf;
	size_t end, first, colon;

	while (rest->len > 0 && !is_blank_line(*rest)) {
		/* A field is its first line plus every line opening with WSP
		 * (RFC 5322 §2.2.3). */
		lf = memchr(rest->p, '\n', rest->len);
		first = lf != NULL ? (size_t)(lf - rest->p) + 1 : rest->len;
		end = first;
		while (end < rest->len &&
		    (rest->p[end] == ' ' || rest->p[end] == '\t')) {
			lf = memchr(rest->p + end, '\n', rest->len - end);
			end =
			    lf != NULL ? (size_t)(lf - rest->p) + 1 : rest->len;
		}
		f->raw = slice_make(rest->p, end);
		*rest = slice_skip(*rest, end);
		colon = slice_find(slice_make(f->raw.p, first), ':');
		if (colon == SIZE_MAX)
			continue; /* not a field: skipped */
		f->name = slice_trim(slice_make(f->raw.p, colon));
		if (f->name.len == 0)
			continue;
		end = f->raw.len;
		if (end > colon + 1 && f->raw.p[end - 1] == '\n')
			end--;
		if (end > colon + 1 && f->raw.p[end - 1] == '\r')
			end--;
		f->value = slice_make(f->raw.p + colon + 1, end - colon - 1);
		return true;
	}
	return false;
}

int
hfield_unfold(struct slice v, struct buf *out)
{
	size_t i, start;

	v = slice_trim(v);
	for (i = 0; i < v.len;) {
		start = i;
		while (i < v.len && v.p[i] != '\r' && v.p[i] != '\n')
			i++;
		if (buf_append(out, v.p + start, i - start) != 0)
			return ERR_LIMIT;
		while (i < v.len && (v.p[i] == '\r' || v.p[i] == '\n'))
			i++;
	}
	/* Trailing WSP may have been hidden before a line break. */
	while (out->len > 0 &&
	    (out->p[out->len - 1] == ' ' || out->p[out->len - 1] == '\t'))
		out->p[--out->len] = '\0';
	return 0;
}

bool
mime_header_get(struct slice header_block, const char *name, struct buf *out)
{
	struct slice rest = header_block, want = slice_cstr(name);
	struct hfield f;

	buf_reset(out);
	while (hfield_next(&rest, &f)) {
		if (!slice_eq_ci(f.name, want))
			continue;
		/* Over the caller's ceiling: what fit is kept. The empty
		 * append makes out->p a string even for an empty value. */
		(void)buf_append(out, "", 0);
		(void)hfield_unfold(f.value, out);
		return true;
	}
	return false;
}

static bool
name_listed(struct slice name, const struct slice *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (slice_eq_ci(slice_trim(names[i]), name))
			return true;
	return false;
}

int
mime_header_filter(struct slice header_block, const struct slice *names,
    size_t n, bool exclude, struct buf *out)
{
	struct slice rest = header_block;
	struct hfield f;

	while (hfield_next(&rest, &f)) {
		if (name_listed(f.name, names, n) == exclude)
			continue;
		if (buf_append_slice(out, f.raw) != 0)
			return ERR_LIMIT;
		/* A last field without its line break still ends in CRLF. */
		if (f.raw.p[f.raw.len - 1] != '\n' &&
		    buf_append(out, "\r\n", 2) != 0)
			return ERR_LIMIT;
	}
	if (buf_append(out, "\r\n", 2) != 0)
		return ERR_LIMIT;
	return 0;
}
