/* SPDX-License-Identifier: MIT */
/* CRLF line splitting with a hard limit; bare LF is an error. */
#include <stdbool.h>
#include <string.h>

#include "net/lineio.h"

#include "lib/banned.h"

enum line_rc
line_next(struct slice in, size_t max, struct slice *line_out, size_t *used_out)
{
	size_t scan = in.len < max + 2 ? in.len : max + 2;
	const char *lf = scan ? memchr(in.p, '\n', scan) : NULL;

	if (lf == NULL)
		return scan == max + 2 ? LINE_TOO_LONG : LINE_MORE;
	if (lf == in.p || lf[-1] != '\r') {
		*used_out = (size_t)(lf - in.p) + 1;
		return LINE_BARE_LF;
	}
	line_out->p = in.p;
	line_out->len = (size_t)(lf - in.p) - 1;
	*used_out = line_out->len + 2;
	return LINE_OK;
}

bool
line_skip(struct slice in, size_t *used_out)
{
	const char *lf = in.len ? memchr(in.p, '\n', in.len) : NULL;

	if (lf == NULL) {
		*used_out = in.len;
		return false;
	}
	*used_out = (size_t)(lf - in.p) + 1;
	return true;
}
