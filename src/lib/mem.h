/* SPDX-License-Identifier: MIT */
/* Process-lifetime allocation: aborts on out-of-memory. Tolerable because
 * nothing is acknowledged before commit and input is bounded by budgets. */
#ifndef DESPATCH_LIB_MEM_H
#define DESPATCH_LIB_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Frees *pp and sets it to NULL; accepts NULL. */
void xfree(void *pp);

#endif
