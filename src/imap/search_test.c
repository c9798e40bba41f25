/* SPDX-License-Identifier: MIT */
/* Unit tests for SEARCH, SORT and THREAD. The pure parts (search_thread.c:
 * sort order, reply detection, message-id parsing, the RFC 5256
 * REFERENCES and ORDEREDSUBJECT algorithms) over plain arrays; then the
 * commands of cmd_search.c end to end against a real store (FTS index,
 * header blocks, MIME decoding) with the session functions they call
 * replaced by the small fakes below (a view built from the store's
 * entries, output captured in a buffer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "imap/imap_int.h"
#include "imap/search_int.h"
#include "imap/search_thread.h"
#include "store/sqlite/test_util.h"
/* cmd_search.c, search_eval.c and search_thread.c come from the library;
 * the session functions they call are faked below (so resp.c, view.c
 * and session.c are never linked in). */
#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/str.h"

#define NELEM(x) (sizeof(x) / sizeof((x)[0]))

/* A message for the tests: id = seq = index + 1, date = given. */
static struct sort_msg
mk(size_t i, const char *mid, const char *refs, const char *irt,
    const char *subject, bool reply, int64_t date)
{
	struct sort_msg m;

	memset(&m, 0, sizeof(m));
	m.id = m.seq = (uint32_t)(i + 1);
	m.date = m.arrival = date;
	m.message_id = slice_cstr(mid);
	m.references = slice_cstr(refs);
	m.in_reply_to = slice_cstr(irt);
	m.subject = slice_cstr(subject);
	m.is_reply = reply;
	m.from = m.to = m.cc = m.displayfrom = m.displayto = slice_cstr("");
	return m;
}

static void
expect_refs(const struct sort_msg *m, size_t n, const char *want)
{
	struct buf b;

	buf_init(&b, 1 << 24);
	assert_int_equal(thread_references(m, n, &b), 0);
	assert_string_equal(b.p != NULL ? b.p : "", want);
	buf_clear(&b);
}

static void
test_thread_basic(void **state)
{
	struct sort_msg m[5];

	(void)state;
	m[0] = mk(0, "a@x", "", "", "hello", false, 10);
	m[1] = mk(1, "b@x", "<a@x>", "<a@x>", "hello", true, 20);
	m[2] = mk(2, "c@x", "<a@x> <b@x>", "", "hello", true, 30);
	m[3] = mk(3, "d@x", "", "", "other", false, 40);
	m[4] = mk(4, "e@x", "<a@x>", "", "hello", true, 50);
	expect_refs(m, 5, "(1 (2 3)(5))(4)");
}

static void
test_thread_in_reply_to_only(void **state)
{
	struct sort_msg m[2];

	(void)state;
	m[0] = mk(0, "a@x", "", "", "one", false, 10);
	m[1] = mk(1, "b@x", "", "<a@x> (comment) <zz@x>", "two", false, 20);
	expect_refs(m, 2, "(1 2)");
}

static void
test_thread_dummies(void **state)
{
	struct sort_msg m[3];

	(void)state;
	/* a missing parent with two children stays as a dummy root */
	m[0] = mk(0, "a@x", "<gone@x>", "", "s1", false, 10);
	m[1] = mk(1, "b@x", "<gone@x>", "", "s2", false, 20);
	expect_refs(m, 2, "((1)(2))");
	/* with one child it is promoted */
	expect_refs(m, 1, "(1)");
	/* a missing middle: a <- (gone) <- c becomes a <- c */
	m[0] = mk(0, "a@x", "", "", "s1", false, 10);
	m[1] = mk(1, "c@x", "<a@x> <gone@x>", "", "s2", false, 20);
	m[2] = mk(2, "d@x", "", "", "s3", false, 30);
	expect_refs(m, 3, "(1 2)(3)");
}

static void
test_thread_subjects(void **state)
{
	struct sort_msg m[4];

	(void)state;
	/* a reply without references joins the original by subject */
	m[0] = mk(0, "a@x", "", "", "hello", false, 10);
	m[1] = mk(1, "b@x", "", "", "hello", true, 20);
	expect_refs(m, 2, "(1 2)");
	/* a reply seen first still goes under the original */
	m[0] = mk(0, "b@x", "", "", "hello", true, 10);
	m[1] = mk(1, "a@x", "", "", "hello", false, 20);
	expect_refs(m, 2, "(2 1)");
	/* two non-replies become siblings under a dummy */
	m[0] = mk(0, "a@x", "", "", "hi", false, 10);
	m[1] = mk(1, "b@x", "", "", "hi", false, 20);
	m[2] = mk(2, "c@x", "", "", "hi", true, 30);
	expect_refs(m, 3, "((1)(2)(3))");
	/* empty subjects are never grouped */
	m[0] = mk(0, "a@x", "", "", "", false, 10);
	m[1] = mk(1, "b@x", "", "", "", false, 20);
	expect_refs(m, 2, "(1)(2)");
	/* a dummy root collects a same-subject message as a child */
	m[0] = mk(0, "a@x", "<gone@x>", "", "t", true, 10);
	m[1] = mk(1, "b@x", "<gone@x>", "", "t", true, 20);
	m[2] = mk(2, "c@x", "", "", "t", false, 5);
	m[3] = mk(3, "d@x", "", "", "u", false, 1);
	expect_refs(m, 4, "(4)((3)(1)(2))");
}

