/* SPDX-License-Identifier: MIT */
/* libFuzzer target for RFC 2231 parameter decoding (mime_param_get,
 * rfc2231.c). Properties:
 * - only 0, ERR_NOTFOUND or ERR_LIMIT; on an error the output buffer is
 *   as it was; on success what is appended is valid UTF-8 of at most
 *   MIME_RFC2231_VALUE_MAX bytes, the info within its bounds;
 * - valid UTF-8 text written as a client would (continuations cut at
 *   fuzzer-chosen points, multi-byte characters split across sections,
 *   extended and quoted sections mixed, sections in a shuffled order
 *   among other parameters, or one name* value) decodes back to the
 *   same text, with the charset and language given. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/fuzz_split.h"
#include "mime/imapdata_int.h"
#include "mime/limits.h"
#include "mime/rfc2231.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "kept"
#define RT_MAX 1500

static const char *const names[] = { "filename", "name", "title", "charset",
	"boundary", "url" };

struct sec {
	size_t off, len;
	bool ext;
};

static bool
plain_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

static void
put_section(struct buf *b, const char *name, size_t k, const uint8_t *p,
    const struct sec *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	char e[3];

	(void)buf_printf(b, ";\r\n %s*%zu%s=", name, k, s->ext ? "*" : "");
	if (k == 0 && s->ext)
		(void)buf_printf(b, "UTF-8'en-GB'");
	if (!s->ext) {
		(void)buf_append(b, "\"", 1);
		for (i = 0; i < s->len; i++) {
			if (p[s->off + i] == '"' || p[s->off + i] == '\\')
				(void)buf_append(b, "\\", 1);
			(void)buf_append(b, p + s->off + i, 1);
		}
		(void)buf_append(b, "\"", 1);
		return;
	}
	for (i = 0; i < s->len; i++) {
		unsigned char c = p[s->off + i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-') {
			(void)buf_append(b, &c, 1);
		} else {
			e[0] = '%';
			e[1] = hex[c >> 4];
			e[2] = hex[c & 15];
			(void)buf_append(b, e, 3);
		}
	}
}

static void
round_trip(const uint8_t *p, size_t n, uint32_t seed)
{
	const char *name = names[seed % 6];
	struct sec sec[MIME_RFC2231_SECTIONS_MAX];
	size_t order[MIME_RFC2231_SECTIONS_MAX];
	struct mime_param_info pi;
	size_t ns = 0, pos = 0, k, i, j, t, maxlen;
	struct fuzz_split sp;
	struct buf v, out;

	maxlen = n / (MIME_RFC2231_SECTIONS_MAX - 2) + 1 + (seed >> 3) % 40;
	fuzz_split_init(&sp, seed >> 7, maxlen);
	while (pos < n && ns < MIME_RFC2231_SECTIONS_MAX) {
		k = fuzz_split_next(&sp, n - pos);
		sec[ns].off = pos;
		sec[ns].len = k;
		/* A quoted section only for printable ASCII (section 0 is
		 * extended, it carries the charset). */
		sec[ns].ext = ns == 0 || !plain_ok(p + pos, k) ||
		    ((seed >> (ns % 32)) & 1);
		ns++;
		pos += k;
	}
	if (pos < n)
		return; /* cannot happen: maxlen makes it fit */
	for (i = 0; i < ns; i++)
		order[i] = i;
	for (i = ns; i > 1; i--) { /* a seeded shuffle */
		seed = seed * 1103515245u + 12345u;
		j = (seed >> 8) % i;
		t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	buf_init(&v, 16 * RT_MAX + 4096);
	buf_init(&out, 2 * MIME_RFC2231_VALUE_MAX);
	(void)buf_printf(&v, "attachment; size=%zu", n);
	if (ns <= 1 && (seed & 1)) { /* the single name* form */
		struct sec one = { 0, n, true };
		struct buf tmp;

		(void)buf_printf(&v, ";\r\n %s*=UTF-8'en-GB'", name);
		buf_init(&tmp, 16 * RT_MAX + 4096);
		put_section(&tmp, name, 1, p, &one);
		/* only the encoded text, not the ";\r\n name*1*=" */
		t = strlen(name) + 8;
		(void)buf_append(&v, tmp.p + t, tmp.len - t);
		buf_clear(&tmp);
	} else {
		for (i = 0; i < ns; i++) {
			put_section(&v, name, order[i], p, &sec[order[i]]);
			if ((seed >> (i % 32)) & 2)
				(void)buf_printf(&v, "; x-other*%zu=junk", i);
		}
	}
	if (n == 0 && ns == 0)
		(void)buf_printf(&v, "; %s*=UTF-8'en-GB'", name);
	if (mime_param_get(buf_slice(&v), name, &out, &pi) != 0 ||
	    out.len != n || (n > 0 && memcmp(out.p, p, n) != 0) ||
	    strcmp(pi.charset, "UTF-8") != 0 || strcmp(pi.language, "en-GB") != 0) {
		fprintf(stderr, "rfc2231 round trip failed: %.*s\n",
		    (int)(v.len < 2000 ? v.len : 2000), v.p);
		abort();
	}
	buf_clear(&v);
	buf_clear(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = fuzz_take_u32(&data, &size);
	struct mime_param_info pi;
	struct buf out;
	struct slice got;
	int rc;

	if (size > 4 * MIME_FIELD_MAX)
		return 0;
	buf_init(&out, 4 * MIME_RFC2231_VALUE_MAX);
	(void)buf_append(&out, PREFIX, strlen(PREFIX));
	memset(&pi, 0x5a, sizeof(pi));
	rc = mime_param_get(slice_make(data, size), names[seed % 6], &out,
	    &pi);
	if (out.len < strlen(PREFIX) ||
	    memcmp(out.p, PREFIX, strlen(PREFIX)) != 0)
		abort();
	got = slice_make(out.p + strlen(PREFIX), out.len - strlen(PREFIX));
	if (rc == 0) {
		if (got.len > MIME_RFC2231_VALUE_MAX || !utf8_is_valid(got) ||
		    memchr(pi.charset, '\0', sizeof(pi.charset)) == NULL ||
		    memchr(pi.language, '\0', sizeof(pi.language)) == NULL ||
		    pi.sections > MIME_RFC2231_SECTIONS_MAX)
			abort();
	} else if ((rc != ERR_NOTFOUND && rc != ERR_LIMIT) || got.len != 0) {
		abort();
	}
	buf_clear(&out);
	if (size <= RT_MAX && utf8_is_valid(slice_make(data, size)))
		round_trip(data, size, seed);
	return 0;
}
