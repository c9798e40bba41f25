/* SPDX-License-Identifier: MIT */
/* Region allocation for session- and command-lifetime data: many small
 * allocations, freed all at once. The budget is the memory limit. */
#ifndef DESPATCH_LIB_ARENA_H
#define DESPATCH_LIB_ARENA_H

#include <stddef.h>

struct arena;

/* A new arena that hands out at most `budget` bytes in all. */
struct arena *arena_new(const char *name, size_t budget);
/* n bytes aligned for any type; NULL once over budget (never aborts for
 * budget, only on real OOM). */
void *arena_alloc(struct arena *a, size_t n);
/* Zeroed arena_alloc. */
void *arena_calloc(struct arena *a, size_t n);
/* Copies n bytes and a NUL; NULL over budget. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* Runs fn(arg) at the next reset or free (cleanups in LIFO order). */
int arena_on_reset(struct arena *a, void (*fn)(void *), void *arg);
/* Runs hooks, releases all but the first block, restores the budget. */
void arena_reset(struct arena *a);
/* Runs hooks, frees everything, sets *ap = NULL; accepts NULL. */
void arena_free(struct arena **ap);
/* Bytes handed out since the last reset. */
size_t arena_used(const struct arena *a);

#endif
