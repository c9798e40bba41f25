/* SPDX-License-Identifier: MIT */
/* Text extraction for the full-text index (text.h). Memory is bounded by
 * the column caps of ingest.h: a text leaf's decoded bytes are kept only
 * up to what the body column can still take, and converted to UTF-8 once
 * the leaf ends (a charset conversion needs whole sequences).
 * Header values are decoded by mime_header_decode (RFC 2047) and text
 * converted by mime_charset_to_utf8 (iconv; unlabelled 8-bit text is
 * UTF-8 if valid, else ISO-8859-1). */
#include <string.h>
#include <strings.h>

#include "lib/str.h"
#include "mime/imapdata.h"
#include "store/msg/text.h"

#include "lib/banned.h"

/* Bytes of a text part converted at a time. */
#define TEXT_CHUNK (64 * 1024)

static const size_t col_max[INGEST_TEXT_N] = {
	[INGEST_TEXT_FROM] = INGEST_TEXT_FIELD_MAX,
	[INGEST_TEXT_TO] = INGEST_TEXT_FIELD_MAX,
	[INGEST_TEXT_CC] = INGEST_TEXT_FIELD_MAX,
	[INGEST_TEXT_BCC] = INGEST_TEXT_FIELD_MAX,
	[INGEST_TEXT_SUBJECT] = INGEST_TEXT_FIELD_MAX,
	[INGEST_TEXT_BODY] = INGEST_TEXT_BODY_MAX,
	[INGEST_TEXT_HEADERS] = INGEST_TEXT_HEADERS_MAX,
};

void
text_init(struct text_extract *t)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < INGEST_TEXT_N; i++) {
		/* Room for the cap plus one cut UTF-8 sequence. */
		buf_init(&t->col[i], col_max[i] + 8);
		(void)buf_append(&t->col[i], "", 0);
	}
	buf_init(&t->part, INGEST_TEXT_BODY_MAX);
}

void
text_clear(struct text_extract *t)
{
	size_t i;

	for (i = 0; i < INGEST_TEXT_N; i++)
		buf_clear(&t->col[i]);
	buf_clear(&t->part);
}

/* Appends to b as much of s as its cap allows, never cutting a UTF-8
 * sequence. */
static void
put(struct buf *b, size_t cap, const char *s, size_t n)
{
	size_t room = b->len < cap ? cap - b->len : 0;

	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	(void)buf_append(b, s, n);
}

