/* SPDX-License-Identifier: MIT */
/* A bump allocator over a chain of blocks. */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "checked.h"
#include "err.h"
#include "mem.h"

#define ARENA_BLOCK 4096

struct block {
	struct block *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

struct hook {
	struct hook *next;
	void (*fn)(void *);
	void *arg;
};

struct arena {
	const char *name;
	size_t budget, used;
	struct block *head;
	struct hook *hooks;
};

struct arena *
arena_new(const char *name, size_t budget)
{
	struct arena *a = xcalloc(1, sizeof(*a));

	a->name = name;
	a->budget = budget;
	return a;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	const size_t align = alignof(max_align_t);
	struct block *b = a->head;
	size_t need, size;
	void *p;

	if (!checked_add(n, align - 1, &need))
		return NULL;
	need &= ~(align - 1);
	if (need == 0)
		need = align;
	if (need > a->budget - a->used)
		return NULL;
	if (b == NULL || b->size - b->used < need) {
		size = need > ARENA_BLOCK ? need : ARENA_BLOCK;
		b = xmalloc(sizeof(*b) + size);
		b->size = size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += need;
	a->used += need;
	return p;
}

void *
arena_calloc(struct arena *a, size_t n)
{
	void *p = arena_alloc(a, n);

	if (p != NULL)
		memset(p, 0, n);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	size_t m;
	char *p;

	if (!checked_add(n, 1, &m))
		return NULL;
	p = arena_alloc(a, m);
	if (p == NULL)
		return NULL;
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
arena_on_reset(struct arena *a, void (*fn)(void *), void *arg)
{
	struct hook *h = arena_alloc(a, sizeof(*h));

	if (h == NULL)
		return ERR_LIMIT;
	h->fn = fn;
	h->arg = arg;
	h->next = a->hooks;
	a->hooks = h;
	return 0;
}

static void
run_hooks(struct arena *a)
{
	struct hook *h = a->hooks;

	a->hooks = NULL;
	for (; h != NULL; h = h->next)
		h->fn(h->arg);
}

void
arena_reset(struct arena *a)
{
	struct block *b, *next;

	run_hooks(a);
	if (a->head == NULL)
		return;
	/* Keep the oldest block (the last in the chain): it is the one a
	 * steady-state session reuses. */
	for (b = a->head; b->next != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = b;
	b->used = 0;
	a->used = 0;
}

void
arena_free(struct arena **ap)
{
	struct arena *a = *ap;
	struct block *b, *next;

	if (a == NULL)
		return;
	run_hooks(a);
	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
	*ap = NULL;
}

size_t
arena_used(const struct arena *a)
{
	return a->used;
}
