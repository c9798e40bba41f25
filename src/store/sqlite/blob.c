/* SPDX-License-Identifier: MIT */
/* Content-addressed blobs of the embedded store: the per-message stage,
 * the streaming writer (memory, then a temporary file, zstd) and the
 * streaming reader (inline rows, blob files, staged blobs). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#include "lib/dio.h"
#include "lib/mem.h"
#include "lib/str.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

struct blob_stage {
	struct store *st;
	struct staged_blob *v;
	size_t n, cap;
	size_t mem_used; /* bytes held in memory by staged blobs */
	/* Open-addressing index into v (slot value = index + 1), so that
	 * a message of many parts dedups in O(1) per blob. */
	uint32_t *slots;
	size_t nslots;
};

struct blob_writer {
	crypto_generichash_state hs; /* 64-byte aligned: see writer_alloc */
	struct blob_stage *stage;
	uint64_t size;
	unsigned char *mem; /* the first BLOB_MEM_MAX bytes */
	size_t mem_len, mem_cap;
	int fd; /* after the spill: tmp/<tmpname>, zstd stream */
	char tmpname[64];
	ZSTD_CCtx *cctx;
	unsigned char *zout;
	size_t zout_cap;
	uint64_t stored;
};

struct blob_reader {
	crypto_generichash_state hs;
	struct store *st; /* owner thread: dctx goes back to st->dctx_spare */
	struct blob_id id;
	uint64_t size, produced;
	int fd; /* -1: reading from mem */
	unsigned char *mem;
	size_t mem_len;
	ZSTD_DCtx *dctx; /* NULL: uncompressed */
	unsigned char *in;
	size_t in_cap;
	ZSTD_inBuffer zin;
	bool src_eof, done;
};

void
blob_id_hex(const struct blob_id *id, char out[BLOB_HEX_LEN + 1])
{
	str_hex(out, id->h, BLOB_ID_LEN);
}

void
blob_rel_path(const struct blob_id *id, char out[BLOB_HEX_LEN + 8])
{
	char hex[BLOB_HEX_LEN + 1];

	blob_id_hex(id, hex);
	(void)str_fmt(out, BLOB_HEX_LEN + 8, "%.2s/%.2s/%s", hex, hex + 2, hex);
}

/* --- stage ------------------------------------------------------------ */

struct blob_stage *
blob_stage_new(struct store *st)
{
	struct blob_stage *s = xcalloc(1, sizeof(*s));

	s->st = st;
	return s;
}

void
blob_stage_free(struct blob_stage **sp)
{
	struct blob_stage *s = *sp;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		/* Committed files were renamed away; anything left in tmp/
		 * belongs to an abandoned or failed message. */
		if (s->v[i].in_file && !s->v[i].renamed)
			(void)dio_unlinkat(s->st->tmp_fd, s->v[i].tmpname, 0);
		free(s->v[i].data);
	}
	free(s->v);
	free(s->slots);
	free(s);
	*sp = NULL;
}

struct staged_blob *
blob_stage_blobs(struct blob_stage *stage, size_t *n_out)
{
	*n_out = stage->n;
	return stage->v;
}

static size_t
id_slot(const struct blob_id *id, size_t nslots)
{
	uint64_t h;

	memcpy(&h, id->h, sizeof(h)); /* already uniformly random */
	return (size_t)(h & (nslots - 1));
}

struct staged_blob *
blob_stage_find(struct blob_stage *s, const struct blob_id *id)
{
	size_t i;

	if (s == NULL || s->nslots == 0)
		return NULL;
	for (i = id_slot(id, s->nslots); s->slots[i] != 0;
	     i = (i + 1) & (s->nslots - 1))
		if (memcmp(s->v[s->slots[i] - 1].id.h, id->h, BLOB_ID_LEN) == 0)
			return &s->v[s->slots[i] - 1];
	return NULL;
}

static void
stage_index(struct blob_stage *s, size_t idx)
{
	size_t i;

	for (i = id_slot(&s->v[idx].id, s->nslots); s->slots[i] != 0;
	     i = (i + 1) & (s->nslots - 1))
		;
	s->slots[i] = (uint32_t)(idx + 1);
}

static struct staged_blob *
stage_add(struct blob_stage *s)
{
	size_t i;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	if ((s->n + 1) * 2 > s->nslots) { /* load factor <= 1/2 */
		free(s->slots);
		s->nslots = s->nslots ? s->nslots * 2 : 32;
		s->slots = xcalloc(s->nslots, sizeof(*s->slots));
		for (i = 0; i < s->n; i++)
			stage_index(s, i);
	}
	memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
	return &s->v[s->n++];
}

