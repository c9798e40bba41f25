/* SPDX-License-Identifier: MIT */
/* Response writers: every byte to the client goes through imap_write
 * (session.c buffers it, compresses it under COMPRESS=DEFLATE and hands
 * it to the connection). Strings choose the cheapest safe form: atom,
 * quoted, or literal. Mailbox names go out as modified UTF-7 unless the
 * session enabled IMAP4rev2 or UTF8=ACCEPT. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/mutf7.h"
#include "imap/session_int.h"
#include "lib/mem.h"
#include "lib/str.h"

#include "lib/banned.h"

/* Strings longer than this go out as literals even when they could be
 * quoted (quoted strings are for short values). */
#define QUOTED_MAX 1024

void
imap_write(struct imap_session *s, const void *p, size_t n)
{
	imap_out_append(s, p, n);
}

void
imap_printf(struct imap_session *s, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		imap_out_append(s, tmp, (size_t)n);
		return;
	}
	{
		/* A long line: format again on the heap. */
		size_t cap = (size_t)n + 1;
		char *heap = xmalloc(cap);

		va_start(ap, fmt);
		(void)vsnprintf(heap, cap, fmt, ap);
		va_end(ap);
		imap_out_append(s, heap, (size_t)n);
		free(heap);
	}
}

static bool
is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

static bool
is_astring_char(unsigned char c)
{
	return c == ']' || is_atom_char(c);
}

static bool
quotable(struct slice str, bool utf8)
{
	size_t i;

	if (str.len > QUOTED_MAX)
		return false;
	for (i = 0; i < str.len; i++) {
		unsigned char c = (unsigned char)str.p[i];

		if (c == '\0' || c == '\r' || c == '\n')
			return false;
		if (c >= 0x80 && !utf8)
			return false;
	}
	if (utf8) {
		for (i = 0; i < str.len; i++)
			if ((unsigned char)str.p[i] >= 0x80)
				return utf8_valid(str);
	}
	return true;
}

static void
buf_quoted(struct buf *b, struct slice str)
{
	size_t i;

	(void)buf_append(b, "\"", 1);
	for (i = 0; i < str.len; i++) {
		if (str.p[i] == '"' || str.p[i] == '\\')
			(void)buf_append(b, "\\", 1);
		(void)buf_append(b, str.p + i, 1);
	}
	(void)buf_append(b, "\"", 1);
}

/* Appends str as an astring (atom, quoted or literal). */
static void
buf_astring(struct buf *b, struct slice str, bool utf8, bool atom_ok)
{
	size_t i;
	bool atom = atom_ok && str.len > 0 && str.len <= QUOTED_MAX;

	for (i = 0; atom && i < str.len; i++)
		if (!is_astring_char((unsigned char)str.p[i]))
			atom = false;
	if (atom && str.len == 3 && slice_eq_ci(str, SLICE_LIT("NIL")))
		atom = false;
	if (atom) {
		(void)buf_append(b, str.p, str.len);
		return;
	}
	if (quotable(str, utf8)) {
		buf_quoted(b, str);
		return;
	}
	(void)buf_printf(b, "{%zu}\r\n", str.len);
	(void)buf_append(b, str.p, str.len);
}

void
imap_buf_astring(struct buf *b, struct slice str, bool utf8)
{
	buf_astring(b, str, utf8, true);
}

bool
imap_session_utf8(const struct imap_session *s)
{
	return (s->enabled & (IMAP_ENABLED_REV2 | IMAP_ENABLED_UTF8)) != 0;
}

static void
write_string(struct imap_session *s, struct slice str, bool atom_ok)
{
	struct buf b;

	if (str.len > QUOTED_MAX) {
		/* Big values go straight out as a literal. */
		imap_write_literal_header(s, str.len, false);
		imap_write(s, str.p, str.len);
		return;
	}
	buf_init(&b, 2 * QUOTED_MAX + 64);
	buf_astring(&b, str, imap_session_utf8(s), atom_ok);
	imap_write(s, b.p, b.len);
	buf_clear(&b);
}

void
imap_write_astring(struct imap_session *s, struct slice str)
{
	write_string(s, str, true);
}

