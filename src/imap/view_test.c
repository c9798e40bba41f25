/* SPDX-License-Identifier: MIT */
/* Unit tests for the selected view: flag parsing and formatting with
 * interned keywords, UID lookup, and resolving sequence and UID sets
 * (ranges past the end, "*" in an empty mailbox, "$"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/session_int.h"
#include "lib/mem.h"

struct fixture {
	struct imap_session s;
	struct imap_view *v;
};

/* A view of messages with the given UIDs and flag strings. */
static struct fixture *
fixture_new(const uint32_t *uids, const char *const *flags, size_t n)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct imap_view *v = xcalloc(1, sizeof(*v));
	size_t i;

	v->kwsets = xcalloc(1, sizeof(char *));
	v->kwsets[0] = xstrdup("");
	v->n_kwsets = 1;
	v->name = xstrdup("INBOX");
	v->msgs = xcalloc(n + 1, sizeof(*v->msgs));
	v->cap = n + 1;
	for (i = 0; i < n; i++) {
		v->msgs[i].uid = uids[i];
		imap_view_parse_flags(v, flags != NULL ? flags[i] : "",
		    &v->msgs[i].sysflags, &v->msgs[i].kw);
	}
	v->n = n;
	f->v = v;
	f->s.view = v;
	f->s.cmd_arena = arena_new("t", 1 << 24);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	imap_view_free(&f->s.view);
	arena_free(&f->s.cmd_arena);
	free(f->s.searchres);
	free(f);
}

static const char *
resolve(struct fixture *f, const char *set, bool uid, char *out, size_t cap)
{
	uint32_t *idx;
	size_t n, i, o = 0;

	if (!imap_view_resolve(&f->s, slice_cstr(set), uid, &idx, &n))
		return NULL;
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		(void)snprintf(out + o, cap - o, "%s%u", i ? "," : "", idx[i]);
		o += strlen(out + o);
	}
	return out;
}

static void
test_flags(void **state)
{
	static const uint32_t uids[] = { 3, 5 };
	static const char *const flags[] = { "\\Seen foo \\flagged bar",
		"foo bar \\Deleted" };
	struct fixture *f = fixture_new(uids, flags, 2);
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	imap_msg_flags(f->v, &f->v->msgs[0], &b);
	assert_string_equal(b.p, "(\\Seen \\Flagged foo bar)");
	/* the same keyword set is interned once */
	assert_int_equal(f->v->msgs[0].kw, f->v->msgs[1].kw);
	assert_int_equal(f->v->n_kwsets, 2);
	buf_reset(&b);
	f->v->msgs[1].sysflags |= IMAP_F_RECENT;
	imap_msg_flags(f->v, &f->v->msgs[1], &b);
	assert_string_equal(b.p, "(\\Deleted \\Recent foo bar)");
	assert_string_equal(imap_msg_keywords(f->v, &f->v->msgs[1]), "foo bar");
	buf_reset(&b);
	imap_view_all_keywords(f->v, &b);
	assert_string_equal(b.p, " foo bar");
	buf_clear(&b);
	fixture_free(f);
}

static void
test_empty_flags(void **state)
{
	static const uint32_t uids[] = { 1 };
	struct fixture *f = fixture_new(uids, NULL, 1);
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	imap_msg_flags(f->v, &f->v->msgs[0], &b);
	assert_string_equal(b.p, "()");
	assert_string_equal(imap_msg_keywords(f->v, &f->v->msgs[0]), "");
	buf_clear(&b);
	fixture_free(f);
}

static void
test_seq(void **state)
{
	static const uint32_t uids[] = { 2, 4, 9, 10, 100 };
	struct fixture *f = fixture_new(uids, NULL, 5);

	(void)state;
	assert_int_equal(imap_view_seq(f->v, 2), 1);
	assert_int_equal(imap_view_seq(f->v, 100), 5);
	assert_int_equal(imap_view_seq(f->v, 9), 3);
	assert_int_equal(imap_view_seq(f->v, 3), 0);
	assert_int_equal(imap_view_seq(f->v, 101), 0);
	assert_int_equal(imap_view_seq(f->v, 1), 0);
	fixture_free(f);
}

static void
test_resolve_seq(void **state)
{
	static const uint32_t uids[] = { 2, 4, 9, 10, 100 };
	struct fixture *f = fixture_new(uids, NULL, 5);
	char out[256];

	(void)state;
	assert_string_equal(resolve(f, "1:*", false, out, 256), "0,1,2,3,4");
	assert_string_equal(resolve(f, "*", false, out, 256), "4");
	assert_string_equal(resolve(f, "5:3", false, out, 256), "2,3,4");
	assert_string_equal(resolve(f, "1,3,2", false, out, 256), "0,1,2");
	assert_null(resolve(f, "6", false, out, 256)); /* past the end */
	assert_null(resolve(f, "4:6", false, out, 256));
	assert_null(resolve(f, "0", false, out, 256));
	assert_null(resolve(f, "a", false, out, 256));
	fixture_free(f);
}

static void
test_resolve_uid(void **state)
{
	static const uint32_t uids[] = { 2, 4, 9, 10, 100 };
	struct fixture *f = fixture_new(uids, NULL, 5);
	char out[256];

	(void)state;
	assert_string_equal(resolve(f, "1:*", true, out, 256), "0,1,2,3,4");
	assert_string_equal(resolve(f, "3:9", true, out, 256), "1,2");
	assert_string_equal(resolve(f, "5:8", true, out, 256), "");
	assert_string_equal(resolve(f, "200:*", true, out, 256), "4");
	assert_string_equal(resolve(f, "101:200", true, out, 256), "");
	assert_string_equal(resolve(f, "10,2", true, out, 256), "0,3");
	fixture_free(f);
}

static void
test_resolve_empty(void **state)
{
	struct fixture *f = fixture_new(NULL, NULL, 0);
	char out[256];

	(void)state;
	assert_string_equal(resolve(f, "1:*", false, out, 256), "");
	assert_null(resolve(f, "1", false, out, 256));
	assert_string_equal(resolve(f, "1:*", true, out, 256), "");
	fixture_free(f);
}

static void
test_resolve_saved(void **state)
{
	static const uint32_t uids[] = { 2, 4, 9 };
	struct fixture *f = fixture_new(uids, NULL, 3);
	char out[256];

	(void)state;
	f->s.searchres = xcalloc(3, sizeof(uint32_t));
	f->s.searchres[0] = 9;
	f->s.searchres[1] = 2;
	f->s.searchres[2] = 7; /* expunged since: ignored */
	f->s.n_searchres = 3;
	assert_string_equal(resolve(f, "$", false, out, 256), "0,2");
	assert_string_equal(resolve(f, "$", true, out, 256), "0,2");
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_empty_flags),
		cmocka_unit_test(test_seq),
		cmocka_unit_test(test_resolve_seq),
		cmocka_unit_test(test_resolve_uid),
		cmocka_unit_test(test_resolve_empty),
		cmocka_unit_test(test_resolve_saved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