static void
test_thread_duplicates_and_loops(void **state)
{
	struct sort_msg m[3];

	(void)state;
	/* a duplicate message id gets a unique one */
	m[0] = mk(0, "a@x", "", "", "s1", false, 10);
	m[1] = mk(1, "a@x", "", "", "s2", false, 20);
	m[2] = mk(2, "c@x", "<a@x>", "", "s3", false, 30);
	expect_refs(m, 3, "(1 3)(2)");
	/* references that loop do not loop the algorithm */
	m[0] = mk(0, "a@x", "<b@x>", "", "s1", false, 10);
	m[1] = mk(1, "b@x", "<a@x>", "", "s2", false, 20);
	m[2] = mk(2, "c@x", "<c@x> <a@x> <c@x>", "", "s3", false, 30);
	{
		struct buf b;

		buf_init(&b, 4096);
		assert_int_equal(thread_references(m, 3, &b), 0);
		assert_non_null(strchr(b.p, '1'));
		assert_non_null(strchr(b.p, '2'));
		assert_non_null(strchr(b.p, '3'));
		buf_clear(&b);
	}
}

static void
test_thread_dates(void **state)
{
	struct sort_msg m[4];

	(void)state;
	m[0] = mk(0, "a@x", "", "", "s1", false, 300);
	m[1] = mk(1, "b@x", "", "", "s2", false, 100);
	m[2] = mk(2, "c@x", "<a@x>", "", "s3", false, 50);
	m[3] = mk(3, "d@x", "<a@x>", "", "s4", false, 50);
	/* equal dates keep sequence order */
	expect_refs(m, 4, "(2)(1 (3)(4))");
}

/* A reference chain 100 000 deep: no recursion may follow it. */
static void
test_thread_deep_chain(void **state)
{
	enum { N = 100000 };
	struct sort_msg *m = xcalloc(N, sizeof(*m));
	char(*ids)[16] = xcalloc(N, sizeof(*ids));
	char(*refs)[20] = xcalloc(N, sizeof(*refs));
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < N; i++) {
		assert_true(str_fmt(ids[i], sizeof(ids[i]), "%zu@x", i));
		if (i > 0)
			assert_true(str_fmt(refs[i], sizeof(refs[i]), "<%zu@x>",
			    i - 1));
		m[i] = mk(i, ids[i], refs[i], "", "s", i > 0, (int64_t)i);
	}
	buf_init(&b, 1 << 24);
	assert_int_equal(thread_references(m, N, &b), 0);
	assert_true(b.len > 5 * N);
	assert_memory_equal(b.p, "(1 2 3 4 ", 9);
	assert_memory_equal(b.p + b.len - 8, " 100000)", 8);
	buf_reset(&b);
	assert_int_equal(thread_orderedsubject(m, N, &b), 0);
	assert_memory_equal(b.p, "(1 (2)(3)", 9);
	buf_clear(&b);
	xfree(&m);
	xfree(&ids);
	xfree(&refs);
}

static void
test_thread_orderedsubject(void **state)
{
	struct sort_msg m[5];
	struct buf b;

	(void)state;
	m[0] = mk(0, "", "", "", "a", false, 3);
	m[1] = mk(1, "", "", "", "b", false, 1);
	m[2] = mk(2, "", "", "", "a", false, 2);
	m[3] = mk(3, "", "", "", "c", false, 9);
	m[4] = mk(4, "", "", "", "a", false, 7);
	buf_init(&b, 4096);
	assert_int_equal(thread_orderedsubject(m, 5, &b), 0);
	assert_string_equal(b.p, "(2)(3 (1)(5))(4)");
	buf_reset(&b);
	assert_int_equal(thread_orderedsubject(m, 3, &b), 0);
	assert_string_equal(b.p, "(2)(3 1)");
	buf_reset(&b);
	assert_int_equal(thread_orderedsubject(m, 0, &b), 0);
	assert_int_equal(b.len, 0);
	/* a full buffer is ERR_LIMIT, never an overflow */
	buf_clear(&b);
	buf_init(&b, 3);
	assert_int_not_equal(thread_orderedsubject(m, 5, &b), 0);
	buf_clear(&b);
}

static void
test_sort(void **state)
{
	struct sort_msg m[4];
	uint32_t order[4] = { 0, 1, 2, 3 };
	struct sort_crit c1[] = { { SORT_SUBJECT, false },
		{ SORT_SIZE, true } };
	struct sort_crit c2[] = { { SORT_FROM, true } };

	(void)state;
	m[0] = mk(0, "", "", "", "b", false, 0);
	m[1] = mk(1, "", "", "", "a", false, 0);
	m[2] = mk(2, "", "", "", "b", false, 0);
	m[3] = mk(3, "", "", "", "a", false, 0);
	m[0].size = 10;
	m[2].size = 20;
	m[1].size = m[3].size = 5;
	m[0].from = slice_cstr("zed");
	m[1].from = slice_cstr("amy");
	m[2].from = slice_cstr("zed");
	m[3].from = slice_cstr("");
	sort_msgs(m, order, 4, c1, 2);
	assert_int_equal(order[0], 1); /* a, size tie: by seq */
	assert_int_equal(order[1], 3);
	assert_int_equal(order[2], 2); /* b, larger first */
	assert_int_equal(order[3], 0);
	sort_msgs(m, order, 4, c2, 1);
	assert_int_equal(order[0], 0); /* REVERSE FROM; ties by seq */
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 1);
	assert_int_equal(order[3], 3);
}

static void
test_subject_is_reply(void **state)
{
	(void)state;
	assert_true(subject_is_reply(slice_cstr("Re: x")));
	assert_true(subject_is_reply(slice_cstr("  RE[2]: x")));
	assert_true(subject_is_reply(slice_cstr("[list] Fwd: x")));
	assert_true(subject_is_reply(slice_cstr("fw : x")));
	assert_true(subject_is_reply(slice_cstr("x (FWD)  ")));
	assert_false(subject_is_reply(slice_cstr("Regarding: x")));
	assert_false(subject_is_reply(slice_cstr("[list] x")));
	assert_false(subject_is_reply(slice_cstr("")));
	assert_false(subject_is_reply(slice_cstr("re")));
}

