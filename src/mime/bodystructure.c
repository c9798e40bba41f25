/* SPDX-License-Identifier: MIT */
/* BODY and BODYSTRUCTURE (RFC 9051 §7.5.2, RFC 3501 §7.4.2 grammar) of a
 * part tree: body-type-1part / -mpart / -msg, body-fld-lines for text and
 * message parts, extension data when extended. Header values are written
 * raw, as the RFC wants; Content-Type parameters lose their quoting. */
#include <string.h>

#include "lib/err.h"
#include "mime/imapdata_int.h"
#include "mime/lex.h"
#include "mime/limits.h"
#include "mime/structure_int.h"

#include "lib/banned.h"

/* Parameters written per field; more are dropped (none seen in practice
 * past a handful; this keeps one part's answer small). */
#define PARAMS_MAX 64

/* An empty multipart is not expressible (1*body): like Dovecot, it gets
 * one empty text/plain part. */
#define EMPTY_PART                                                             \
	"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0"
#define EMPTY_EXT " NIL NIL NIL NIL"

struct bs {
	const struct mime_structure *s;
	struct buf *out;
	bool extended;
	struct buf val; /* a field's unfolded value */
	struct buf tmp; /* parameter values */
};

static int
put(struct bs *b, const char *str)
{
	return buf_append(b->out, str, strlen(str)) != 0 ? ERR_LIMIT : 0;
}

static void
skip_cfws(struct slice *v)
{
	unsigned nest = 0;
	size_t i;

	for (i = 0; i < v->len; i++) {
		char c = v->p[i];

		if (nest > 0) {
			if (c == '\\' && i + 1 < v->len)
				i++;
			else if (c == '(')
				nest++;
			else if (c == ')')
				nest--;
		} else if (c == '(') {
			nest++;
		} else if (!mime_is_ws(c)) {
			break;
		}
	}
	*v = slice_skip(*v, i);
}

static struct slice
take_token(struct slice *v)
{
	size_t i = 0;

	while (i < v->len && mime_is_token_char(v->p[i]))
		i++;
	struct slice t = slice_make(v->p, i);
	*v = slice_skip(*v, i);
	return t;
}

/* A parameter value appended to b->tmp: quoted-string unquoted, or
 * (leniently) anything up to ';' or whitespace. */
static int
take_value(struct bs *b, struct slice *v)
{
	size_t i = 0;

	if (v->len > 0 && v->p[0] == '"') {
		for (i = 1; i < v->len && v->p[i] != '"'; i++) {
			if (v->p[i] == '\\' && i + 1 < v->len)
				i++;
			if (buf_append(&b->tmp, v->p + i, 1) != 0)
				return ERR_LIMIT;
		}
		*v = slice_skip(*v, i + 1);
		return 0;
	}
	while (i < v->len && v->p[i] != ';' && !mime_is_ws(v->p[i]) &&
	    v->p[i] != '(')
		i++;
	if (buf_append(&b->tmp, v->p, i) != 0)
		return ERR_LIMIT;
	*v = slice_skip(*v, i);
	return 0;
}

struct param {
	struct slice attr, base; /* base: attr without "*N" / "*N*" */
	size_t off, len;         /* the value in b->tmp */
	int section;             /* RFC 2231 §3 continuation, -1 if none */
	bool encoded;            /* the name ends in '*' (RFC 2231 §4) */
};

/* Splits an RFC 2231 name: "title*1*" is base "title", section 1,
 * encoded. */
static void
param_name(struct param *pm)
{
	struct slice a = pm->attr;
	size_t star, i;
	unsigned sec = 0;

	pm->base = a;
	pm->section = -1;
	pm->encoded = a.len > 0 && a.p[a.len - 1] == '*';
	if (pm->encoded)
		a.len--;
	star = a.len;
	while (star > 0 && a.p[star - 1] >= '0' && a.p[star - 1] <= '9')
		star--;
	if (star == a.len || star == 0 || a.p[star - 1] != '*' ||
	    a.len - star > 4)
		return;
	for (i = star; i < a.len; i++)
		sec = sec * 10 + (unsigned)(a.p[i] - '0');
	pm->section = (int)sec;
	pm->base = slice_make(a.p, star - 1);
}

