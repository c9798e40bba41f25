/* SPDX-License-Identifier: MIT */
/* The "despatch" SQLite VFS: SQLite's default "unix" VFS with its writes,
 * syncs, truncations, opens and deletes routed through the durable-I/O
 * hooks (lib/fault.h), so that a fault walk counts and fails SQLite's file
 * I/O exactly like the store's own (lib/dio.c). Everything else is passed
 * through. In a release build the hooks are empty and this costs one
 * indirect call per file operation. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "lib/fault.h"
#include "lib/str.h"
#include "store/sqlite/store_int.h"

#include "lib/banned.h"

#define VFS_NAME "despatch"
/* Pre-images are read in pieces of this size (power-loss mode only). */
#define VFS_PREIMAGE_CHUNK 65536

/* Our file, followed in the same allocation by the unix VFS's own. */
struct vfile {
	sqlite3_file base;
	sqlite3_file *real;
	char path[PATH_MAX]; /* "" for a temporary file */
};

static sqlite3_vfs *unix_vfs;
static sqlite3_vfs vfs;
static sqlite3_io_methods methods;

/* Maps errno of a refused call to the SQLite code xWrite would give. */
static int
write_error(int e, int ioerr)
{
	return e == ENOSPC || e == EDQUOT ? SQLITE_FULL : ioerr;
}

static int
v_close(sqlite3_file *f)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xClose(v->real);
}

static int
v_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xRead(v->real, p, n, off);
}

/* Power-loss mode: records what [off, off+n) holds now; under
 * fault_lock. */
static void
note_preimage(struct vfile *v, sqlite3_int64 off, int n)
{
	unsigned char buf[VFS_PREIMAGE_CHUNK];
	sqlite3_int64 size = 0;
	int k;

	if (v->real->pMethods->xFileSize(v->real, &size) != SQLITE_OK)
		return;
	fault_note_write(v->path, (uint64_t)off, NULL, 0, (uint64_t)size);
	while (n > 0 && off < size) {
		k = n < (int)sizeof(buf) ? n : (int)sizeof(buf);
		if (size - off < k)
			k = (int)(size - off);
		if (v->real->pMethods->xRead(v->real, buf, k, off) != SQLITE_OK)
			return;
		fault_note_write(v->path, (uint64_t)off, buf, (size_t)k,
		    (uint64_t)size);
		off += k;
		n -= k;
	}
}

static int
v_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	struct vfile *v = (struct vfile *)f;
	enum fault_verdict verdict;
	bool track = fault_tracking() && v->path[0] != '\0';
	int rc;

	verdict = fault_point(FAULT_OP_WRITE, v->path[0] ? v->path : "(temp)");
	if (verdict == FAULT_FAIL)
		return write_error(errno, SQLITE_IOERR_WRITE);
	if (track) {
		fault_lock();
		note_preimage(v, off, n);
	}
	if (verdict == FAULT_SHORT_WRITE) {
		/* A torn write: half lands, and SQLite hears what the unix
		 * VFS reports for a short write. */
		(void)v->real->pMethods->xWrite(v->real, p, n / 2, off);
		rc = SQLITE_FULL;
	} else {
		rc = v->real->pMethods->xWrite(v->real, p, n, off);
	}
	if (track)
		fault_unlock();
	return rc;
}

static int
v_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct vfile *v = (struct vfile *)f;
	bool track = fault_tracking() && v->path[0] != '\0';
	sqlite3_int64 cur = 0;
	int rc;

	if (fault_point(FAULT_OP_TRUNCATE, v->path) == FAULT_FAIL)
		return SQLITE_IOERR_TRUNCATE;
	if (track) {
		fault_lock();
		if (v->real->pMethods->xFileSize(v->real, &cur) == SQLITE_OK &&
		    cur > size)
			note_preimage(v, size, (int)(cur - size < INT_MAX
			                                 ? cur - size
			                                 : INT_MAX));
		else
			note_preimage(v, cur, 0);
	}
	rc = v->real->pMethods->xTruncate(v->real, size);
	if (track)
		fault_unlock();
	return rc;
}

