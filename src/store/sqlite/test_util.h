/* SPDX-License-Identifier: MIT */
/* Helpers shared by the store's unit tests: temporary store folders and
 * messages built straight from blobs (no MIME ingest needed). */
#ifndef DESPATCH_STORE_SQLITE_TEST_UTIL_H
#define DESPATCH_STORE_SQLITE_TEST_UTIL_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/mem.h"
#include "lib/str.h"
#include "store/sqlite/store_int.h"

static inline int
tu_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh folder under $TMPDIR (or /tmp); *store_dir_out = base/store. */
static inline void
tu_tmpdir(char base[256], char store_dir[300])
{
	const char *t = getenv("TMPDIR");

	if (!str_fmt(base, 256, "%s/despatch-store-XXXXXX", t ? t : "/tmp") ||
	    mkdtemp(base) == NULL)
		abort();
	(void)str_fmt(store_dir, 300, "%s/store", base);
}

static inline void
tu_rmtree(const char *base)
{
	(void)nftw(base, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Regular files below dir (recursively). */
static inline size_t
tu_count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[1024];
	struct stat sb;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		(void)str_fmt(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			n += tu_count_files(p);
		else
			n++;
	}
	closedir(d);
	return n;
}

/* SQL that takes a version 4 store back to version 3's schema (the
 * outbound queue gone, entries_gone as it was), for migration tests. */
#define TU_UNDO_V4                                                             \
	"DROP TRIGGER queue_gone; DROP TABLE queue;"                           \
	"DROP TRIGGER entries_gone;"                                           \
	"CREATE TRIGGER entries_gone AFTER DELETE ON entries"                  \
	" WHEN NOT EXISTS (SELECT 1 FROM entries WHERE message = OLD.message)" \
	" BEGIN DELETE FROM messages WHERE id = OLD.message; END;"

/* Writes one blob of n bytes into stage; returns its id. */
static inline struct blob_id
tu_blob(struct blob_stage *stage, const void *p, size_t n)
{
	struct blob_writer *w;
	struct blob_id id;
	uint64_t size;
	struct err e;

	if (blob_writer_begin(stage, &w, &e) != 0 ||
	    blob_writer_write(w, p, n, &e) != 0 ||
	    blob_writer_end(&w, &id, &size, &e) != 0 || size != n)
		abort();
	return id;
}

/* A finished message: a skeleton blob naming `tag` and parts given as
 * byte strings (each a part blob). */
static inline struct store_msg *
tu_msg(struct store *st, const char *tag, const void *const *parts,
    const size_t *lens, size_t n)
{
	struct store_msg *m = store_msg_alloc(st);
	char skel[512];
	size_t i;

	m->parts = xcalloc(n ? n : 1, sizeof(*m->parts));
	for (i = 0; i < n; i++) {
		m->parts[i] = tu_blob(m->stage, parts[i], lens[i]);
		m->size += lens[i];
	}
	m->n_parts = n;
	(void)str_fmt(skel, sizeof(skel), "skeleton of %s", tag);
	m->skeleton = tu_blob(m->stage, skel, strlen(skel));
	m->size += strlen(skel);
	(void)str_copy(m->subject, sizeof(m->subject), tag);
	(void)str_copy(m->from, sizeof(m->from), "sender@example.org");
	m->finished = true;
	return m;
}

#endif
