/* SPDX-License-Identifier: MIT */
/* The IMAP ENVELOPE (RFC 9051 §7.5.2) of a header block. Values stay raw
 * (encoded words encoded) as the RFC wants; display names lose their
 * quoting and comments, which are syntax, not content. */
#include <string.h>

#include "lib/err.h"
#include "lib/mem.h"
#include "mime/imapdata.h"
#include "mime/imapdata_int.h"
#include "mime/limits.h"

#include "lib/banned.h"

/* Addresses written per list. A To: line with more is cut (the rest is
 * still in BODY[HEADER]); 1000 matches the recipients limit of SMTP. */
#define ENVELOPE_ADDR_MAX 1000

struct env {
	struct slice block;
	struct buf *out;
	struct buf val, tmp;
	struct mime_address *addrs;
};

static int
put(struct buf *out, const char *s)
{
	return buf_append(out, s, strlen(s)) != 0 ? ERR_LIMIT : 0;
}

/* nstring of a field's unfolded value. */
static int
put_field(struct env *e, const char *name)
{
	if (!mime_header_get(e->block, name, &e->val))
		return put(e->out, "NIL");
	return imap_put_string(e->out, buf_slice(&e->val));
}

static int
put_part(struct env *e, struct slice s, bool nil_if_empty)
{
	if (s.len == 0 && nil_if_empty)
		return put(e->out, "NIL");
	return imap_put_string(e->out, s);
}

/* The local part with its quoting removed, as Dovecot writes it. */
static int
put_mailbox(struct env *e, struct slice m)
{
	bool inq = false;
	size_t i;

	if (m.len == 0 || m.p[0] != '"')
		return imap_put_string(e->out, m);
	buf_reset(&e->tmp);
	(void)buf_append(&e->tmp, "", 0);
	for (i = 0; i < m.len; i++) {
		if (m.p[i] == '"') {
			inq = !inq;
			continue;
		}
		if (inq && m.p[i] == '\\' && i + 1 < m.len)
			i++;
		if (buf_append(&e->tmp, m.p + i, 1) != 0)
			return ERR_LIMIT;
	}
	return imap_put_string(e->out, buf_slice(&e->tmp));
}

static int
put_address(struct env *e, const struct mime_address *a)
{
	int rc;

	buf_reset(&e->tmp);
	if (phrase_normalize(a->name, &e->tmp) != 0)
		return ERR_LIMIT;
	if ((rc = put(e->out, "(")) != 0)
		return rc;
	if (a->group_end) /* RFC 9051: (NIL NIL NIL NIL) ends a group */
		return put(e->out, "NIL NIL NIL NIL)");
	if (a->group_start) { /* (NIL NIL "group name" NIL) */
		if ((rc = put(e->out, "NIL NIL ")) != 0 ||
		    (rc = imap_put_string(e->out, buf_slice(&e->tmp))) != 0)
			return rc;
		return put(e->out, " NIL)");
	}
	/* A host is never NIL for a mailbox: that would mark a group. */
	if ((rc = put_part(e, buf_slice(&e->tmp), true)) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_part(e, a->adl, true)) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_mailbox(e, a->mailbox)) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_part(e, a->host, false)) != 0)
		return rc;
	return put(e->out, ")");
}

/* Writes the list of field name; false (nothing written) when the field
 * is absent or holds no address. */
static int
put_list(struct env *e, const char *name, bool *written_out)
{
	size_t n, i;
	int rc;

	*written_out = false;
	if (!mime_header_get(e->block, name, &e->val))
		return 0;
	n = mime_address_parse(buf_slice(&e->val), e->addrs, ENVELOPE_ADDR_MAX);
	if (n == 0)
		return 0;
	*written_out = true;
	if ((rc = put(e->out, "(")) != 0)
		return rc;
	for (i = 0; i < n; i++)
		if ((rc = put_address(e, &e->addrs[i])) != 0)
			return rc;
	return put(e->out, ")");
}

static int
put_list_or(struct env *e, const char *name, const char *dflt)
{
	bool written;
	int rc;

	if ((rc = put_list(e, name, &written)) != 0 || written)
		return rc;
	if (dflt != NULL) {
		if ((rc = put_list(e, dflt, &written)) != 0 || written)
			return rc;
	}
	return put(e->out, "NIL");
}

static int
envelope(struct env *e)
{
	int rc;

	if ((rc = put(e->out, "(")) != 0 || (rc = put_field(e, "Date")) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_field(e, "Subject")) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_list_or(e, "From", NULL)) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_list_or(e, "Sender", "From")) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_list_or(e, "Reply-To", "From")) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_list_or(e, "To", NULL)) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_list_or(e, "Cc", NULL)) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_list_or(e, "Bcc", NULL)) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_field(e, "In-Reply-To")) != 0 ||
	    (rc = put(e->out, " ")) != 0 ||
	    (rc = put_field(e, "Message-ID")) != 0)
		return rc;
	return put(e->out, ")");
}

int
mime_envelope(struct slice header_block, struct buf *out)
{
	struct env e = { .block = header_block, .out = out };
	size_t start = out->len;
	int rc;

	buf_init(&e.val, MIME_FIELD_MAX);
	buf_init(&e.tmp, MIME_FIELD_MAX);
	e.addrs = xcalloc(ENVELOPE_ADDR_MAX, sizeof(*e.addrs));
	rc = envelope(&e);
	xfree(&e.addrs);
	buf_clear(&e.val);
	buf_clear(&e.tmp);
	if (rc != 0) { /* nothing half-written */
		out->len = start;
		if (out->p != NULL)
			out->p[start] = '\0';
		return ERR_LIMIT;
	}
	return 0;
}