static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		len = s[i] >= 0xf0 && s[i] <= 0xf4 ? 4
		    : s[i] >= 0xe0                 ? 3
		    : s[i] >= 0xc2 && s[i] < 0xe0  ? 2
		                                   : 0;
		if (len == 0 || (s[i] >= 0xf5) || i + len > n)
			return false;
		for (k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

/* Converts text in charset to UTF-8 (mime_charset_to_utf8) and appends
 * what the cap allows. Converted in pieces ending at line ends, so the
 * scratch buffer stays small whatever the part's size. */
static void
to_utf8(const char *charset, struct slice in, struct buf *out, size_t cap)
{
	struct buf tmp;
	size_t k, i;

	/* Text cut at a cap may end inside a UTF-8 sequence: drop that
	 * tail rather than have the whole part read as ISO-8859-1. */
	if (charset[0] == '\0' || strcasecmp(charset, "utf-8") == 0 ||
	    strcasecmp(charset, "utf8") == 0 ||
	    strcasecmp(charset, "us-ascii") == 0) {
		for (i = in.len; i > 0 && in.len - i < 4; i--) {
			unsigned char c = (unsigned char)in.p[i - 1];

			if ((c & 0xc0) == 0x80)
				continue;
			if (c >= 0xc0 &&
			    !utf8_valid((const unsigned char *)in.p, in.len) &&
			    utf8_valid((const unsigned char *)in.p, i - 1))
				in.len = i - 1;
			break;
		}
	}
	buf_init(&tmp, 4 * TEXT_CHUNK + 64);
	while (in.len > 0 && out->len < cap) {
		k = in.len < TEXT_CHUNK ? in.len : TEXT_CHUNK;
		if (k < in.len) {
			const char *lf = memchr(in.p + k / 2, '\n', k - k / 2);

			if (lf != NULL)
				k = (size_t)(lf - in.p) + 1;
		}
		buf_reset(&tmp);
		(void)mime_charset_to_utf8(charset, slice_make(in.p, k), &tmp);
		put(out, cap, tmp.p != NULL ? tmp.p : "", tmp.len);
		in = slice_skip(in, k);
	}
	buf_clear(&tmp);
}

/* The value without CR and LF (unfolded) and trimmed, into a scratch
 * buffer of the field cap. */
static struct slice
unfold(struct slice v, struct buf *tmp)
{
	size_t i;

	buf_reset(tmp);
	v = slice_trim(v);
	for (i = 0; i < v.len; i++)
		if (v.p[i] != '\r' && v.p[i] != '\n')
			(void)buf_append(tmp, &v.p[i], 1);
	return buf_slice(tmp);
}

void
text_field(struct text_extract *t, struct slice name, struct slice value)
{
	static const char *const names[] = { "From", "To", "Cc", "Bcc",
		"Subject" };
	struct buf tmp, dec;
	struct buf *h = &t->col[INGEST_TEXT_HEADERS];
	size_t i, cap = col_max[INGEST_TEXT_HEADERS];

	buf_init(&tmp, INGEST_TEXT_FIELD_MAX);
	buf_init(&dec, 2 * INGEST_TEXT_FIELD_MAX);
	(void)buf_append(&dec, "", 0);
	(void)mime_header_decode(unfold(value, &tmp), &dec);
	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		struct buf *c = &t->col[i];

		if (!slice_eq_ci(name, slice_cstr(names[i])))
			continue;
		if (c->len > 0)
			put(c, col_max[i], " ", 1);
		put(c, col_max[i], dec.p, dec.len);
	}
	put(h, cap, name.p, name.len);
	put(h, cap, ": ", 2);
	put(h, cap, dec.p, dec.len);
	put(h, cap, "\n", 1);
	buf_clear(&tmp);
	buf_clear(&dec);
}

void
text_leaf_begin(struct text_extract *t, const struct mime_part_info *pi)
{
	t->in_text = strcasecmp(pi->ct.type, "text") == 0 &&
	    (strcasecmp(pi->ct.subtype, "plain") == 0 ||
	        strcasecmp(pi->ct.subtype, "html") == 0);
	if (!t->in_text)
		return;
	t->html = strcasecmp(pi->ct.subtype, "html") == 0;
	t->cte = pi->cte;
	(void)str_copy(t->charset, sizeof(t->charset), pi->ct.charset);
	if (t->cte == MIME_CTE_BASE64)
		b64_decoder_init(&t->dec.b64);
	else if (t->cte == MIME_CTE_QP)
		qp_decoder_init(&t->dec.qp);
	buf_reset(&t->part);
}

/* What the body column can still take, as raw decoded bytes. */
static size_t
part_room(const struct text_extract *t)
{
	size_t used = t->col[INGEST_TEXT_BODY].len + t->part.len;

	return used < INGEST_TEXT_BODY_MAX ? INGEST_TEXT_BODY_MAX - used : 0;
}

static void
part_put(struct text_extract *t, const void *p, size_t n)
{
	size_t room = part_room(t);

	(void)buf_append(&t->part, p, n < room ? n : room);
}

void
text_leaf_data(struct text_extract *t, struct slice raw)
{
	unsigned char out[1024 + 8];
	size_t k, n;

	if (!t->in_text)
		return;
	while (raw.len > 0 && part_room(t) > 0) {
		k = raw.len < 1024 ? raw.len : 1024;
		if (t->cte == MIME_CTE_BASE64)
			n = b64_decode(&t->dec.b64, raw.p, k, out);
		else if (t->cte == MIME_CTE_QP)
			n = qp_decode(&t->dec.qp, raw.p, k, out);
		else
			memcpy(out, raw.p, n = k);
		part_put(t, out, n);
		raw = slice_skip(raw, k);
	}
}