static int
v_sync(sqlite3_file *f, int flags)
{
	struct vfile *v = (struct vfile *)f;
	int rc;

	if (fault_point(FAULT_OP_FSYNC, v->path) == FAULT_FAIL)
		return SQLITE_IOERR_FSYNC;
	rc = v->real->pMethods->xSync(v->real, flags);
	if (rc == SQLITE_OK && v->path[0] != '\0' && fault_tracking())
		fault_note_sync(v->path);
	return rc;
}

static int
v_file_size(sqlite3_file *f, sqlite3_int64 *out)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xFileSize(v->real, out);
}

static int
v_lock(sqlite3_file *f, int level)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xLock(v->real, level);
}

static int
v_unlock(sqlite3_file *f, int level)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xUnlock(v->real, level);
}

static int
v_check_reserved(sqlite3_file *f, int *out)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xCheckReservedLock(v->real, out);
}

static int
v_file_control(sqlite3_file *f, int op, void *arg)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xFileControl(v->real, op, arg);
}

static int
v_sector_size(sqlite3_file *f)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xSectorSize(v->real);
}

static int
v_device_characteristics(sqlite3_file *f)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xDeviceCharacteristics(v->real);
}

static int
v_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xShmMap(v->real, pg, pgsz, extend, pp);
}

static int
v_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xShmLock(v->real, offset, n, flags);
}

static void
v_shm_barrier(sqlite3_file *f)
{
	struct vfile *v = (struct vfile *)f;

	v->real->pMethods->xShmBarrier(v->real);
}

static int
v_shm_unmap(sqlite3_file *f, int del)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xShmUnmap(v->real, del);
}

static int
v_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xFetch(v->real, off, n, pp);
}

static int
v_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	struct vfile *v = (struct vfile *)f;

	return v->real->pMethods->xUnfetch(v->real, off, p);
}

static int
v_open(sqlite3_vfs *x, sqlite3_filename name, sqlite3_file *f, int flags,
    int *out_flags)
{
	struct vfile *v = (struct vfile *)f;
	int rc;

	(void)x;
	memset(v, 0, sizeof(*v));
	v->real = (sqlite3_file *)(v + 1);
	if (name != NULL)
		(void)str_copy(v->path, sizeof(v->path), name);
	if (fault_point(FAULT_OP_OPEN, name != NULL ? name : "(temp)") ==
	    FAULT_FAIL)
		return SQLITE_CANTOPEN;
	rc = unix_vfs->xOpen(unix_vfs, name, v->real, flags, out_flags);
	/* SQLite calls xClose only if pMethods is set: mirror the unix
	 * VFS, which leaves it NULL when its open failed. */
	v->base.pMethods = v->real->pMethods != NULL ? &methods : NULL;
	return rc;
}

static int
v_delete(sqlite3_vfs *x, const char *name, int sync_dir)
{
	int rc;

	(void)x;
	if (fault_point(FAULT_OP_UNLINK, name) == FAULT_FAIL)
		return SQLITE_IOERR_DELETE;
	rc = unix_vfs->xDelete(unix_vfs, name, sync_dir);
	if (rc == SQLITE_OK && fault_tracking())
		fault_note_unlink(name);
	return rc;
}

static int
v_access(sqlite3_vfs *x, const char *name, int flags, int *out)
{
	(void)x;
	return unix_vfs->xAccess(unix_vfs, name, flags, out);
}

static int
v_full_pathname(sqlite3_vfs *x, const char *name, int n, char *out)
{
	(void)x;
	return unix_vfs->xFullPathname(unix_vfs, name, n, out);
}

static void *
v_dlopen(sqlite3_vfs *x, const char *name)
{
	(void)x;
	return unix_vfs->xDlOpen(unix_vfs, name);
}

