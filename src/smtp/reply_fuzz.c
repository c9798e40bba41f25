/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the SMTP reply parser: the input is fed whole,
 * then again in two pieces, reply after reply; results must be the same
 * and stay inside their bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the parser over in, split at cut; returns a checksum of results. */
static unsigned long
run(const uint8_t *data, size_t size, size_t cut)
{
	static struct smtp_reply r;
	struct slice s;
	enum smtp_reply_rc rc;
	unsigned long sum = 0;
	size_t used, pos = 0, end;

	smtp_reply_init(&r);
	while (pos < size) {
		end = pos < cut ? cut : size;
		s = slice_make(data + pos, end - pos);
		rc = smtp_reply_push(&r, s, &used);
		if (used > s.len)
			abort();
		pos += used;
		if (rc == SMTP_REPLY_DONE) {
			if (r.code < 200 || r.code > 599 ||
			    strlen(r.text) > SMTP_REPLY_TEXT_MAX ||
			    r.n_lines == 0 ||
			    r.n_lines > SMTP_REPLY_LINES_MAX ||
			    strlen(r.enhanced) >= sizeof(r.enhanced))
				abort();
			sum = sum * 31 + (unsigned long)r.code + r.n_lines +
			    strlen(r.text);
			continue;
		}
		if (rc != SMTP_REPLY_MORE) {
			sum = sum * 31 + 1000 + (unsigned long)rc;
			break;
		}
		if (used != s.len)
			abort();
	}
	return sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (run(data, size, size) != run(data, size, size / 2))
		abort();
	return 0;
}