static void
test_msgid(void **state)
{
	struct slice v = slice_cstr(" <a@b> junk <> < c@d >\r\n\t<e <f@g>"), id;
	size_t pos = 0;

	(void)state;
	assert_true(msgid_next(v, &pos, &id));
	assert_true(slice_eq(id, slice_cstr("a@b")));
	assert_true(msgid_next(v, &pos, &id));
	assert_true(slice_eq(id, slice_cstr("c@d")));
	assert_true(msgid_next(v, &pos, &id));
	assert_true(slice_eq(id, slice_cstr("f@g")));
	assert_false(msgid_next(v, &pos, &id));
	assert_int_equal(msgid_first(slice_cstr("no id")).len, 0);
	assert_int_equal(msgid_first(slice_cstr("<unterminated")).len, 0);
	assert_true(
	    slice_eq(msgid_first(slice_cstr("<x@y>")), slice_cstr("x@y")));
}

/* --- end to end: the commands over a real store ------------------------ */

/* Fakes of the session functions cmd_search.c calls. */
static struct buf out_buf; /* everything "sent" */
static int finished;       /* imap_cmd_finish calls */

void
imap_write(struct imap_session *s, const void *p, size_t n)
{
	(void)s;
	assert_int_equal(buf_append(&out_buf, p, n), 0);
}

void
imap_cmd_finish(struct imap_session *s, const char *status, const char *fmt,
    ...)
{
	char text[512];
	va_list ap;

	(void)s;
	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	assert_int_equal(buf_printf(&out_buf, "T %s %s\r\n", status, text), 0);
	finished++;
}

void
imap_condstore_enable(struct imap_session *s)
{
	s->enabled |= IMAP_ENABLED_CONDSTORE;
}

const char *
imap_msg_keywords(const struct imap_view *v, const struct imap_msg *m)
{
	return v->kwsets[m->kw];
}

bool
imap_view_resolve(struct imap_session *s, struct slice set, bool uid,
    uint32_t **idx_out, size_t *n_out)
{
	const struct imap_view *v = s->view;
	struct seqset ss;
	uint32_t *idx, key;
	size_t i, n = 0;

	if (set.len == 1 && set.p[0] == '$') {
		idx = arena_alloc(s->cmd_arena, (v->n + 1) * sizeof(*idx));
		for (i = 0; i < v->n; i++)
			for (size_t j = 0; j < s->n_searchres; j++)
				if (s->searchres[j] == v->msgs[i].uid)
					idx[n++] = (uint32_t)i;
		*idx_out = idx;
		*n_out = n;
		return true;
	}
	if (!seqset_parse(s->cmd_arena, set, &ss))
		return false;
	seqset_resolve(&ss,
	    uid ? (v->n ? v->msgs[v->n - 1].uid : 0) : (uint32_t)v->n);
	if (!uid)
		for (i = 0; i < ss.n; i++)
			if (ss.r[i].hi > v->n)
				return false;
	idx = arena_alloc(s->cmd_arena, (v->n + 1) * sizeof(*idx));
	for (i = 0; i < v->n; i++) {
		key = uid ? v->msgs[i].uid : (uint32_t)i + 1;
		if (seqset_contains(&ss, key))
			idx[n++] = (uint32_t)i;
	}
	*idx_out = idx;
	*n_out = n;
	return true;
}

/* The corpus of tests/integration/test_imap_search.py. */
static const char *const e2e_msgs[] = {
	"From: Alice Example <alice@example.org>\r\n"
	"To: bob@example.test\r\n"
	"Subject: Quarterly report\r\n"
	"Date: Mon, 05 Jan 2026 10:00:00 +0000\r\n"
	"Message-ID: <s1@example.org>\r\n"
	"X-Tag: alpha\r\n"
	"Comments: first\r\n"
	"Comments: second\r\n"
	" folded =?utf-8?q?K=C3=A4se?=\r\n"
	"\r\n"
	"The numbers are in.\r\n",

	"From: bob@example.org\r\n"
	"To: alice@example.test\r\n"
	"Cc: carol@example.org\r\n"
	"Subject: Lunch on Friday\r\n"
	"Date: Sun, 15 Feb 2026 11:00:00 +0000\r\n"
	"Message-ID: <s2@example.org>\r\n"
	"\r\n"
	"Pizza or sushi?\r\n",

	"From: =?utf-8?q?J=C3=BCrgen_Gro=C3=9F?= <jg@example.de>\r\n"
	"To: alice@example.test\r\n"
	"Subject: =?utf-8?q?=C3=9Cber_die_Gr=C3=B6=C3=9Fe?=\r\n"
	"Date: Sun, 01 Mar 2026 09:00:00 +0100\r\n"
	"Message-ID: <s3@example.org>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Ein Caf=C3=A9 mit Cr=C3=A8me br=C3=BBl=C3=A9e.\r\n",

	"From: carol@example.org\r\n"
	"To: alice@example.test\r\n"
	"Subject: Big attachment\r\n"
	"Date: Sat, 10 Jan 2026 08:00:00 +0000\r\n"
	"Message-ID: <s4@example.org>\r\n"
	"\r\n",

	"From: dave@example.org\r\n"
	"To: alice@example.test\r\n"
	"Subject: Re: Quarterly report\r\n"
	"Date: Fri, 20 Mar 2026 16:00:00 +0000\r\n"
	"Message-ID: <s5@example.org>\r\n"
	"In-Reply-To: <s1@example.org>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"I disagree with THE NUMBERS. Gr\xc3\xbc\xc3\x9f"
	"e.\r\n",
};
static const char *const e2e_flags[] = { "\\Seen", "\\Flagged",
	"\\Seen \\Answered $Work", "", "\\Deleted" };
