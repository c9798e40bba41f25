/* SPDX-License-Identifier: MIT */
/* Unit tests for the pure parts of SORT and THREAD (search_thread.c):
 * sort order, reply detection, message-id parsing, and the RFC 5256
 * REFERENCES and ORDEREDSUBJECT algorithms over plain arrays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* The unit under test is compiled in (it reaches no session code). */
#include "imap/search_thread.c"
#include "lib/buf.h"
#include "lib/mem.h"
#include "lib/str.h"

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
