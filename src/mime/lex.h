/* SPDX-License-Identifier: MIT */
/* Character classes and the quoted-string skip shared by the header-field
 * parsers of this layer (RFC 5322 whitespace and quoted strings, RFC 2045
 * tokens). Internal to src/mime. */
#ifndef DESPATCH_MIME_LEX_H
#define DESPATCH_MIME_LEX_H

#include <stdbool.h>
#include <string.h>

#include "lib/slice.h"

/* Whitespace inside an unfolded field: SP and HTAB, and the CR and LF of
 * a fold. */
static inline bool
mime_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A character of an RFC 2045 token: not SP, a CTL or a tspecial. ('*',
 * '\'' and '%', which RFC 2231's extended values use, are token
 * characters.) */
static inline bool
mime_is_token_char(char c)
{
	unsigned char u = (unsigned char)c;

	if (u <= 32 || u == 127)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* From the opening quote of a quoted-string at s.p[i] to one past its
 * closing quote, skipping quoted pairs; s.len if it is not closed. */
static inline size_t
mime_skip_quoted(struct slice s, size_t i)
{
	for (i++; i < s.len; i++) {
		if (s.p[i] == '\\' && i + 1 < s.len)
			i++;
		else if (s.p[i] == '"')
			return i + 1;
	}
	return s.len;
}

#endif