void
imap_write_nstring(struct imap_session *s, struct slice str)
{
	if (str.p == NULL) {
		imap_write(s, "NIL", 3);
		return;
	}
	write_string(s, str, false);
}

void
imap_buf_mailbox(const struct imap_session *s, struct buf *b, const char *name)
{
	struct buf enc;
	struct slice n = slice_cstr(name);
	bool utf8 = imap_session_utf8(s);

	if (!utf8) {
		buf_init(&enc, 8 * STORE_MAILBOX_NAME_MAX + 64);
		if (mutf7_from_utf8(n, &enc) && enc.p != NULL)
			buf_astring(b, buf_slice(&enc), false, true);
		else
			buf_astring(b, n, false, true);
		buf_clear(&enc);
		return;
	}
	buf_astring(b, n, true, true);
}

void
imap_write_mailbox(struct imap_session *s, const char *name)
{
	struct buf b;

	buf_init(&b, 16 * STORE_MAILBOX_NAME_MAX + 64);
	imap_buf_mailbox(s, &b, name);
	if (b.p != NULL)
		imap_write(s, b.p, b.len);
	buf_clear(&b);
}

void
imap_write_literal_header(struct imap_session *s, uint64_t n, bool binary)
{
	imap_printf(s, "%s{%llu}\r\n", binary ? "~" : "",
	    (unsigned long long)n);
}

const char *
imap_arg_mailbox(struct imap_session *s, const struct imap_arg *a)
{
	struct slice str;
	struct buf dec;
	char *out;

	if (!imap_arg_string(a, &str) || str.len == 0 ||
	    str.len > 4 * STORE_MAILBOX_NAME_MAX ||
	    memchr(str.p, '\0', str.len) != NULL)
		return NULL;
	if (slice_eq_ci(str, SLICE_LIT("INBOX")))
		return "INBOX";
	if (imap_session_utf8(s)) {
		if (!utf8_valid(str))
			return NULL;
		return arena_strndup(s->cmd_arena, str.p, str.len);
	}
	buf_init(&dec, 4 * STORE_MAILBOX_NAME_MAX + 64);
	if (!mutf7_to_utf8(str, &dec)) {
		buf_clear(&dec);
		return NULL;
	}
	out = arena_strndup(s->cmd_arena, dec.p != NULL ? dec.p : "", dec.len);
	buf_clear(&dec);
	if (out != NULL && strncmp(out, "INBOX", 5) != 0 &&
	    strncasecmp(out, "INBOX/", 6) == 0)
		memcpy(out, "INBOX", 5); /* INBOX's children: one spelling */
	return out;
}

void
imap_capabilities(struct imap_session *s, struct buf *out)
{
	bool pre = s->state == IMAP_STATE_NOAUTH;

	(void)buf_append_slice(out, SLICE_LIT("IMAP4rev1 IMAP4rev2"));
	if (pre) {
		if (imap_session_starttls_offered(s))
			(void)buf_append_slice(out, SLICE_LIT(" STARTTLS"));
		if (!imap_session_login_allowed(s))
			(void)buf_append_slice(out,
			    SLICE_LIT(" LOGINDISABLED"));
		else
			(void)buf_append_slice(out,
			    SLICE_LIT(" AUTH=PLAIN SASL-IR"));
		(void)buf_append_slice(out, SLICE_LIT(" LITERAL-"));
	} else {
		(void)buf_append_slice(out, SLICE_LIT(" LITERAL+"));
	}
	(void)buf_append_slice(out,
	    SLICE_LIT(" ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE "
	              "CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE "
	              "CREATE-SPECIAL-USE CONDSTORE QRESYNC ESEARCH SEARCHRES "
	              "SORT ESORT THREAD=REFERENCES THREAD=ORDEREDSUBJECT "
	              "STATUS=SIZE BINARY MULTIAPPEND UTF8=ACCEPT QUOTA "
	              "QUOTA=RES-STORAGE QUOTA=RES-MESSAGE"));
	(void)buf_printf(out, " APPENDLIMIT=%llu",
	    (unsigned long long)s->max_message_size);
	(void)buf_append_slice(out, SLICE_LIT(" PREVIEW"));
	if (!s->priv->compress)
		(void)buf_append_slice(out, SLICE_LIT(" COMPRESS=DEFLATE"));
}
