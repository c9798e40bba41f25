/* SPDX-License-Identifier: MIT */
/* RFC 2047 encoded words in header values: "=?charset?B|Q?text?=",
 * decoded and converted to UTF-8. Adjacent encoded words separated only
 * by whitespace are joined (§6.2), and their bytes are converted together
 * when they share a charset, since senders split multi-byte characters
 * across words. Anything that is not a well-formed word stays as it is. */
#include <string.h>

#include "lib/codec.h"
#include "lib/err.h"
#include "lib/str.h"
#include "mime/imapdata.h"
#include "mime/imapdata_int.h"
#include "mime/limits.h"

#include "lib/banned.h"

#define CHARSET_MAX 64

struct word {
	char charset[CHARSET_MAX];
	char enc;          /* 'B' or 'Q' */
	struct slice text; /* between the third '?' and "?=" */
	size_t len;        /* whole word, "=?" to "?=" */
};

/* Is there an encoded word at s? */
static bool
word_parse(struct slice s, struct word *w)
{
	size_t i = 2, cs, q;
	struct slice charset;

	if (s.len < 8 || s.p[0] != '=' || s.p[1] != '?')
		return false;
	cs = i;
	while (i < s.len && s.p[i] != '?' && s.p[i] != ' ' && s.p[i] != '\t')
		i++;
	if (i + 2 >= s.len || s.p[i] != '?' || i == cs)
		return false;
	charset = slice_make(s.p + cs, i - cs);
	/* RFC 2231 §5: charset*language. */
	if ((q = slice_find(charset, '*')) != SIZE_MAX)
		charset.len = q;
	if (!str_from_slice(w->charset, sizeof(w->charset), charset))
		return false;
	i++;
	w->enc = s.p[i] == 'b' || s.p[i] == 'B' ? 'B'
	    : s.p[i] == 'q' || s.p[i] == 'Q'    ? 'Q'
	                                        : 0;
	if (w->enc == 0 || s.p[i + 1] != '?')
		return false;
	i += 2;
	q = i;
	while (i + 1 < s.len && !(s.p[i] == '?' && s.p[i + 1] == '=')) {
		if (s.p[i] == ' ' || s.p[i] == '\t' || s.p[i] == '?')
			return false;
		i++;
	}
	if (i + 1 >= s.len)
		return false;
	w->text = slice_make(s.p + q, i - q);
	w->len = i + 2;
	return true;
}

/* Decodes the word's text, appending bytes to raw. */
static int
word_decode(const struct word *w, struct buf *raw)
{
	unsigned char tmp[64 / 4 * 3 + 3];
	struct b64_decoder d;
	size_t i, n;
	int h, l;
	char c;

	if (w->enc == 'B') {
		b64_decoder_init(&d);
		for (i = 0; i < w->text.len; i += n) {
			n = w->text.len - i < 64 ? w->text.len - i : 64;
			if (buf_append(raw, tmp,
			        b64_decode(&d, w->text.p + i, n, tmp)) != 0)
				return ERR_LIMIT;
		}
		return buf_append(raw, tmp, b64_decode_finish(&d, tmp)) != 0
		    ? ERR_LIMIT
		    : 0;
	}
	for (i = 0; i < w->text.len; i++) {
		c = w->text.p[i];
		if (c == '_') {
			c = ' ';
		} else if (c == '=' && i + 2 < w->text.len &&
		    (h = str_hexval(w->text.p[i + 1])) >= 0 &&
		    (l = str_hexval(w->text.p[i + 2])) >= 0) {
			c = (char)(h << 4 | l);
			i += 2;
		}
		if (buf_append(raw, &c, 1) != 0)
			return ERR_LIMIT;
	}
	return 0;
}

struct decoder {
	struct buf *out;
	size_t start;         /* out->len when we began */
	struct buf pend;      /* decoded bytes not yet converted */
	char cs[CHARSET_MAX]; /* their charset */
};

static int
check(struct decoder *d)
{
	if (d->out->len - d->start > MIME_FIELD_MAX)
		return ERR_LIMIT;
	return 0;
}

static int
flush(struct decoder *d)
{
	int rc = 0;

	if (d->pend.len > 0)
		rc = mime_charset_to_utf8(d->cs, buf_slice(&d->pend), d->out);
	buf_reset(&d->pend);
	return rc != 0 ? rc : check(d);
}

static int
put_raw(struct decoder *d, struct slice s)
{
	int rc;

	if (s.len == 0)
		return 0;
	if ((rc = flush(d)) != 0)
		return rc;
	if ((rc = mime_charset_to_utf8("", s, d->out)) != 0)
		return rc;
	return check(d);
}

int
mime_header_decode(struct slice value, struct buf *out)
{
	struct decoder d = { .out = out, .start = out->len };
	struct word w;
	size_t i = 0, text = 0;
	bool after_word = false;
	int rc = 0;

	/* An empty value may come as { NULL, 0 } (an empty buf's slice, e.g.
	 * Outlook's "X-MS-TNEF-Correlator:"): NULL + 0 below is undefined
	 * behaviour, which UBSan (clang) aborts on. Found by smtp-session. */
	if (value.len == 0)
		return 0;
	buf_init(&d.pend, MIME_FIELD_MAX);
	while (i < value.len && rc == 0) {
		if (value.p[i] != '=' || i + 1 >= value.len ||
		    value.p[i + 1] != '?' ||
		    !word_parse(slice_skip(value, i), &w)) {
			if (value.p[i] != ' ' && value.p[i] != '\t' &&
			    value.p[i] != '\r' && value.p[i] != '\n')
				after_word = false;
			i++;
			continue;
		}
		/* Whitespace alone between two words is dropped. */
		if (!after_word)
			rc = put_raw(&d, slice_make(value.p + text, i - text));
		if (rc == 0 && d.pend.len > 0 && strcmp(d.cs, w.charset) != 0)
			rc = flush(&d);
		if (rc == 0) {
			(void)str_copy(d.cs, sizeof(d.cs), w.charset);
			rc = word_decode(&w, &d.pend);
		}
		i += w.len;
		text = i;
		after_word = true;
	}
	if (rc == 0)
		rc = put_raw(&d, slice_make(value.p + text, value.len - text));
	if (rc == 0)
		rc = flush(&d);
	buf_clear(&d.pend);
	if (rc != 0)
		return ERR_LIMIT;
	return 0;
}