static void
v_dlerror(sqlite3_vfs *x, int n, char *out)
{
	(void)x;
	unix_vfs->xDlError(unix_vfs, n, out);
}

static void (*v_dlsym(sqlite3_vfs *x, void *h, const char *sym))(void)
{
	(void)x;
	return unix_vfs->xDlSym(unix_vfs, h, sym);
}

static void
v_dlclose(sqlite3_vfs *x, void *h)
{
	(void)x;
	unix_vfs->xDlClose(unix_vfs, h);
}

static int
v_randomness(sqlite3_vfs *x, int n, char *out)
{
	(void)x;
	return unix_vfs->xRandomness(unix_vfs, n, out);
}

static int
v_sleep(sqlite3_vfs *x, int us)
{
	(void)x;
	return unix_vfs->xSleep(unix_vfs, us);
}

static int
v_current_time(sqlite3_vfs *x, double *out)
{
	(void)x;
	return unix_vfs->xCurrentTime(unix_vfs, out);
}

static int
v_last_error(sqlite3_vfs *x, int n, char *out)
{
	(void)x;
	return unix_vfs->xGetLastError(unix_vfs, n, out);
}

static int
v_current_time64(sqlite3_vfs *x, sqlite3_int64 *out)
{
	(void)x;
	return unix_vfs->xCurrentTimeInt64(unix_vfs, out);
}

static int
v_set_syscall(sqlite3_vfs *x, const char *name, sqlite3_syscall_ptr p)
{
	(void)x;
	return unix_vfs->xSetSystemCall(unix_vfs, name, p);
}

static sqlite3_syscall_ptr
v_get_syscall(sqlite3_vfs *x, const char *name)
{
	(void)x;
	return unix_vfs->xGetSystemCall(unix_vfs, name);
}

static const char *
v_next_syscall(sqlite3_vfs *x, const char *name)
{
	(void)x;
	return unix_vfs->xNextSystemCall(unix_vfs, name);
}

int
vfs_register(void)
{
	if ((unix_vfs = sqlite3_vfs_find("unix")) == NULL)
		return SQLITE_ERROR;
	methods = (sqlite3_io_methods){
		.iVersion = 3,
		.xClose = v_close,
		.xRead = v_read,
		.xWrite = v_write,
		.xTruncate = v_truncate,
		.xSync = v_sync,
		.xFileSize = v_file_size,
		.xLock = v_lock,
		.xUnlock = v_unlock,
		.xCheckReservedLock = v_check_reserved,
		.xFileControl = v_file_control,
		.xSectorSize = v_sector_size,
		.xDeviceCharacteristics = v_device_characteristics,
		.xShmMap = v_shm_map,
		.xShmLock = v_shm_lock,
		.xShmBarrier = v_shm_barrier,
		.xShmUnmap = v_shm_unmap,
		.xFetch = v_fetch,
		.xUnfetch = v_unfetch,
	};
	vfs = (sqlite3_vfs){
		.iVersion = 3,
		.szOsFile = (int)sizeof(struct vfile) + unix_vfs->szOsFile,
		.mxPathname = unix_vfs->mxPathname < PATH_MAX
		    ? unix_vfs->mxPathname
		    : PATH_MAX - 1,
		.zName = VFS_NAME,
		.xOpen = v_open,
		.xDelete = v_delete,
		.xAccess = v_access,
		.xFullPathname = v_full_pathname,
		.xDlOpen = v_dlopen,
		.xDlError = v_dlerror,
		.xDlSym = v_dlsym,
		.xDlClose = v_dlclose,
		.xRandomness = v_randomness,
		.xSleep = v_sleep,
		.xCurrentTime = v_current_time,
		.xGetLastError = v_last_error,
		.xCurrentTimeInt64 = v_current_time64,
		.xSetSystemCall = v_set_syscall,
		.xGetSystemCall = v_get_syscall,
		.xNextSystemCall = v_next_syscall,
	};
	return sqlite3_vfs_register(&vfs, 1);
}
