/* SPDX-License-Identifier: MIT */
/* Unit tests for the store's admin functions and recipient resolution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/sqlite/test_util.h"

struct fx {
	char base[256], dir[300];
	struct store *st;
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct store_opts o = { 0 };
	struct err e;

	tu_tmpdir(f->base, f->dir);
	o.dir = f->dir;
	o.batch_max = 8;
	if (store_open(&o, &f->st, &e) != 0) {
		fprintf(stderr, "store_open: %s\n", e.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(&f->st);
	assert_null(f->st);
	tu_rmtree(f->base);
	free(f);
	return 0;
}

struct names {
	char v[16][128];
	size_t n;
};

static void
on_domain(void *ctx, const char *d)
{
	struct names *n = ctx;

	(void)str_copy(n->v[n->n++], sizeof(n->v[0]), d);
}

static void
on_user(void *ctx, const struct store_user *u)
{
	struct names *n = ctx;

	(void)str_copy(n->v[n->n++], sizeof(n->v[0]), u->address);
}

static void
on_alias(void *ctx, const char *alias, const char *target)
{
	struct names *n = ctx;

	(void)str_fmt(n->v[n->n++], sizeof(n->v[0]), "%s>%s", alias, target);
}

static void
on_mailbox(void *ctx, const struct store_mailbox *mb)
{
	struct names *n = ctx;

	(void)str_fmt(n->v[n->n++], sizeof(n->v[0]), "%s:%s:%u:%u", mb->name,
	    mb->special_use ? mb->special_use : "-", (unsigned)mb->uidnext,
	    mb->uidvalidity != 0);
}

static void
test_domains(void **state)
{
	struct fx *f = *state;
	struct names n = { 0 };
	struct err e;

	assert_int_equal(store_domain_add(f->st, "Example.TEST", &e), 0);
	assert_int_equal(store_domain_add(f->st, "example.test", &e),
	    ERR_EXISTS);
	assert_int_equal(store_domain_add(f->st, "b.example", &e), 0);
	assert_int_equal(store_domain_add(f->st, "bad domain", &e), ERR_INPUT);
	assert_int_equal(store_domain_add(f->st, "-x.test", &e), ERR_INPUT);
	assert_int_equal(store_domain_add(f->st, "", &e), ERR_INPUT);
	assert_int_equal(store_domain_list(f->st, on_domain, &n, &e), 0);
	assert_int_equal(n.n, 2);
	assert_string_equal(n.v[0], "b.example");
	assert_string_equal(n.v[1], "example.test");
	assert_int_equal(store_domain_remove(f->st, "nope.test", &e),
	    ERR_NOTFOUND);
	assert_int_equal(store_user_add(f->st, "a@example.test", "h", NULL, &e),
	    0);
	assert_int_equal(store_domain_remove(f->st, "EXAMPLE.test", &e),
	    ERR_EXISTS);
	assert_int_equal(store_domain_remove(f->st, "b.example", &e), 0);
	n.n = 0;
	assert_int_equal(store_domain_list(f->st, on_domain, &n, &e), 0);
	assert_int_equal(n.n, 1);
}

static void
test_users(void **state)
{
	struct fx *f = *state;
	struct names n = { 0 };
	char pw[64];
	int64_t id, id2, got;
	struct err e;

	assert_int_equal(store_user_add(f->st, "x@nope.test", "h", &id, &e),
	    ERR_NOTFOUND);
	assert_int_equal(store_domain_add(f->st, "example.test", &e), 0);
	assert_int_equal(store_user_add(f->st, "Bob@Example.Test", "h1", &id,
	                     &e),
	    0);
	assert_int_equal(store_user_add(f->st, "bob@example.test", "h1", &id2,
	                     &e),
	    ERR_EXISTS);
	assert_int_equal(store_user_add(f->st, "alice@example.test", "h2", &id2,
	                     &e),
	    0);
	assert_int_equal(store_user_add(f->st, "no-at-sign", "h", NULL, &e),
	    ERR_INPUT);
	assert_int_equal(store_user_add(f->st, "a b@example.test", "h", NULL,
	                     &e),
	    ERR_INPUT);
	assert_int_equal(store_user_list(f->st, NULL, on_user, &n, &e), 0);
	assert_int_equal(n.n, 2);
	assert_string_equal(n.v[0], "alice@example.test");
	assert_string_equal(n.v[1], "bob@example.test");
	n.n = 0;
	assert_int_equal(store_user_list(f->st, "nope.test", on_user, &n, &e),
	    ERR_NOTFOUND);
	assert_int_equal(store_user_get(f->st, "BOB@example.test", &got, pw,
	                     sizeof(pw), &e),
	    0);
	assert_int_equal(got, id);
	assert_string_equal(pw, "h1");
	assert_int_equal(store_user_passwd(f->st, "bob@example.test", "h3", &e),
	    0);
	assert_int_equal(store_user_get(f->st, "bob@example.test", NULL, pw,
	                     sizeof(pw), &e),
	    0);
	assert_string_equal(pw, "h3");
	assert_int_equal(store_user_passwd(f->st, "zed@example.test", "h", &e),
	    ERR_NOTFOUND);

	n.n = 0;
	assert_int_equal(store_mailbox_list(f->st, id, on_mailbox, &n, &e), 0);
	assert_int_equal(n.n, 6);
	assert_string_equal(n.v[0], "INBOX:-:1:1");
	assert_string_equal(n.v[1], "Sent:\\Sent:1:1");
	assert_string_equal(n.v[2], "Drafts:\\Drafts:1:1");
	assert_string_equal(n.v[3], "Trash:\\Trash:1:1");
	assert_string_equal(n.v[4], "Junk:\\Junk:1:1");
	assert_string_equal(n.v[5], "Archive:\\Archive:1:1");

	assert_int_equal(store_user_remove(f->st, "bob@example.test", &e), 0);
	assert_int_equal(store_user_remove(f->st, "bob@example.test", &e),
	    ERR_NOTFOUND);
	n.n = 0;
	assert_int_equal(store_mailbox_list(f->st, id, on_mailbox, &n, &e), 0);
	assert_int_equal(n.n, 0);
}

static void
test_aliases_and_resolve(void **state)
{
	struct fx *f = *state;
	struct names n = { 0 };
	enum store_addr_status status;
	int64_t a, b, ids[4];
	size_t nids;
	struct err e;

	assert_int_equal(store_domain_add(f->st, "example.test", &e), 0);
	assert_int_equal(store_user_add(f->st, "a@example.test", "h", &a, &e),
	    0);
	assert_int_equal(store_user_add(f->st, "b@example.test", "h", &b, &e),
	    0);
	assert_int_equal(store_alias_add(f->st, "Team@example.test",
	                     "a@example.test", &e),
	    0);
	assert_int_equal(store_alias_add(f->st, "team@example.test",
	                     "B@example.test", &e),
	    0);
	assert_int_equal(store_alias_add(f->st, "team@example.test",
	                     "b@example.test", &e),
	    ERR_EXISTS);
	assert_int_equal(store_alias_add(f->st, "a@example.test",
	                     "b@example.test", &e),
	    ERR_EXISTS); /* a user */
	assert_int_equal(store_alias_add(f->st, "x@other.test",
	                     "b@example.test", &e),
	    ERR_NOTFOUND); /* not a local domain */
	assert_int_equal(store_alias_add(f->st, "y@example.test",
	                     "ghost@example.test", &e),
	    ERR_NOTFOUND);
	assert_int_equal(store_user_add(f->st, "team@example.test", "h", NULL,
	                     &e),
	    ERR_EXISTS); /* an alias */
	assert_int_equal(store_alias_list(f->st, on_alias, &n, &e), 0);
	assert_int_equal(n.n, 2);
	assert_string_equal(n.v[0], "team@example.test>a@example.test");

	assert_int_equal(store_addr_resolve(f->st, SLICE_LIT("A@EXAMPLE.test"),
	                     &status, ids, 4, &nids, &e),
	    0);
	assert_int_equal(status, STORE_ADDR_LOCAL);
	assert_int_equal(nids, 1);
	assert_int_equal(ids[0], a);
	assert_int_equal(store_addr_resolve(f->st,
	                     SLICE_LIT("team@example.test"), &status, ids, 4,
	                     &nids, &e),
	    0);
	assert_int_equal(status, STORE_ADDR_LOCAL);
	assert_int_equal(nids, 2);
	assert_true(
	    (ids[0] == a && ids[1] == b) || (ids[0] == b && ids[1] == a));
	assert_int_equal(store_addr_resolve(f->st,
	                     SLICE_LIT("nobody@example.test"), &status, ids, 4,
	                     &nids, &e),
	    0);
	assert_int_equal(status, STORE_ADDR_UNKNOWN_USER);
	assert_int_equal(nids, 0);
	assert_int_equal(store_addr_resolve(f->st, SLICE_LIT("a@example.org"),
	                     &status, ids, 4, &nids, &e),
	    0);
	assert_int_equal(status, STORE_ADDR_FOREIGN);
	assert_int_equal(store_addr_resolve(f->st, SLICE_LIT("postmaster"),
	                     &status, ids, 4, &nids, &e),
	    0);
	assert_int_equal(status, STORE_ADDR_FOREIGN);

	/* Removing b drops b from the alias; the alias keeps a. */
	assert_int_equal(store_user_remove(f->st, "b@example.test", &e), 0);
	assert_int_equal(store_addr_resolve(f->st,
	                     SLICE_LIT("team@example.test"), &status, ids, 4,
	                     &nids, &e),
	    0);
	assert_int_equal(nids, 1);
	assert_int_equal(store_alias_remove(f->st, "team@example.test",
	                     "b@example.test", &e),
	    ERR_NOTFOUND);
	assert_int_equal(store_alias_remove(f->st, "team@example.test", NULL,
	                     &e),
	    0);
	assert_int_equal(store_addr_resolve(f->st,
	                     SLICE_LIT("team@example.test"), &status, ids, 4,
	                     &nids, &e),
	    0);
	assert_int_equal(status, STORE_ADDR_UNKNOWN_USER);
}

/* A second handle (as a CLI command beside `serve`) sees and makes
 * changes while the first stays open. */
static void
test_two_handles(void **state)
{
	struct fx *f = *state;
	struct store_opts o = { .dir = f->dir, .batch_max = 4 };
	struct store *other;
	struct names n = { 0 };
	struct err e;

	assert_int_equal(store_open(&o, &other, &e), 0);
	assert_int_equal(store_domain_add(other, "example.test", &e), 0);
	assert_int_equal(store_user_add(f->st, "a@example.test", "h", NULL, &e),
	    0);
	assert_int_equal(store_user_list(other, NULL, on_user, &n, &e), 0);
	assert_int_equal(n.n, 1);
	store_close(&other);
	assert_null(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases_and_resolve, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
