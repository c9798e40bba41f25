/* SPDX-License-Identifier: MIT */
/* Modified UTF-7 (RFC 3501 §5.1.3) <-> UTF-8, strict both ways, as
 * Dovecot's imap-utf7.c is: a name is accepted only in the one form this
 * encoder would produce. Refused when decoding:
 * - bytes outside 0x20..0x7e (raw 8-bit, controls);
 * - "&" not closed by "-", a base64 character outside [A-Za-z0-9+,];
 * - a shifted run that encodes a printable US-ASCII character (it must
 *   stand for itself) or that is empty other than "&-";
 * - a shifted run right after another one ("&AMk-&AMk-": one run);
 * - leftover bits: six or more, or not zero;
 * - UTF-16 surrogates unpaired or in the wrong order;
 * - U+0000 (names are C strings further on; encoding refuses it too).
 * Other controls and U+007F are encoded, as RFC 3501 says.
 * On false, out is left as it was. */
#include <string.h>

#include "imap/mutf7.h"

#include "lib/banned.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Decodes one UTF-8 sequence at s[*i]; -1 if invalid (overlong,
 * surrogate, > U+10FFFF, truncated). */
static long
utf8_next(struct slice s, size_t *i)
{
	const unsigned char *p = (const unsigned char *)s.p + *i;
	size_t left = s.len - *i, n, k;
	unsigned long cp, min;

	if (p[0] < 0x80) {
		*i += 1;
		return p[0];
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (left < n)
		return -1;
	for (k = 1; k < n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n;
	return (long)cp;
}

bool
utf8_valid(struct slice in)
{
	size_t i = 0;

	while (i < in.len)
		if (utf8_next(in, &i) < 0)
			return false;
	return true;
}

static bool
put_utf8(struct buf *out, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, u, n) == 0;
}

/* Decodes the run after "&" at in[*i] up to its "-" (consumed). */
static bool
decode_run(struct slice in, size_t *i, struct buf *out)
{
	unsigned long bits = 0, hi_sur = 0;
	unsigned nbits = 0;
	size_t j = *i, units = 0;

	for (;;) {
		int v;

		if (j >= in.len)
			return false; /* unterminated */
		if (in.p[j] == '-')
			break;
		v = b64_val((unsigned char)in.p[j]);
		if (v < 0)
			return false;
		j++;
		bits = (bits << 6) | (unsigned long)v;
		nbits += 6;
		if (nbits >= 16) {
			unsigned long u = (bits >> (nbits - 16)) & 0xffff;

			nbits -= 16;
			bits &= (1ul << nbits) - 1;
			units++;
			if (hi_sur != 0) {
				if (u < 0xdc00 || u > 0xdfff)
					return false;
				if (!put_utf8(out,
				        0x10000 + ((hi_sur - 0xd800) << 10) +
				            (u - 0xdc00)))
					return false;
				hi_sur = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				hi_sur = u;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				return false;
			} else if (u == 0 || (u >= 0x20 && u <= 0x7e)) {
				return false; /* NUL; or ASCII that must stand
				               * for itself */
			} else if (!put_utf8(out, u)) {
				return false;
			}
		}
	}
	if (hi_sur != 0 || nbits >= 6 || bits != 0 || units == 0)
		return false;
	*i = j + 1;
	return true;
}

bool
mutf7_to_utf8(struct slice in, struct buf *out)
{
	size_t i = 0, start = out->len;
	bool after_run = false;

	while (i < in.len) {
		unsigned char c = (unsigned char)in.p[i];

		if (c < 0x20 || c > 0x7e)
			goto bad;
		if (c != '&') {
			if (buf_append(out, &in.p[i], 1) != 0)
				goto bad;
			i++;
			after_run = false;
			continue;
		}
		i++;
		if (i < in.len && in.p[i] == '-') {
			if (buf_append(out, "&", 1) != 0)
				goto bad;
			i++;
			after_run = false;
			continue;
		}
		if (after_run || !decode_run(in, &i, out))
			goto bad;
		after_run = true;
	}
	return true;
bad:
	out->len = start;
	if (out->p != NULL)
		out->p[start] = '\0';
	return false;
}

/* Base64 state of a shifted run being written. */
struct enc {
	unsigned long bits;
	unsigned nbits;
	bool open;
};

static bool
enc_unit(struct enc *e, struct buf *out, unsigned u)
{
	char c;

	if (!e->open) {
		if (buf_append(out, "&", 1) != 0)
			return false;
		e->open = true;
		e->bits = 0;
		e->nbits = 0;
	}
	e->bits = (e->bits << 16) | u;
	e->nbits += 16;
	while (e->nbits >= 6) {
		c = b64[(e->bits >> (e->nbits - 6)) & 0x3f];
		e->nbits -= 6;
		if (buf_append(out, &c, 1) != 0)
			return false;
	}
	e->bits &= (1ul << e->nbits) - 1;
	return true;
}

static bool
enc_close(struct enc *e, struct buf *out)
{
	char c;

	if (!e->open)
		return true;
	e->open = false;
	if (e->nbits > 0) {
		c = b64[(e->bits << (6 - e->nbits)) & 0x3f];
		if (buf_append(out, &c, 1) != 0)
			return false;
	}
	return buf_append(out, "-", 1) == 0;
}

bool
mutf7_from_utf8(struct slice in, struct buf *out)
{
	struct enc e = { 0 };
	size_t i = 0, start = out->len;

	while (i < in.len) {
		long cp = utf8_next(in, &i);

		if (cp <= 0)
			goto bad; /* invalid UTF-8, or NUL */
		if (cp >= 0x20 && cp <= 0x7e) {
			char ch = (char)cp;

			if (!enc_close(&e, out) ||
			    (ch == '&' ? buf_append(out, "&-", 2)
			               : buf_append(out, &ch, 1)) != 0)
				goto bad;
		} else if (cp >= 0x10000) {
			cp -= 0x10000;
			if (!enc_unit(&e, out,
			        (unsigned)(0xd800 + (cp >> 10))) ||
			    !enc_unit(&e, out,
			        (unsigned)(0xdc00 + (cp & 0x3ff))))
				goto bad;
		} else if (!enc_unit(&e, out, (unsigned)cp)) {
			goto bad;
		}
	}
	if (!enc_close(&e, out))
		goto bad;
	return true;
bad:
	out->len = start;
	if (out->p != NULL)
		out->p[start] = '\0';
	return false;
}
