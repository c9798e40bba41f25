/* SPDX-License-Identifier: MIT */
/* Fault injection for durable I/O (SQLite's do_faultsim_test, for files):
 * counts the calls of lib/dio.c and of the SQLite VFS shim and fails one
 * of them. Compiled only with -Dtest_hooks=true (DESPATCH_TEST_HOOKS);
 * otherwise every function here is an empty inline and the release build
 * carries no hook.
 *
 * Mode from DESPATCH_FAULT="<mode>@<N>" (or fault_set in unit tests):
 *   eio, enospc  the N-th counted call fails with EIO / ENOSPC, once;
 *   short        if the N-th call is a write, it writes about half and
 *                reports that (SQLite: the half lands, xWrite returns
 *                SQLITE_FULL); any other call passes;
 *   powerloss    at the N-th call, every write not yet fsynced is undone
 *                (pre-images restored, files cut back to their size at
 *                their last fsync), files created and renames made in a
 *                folder not fsynced since are undone, then _exit();
 *   count        nothing fails; `event=fault count=K` is logged at exit.
 * N counts from fault_arm(), from 1. DESPATCH_FAULT_TRACE=1 logs every
 * counted call (op, number, path). Once armed with DESPATCH_FAULT set,
 * SIGUSR2 logs `event=fault count=K rearm=M`: K calls since the last
 * arming, and the fault moves on to M = N + 1 (one-shot again), counted
 * from 0; SIGUSR1 logs `event=fault count=K disarm=yes` and stops
 * counting until the next SIGUSR2. One server can so walk N over many
 * requests (start it with N = 0, which never fires, and send SIGUSR2
 * before each request). With DESPATCH_FAULT_HOLD=1, fault_arm() does not
 * arm: the first SIGUSR2 does, at N itself, so that a test can let the
 * server's start-up work (recovery, a full-text backlog) pass uncounted.
 * Not simulated by powerloss: an unlink comes back (the file stays gone);
 * SQLite's -shm (a memory map, rebuilt from the WAL by the next opener);
 * creations of SQLite's own files (its WAL is created before arming and
 * its folder fsynced by SQLite); a rename's source folder (only the
 * target folder's fsync makes it durable here); pages the disk itself
 * tears within one write. */
#ifndef DESPATCH_LIB_FAULT_H
#define DESPATCH_LIB_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fault_op {
	FAULT_OP_OPEN,
	FAULT_OP_WRITE,
	FAULT_OP_FSYNC,
	FAULT_OP_TRUNCATE,
	FAULT_OP_RENAME,
	FAULT_OP_LINK,
	FAULT_OP_UNLINK,
	FAULT_OP_MKDIR,
	FAULT_OP_CLOSE,
	FAULT_OP_COMMIT,
};

enum fault_mode {
	FAULT_NONE,
	FAULT_EIO,
	FAULT_ENOSPC,
	FAULT_SHORT,
	FAULT_POWERLOSS,
	FAULT_COUNT,
};

/* What fault_point decided for one call. */
enum fault_verdict {
	FAULT_PASS,  /* do the call */
	FAULT_FAIL,  /* fail it with errno (set) */
	FAULT_SHORT_WRITE, /* write about half and report that */
};

/* The exit status of a process ended by a simulated power loss. */
#define FAULT_POWERLOSS_EXIT 86

#ifdef DESPATCH_TEST_HOOKS

/* Counts one call (once armed) and decides its fate; on FAULT_FAIL errno
 * is set. A powerloss fault does not return. path: for the log line, may
 * be NULL. */
enum fault_verdict fault_point(enum fault_op op, const char *path);
/* Whether writes must be recorded for a power loss (mode powerloss). */
bool fault_tracking(void);
/* Serialises a recorded write with a power loss on another thread: take
 * before recording the pre-image, release after the write. */
void fault_lock(void);
void fault_unlock(void);
/* Records, under fault_lock, that [off, off+n) of the file at path is
 * about to be overwritten: old holds the n bytes there now (n may be 0
 * for a write wholly past the end), size the file's size now. */
void fault_note_write(const char *path, uint64_t off, const void *old,
    size_t n, uint64_t size);
/* The file or folder at path was fsynced: its writes are durable, and so
 * are the entries created or renamed in it if it is a folder. */
void fault_note_sync(const char *path);
/* path was created (file or folder). */
void fault_note_create(const char *path, bool dir);
/* from was renamed to to (records of from now belong to to). */
void fault_note_rename(const char *from, const char *to);
/* path was unlinked: its records go. */
void fault_note_unlink(const char *path);
/* The absolute path of dirfd/name (name alone if absolute); false if it
 * cannot be told (the call then goes untracked). */
bool fault_path(int dirfd, const char *name, char *out, size_t size);

/* Starts counting. */
void fault_arm(void);
/* Sets mode and N directly (unit tests; replaces DESPATCH_FAULT), not
 * armed, count 0. */
void fault_set(enum fault_mode mode, uint64_t n);
/* Calls counted since arming. */
uint64_t fault_count(void);
/* Whether the fault has fired. */
bool fault_fired(void);

#else

static inline enum fault_verdict
fault_point(enum fault_op op, const char *path)
{
	(void)op;
	(void)path;
	return FAULT_PASS;
}
static inline bool
fault_tracking(void)
{
	return false;
}
static inline void
fault_lock(void)
{
}
static inline void
fault_unlock(void)
{
}
static inline void
fault_note_write(const char *path, uint64_t off, const void *old, size_t n,
    uint64_t size)
{
	(void)path;
	(void)off;
	(void)old;
	(void)n;
	(void)size;
}
static inline void
fault_note_sync(const char *path)
{
	(void)path;
}
static inline void
fault_note_create(const char *path, bool dir)
{
	(void)path;
	(void)dir;
}
static inline void
fault_note_rename(const char *from, const char *to)
{
	(void)from;
	(void)to;
}
static inline void
fault_note_unlink(const char *path)
{
	(void)path;
}
static inline bool
fault_path(int dirfd, const char *name, char *out, size_t size)
{
	(void)dirfd;
	(void)name;
	(void)out;
	(void)size;
	return false;
}
static inline void
fault_arm(void)
{
}

#endif

#endif