/* --- writer ----------------------------------------------------------- */

int
errno_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? ERR_FULL : ERR_TEMP;
}

/* Creates tmp/<pid>.<seq>; the name is unique within the store folder
 * because the pid is unique among live processes and seq per process. */
static int
tmp_create(struct store *st, char name[64], struct err *err)
{
	unsigned long long seq = atomic_fetch_add(&st->tmp_seq, 1);
	int fd;

	(void)str_fmt(name, 64, "%ld.%llu.blob", (long)getpid(), seq);
	fd = dio_openat(st->tmp_fd, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		return err_set(err, errno_code(errno), "create tmp/%s: %s",
		    name, strerror(errno));
	return fd;
}

int
blob_writer_begin(struct blob_stage *stage, struct blob_writer **out,
    struct err *err)
{
	struct blob_writer *w;

	(void)err;
	/* crypto_generichash_state is declared 64-byte aligned. */
	w = aligned_alloc(64, (sizeof(*w) + 63) / 64 * 64);
	if (w == NULL)
		abort();
	memset(w, 0, sizeof(*w));
	w->stage = stage;
	w->fd = -1;
	(void)crypto_generichash_init(&w->hs, NULL, 0, BLOB_ID_LEN);
	*out = w;
	return 0;
}

/* Compresses in[0..n) into the open tmp file. end: finish the frame. */
static int
writer_zfeed(struct blob_writer *w, const void *p, size_t n, bool end,
    struct err *err)
{
	ZSTD_inBuffer in = { p, n, 0 };
	ZSTD_outBuffer out;
	size_t left;

	do {
		out = (ZSTD_outBuffer){ w->zout, w->zout_cap, 0 };
		left = ZSTD_compressStream2(w->cctx, &out, &in,
		    end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return err_set(err, ERR_INTERNAL, "zstd: %s",
			    ZSTD_getErrorName(left));
		if (out.pos > 0 && dio_write_all(w->fd, w->zout, out.pos) == -1)
			return err_set(err, errno_code(errno),
			    "write tmp/%s: %s", w->tmpname, strerror(errno));
		w->stored += out.pos;
	} while (end ? left != 0 : in.pos < in.size);
	return 0;
}

static int
writer_spill(struct blob_writer *w, struct err *err)
{
	int fd = tmp_create(w->stage->st, w->tmpname, err);

	if (fd < 0)
		return fd;
	w->fd = fd;
	w->cctx = ZSTD_createCCtx();
	if (w->cctx == NULL)
		abort();
	(void)ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel,
	    BLOB_ZSTD_LEVEL);
	w->zout_cap = ZSTD_CStreamOutSize();
	w->zout = xmalloc(w->zout_cap);
	return writer_zfeed(w, w->mem, w->mem_len, false, err);
}

int
blob_writer_write(struct blob_writer *w, const void *p, size_t n,
    struct err *err)
{
	size_t room;
	int rc;

	if (n == 0)
		return 0;
	(void)crypto_generichash_update(&w->hs, p, n);
	w->size += n;
	if (w->fd == -1) {
		room = BLOB_MEM_MAX - w->mem_len;
		if (n <= room) {
			/* Grow by doubling: most blobs are a few KiB, and a
			 * thousand sessions should not each pin the max. */
			if (w->mem_len + n > w->mem_cap) {
				size_t cap = w->mem_cap ? w->mem_cap : 4096;

				while (cap < w->mem_len + n)
					cap *= 2;
				if (cap > BLOB_MEM_MAX)
					cap = BLOB_MEM_MAX;
				w->mem = xrealloc(w->mem, cap);
				w->mem_cap = cap;
			}
			memcpy(w->mem + w->mem_len, p, n);
			w->mem_len += n;
			return 0;
		}
		if ((rc = writer_spill(w, err)) != 0)
			return rc;
	}
	return writer_zfeed(w, p, n, false, err);
}

void
blob_writer_abort(struct blob_writer **wp)
{
	struct blob_writer *w = *wp;

	if (w == NULL)
		return;
	if (w->fd != -1) {
		(void)dio_close(w->fd);
		(void)dio_unlinkat(w->stage->st->tmp_fd, w->tmpname, 0);
	}
	ZSTD_freeCCtx(w->cctx);
	free(w->zout);
	free(w->mem);
	free(w);
	*wp = NULL;
}

/* Is id a committed blob? Loop-thread read on the owner connection. */
static int
store_has(struct store *st, const struct blob_id *id, bool *has_out,
    struct err *err)
{
	sqlite3_stmt *s = db_stmt(&st->rd, SQL_BLOB_ROWID, err);
	int rc;

	if (s == NULL)
		return err->code;
	(void)sqlite3_bind_blob(s, 1, id->h, BLOB_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(s);
	(void)sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(&st->rd, rc, "blob lookup", err);
	*has_out = rc == SQLITE_ROW;
	return 0;
}

/* A small blob kept in memory: compress it if that saves space. */
static void
stage_mem(struct store *st, struct staged_blob *b, unsigned char *mem,
    size_t len)
{
	size_t bound = ZSTD_compressBound(len), z = len;
	unsigned char *out = xmalloc(bound > 0 ? bound : 1);

	/* One context per store, reused: ZSTD_compress would allocate and
	 * initialise a fresh one (hundreds of KiB) for every part. Below
	 * 64 bytes a zstd frame's own overhead leaves nothing to gain. */
	if (st->cctx == NULL && (st->cctx = ZSTD_createCCtx()) == NULL)
		abort();
	if (len >= 64)
		z = ZSTD_compressCCtx(st->cctx, out, bound, mem, len,
		    BLOB_ZSTD_LEVEL);
	if (!ZSTD_isError(z) && z < len) {
		b->data = xrealloc(out, z > 0 ? z : 1);
		b->stored_size = z;
		b->compression = BLOB_COMP_ZSTD;
		free(mem);
	} else {
		free(out);
		b->data = mem != NULL ? mem : xmalloc(1);
		b->stored_size = len;
		b->compression = BLOB_COMP_NONE;
	}
}

int
blob_writer_end(struct blob_writer **wp, struct blob_id *id_out,
    uint64_t *size_out, struct err *err)
{
	struct blob_writer *w = *wp;
	struct blob_stage *s = w->stage;
	struct staged_blob *b;
	struct blob_id id;
	bool has = false;
	int rc, fd;

	(void)crypto_generichash_final(&w->hs, id.h, BLOB_ID_LEN);
	*id_out = id;
	*size_out = w->size;
	if (blob_stage_find(s, &id) != NULL) {
		blob_writer_abort(wp); /* staged or referenced already */
		return 0;
	}
	if ((rc = store_has(s->st, &id, &has, err)) != 0) {
		blob_writer_abort(wp);
		return rc;
	}
	if (has) {
		/* Referenced, not copied. If GC removes it before our commit
		 * the commit fails that message with ERR_TEMP. */
		b = stage_add(s);
		b->id = id;
		b->size = w->size;
		stage_index(s, s->n - 1);
		blob_writer_abort(wp);
		return 0;
	}
	if (w->fd == -1 && s->mem_used + w->mem_len > BLOB_STAGE_MEM_MAX) {
		/* Over the stage's memory budget: stage as a file. */
		if ((rc = writer_spill(w, err)) != 0) {
			blob_writer_abort(wp);
			return rc;
		}
	}
	if (w->fd != -1 && (rc = writer_zfeed(w, NULL, 0, true, err)) != 0) {
		blob_writer_abort(wp);
		return rc;
	}
	b = stage_add(s);
	b->id = id;
	b->size = w->size;
	b->is_new = true;
	if (w->fd == -1) {
		stage_mem(s->st, b, w->mem, w->mem_len);
		w->mem = NULL;
		s->mem_used += b->stored_size;
	} else {
		b->in_file = true;
		b->stored_size = w->stored;
		b->compression = BLOB_COMP_ZSTD;
		memcpy(b->tmpname, w->tmpname, sizeof(b->tmpname));
		/* The tmp file now belongs to the stage: close without
		 * unlinking. Its fsync waits for the commit thread. */
		fd = w->fd;
		w->fd = -1;
		if (dio_close(fd) == -1 && errno != EINTR) {
			rc = err_set(err, errno_code(errno), "close tmp/%s: %s",
			    b->tmpname, strerror(errno));
			(void)dio_unlinkat(s->st->tmp_fd, b->tmpname, 0);
			s->n--; /* never indexed */
			blob_writer_abort(wp);
			return rc;
		}
	}
	stage_index(s, s->n - 1);
	blob_writer_abort(wp);
	return 0;
}

/* --- reader ----------------------------------------------------------- */

static struct blob_reader *
reader_new(struct store *st, const struct blob_id *id, uint64_t size)
{
	struct blob_reader *r = aligned_alloc(64, (sizeof(*r) + 63) / 64 * 64);

	if (r == NULL)
		abort();
	memset(r, 0, sizeof(*r));
	r->st = st;
	r->id = *id;
	r->size = size;
	r->fd = -1;
	(void)crypto_generichash_init(&r->hs, NULL, 0, BLOB_ID_LEN);
	return r;
}

/* A file blob stored compressed streams through its own context: the
 * store's spare one if free (owner thread), else a new one. */
static void
reader_stream_ctx(struct blob_reader *r)
{
	if (r->st->dctx_spare != NULL) {
		r->dctx = r->st->dctx_spare;
		r->st->dctx_spare = NULL;
		(void)ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
	} else if ((r->dctx = ZSTD_createDCtx()) == NULL) {
		abort();
	}
}

/* Takes the stored bytes of an in-memory blob (inline row or staged):
 * a compressed one is decompressed whole, at once, with the store's
 * context (it is at most BLOB_MEM_MAX bytes), so that reading it needs
 * no context of its own. ERR_TEMP if it does not decompress to size. */
static int
reader_set_mem(struct blob_reader *r, const void *p, size_t n, int compression,
    struct err *err)
{
	char hex[BLOB_HEX_LEN + 1];
	size_t z;

	if (compression != BLOB_COMP_ZSTD) {
		r->mem = xmalloc(n ? n : 1);
		if (n > 0)
			memcpy(r->mem, p, n);
		r->mem_len = n;
		return 0;
	}
	if (r->size > BLOB_MEM_MAX)
		goto bad;
	if (r->st->dctx == NULL && (r->st->dctx = ZSTD_createDCtx()) == NULL)
		abort();
	r->mem = xmalloc(r->size ? (size_t)r->size : 1);
	z = ZSTD_decompressDCtx(r->st->dctx, r->mem, (size_t)r->size, p, n);
	if (ZSTD_isError(z) || z != r->size)
		goto bad;
	r->mem_len = z;
	return 0;
bad:
	blob_id_hex(&r->id, hex);
	return err_set(err, ERR_TEMP,
	    "blob %s: does not decompress to %llu"
	    " bytes",
	    hex, (unsigned long long)r->size);
}

static int
reader_open_file(struct blob_reader *r, int dirfd, const char *name,
    int compression, struct err *err)
{
	r->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (r->fd == -1)
		return err_set(err, ERR_TEMP, "open blob %s: %s", name,
		    strerror(errno));
	if (compression == BLOB_COMP_ZSTD)
		reader_stream_ctx(r);
	r->in_cap = r->dctx != NULL ? ZSTD_DStreamInSize() : 0;
	r->in = r->in_cap ? xmalloc(r->in_cap) : NULL;
	return 0;
}

int
blob_reader_open(struct store *st, struct blob_stage *stage,
    const struct blob_id *id, struct blob_reader **out, struct err *err)
{
	struct staged_blob *b = blob_stage_find(stage, id);
	struct blob_reader *r;
	sqlite3_stmt *s;
	int rc;

	if (b != NULL && b->is_new) {
		r = reader_new(st, id, b->size);
		rc = b->in_file ? reader_open_file(r, st->tmp_fd, b->tmpname,
		                      b->compression, err)
		                : reader_set_mem(r, b->data, b->stored_size,
		                      b->compression, err);
		if (rc != 0) {
			blob_reader_close(&r);
			return rc;
		}
		*out = r;
		return 0;
	}
	/* The row and an inline blob's bytes in one statement: one read
	 * transaction per blob, on the owner connection. */
	if ((s = db_stmt(&st->rd, SQL_BLOB_READ, err)) == NULL)
		return err->code;
	(void)sqlite3_bind_blob(s, 1, id->h, BLOB_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		char hex[BLOB_HEX_LEN + 1];

		(void)sqlite3_reset(s);
		blob_id_hex(id, hex);
		return err_set(err, ERR_NOTFOUND, "blob %s not found", hex);
	}
	if (rc != SQLITE_ROW) {
		(void)sqlite3_reset(s);
		return db_fail(&st->rd, rc, "blob lookup", err);
	}
	rc = blob_reader_from_row(st, s, 0, id, out, err);
	(void)sqlite3_reset(s);
	return rc;
}

int
blob_reader_from_row(struct store *st, sqlite3_stmt *s, int col,
    const struct blob_id *id, struct blob_reader **out, struct err *err)
{
	struct blob_reader *r;
	char rel[BLOB_HEX_LEN + 8];
	int rc, loc, comp;

	r = reader_new(st, id, (uint64_t)sqlite3_column_int64(s, col));
	loc = sqlite3_column_int(s, col + 1);
	comp = sqlite3_column_int(s, col + 2);
	if (loc == BLOB_LOC_FILE) {
		blob_rel_path(id, rel);
		rc = reader_open_file(r, st->blobs_fd, rel, comp, err);
	} else if (sqlite3_column_type(s, col + 3) == SQLITE_NULL) {
		rc = err_set(err, ERR_TEMP, "inline blob data missing");
	} else {
		rc = reader_set_mem(r, sqlite3_column_blob(s, col + 3),
		    (size_t)sqlite3_column_bytes(s, col + 3), comp, err);
	}
	if (rc != 0) {
		blob_reader_close(&r);
		return rc;
	}
	*out = r;
	return 0;
}

uint64_t
blob_reader_size(const struct blob_reader *r)
{
	return r->size;
}

/* Refills the compressed input from the file or the memory copy. */
static int
reader_fill(struct blob_reader *r, struct err *err)
{
	ssize_t n;

	if (r->fd == -1) {
		r->zin = (ZSTD_inBuffer){ r->mem, r->mem_len, 0 };
		r->src_eof = true;
		return 0;
	}
	do
		n = read(r->fd, r->in, r->in_cap);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return err_set(err, ERR_TEMP, "read blob: %s", strerror(errno));
	r->zin = (ZSTD_inBuffer){ r->in, (size_t)n, 0 };
	if (n == 0)
		r->src_eof = true;
	return 0;
}

/* Raw (uncompressed) content straight into p. */
static int
reader_raw(struct blob_reader *r, void *p, size_t n, size_t *got,
    struct err *err)
{
	ssize_t k;

	if (r->fd == -1) {
		k = (ssize_t)(r->mem_len - r->zin.pos < n
		        ? r->mem_len - r->zin.pos
		        : n);
		memcpy(p, r->mem + r->zin.pos, (size_t)k);
		r->zin.pos += (size_t)k;
	} else {
		do
			k = read(r->fd, p, n);
		while (k == -1 && errno == EINTR);
		if (k == -1)
			return err_set(err, ERR_TEMP, "read blob: %s",
			    strerror(errno));
	}
	*got = (size_t)k;
	return 0;
}

static int
reader_check_end(struct blob_reader *r, struct err *err)
{
	struct blob_id h;
	char hex[BLOB_HEX_LEN + 1];

	r->done = true;
	(void)crypto_generichash_final(&r->hs, h.h, BLOB_ID_LEN);
	blob_id_hex(&r->id, hex);
	if (r->produced != r->size)
		return err_set(err, ERR_TEMP,
		    "blob %s: %llu bytes, expected %llu", hex,
		    (unsigned long long)r->produced,
		    (unsigned long long)r->size);
	if (memcmp(h.h, r->id.h, BLOB_ID_LEN) != 0)
		return err_set(err, ERR_TEMP,
		    "blob %s: content does not match its id", hex);
	return 0;
}

int
blob_reader_read(struct blob_reader *r, void *p, size_t n, size_t *n_out,
    struct err *err)
{
	ZSTD_outBuffer out = { p, n, 0 };
	size_t ret, got = 0;
	int rc;

	*n_out = 0;
	if (r->done || n == 0)
		return 0;
	if (r->dctx == NULL) {
		if ((rc = reader_raw(r, p, n, &got, err)) != 0)
			return rc;
		out.pos = got;
	} else {
		/* Loop until some output or the end: zstd may consume input
		 * (headers) without producing any. */
		while (out.pos == 0) {
			if (r->zin.pos == r->zin.size) {
				if (r->src_eof)
					break;
				if ((rc = reader_fill(r, err)) != 0)
					return rc;
				if (r->zin.size == 0)
					break;
			}
			ret = ZSTD_decompressStream(r->dctx, &out, &r->zin);
			if (ZSTD_isError(ret))
				return err_set(err, ERR_TEMP, "zstd: %s",
				    ZSTD_getErrorName(ret));
		}
	}
	if (out.pos == 0)
		return reader_check_end(r, err);
	if (out.pos > r->size - r->produced) {
		r->done = true;
		return err_set(err, ERR_TEMP, "blob longer than recorded");
	}
	r->produced += out.pos;
	(void)crypto_generichash_update(&r->hs, p, out.pos);
	*n_out = out.pos;
	return 0;
}

void
blob_reader_close(struct blob_reader **rp)
{
	struct blob_reader *r = *rp;

	if (r == NULL)
		return;
	if (r->fd != -1)
		(void)close(r->fd);
	if (r->dctx != NULL && r->st->dctx_spare == NULL)
		r->st->dctx_spare = r->dctx; /* reset when taken */
	else
		ZSTD_freeDCtx(r->dctx);
	free(r->in);
	free(r->mem);
	free(r);
	*rp = NULL;
}