static const int64_t e2e_dates[] = { 1767614400, 1771156800, 1772366400,
	1773144000, 1774008000 }; /* 12:00 UTC on 5 Jan, 15 Feb, 1 Mar,
                                   * 10 Mar, 20 Mar 2026 */

struct e2e {
	char base[256], dir[300];
	struct store *st;
	int64_t user;
	struct imap_view view;
	struct imap_session s;
	struct arena *arena;
	struct imap_parser *parser;
};

static void
e2e_done(void *ctx, const struct store_commit_result *res)
{
	assert_int_equal(res->status, 0);
	*(int64_t *)ctx = res->message_id;
}

static void
e2e_put(struct e2e *f, const char *text, const char *flags, int64_t date,
    size_t pad)
{
	struct store_delivery d = { f->user, "INBOX", flags, date };
	struct store_msg *m;
	int64_t id = 0;
	struct err e;
	char line[80];
	size_t i;

	assert_int_equal(store_msg_new(f->st, &m, &e), 0);
	assert_int_equal(store_msg_write(m, text, strlen(text), &e), 0);
	memset(line, 'x', sizeof(line));
	line[78] = '\r';
	line[79] = '\n';
	for (i = 0; i < pad; i++) /* a big body: LARGER, SIZE */
		assert_int_equal(store_msg_write(m, line, sizeof(line), &e), 0);
	assert_int_equal(store_msg_finish(m, &e), 0);
	assert_int_equal(store_msg_commit(&m, &d, 1, e2e_done, &id), 0);
	assert_true(id > 0);
}

static void
e2e_entry(void *ctx, const struct store_entry *e)
{
	struct imap_view *v = ctx;
	struct imap_msg *m;
	struct buf kw;
	const char *p = e->flags, *q;
	size_t len;

	v->msgs = xrealloc(v->msgs, (v->n + 1) * sizeof(*v->msgs));
	m = &v->msgs[v->n];
	memset(m, 0, sizeof(*m));
	m->uid = e->uid;
	m->message_id = e->message_id;
	m->size = e->size;
	m->internaldate = e->internaldate;
	m->modseq = e->modseq;
	buf_init(&kw, 4096);
	while (*p != '\0') {
		q = strchr(p, ' ');
		len = q != NULL ? (size_t)(q - p) : strlen(p);
		if (len == 5 && memcmp(p, "\\Seen", 5) == 0)
			m->sysflags |= IMAP_F_SEEN;
		else if (len == 9 && memcmp(p, "\\Answered", 9) == 0)
			m->sysflags |= IMAP_F_ANSWERED;
		else if (len == 8 && memcmp(p, "\\Flagged", 8) == 0)
			m->sysflags |= IMAP_F_FLAGGED;
		else if (len == 8 && memcmp(p, "\\Deleted", 8) == 0)
			m->sysflags |= IMAP_F_DELETED;
		else if (len == 6 && memcmp(p, "\\Draft", 6) == 0)
			m->sysflags |= IMAP_F_DRAFT;
		else if (len > 0)
			(void)buf_printf(&kw, "%s%.*s", kw.len ? " " : "",
			    (int)len, p);
		p = q != NULL ? q + 1 : p + len;
	}
	v->kwsets = xrealloc(v->kwsets, (v->n_kwsets + 1) * sizeof(char *));
	v->kwsets[v->n_kwsets] = xstrdup(kw.p != NULL ? kw.p : "");
	m->kw = (uint32_t)v->n_kwsets++;
	buf_clear(&kw);
	v->n++;
}

static int
e2e_setup(void **state)
{
	struct e2e *f = xcalloc(1, sizeof(*f));
	struct store_opts o = { 0 };
	struct store_mailbox_status st;
	struct imap_parse_limits lim = { IMAP_LINE_MAX, IMAP_LITERAL_MAX,
		IMAP_LITERALS_MAX, IMAP_DEPTH_MAX, true };
	struct err e;
	size_t i;

	tu_tmpdir(f->base, f->dir);
	o.dir = f->dir;
	o.batch_max = 8;
	if (store_open(&o, &f->st, &e) != 0 ||
	    store_domain_add(f->st, "example.test", &e) != 0 ||
	    store_user_add(f->st, "a@example.test", "h", &f->user, &e) != 0 ||
	    store_mailbox_status(f->st, f->user, "INBOX", &st, &e) != 0)
		return -1;
	for (i = 0; i < 5; i++)
		e2e_put(f, e2e_msgs[i], e2e_flags[i], e2e_dates[i],
		    i == 3 ? 800 : 0);
	f->view.mailbox_id = st.id;
	f->view.kwsets = xcalloc(1, sizeof(char *));
	f->view.kwsets[0] = xstrdup("");
	f->view.n_kwsets = 1;
	if (store_entry_list(f->st, f->user, "INBOX", e2e_entry, &f->view,
	        &e) != 0 ||
	    f->view.n != 5)
		return -1;
	f->arena = arena_new("search-test", IMAP_CMD_ARENA);
	f->parser = imap_parser_new(f->arena, &lim);
	f->s.st = f->st;
	f->s.view = &f->view;
	f->s.cmd_arena = f->arena;
	f->s.state = IMAP_STATE_SELECTED;
	buf_init(&out_buf, 1 << 24);
	*state = f;
	return 0;
}

static int
e2e_teardown(void **state)
{
	struct e2e *f = *state;
	size_t i;

	imap_parser_free(&f->parser);
	arena_free(&f->arena);
	for (i = 0; i < f->view.n_kwsets; i++)
		xfree(&f->view.kwsets[i]);
	xfree(&f->view.kwsets);
	xfree(&f->view.msgs);
	xfree(&f->s.searchres);
	store_close(&f->st);
	tu_rmtree(f->base);
	buf_clear(&out_buf);
	free(f);
	return 0;
}

