/* SPDX-License-Identifier: MIT */
/* Unit tests for arenas: budget at and past the limit, reset hooks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arena.h"

static int hook_runs;

static void
hook(void *arg)
{
	(void)arg;
	hook_runs++;
}

static void
test_arena_budget(void **state)
{
	struct arena *a = arena_new("t", 1024);

	(void)state;
	assert_non_null(arena_alloc(a, 1024)); /* exactly the budget */
	assert_null(arena_alloc(a, 1));	       /* one past */
	arena_reset(a);
	assert_int_equal(arena_used(a), 0);
	assert_non_null(arena_alloc(a, 512));
	assert_null(arena_alloc(a, SIZE_MAX)); /* overflow is a refusal */
	arena_free(&a);
	assert_null(a);
}

static void
test_arena_hooks_and_large(void **state)
{
	struct arena *a = arena_new("t", 1 << 20);
	char *big;

	(void)state;
	hook_runs = 0;
	assert_int_equal(arena_on_reset(a, hook, NULL), 0);
	big = arena_alloc(a, 100000); /* larger than a block */
	assert_non_null(big);
	big[99999] = 'x';
	arena_reset(a);
	assert_int_equal(hook_runs, 1);
	assert_int_equal(arena_on_reset(a, hook, NULL), 0);
	arena_free(&a);
	assert_int_equal(hook_runs, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_budget),
		cmocka_unit_test(test_arena_hooks_and_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
