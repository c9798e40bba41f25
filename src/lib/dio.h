/* SPDX-License-Identifier: MIT */
/* Durable I/O: the one door through which the store changes files. Every
 * open, write, fsync, rename, unlink, mkdir, truncate and close of store
 * state, and every SQLite COMMIT (dio_commit_point), goes through here;
 * SQLite's own file I/O reaches the same hooks through the VFS shim
 * (store/sqlite/vfs.c). Built with -Dtest_hooks=true, each of these calls
 * is counted and can be made to fail (lib/fault.h); without it they are
 * the plain system calls.
 *
 * These are system-call wrappers, so they keep the system calls' return
 * convention (-1 and errno) rather than struct err: every caller already
 * turns errno into its own err_set with its own wording. Reads are not
 * routed here: a failed read loses nothing and is reported to its reader. */
#ifndef DESPATCH_LIB_DIO_H
#define DESPATCH_LIB_DIO_H

#include <stddef.h>
#include <sys/types.h>

/* openat(2). Returns the fd or -1 (errno). A file or folder it creates is
 * durable only once its parent folder is fsynced (dio_fsync on the
 * folder's fd). */
int dio_openat(int dirfd, const char *name, int flags, mode_t mode);
/* close(2) of a store file. -1 (errno) is reported but the fd is gone
 * either way. */
int dio_close(int fd);
/* Writes all n bytes at the file position, looping over short writes
 * and EINTR. 0, or -1 (errno; some bytes may have been written). */
int dio_write_all(int fd, const void *p, size_t n);
/* Writes all n bytes at off (pwrite(2), looping like dio_write_all). */
int dio_pwrite_all(int fd, const void *p, size_t n, off_t off);
/* fsync(2) / fdatasync(2); on a folder's fd this makes the entries
 * created, renamed or removed in it durable. 0 or -1 (errno). */
int dio_fsync(int fd);
int dio_fdatasync(int fd);
/* ftruncate(2). 0 or -1 (errno). */
int dio_ftruncate(int fd, off_t len);
/* renameat2(2) (flags such as RENAME_NOREPLACE). 0 or -1 (errno). */
int dio_renameat2(int olddirfd, const char *oldname, int newdirfd,
    const char *newname, unsigned flags);
/* linkat(2). 0 or -1 (errno). */
int dio_linkat(int olddirfd, const char *oldname, int newdirfd,
    const char *newname, int flags);
/* unlinkat(2) (AT_REMOVEDIR for folders). 0 or -1 (errno). */
int dio_unlinkat(int dirfd, const char *name, int flags);
/* mkdirat(2). 0 or -1 (errno, EEXIST included). */
int dio_mkdirat(int dirfd, const char *name, mode_t mode);
/* Called by the store right before each SQLite COMMIT of a write
 * transaction, so that a test can fail the commit itself. 0, or -1
 * (errno) when the commit must not be attempted: the caller rolls back. */
int dio_commit_point(void);

/* Starts counting calls for DESPATCH_FAULT (test builds; a no-op in
 * release builds). `despatch serve` calls it once its listeners are up and
 * its start-up work is done, so that N counts from the first request. */
void dio_fault_arm(void);

#endif
