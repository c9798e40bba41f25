/* SPDX-License-Identifier: MIT */
/* Submission's header scan: the end of the header block and field
 * presence, over bytes the DATA scanner has already made CRLF-only. */
#include <string.h>

#include "smtp/submit.h"

#include "lib/banned.h"

bool
smtp_submit_header_end(struct slice held, size_t from, size_t *hdr_len_out)
{
	const char *end;

	if (held.len >= 2 && memcmp(held.p, "\r\n", 2) == 0) {
		*hdr_len_out = 0; /* no header fields at all */
		return true;
	}
	from = from >= 3 ? from - 3 : 0; /* "\r\n\r\n" may straddle */
	if (from >= held.len)
		return false;
	end = memmem(held.p + from, held.len - from, "\r\n\r\n", 4);
	if (end == NULL)
		return false;
	*hdr_len_out = (size_t)(end - held.p) + 2;
	return true;
}

bool
smtp_submit_has_field(struct slice hdr, struct slice name)
{
	size_t i = 0, j;
	const char *lf;

	while (i < hdr.len) {
		struct slice rest = slice_skip(hdr, i);

		if (rest.p[0] != ' ' && rest.p[0] != '\t' &&
		    slice_has_prefix_ci(rest, name)) {
			for (j = name.len; j < rest.len &&
			     (rest.p[j] == ' ' || rest.p[j] == '\t');
			     j++)
				;
			if (j < rest.len && rest.p[j] == ':')
				return true;
		}
		lf = memchr(rest.p, '\n', rest.len);
		i = lf == NULL ? hdr.len : (size_t)(lf - hdr.p) + 1;
	}
	return false;
}