static int
put_param(struct bs *b, bool first, struct slice name, bool star,
    struct slice value)
{
	struct buf nm;
	int rc;

	buf_init(&nm, MIME_FIELD_MAX);
	if (buf_append_slice(&nm, name) != 0 ||
	    buf_append(&nm, "*", star ? 1 : 0) != 0) {
		buf_clear(&nm);
		return ERR_LIMIT;
	}
	if ((rc = put(b, first ? "(" : " ")) == 0 &&
	    (rc = imap_put_upper(b->out, buf_slice(&nm))) == 0 &&
	    (rc = put(b, " ")) == 0)
		rc = imap_put_string(b->out, value);
	buf_clear(&nm);
	return rc;
}

/* body-fld-param from ";" attr "=" value ... at v: "(" ... ")" or NIL.
 * RFC 2231 continuations are joined as Dovecot does: "name*0*",
 * "name*1*"... become one "name*" whose value keeps its charset'lang'
 * prefix and %-encoding; plain continuations become one "name".
 * With text, a missing charset is given as US-ASCII (RFC 2045 §5.2), as
 * Dovecot does. */
static int
put_params(struct bs *b, struct slice v, bool text)
{
	struct param pm[PARAMS_MAX];
	struct buf joined;
	size_t n = 0, i, k, out = 0;
	int rc = 0, want;
	bool charset = false;

	buf_reset(&b->tmp);
	(void)buf_append(&b->tmp, "", 0); /* storage even for "" values */
	while (n < PARAMS_MAX) {
		skip_cfws(&v);
		if (v.len == 0 || v.p[0] != ';')
			break;
		v = slice_skip(v, 1);
		skip_cfws(&v);
		pm[n].attr = take_token(&v);
		skip_cfws(&v);
		if (pm[n].attr.len == 0 || v.len == 0 || v.p[0] != '=')
			break;
		v = slice_skip(v, 1);
		skip_cfws(&v);
		pm[n].off = b->tmp.len;
		if ((rc = take_value(b, &v)) != 0)
			return rc;
		pm[n].len = b->tmp.len - pm[n].off;
		param_name(&pm[n]);
		n++;
	}
	buf_init(&joined, MIME_FIELD_MAX);
	for (i = 0; i < n && rc == 0; i++) {
		charset =
		    charset || slice_eq_ci(pm[i].base, SLICE_LIT("charset"));
		if (pm[i].section < 0) {
			rc = put_param(b, out++ == 0, pm[i].attr, false,
			    slice_make(b->tmp.p + pm[i].off, pm[i].len));
			continue;
		}
		if (pm[i].section != 0)
			continue; /* joined to its section 0 */
		buf_reset(&joined);
		(void)buf_append(&joined, "", 0);
		for (want = 0, k = 0; k < n; k++) {
			if (pm[k].section != want ||
			    !slice_eq_ci(pm[k].base, pm[i].base))
				continue;
			if (buf_append(&joined, b->tmp.p + pm[k].off,
			        pm[k].len) != 0) {
				rc = ERR_LIMIT;
				break;
			}
			want++;
			k = (size_t)-1; /* sections may come in any order */
		}
		if (rc == 0)
			rc = put_param(b, out++ == 0, pm[i].base, pm[i].encoded,
			    buf_slice(&joined));
	}
	buf_clear(&joined);
	if (rc == 0 && text && !charset)
		rc = put_param(b, out++ == 0, SLICE_LIT("CHARSET"), false,
		    SLICE_LIT("US-ASCII"));
	if (rc != 0)
		return rc;
	return put(b, out > 0 ? ")" : "NIL");
}

/* The unfolded value of field name of part idx in b->val; false if
 * absent. */
static bool
field(struct bs *b, uint32_t idx, const char *name)
{
	return mime_header_get(structure_saved(b->s, idx), name, &b->val);
}

static int
put_field_nstring(struct bs *b, uint32_t idx, const char *name)
{
	if (!field(b, idx, name))
		return put(b, "NIL");
	return imap_put_string(b->out, buf_slice(&b->val));
}