/* Runs "<prefix><args>": false if the parser refused the line (then
 * it has skipped it), else true and *out = what was sent. */
static bool
try_run(struct e2e *f, const char *prefix, const char *args, const char **out)
{
	const struct imap_command *cmd;
	struct buf in;
	size_t used, off;
	enum imap_parse_rc rc;

	buf_reset(&out_buf);
	arena_reset(f->arena);
	buf_init(&in, 1 << 20);
	assert_int_equal(buf_printf(&in, "%s%s\r\n", prefix, args), 0);
	for (off = 0;;) {
		rc = imap_parser_push(f->parser,
		    slice_skip(buf_slice(&in), off), &used);
		off += used;
		if (rc != IMAP_PARSE_LITERAL)
			break;
		imap_parser_literal_accept(f->parser);
	}
	while (rc == IMAP_PARSE_ERROR && off < in.len) { /* skip the rest */
		rc = imap_parser_push(f->parser,
		    slice_skip(buf_slice(&in), off), &used);
		off += used;
		if (used == 0)
			break;
	}
	buf_clear(&in);
	if (rc != IMAP_PARSE_DONE)
		return false;
	cmd = imap_parser_command(f->parser);
	finished = 0;
	cmd_search(&f->s, cmd);
	assert_int_equal(finished, 1);
	*out = out_buf.p;
	return true;
}

/* Runs one command line ("T ..." without CRLF) and returns what was
 * sent, tagged line included. */
static const char *
run(struct e2e *f, const char *line)
{
	const struct imap_command *cmd;
	struct buf in;
	size_t used, off;
	enum imap_parse_rc rc;
	imap_cmd_fn *fn;

	buf_reset(&out_buf);
	arena_reset(f->arena);
	buf_init(&in, 1 << 20);
	assert_int_equal(buf_printf(&in, "%s\r\n", line), 0);
	for (off = 0;;) { /* literals are accepted as the session would */
		rc = imap_parser_push(f->parser,
		    slice_skip(buf_slice(&in), off), &used);
		off += used;
		if (rc != IMAP_PARSE_LITERAL)
			break;
		imap_parser_literal_accept(f->parser);
	}
	if (rc == IMAP_PARSE_ERROR) {
		struct slice tag;
		bool lim;

		fail_msg("parse error: %s",
		    imap_parser_error(f->parser, &tag, &lim));
	}
	assert_int_equal(rc, IMAP_PARSE_DONE);
	assert_int_equal(off, in.len);
	buf_clear(&in);
	cmd = imap_parser_command(f->parser);
	fn = slice_eq_ci(cmd->name, SLICE_LIT("SEARCH")) ? cmd_search
	    : slice_eq_ci(cmd->name, SLICE_LIT("SORT"))  ? cmd_sort
	                                                 : cmd_thread;
	finished = 0;
	fn(&f->s, cmd);
	assert_int_equal(finished, 1);
	return out_buf.p;
}

static void
expect(struct e2e *f, const char *line, const char *want)
{
	const char *got = run(f, line);

	if (strcmp(got, want) != 0)
		fail_msg("%s\n  want: %s\n  got:  %s", line, want, got);
}

#define OKS "T OK SEARCH completed\r\n"
#define OKU "T OK UID SEARCH completed\r\n"

