/* SPDX-License-Identifier: MIT */
/* Character classes shared by the header-field parsers of this layer
 * (RFC 5322 whitespace, RFC 2045 tokens). Internal to src/mime. */
#ifndef DESPATCH_MIME_LEX_H
#define DESPATCH_MIME_LEX_H

#include <stdbool.h>
#include <string.h>

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

#endif