/* Content-Type parameters: the value past "type/subtype". */
static int
put_ct_params(struct bs *b, uint32_t idx)
{
	const struct part_info *pi = &b->s->info[idx];
	bool text = strcmp(pi->type, "text") == 0;
	struct slice v;

	if (!pi->ct_present || !field(b, idx, "Content-Type"))
		return put_params(b, SLICE_LIT(""), text);
	v = buf_slice(&b->val);
	skip_cfws(&v);
	(void)take_token(&v);
	skip_cfws(&v);
	if (v.len > 0 && v.p[0] == '/')
		v = slice_skip(v, 1);
	skip_cfws(&v);
	(void)take_token(&v);
	return put_params(b, v, text);
}

/* body-fld-dsp: "(" type SP params ")" or NIL. */
static int
put_disposition(struct bs *b, uint32_t idx)
{
	struct slice v, type;
	int rc;

	if (!field(b, idx, "Content-Disposition"))
		return put(b, "NIL");
	v = buf_slice(&b->val);
	skip_cfws(&v);
	type = take_token(&v);
	if (type.len == 0)
		return put(b, "NIL");
	if ((rc = put(b, "(")) != 0 ||
	    (rc = imap_put_upper(b->out, type)) != 0 ||
	    (rc = put(b, " ")) != 0 || (rc = put_params(b, v, false)) != 0)
		return rc;
	return put(b, ")");
}