/* Crude HTML to text: tags out (a space for those that separate
 * words), script and style contents out, the common entities in. */
static void
html_strip(struct slice in, struct buf *out, size_t cap)
{
	static const struct {
		const char *name, *text;
	} ents[] = { { "amp;", "&" }, { "lt;", "<" }, { "gt;", ">" },
		{ "quot;", "\"" }, { "apos;", "'" }, { "nbsp;", " " } };
	static const char *const inline_tags[] = { "b>", "b ", "i>", "i ", "u>",
		"u ", "span", "a ", "a>", "font", "em>", "strong", "/b>", "/i>",
		"/u>", "/span", "/a>", "/font", "/em>", "/strong" };
	size_t i = 0, k, skip_len;
	const char *skip_to = NULL;

	while (i < in.len && out->len < cap) {
		char c = in.p[i];

		if (c == '<') {
			struct slice rest = slice_skip(in, i + 1);
			const char *gt = memchr(in.p + i, '>', in.len - i);
			bool sep = true;

			if (slice_has_prefix_ci(rest, SLICE_LIT("script")))
				skip_to = "</script";
			else if (slice_has_prefix_ci(rest, SLICE_LIT("style")))
				skip_to = "</style";
			for (k = 0;
			     k < sizeof(inline_tags) / sizeof(*inline_tags);
			     k++)
				if (slice_has_prefix_ci(rest,
				        slice_cstr(inline_tags[k])))
					sep = false;
			if (gt == NULL)
				break;
			i = (size_t)(gt - in.p) + 1;
			if (skip_to != NULL) {
				skip_len = strlen(skip_to);
				while (i < in.len &&
				    !slice_has_prefix_ci(slice_skip(in, i),
				        slice_make(skip_to, skip_len)))
					i++;
				skip_to = NULL;
				continue;
			}
			if (sep)
				put(out, cap, " ", 1);
			continue;
		}
		if (c == '&') {
			struct slice rest = slice_skip(in, i + 1);

			for (k = 0; k < sizeof(ents) / sizeof(*ents); k++)
				if (slice_has_prefix_ci(rest,
				        slice_cstr(ents[k].name)))
					break;
			if (k < sizeof(ents) / sizeof(*ents)) {
				put(out, cap, ents[k].text,
				    strlen(ents[k].text));
				i += 1 + strlen(ents[k].name);
				continue;
			}
		}
		put(out, cap, &in.p[i], 1);
		i++;
	}
}

void
text_leaf_end(struct text_extract *t)
{
	unsigned char tail[8];
	struct buf *body = &t->col[INGEST_TEXT_BODY];
	struct buf conv;
	size_t n = 0;

	if (!t->in_text)
		return;
	t->in_text = false;
	if (t->cte == MIME_CTE_BASE64)
		n = b64_decode_finish(&t->dec.b64, tail);
	else if (t->cte == MIME_CTE_QP)
		n = qp_decode_finish(&t->dec.qp, tail);
	part_put(t, tail, n);
	if (t->part.len == 0)
		return;
	if (body->len > 0)
		put(body, INGEST_TEXT_BODY_MAX, "\n", 1);
	if (!t->html) {
		to_utf8(t->charset, buf_slice(&t->part), body,
		    INGEST_TEXT_BODY_MAX);
	} else {
		/* Tags are ASCII in every charset read here: strip first,
		 * then convert what is left (no second full-size copy). */
		buf_init(&conv, t->part.len + 8);
		(void)buf_append(&conv, "", 0);
		html_strip(buf_slice(&t->part), &conv, t->part.len);
		to_utf8(t->charset, buf_slice(&conv), body,
		    INGEST_TEXT_BODY_MAX);
		buf_clear(&conv);
	}
	buf_reset(&t->part);
}
