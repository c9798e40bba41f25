/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the RFC 2047 encoded-word decoder
 * (mime_header_decode, rfc2047.c). Properties:
 * - only ERR_LIMIT fails; what was in the output buffer stays; what is
 *   appended is valid UTF-8 and at most MIME_FIELD_MAX bytes;
 * - a value without "=?" that is valid UTF-8 comes out unchanged;
 * - valid UTF-8 text encoded as B or Q words (split at fuzzer-chosen
 *   points, multi-byte characters cut across words as senders do,
 *   separated by folding whitespace) decodes back to the text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/codec.h"
#include "lib/fuzz_split.h"
#include "mime/imapdata.h"
#include "mime/imapdata_int.h"
#include "mime/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "prefix:"
#define RT_MAX 2048

static bool
has_ew_start(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '=' && p[i + 1] == '?')
			return true;
	return false;
}

/* Encodes text as encoded words (B or Q by seed) into b. */
static void
encode_words(const uint8_t *p, size_t n, uint32_t seed, struct buf *b)
{
	static const char *const cs[] = { "UTF-8", "utf-8", "utf8",
		"UTF-8*en" };
	static const char *const sep[] = { " ", "\r\n ", "\t", "  \r\n\t" };
	struct fuzz_split sp;
	bool q = seed & 1;
	unsigned char tmp[128];
	struct b64_encoder e;
	size_t pos = 0, k, i;
	char hx[4];

	fuzz_split_init(&sp, seed >> 1, 1 + (seed >> 5) % 40);
	while (pos < n) {
		k = fuzz_split_next(&sp, n - pos);
		if (pos > 0)
			(void)buf_append(b, sep[(seed >> 9) % 4],
			    strlen(sep[(seed >> 9) % 4]));
		(void)buf_printf(b, "=?%s?%c?", cs[(seed >> 3) % 4],
		    q ? ((seed >> 2) & 1 ? 'q' : 'Q')
		      : ((seed >> 2) & 1 ? 'b' : 'B'));
		if (q) {
			for (i = 0; i < k; i++) {
				unsigned char c = p[pos + i];

				if ((c >= 'a' && c <= 'z') ||
				    (c >= 'A' && c <= 'Z') ||
				    (c >= '0' && c <= '9')) {
					(void)buf_append(b, &c, 1);
				} else if (c == ' ' && (seed >> 11) & 1) {
					(void)buf_append(b, "_", 1);
				} else {
					(void)snprintf(hx, sizeof(hx), "=%02X",
					    c);
					(void)buf_append(b, hx, 3);
				}
			}
		} else {
			b64_encoder_init(&e, 0);
			(void)buf_append(b, tmp,
			    b64_encode(&e, p + pos, k, tmp));
			(void)buf_append(b, tmp, b64_encode_finish(&e, 0, tmp));
		}
		(void)buf_append(b, "?=", 2);
		pos += k;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = fuzz_take_u32(&data, &size);
	struct slice in = slice_make(data, size), got;
	struct buf out, enc;
	int rc;

	if (size > 4 * MIME_FIELD_MAX)
		return 0;
	buf_init(&out, 8 * MIME_FIELD_MAX);
	/* Regression (smtp-session): an empty value as an empty buf's
	 * { NULL, 0 } slice, which the store's text extraction passes. */
	if (mime_header_decode(slice_make(NULL, 0), &out) != 0 || out.len != 0)
		abort();
	(void)buf_append(&out, PREFIX, strlen(PREFIX));
	rc = mime_header_decode(in, &out);
	if (rc != 0 && rc != ERR_LIMIT)
		abort();
	if (out.len < strlen(PREFIX) ||
	    memcmp(out.p, PREFIX, strlen(PREFIX)) != 0)
		abort();
	got = slice_make(out.p + strlen(PREFIX), out.len - strlen(PREFIX));
	if (rc == 0) {
		if (got.len > MIME_FIELD_MAX || !utf8_is_valid(got))
			abort();
		if (!has_ew_start(data, size) && utf8_is_valid(in) &&
		    !slice_eq(got, in))
			abort();
	}

	/* Round trip of valid UTF-8 text through encoded words. */
	if (size <= RT_MAX && utf8_is_valid(in)) {
		/* Worst case per input byte: a word of its own, "=?UTF-8*en?Q?"
		 * (13) + "=XX" + "?=" + the longest separator (5): 23. A
		 * smaller buffer truncated the encoding of ~1,900 bytes split
		 * one per word, and the round trip "failed". */
		buf_init(&enc, 24 * RT_MAX + 64);
		(void)buf_append(&enc, "Re: ", 4);
		encode_words(data, size, seed, &enc);
		buf_reset(&out);
		if (mime_header_decode(buf_slice(&enc), &out) != 0)
			abort();
		if (out.len != 4 + size || memcmp(out.p, "Re: ", 4) != 0 ||
		    memcmp(out.p + 4, data, size) != 0)
			abort();
		buf_clear(&enc);
	}
	buf_clear(&out);
	return 0;
}