static void
test_e2e_search(void **state)
{
	struct e2e *f = *state;
	static const struct {
		const char *keys, *want;
	} cases[] = {
		{ "ALL", "1 2 3 4 5" },
		{ "SEEN", "1 3" },
		{ "UNSEEN", "2 4 5" },
		{ "FLAGGED", "2" },
		{ "ANSWERED", "3" },
		{ "DELETED", "5" },
		{ "UNDELETED", "1 2 3 4" },
		{ "DRAFT", "" },
		{ "UNDRAFT", "1 2 3 4 5" },
		{ "UNFLAGGED UNANSWERED", "1 4 5" },
		{ "KEYWORD $Work", "3" },
		{ "KEYWORD $work", "3" },
		{ "UNKEYWORD $Work", "1 2 4 5" },
		{ "KEYWORD \\Seen", "1 3" },
		{ "BEFORE 1-Mar-2026", "1 2" },
		{ "SINCE 1-Mar-2026", "3 4 5" },
		{ "ON 15-Feb-2026", "2" },
		{ "ON \"15-feb-2026\"", "2" },
		{ "SENTBEFORE 1-Feb-2026", "1 4" },
		{ "SENTSINCE 1-Mar-2026", "3 5" },
		{ "SENTON 15-Feb-2026", "2" },
		{ "SENTON 1-Mar-2026", "3" },
		{ "LARGER 50000", "4" },
		{ "SMALLER 1000", "1 2 3 5" },
		{ "FROM bob", "2" },
		{ "FROM EXAMPLE.DE", "3" },
		{ "TO bob@example", "1" },
		{ "CC carol", "2" },
		{ "BCC carol", "" },
		{ "SUBJECT quarterly", "1 5" },
		{ "SUBJECT \"REPORT\"", "1 5" },
		{ "SUBJECT \"\"", "1 2 3 4 5" },
		{ "BODY numbers", "1 5" },
		{ "BODY Quarterly", "" },
		{ "TEXT pizza", "2" },
		{ "TEXT alpha", "1" },
		{ "TEXT Quarterly", "1 5" },
		{ "HEADER X-Tag alpha", "1" },
		{ "HEADER x-tag ALPHA", "1" },
		{ "HEADER X-Tag \"\"", "1" },
		{ "HEADER In-Reply-To s1@", "5" },
		{ "HEADER Comments second", "1" },
		{ "HEADER Comments \"second folded k\xc3\x84se\"", "1" },
		{ "HEADER Comments \"second  folded\"", "" },
		{ "HEADER Comments first", "1" },
		{ "HEADER Comments \"\"", "1" },
		{ "HEADER Nope \"\"", "" },
		{ "HEADER Subject gr\xc3\x96\xc3\x9f", "3" },
		{ "HEADER Subject {3+}\r\nber", "3" },
		{ "OR FROM bob SUBJECT quarterly", "1 2 5" },
		{ "NOT SEEN", "2 4 5" },
		{ "NOT (OR SEEN FLAGGED)", "4 5" },
		{ "NOT NOT NOT SEEN", "2 4 5" },
		{ "UNSEEN SMALLER 1000", "2 5" },
		{ "(UNSEEN (SMALLER 1000))", "2 5" },
		{ "UID 2:4", "2 3 4" },
		{ "UID 4:*", "4 5" },
		{ "UID 9:10", "" },
		{ "UID 9:*", "5" }, /* "*" is the last UID: 9:* is 5:9 */
		{ "UID 2:3,100", "2 3" },
		{ "2:3", "2 3" },
		{ "*", "5" },
		{ "1,3:4 SEEN", "1 3" },
		{ "NEW", "" },
		{ "OLD", "1 2 3 4 5" },
		{ "RECENT", "" },
		{ "MODSEQ 1", NULL },
		{ "CHARSET UTF-8 SUBJECT \"\xc3\x9c\"", "3" }, /* short: LIKE */
		{ "CHARSET UTF-8 SUBJECT \"\xc3\xbc\x62\x65r\"", "3" },
		{ "CHARSET us-ascii ALL", "1 2 3 4 5" },
	};
	char line[256], want[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].want == NULL)
			continue;
		assert_true(
		    str_fmt(line, sizeof(line), "T SEARCH %s", cases[i].keys));
		assert_true(str_fmt(want, sizeof(want), "* SEARCH%s%s\r\n" OKS,
		    cases[i].want[0] ? " " : "", cases[i].want));
		expect(f, line, want);
		assert_true(str_fmt(line, sizeof(line), "T UID SEARCH %s",
		    cases[i].keys));
		assert_true(str_fmt(want, sizeof(want), "* SEARCH%s%s\r\n" OKU,
		    cases[i].want[0] ? " " : "", cases[i].want));
		expect(f, line, want);
	}
}

static void
test_e2e_search_errors(void **state)
{
	struct e2e *f = *state;

	expect(f, "T SEARCH CHARSET X-NOPE BODY x",
	    "T NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset\r\n");
	expect(f, "T SEARCH NOSUCHKEY", "T BAD unknown search key\r\n");
	expect(f, "T SEARCH BEFORE 31-Foo-2026", "T BAD invalid date\r\n");
	expect(f, "T SEARCH BEFORE 32-Jan-2026", "T BAD invalid date\r\n");
	expect(f, "T SEARCH 6", "T BAD invalid sequence set\r\n");
	expect(f, "T SEARCH OR SEEN", "T BAD OR needs two search keys\r\n");
	expect(f, "T SEARCH NOT", "T BAD NOT needs a search key\r\n");
	expect(f, "T SEARCH", "T BAD missing search key\r\n");
	expect(f, "T SEARCH ()", "T BAD missing search key\r\n");
	expect(f, "T SEARCH LARGER x", "T BAD invalid size\r\n");
	expect(f, "T SEARCH RETURN (BOGUS) ALL",
	    "T BAD unknown RETURN option\r\n");
	expect(f, "T SORT (BOGUS) UTF-8 ALL",
	    "T BAD invalid sort criterion\r\n");
	expect(f, "T SORT (REVERSE) UTF-8 ALL",
	    "T BAD REVERSE needs a sort key\r\n");
	expect(f, "T SORT (DATE) ALL",
	    "T NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset\r\n");
	expect(f, "T THREAD NOSUCH UTF-8 ALL",
	    "T BAD unknown threading algorithm\r\n");
}

/* "NOT NOT ... SEEN" past the depth cap is BAD, not a deep recursion. */
static void
test_e2e_search_depth(void **state)
{
	struct e2e *f = *state;
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	(void)buf_append(&b, "T SEARCH", 8);
	for (i = 0; i < SEARCH_DEPTH_MAX; i++)
		(void)buf_append(&b, " NOT", 4);
	(void)buf_append(&b, " SEEN", 5);
	expect(f, b.p, "* SEARCH 1 3\r\n" OKS);
	buf_reset(&b); /* one more: past the limit */
	(void)buf_append(&b, "T SEARCH", 8);
	for (i = 0; i < SEARCH_DEPTH_MAX + 1; i++)
		(void)buf_append(&b, " NOT", 4);
	(void)buf_append(&b, " SEEN", 5);
	expect(f, b.p, "T BAD search program nested too deeply\r\n");
	buf_reset(&b);
	(void)buf_append(&b, "T SEARCH", 8);
	for (i = 0; i < 10000; i++)
		(void)buf_append(&b, " NOT", 4);
	(void)buf_append(&b, " SEEN", 5);
	expect(f, b.p, "T BAD search program nested too deeply\r\n");
	buf_reset(&b);
	(void)buf_append(&b, "T SEARCH", 8);
	for (i = 0; i < 5000; i++)
		(void)buf_append(&b, " OR SEEN", 8);
	(void)buf_append(&b, " SEEN", 5);
	expect(f, b.p, "T BAD search program nested too deeply\r\n");
	buf_clear(&b);
}

