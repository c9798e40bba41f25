/* SPDX-License-Identifier: MIT */
/* libFuzzer target for modified UTF-7: decoding any bytes either fails
 * (leaving the output as it was) or gives valid UTF-8 that encodes back
 * to the very same input (strictness: one form per name); encoding any
 * valid UTF-8 without NUL gives printable ASCII that decodes back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/mutf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = slice_make(data, size);
	struct buf u, m, back;

	buf_init(&u, 1 << 24);
	buf_init(&m, 1 << 24);
	buf_init(&back, 1 << 24);
	if (mutf7_to_utf8(in, &u)) {
		check(utf8_valid(buf_slice(&u)));
		check(mutf7_from_utf8(buf_slice(&u), &m));
		check(m.len == size &&
		    (size == 0 || memcmp(m.p, data, size) == 0));
	} else {
		check(u.len == 0);
	}
	buf_reset(&m);
	if (utf8_valid(in) && memchr(data, 0, size) == NULL) {
		check(mutf7_from_utf8(in, &m));
		for (size_t i = 0; i < m.len; i++)
			check(m.p[i] >= 0x20 && m.p[i] <= 0x7e);
		check(mutf7_to_utf8(buf_slice(&m), &back));
		check(back.len == size &&
		    (size == 0 || memcmp(back.p, data, size) == 0));
	} else {
		check(!mutf7_from_utf8(in, &m));
	}
	buf_clear(&u);
	buf_clear(&m);
	buf_clear(&back);
	return 0;
}
