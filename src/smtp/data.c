/* SPDX-License-Identifier: MIT */
/* End-of-data detection and dot-unstuffing (RFC 5321 §4.1.1.4, §4.5.2).
 *
 * SMTP smuggling works when two servers disagree on where DATA ends. We
 * end it only at CRLF "." CRLF where the first CRLF is a real one (or the
 * start of data), and treat every other combination of CR, LF and dot as
 * content, normalising the bare CR or LF to CRLF. The one-line-start
 * state `bol_real` is what keeps "\n.\r\n" (LF.CRLF) from ending DATA
 * even though the dot line itself looks right. */
#include "smtp/data.h"

#include "lib/banned.h"

enum {
	D_BOL,    /* at the start of a line */
	D_MID,    /* inside a line */
	D_CR,     /* after CR, LF not yet seen */
	D_DOT,    /* a dot at the start of a line */
	D_DOT_CR, /* dot, CR at the start of a line */
};

static const char received[] = "received:";

void
smtp_data_init(struct smtp_data *d, bool dot_mode)
{
	*d = (struct smtp_data){ .state = D_BOL,
		.dot_mode = dot_mode,
		.bol_real = true,
		.in_headers = true,
		.match = 0 };
}

/* Counts Received: fields in the header block of what we emit. The
 * output's line ends are always CRLF, so an empty line is "\r\n". */
static void
scan_headers(struct smtp_data *d, const char *p, size_t n)
{
	size_t i;
	int ch;

	for (i = 0; i < n && d->in_headers; i++) {
		ch = (unsigned char)p[i];
		if (ch == '\n') {
			if (d->line_len == 1)
				d->in_headers = false;
			d->line_len = 0;
			d->match = 0;
			continue;
		}
		if (d->match >= 0) {
			if (ch >= 'A' && ch <= 'Z')
				ch += 32;
			if (ch == received[d->match]) {
				if (++d->match == (int)sizeof(received) - 1) {
					d->received++;
					d->match = -1;
				}
			} else {
				d->match = -1;
			}
		}
		d->line_len++;
	}
}

static size_t
emit_crlf(char *out, size_t o)
{
	out[o++] = '\r';
	out[o++] = '\n';
	return o;
}

bool
smtp_data_push(struct smtp_data *d, struct slice in, char *out, size_t *out_len,
    size_t *used_out)
{
	size_t i = 0, o = 0;
	bool end = false;
	char c;

	while (i < in.len && !end) {
		c = in.p[i];
		switch (d->state) {
		case D_BOL:
			if (c == '.' && d->dot_mode) {
				d->state = D_DOT;
				i++;
				break;
			}
			d->state = D_MID;
			break; /* the same byte again, as line content */
		case D_MID:
			if (c == '\r') {
				d->state = D_CR;
			} else if (c == '\n') { /* bare LF */
				d->bare_seen = true;
				o = emit_crlf(out, o);
				d->state = D_BOL;
				d->bol_real = false;
			} else {
				out[o++] = c;
			}
			i++;
			break;
		case D_CR:
			o = emit_crlf(out, o);
			d->state = D_BOL;
			if (c == '\n') {
				d->bol_real = true;
				i++;
			} else { /* bare CR; the byte starts the next line */
				d->bare_seen = true;
				d->bol_real = false;
			}
			break;
		case D_DOT:
			if (c == '\r') {
				d->state = D_DOT_CR;
				i++;
			} else if (c == '\n') { /* "." bare LF: content */
				d->bare_seen = true;
				out[o++] = '.';
				o = emit_crlf(out, o);
				d->state = D_BOL;
				d->bol_real = false;
				i++;
			} else { /* a stuffed dot goes; the byte is content */
				d->state = D_MID;
			}
			break;
		case D_DOT_CR:
			if (c == '\n' && d->bol_real) {
				end = true;
				d->state = D_BOL;
				i++;
				break;
			}
			out[o++] = '.';
			o = emit_crlf(out, o);
			d->state = D_BOL;
			if (c ==
			    '\n') { /* LF "." CRLF: a real CRLF after all */
				d->bol_real = true;
				i++;
			} else { /* "." bare CR */
				d->bare_seen = true;
				d->bol_real = false;
			}
			break;
		}
	}
	scan_headers(d, out, o);
	*out_len = o;
	*used_out = i;
	return end;
}

void
smtp_data_finish(struct smtp_data *d, char *out, size_t *out_len)
{
	size_t o = 0;

	if (d->state == D_CR) {
		d->bare_seen = true;
		o = emit_crlf(out, o);
	}
	d->state = D_BOL;
	scan_headers(d, out, o);
	*out_len = o;
}