static void
test_e2e_esearch(void **state)
{
	struct e2e *f = *state;

	expect(f, "T UID SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN",
	    "* ESEARCH (TAG \"T\") UID MIN 2 MAX 5 COUNT 3 ALL 2,4:5\r\n" OKU);
	expect(f, "T SEARCH RETURN () FLAGGED",
	    "* ESEARCH (TAG \"T\") ALL 2\r\n" OKS);
	expect(f, "T SEARCH RETURN (COUNT) DRAFT",
	    "* ESEARCH (TAG \"T\") COUNT 0\r\n" OKS);
	expect(f, "T SEARCH RETURN (MIN MAX ALL) DRAFT",
	    "* ESEARCH (TAG \"T\")\r\n" OKS);
	expect(f, "T SEARCH RETURN (MAX) SEEN",
	    "* ESEARCH (TAG \"T\") MAX 3\r\n" OKS);
	/* rev2: SEARCH answers ESEARCH ALL */
	f->s.enabled |= IMAP_ENABLED_REV2;
	expect(f, "T SEARCH 1:4", "* ESEARCH (TAG \"T\") ALL 1:4\r\n" OKS);
	expect(f, "T UID SEARCH DRAFT", "* ESEARCH (TAG \"T\") UID\r\n" OKU);
	f->s.enabled &= ~IMAP_ENABLED_REV2;
	/* MODSEQ: CONDSTORE on, the highest modseq of the matches */
	{
		char want[128];
		uint64_t ms = 0;
		size_t i;

		for (i = 0; i < 5; i++)
			if (f->view.msgs[i].modseq > ms)
				ms = f->view.msgs[i].modseq;
		assert_true(str_fmt(want, sizeof(want),
		    "* SEARCH 1 2 3 4 5 (MODSEQ %llu)\r\n" OKS,
		    (unsigned long long)ms));
		expect(f, "T SEARCH MODSEQ 1", want);
		assert_true((f->s.enabled & IMAP_ENABLED_CONDSTORE) != 0);
		expect(f, "T SEARCH MODSEQ \"/flags/\\\\seen\" all 1", want);
		expect(f, "T SEARCH MODSEQ 99999999", "* SEARCH\r\n" OKS);
		assert_true(str_fmt(want, sizeof(want),
		    "* ESEARCH (TAG \"T\") COUNT 5 MODSEQ %llu\r\n" OKS,
		    (unsigned long long)ms));
		expect(f, "T SEARCH RETURN (COUNT) MODSEQ 0", want);
	}
}

static void
test_e2e_searchres(void **state)
{
	struct e2e *f = *state;

	/* SAVE alone: no ESEARCH */
	expect(f, "T UID SEARCH RETURN (SAVE) OR FROM bob FROM carol", OKU);
	assert_int_equal(f->s.n_searchres, 2);
	expect(f, "T UID SEARCH UID $ FLAGGED", "* SEARCH 2\r\n" OKU);
	expect(f, "T SEARCH $", "* SEARCH 2 4\r\n" OKS);
	/* RFC 5182 §2.4: SAVE with MIN alone saves the MIN only */
	expect(f, "T SEARCH RETURN (SAVE MIN) SUBJECT quarterly",
	    "* ESEARCH (TAG \"T\") MIN 1\r\n" OKS);
	expect(f, "T SEARCH $", "* SEARCH 1\r\n" OKS);
	expect(f, "T SEARCH RETURN (SAVE MIN MAX) SUBJECT quarterly",
	    "* ESEARCH (TAG \"T\") MIN 1 MAX 5\r\n" OKS);
	expect(f, "T SEARCH $", "* SEARCH 1 5\r\n" OKS);
	/* ... and with ALL or COUNT saves everything */
	expect(f, "T SEARCH RETURN (SAVE MIN COUNT) UNSEEN",
	    "* ESEARCH (TAG \"T\") MIN 2 COUNT 3\r\n" OKS);
	expect(f, "T SEARCH $", "* SEARCH 2 4 5\r\n" OKS);
	/* a failed SEARCH with SAVE empties $ */
	expect(f, "T SEARCH RETURN (SAVE) NOSUCHKEY",
	    "T BAD unknown search key\r\n");
	assert_int_equal(f->s.n_searchres, 0);
	expect(f, "T UID SEARCH UID $", "* SEARCH\r\n" OKU);
}

static void
test_e2e_sort(void **state)
{
	struct e2e *f = *state;

	expect(f, "T SORT (SUBJECT) UTF-8 ALL",
	    "* SORT 4 2 1 5 3\r\nT OK SORT completed\r\n");
	expect(f, "T SORT (DATE) UTF-8 ALL",
	    "* SORT 1 4 2 3 5\r\nT OK SORT completed\r\n");
	expect(f, "T SORT (REVERSE DATE) UTF-8 ALL",
	    "* SORT 5 3 2 4 1\r\nT OK SORT completed\r\n");
	expect(f, "T SORT (FROM) UTF-8 ALL",
	    "* SORT 1 2 4 5 3\r\nT OK SORT completed\r\n");
	expect(f, "T SORT (REVERSE FROM) UTF-8 ALL",
	    "* SORT 3 5 4 2 1\r\nT OK SORT completed\r\n");
	expect(f, "T SORT (ARRIVAL) UTF-8 ALL",
	    "* SORT 1 2 3 4 5\r\nT OK SORT completed\r\n");
	expect(f, "T UID SORT (REVERSE ARRIVAL) UTF-8 ALL",
	    "* SORT 5 4 3 2 1\r\nT OK UID SORT completed\r\n");
	expect(f, "T SORT (DATE) UTF-8 UNSEEN",
	    "* SORT 4 2 5\r\nT OK SORT completed\r\n");
	expect(f, "T SORT (TO SUBJECT) UTF-8 ALL",
	    "* SORT 4 2 5 3 1\r\nT OK SORT completed\r\n");
	expect(f, "T SORT (CC REVERSE ARRIVAL) UTF-8 ALL",
	    "* SORT 5 4 3 1 2\r\nT OK SORT completed\r\n");
	expect(f, "T SORT (REVERSE SIZE) UTF-8 LARGER 40",
	    "* SORT 4 3 5 1 2\r\nT OK SORT completed\r\n");
	expect(f, "T SORT (DISPLAYFROM) UTF-8 ALL",
	    "* SORT 1 2 4 5 3\r\nT OK SORT completed\r\n");
	expect(f, "T SORT (SUBJECT) UTF-8 DRAFT",
	    "* SORT\r\nT OK SORT completed\r\n");
	/* SAVE after SORT: "$" is the set, ascending */
	expect(f, "T SORT RETURN (SAVE) (REVERSE DATE) UTF-8 SEEN",
	    "T OK SORT completed\r\n");
	assert_int_equal(f->s.n_searchres, 2);
	assert_true(f->s.searchres[0] < f->s.searchres[1]);
	expect(f, "T SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 ALL",
	    "* ESEARCH (TAG \"T\") MIN 5 MAX 1 COUNT 5 ALL 5,3,2,4,1\r\n"
	    "T OK SORT completed\r\n");
}