/* body-fld-lang: a list of strings, or NIL. */
static int
put_language(struct bs *b, uint32_t idx)
{
	struct slice v, tags[16], t;
	size_t n = 0, i;
	int rc;

	if (!field(b, idx, "Content-Language"))
		return put(b, "NIL");
	v = buf_slice(&b->val);
	while (n < 16) {
		skip_cfws(&v);
		i = 0;
		while (i < v.len && v.p[i] != ',' && !mime_is_ws(v.p[i]) &&
		    v.p[i] != '(')
			i++;
		t = slice_make(v.p, i);
		v = slice_skip(v, i);
		if (t.len > 0)
			tags[n++] = t;
		skip_cfws(&v);
		if (v.len == 0)
			break;
		if (v.p[0] == ',')
			v = slice_skip(v, 1);
		else if (t.len == 0)
			v = slice_skip(v, 1); /* garbage: step over */
	}
	if (n == 0)
		return put(b, "NIL");
	/* Always the list form, even for one tag, as Dovecot writes it. */
	for (i = 0; i < n; i++)
		if ((rc = put(b, i == 0 ? "(" : " ")) != 0 ||
		    (rc = imap_put_string(b->out, tags[i])) != 0)
			return rc;
	return put(b, ")");
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc, after a SP. */
static int
put_ext_common(struct bs *b, uint32_t idx)
{
	int rc;

	if ((rc = put(b, " ")) != 0 || (rc = put_disposition(b, idx)) != 0 ||
	    (rc = put(b, " ")) != 0 || (rc = put_language(b, idx)) != 0 ||
	    (rc = put(b, " ")) != 0)
		return rc;
	return put_field_nstring(b, idx, "Content-Location");
}

static int
put_encoding(struct bs *b, uint32_t idx)
{
	static const char *const names[] = { "\"7BIT\"", "\"8BIT\"",
		"\"BINARY\"", "\"BASE64\"", "\"QUOTED-PRINTABLE\"" };
	int cte = b->s->parts[idx].cte;
	struct slice v;

	if (cte >= MIME_CTE_7BIT && cte <= MIME_CTE_QP)
		return put(b, names[cte]);
	if (!field(b, idx, "Content-Transfer-Encoding"))
		return put(b, names[0]);
	v = buf_slice(&b->val);
	skip_cfws(&v);
	v = take_token(&v);
	return v.len > 0 ? imap_put_upper(b->out, v) : put(b, names[0]);
}

static int write_part(struct bs *b, uint32_t idx);

static int
write_multipart(struct bs *b, uint32_t idx)
{
	const struct mime_part *p = &b->s->parts[idx];
	uint32_t c;
	int rc;

	if ((rc = put(b, "(")) != 0)
		return rc;
	if (p->first_child == MIME_PART_NONE &&
	    ((rc = put(b, EMPTY_PART)) != 0 ||
	        (b->extended && (rc = put(b, EMPTY_EXT)) != 0) ||
	        (rc = put(b, ")")) != 0))
		return rc;
	for (c = p->first_child; c != MIME_PART_NONE;
	     c = b->s->parts[c].next_sibling)
		if ((rc = write_part(b, c)) != 0)
			return rc;
	if ((rc = put(b, " ")) != 0 ||
	    (rc = imap_put_upper(b->out,
	         slice_cstr(b->s->info[idx].subtype))) != 0)
		return rc;
	if (b->extended) {
		if ((rc = put(b, " ")) != 0 ||
		    (rc = put_ct_params(b, idx)) != 0 ||
		    (rc = put_ext_common(b, idx)) != 0)
			return rc;
	}
	return put(b, ")");
}

static int
write_leaf(struct bs *b, uint32_t idx)
{
	const struct mime_part *p = &b->s->parts[idx];
	const struct part_info *pi = &b->s->info[idx];
	/* message/global is written as a basic part, as Dovecot does: RFC
	 * 3501's grammar has no envelope for it, so IMAP4rev1 clients would
	 * not expect one. */
	bool is_msg = p->is_message && p->first_child != MIME_PART_NONE &&
	    strcmp(pi->subtype, "rfc822") == 0;
	int rc;

	if ((rc = put(b, "(")) != 0 ||
	    (rc = imap_put_upper(b->out, slice_cstr(pi->type))) != 0 ||
	    (rc = put(b, " ")) != 0 ||
	    (rc = imap_put_upper(b->out, slice_cstr(pi->subtype))) != 0 ||
	    (rc = put(b, " ")) != 0 || (rc = put_ct_params(b, idx)) != 0 ||
	    (rc = put(b, " ")) != 0 ||
	    (rc = put_field_nstring(b, idx, "Content-ID")) != 0 ||
	    (rc = put(b, " ")) != 0 ||
	    (rc = put_field_nstring(b, idx, "Content-Description")) != 0 ||
	    (rc = put(b, " ")) != 0 || (rc = put_encoding(b, idx)) != 0 ||
	    buf_printf(b->out, " %llu",
	        (unsigned long long)(p->end_off - p->body_off)) != 0)
		return ERR_LIMIT;
	if (is_msg) {
		/* body-type-msg: envelope, the embedded body, its lines. */
		if ((rc = put(b, " ")) != 0 ||
		    (rc = mime_envelope(structure_saved(b->s, p->first_child),
		         b->out)) != 0 ||
		    (rc = put(b, " ")) != 0 ||
		    (rc = write_part(b, p->first_child)) != 0)
			return rc;
	}
	if ((is_msg || strcmp(pi->type, "text") == 0) &&
	    buf_printf(b->out, " %llu", (unsigned long long)p->body_lines) != 0)
		return ERR_LIMIT;
	if (b->extended) {
		if ((rc = put(b, " ")) != 0 ||
		    (rc = put_field_nstring(b, idx, "Content-MD5")) != 0 ||
		    (rc = put_ext_common(b, idx)) != 0)
			return rc;
	}
	return put(b, ")");
}

/* Recursion is bounded by the tree's depth (MIME_DEPTH_MAX). */
static int
write_part(struct bs *b, uint32_t idx)
{
	/* A multipart without a usable boundary has no parts; like Dovecot
	 * it is still written as a (empty) multipart. */
	if (b->s->parts[idx].is_multipart ||
	    strcmp(b->s->info[idx].type, "multipart") == 0)
		return write_multipart(b, idx);
	return write_leaf(b, idx);
}

int
mime_bodystructure(const struct mime_structure *s, uint32_t idx, bool extended,
    struct buf *out)
{
	struct bs b = { .s = s, .out = out, .extended = extended };
	size_t start = out->len;
	int rc;

	if (!s->finished || idx >= s->n)
		return ERR_INPUT;
	buf_init(&b.val, MIME_FIELD_MAX);
	buf_init(&b.tmp, MIME_FIELD_MAX);
	rc = write_part(&b, idx);
	buf_clear(&b.val);
	buf_clear(&b.tmp);
	if (rc != 0) {
		out->len = start;
		if (out->p != NULL)
			out->p[start] = '\0';
		return ERR_LIMIT;
	}
	return 0;
}
