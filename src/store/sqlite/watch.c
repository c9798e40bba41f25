/* SPDX-License-Identifier: MIT */
/* Watchers: sessions register per user and are called on the owner
 * (loop) thread after a commit touched one of that user's mailboxes. A
 * watcher may remove itself or any other from inside its callback: a
 * removal during a walk only marks the watcher, and the outermost walk
 * unlinks and frees the marked ones when it ends. */
#include <stdlib.h>

#include "lib/mem.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

struct store_watch {
	struct store_watch *next;
	int64_t user_id;
	store_watch_cb cb;
	void *ctx;
	bool removed;
};

struct store_watch *
store_watch_add(struct store *st, int64_t user_id, store_watch_cb cb, void *ctx)
{
	struct store_watch *w = xcalloc(1, sizeof(*w));

	w->user_id = user_id;
	w->cb = cb;
	w->ctx = ctx;
	w->next = st->watches;
	st->watches = w;
	return w;
}

static void
sweep(struct store *st)
{
	struct store_watch **pp = &st->watches, *w;

	while ((w = *pp) != NULL) {
		if (w->removed) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void
store_watch_remove(struct store *st, struct store_watch **wp)
{
	if (wp == NULL || *wp == NULL)
		return;
	(*wp)->removed = true;
	*wp = NULL;
	if (st->watch_walking == 0)
		sweep(st);
}

void
watch_notify(struct store *st, int64_t user_id, int64_t mailbox_id)
{
	struct store_watch *w;

	st->watch_walking++;
	/* Watchers added during the walk sit at the head: not called. */
	for (w = st->watches; w != NULL; w = w->next)
		if (!w->removed && w->user_id == user_id)
			w->cb(w->ctx, user_id, mailbox_id);
	if (--st->watch_walking == 0)
		sweep(st);
}

void
watch_free_all(struct store *st)
{
	struct store_watch *w, *next;

	for (w = st->watches; w != NULL; w = next) {
		next = w->next;
		free(w);
	}
	st->watches = NULL;
}