static void
test_e2e_thread(void **state)
{
	struct e2e *f = *state;

	expect(f, "T THREAD REFERENCES UTF-8 ALL",
	    "* THREAD (1 5)(4)(2)(3)\r\nT OK THREAD completed\r\n");
	expect(f, "T UID THREAD ORDEREDSUBJECT UTF-8 ALL",
	    "* THREAD (1 5)(4)(2)(3)\r\nT OK UID THREAD completed\r\n");
	expect(f, "T THREAD REFERENCES UTF-8 DRAFT",
	    "* THREAD\r\nT OK THREAD completed\r\n");
	expect(f, "T THREAD REFERENCES UTF-8 NOT 1",
	    "* THREAD (4)(2)(3)(5)\r\nT OK THREAD completed\r\n");
}

/* The numbers of a "* SEARCH ..." reply as a bit mask (1..5). */
static unsigned
reply_mask(const char *r)
{
	unsigned mask = 0;
	const char *p;

	if (strncmp(r, "* SEARCH", 8) != 0)
		return ~0u;
	for (p = r + 8; *p == ' ';) {
		unsigned v = 0;

		for (p++; *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (unsigned)(*p - '0');
		if (v >= 1 && v <= 5)
			mask |= 1u << v;
		if (*p == ' ' && p[1] == '(')
			break;
	}
	return mask;
}

/* Random programs from a token soup: every command ends exactly once
 * with OK, NO or BAD, and for each program P that runs, P and NOT (P)
 * split the mailbox exactly (the evaluator agrees with itself). */
static void
test_e2e_random_programs(void **state)
{
	static const char *const tok[] = { "ALL", "NOT", "OR", "(", ")", "SEEN",
		"UNSEEN", "FLAGGED", "DELETED", "NEW", "OLD", "FROM bob",
		"SUBJECT quarterly", "BODY numbers", "TEXT a", "CC carol",
		"1:3", "*", "2,4", "UID 3:*", "LARGER 300", "SMALLER 400",
		"HEADER Subject re", "HEADER X-Tag \"\"", "BEFORE 1-Mar-2026",
		"SINCE 10-Mar-2026", "SENTON 15-Feb-2026",
		"SENTBEFORE 1-Feb-2026", "KEYWORD $Work", "UNKEYWORD $Work",
		"MODSEQ 1", "UID", "HEADER", "BEFORE", "1-Mar-2026", "x",
		"\"\"", "{3+}\r\nabc" };
	struct e2e *f = *state;
	char line[1024], neg[1100];
	unsigned seed = 12345, a, b;
	size_t i, j, n, len;
	int ok_runs = 0;
	const char *r;

	for (i = 0; i < 3000; i++) {
		len = 0;
		n = 1 + (seed = seed * 1103515245u + 12345u) % 9;
		for (j = 0; j < n; j++) {
			seed = seed * 1103515245u + 12345u;
			len += (size_t)snprintf(line + len, sizeof(line) - len,
			    " %s", tok[(seed >> 8) % NELEM(tok)]);
		}
		if (!try_run(f, "T SEARCH", line, &r))
			continue; /* the parser refused it (unbalanced) */
		assert_true(strstr(r, "T OK ") != NULL ||
		    strstr(r, "T NO ") != NULL || strstr(r, "T BAD ") != NULL);
		if (strstr(r, "T OK ") == NULL)
			continue;
		a = reply_mask(r);
		assert_true(str_fmt(neg, sizeof(neg), " NOT (%s)", line + 1));
		assert_true(try_run(f, "T SEARCH", neg, &r));
		b = reply_mask(r);
		assert_int_equal(a & b, 0);
		assert_int_equal(a | b, 0x3e);
		ok_runs++;
	}
	assert_true(ok_runs > 300);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_basic),
		cmocka_unit_test(test_thread_in_reply_to_only),
		cmocka_unit_test(test_thread_dummies),
		cmocka_unit_test(test_thread_subjects),
		cmocka_unit_test(test_thread_duplicates_and_loops),
		cmocka_unit_test(test_thread_dates),
		cmocka_unit_test(test_thread_deep_chain),
		cmocka_unit_test(test_thread_orderedsubject),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_subject_is_reply),
		cmocka_unit_test(test_msgid),
		cmocka_unit_test_setup_teardown(test_e2e_search, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_search_errors,
		    e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_search_depth,
		    e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_esearch, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_searchres, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_sort, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_thread, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_random_programs,
		    e2e_setup, e2e_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
