/* SPDX-License-Identifier: MIT */
/* Durable I/O wrappers (see dio.h): each call asks lib/fault.h first (a
 * no-op in release builds) and, when a power loss is being simulated,
 * records what it is about to change so that the loss can undo it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dio.h"
#include "lib/fault.h"

#include "lib/banned.h"

/* Pre-images are copied in pieces of this size (stack buffer). */
#define DIO_PREIMAGE_CHUNK 65536

/* The path of dirfd/name (name NULL: of the file dirfd) for a log line
 * or a power-loss record: "" in release builds, "?" if unknown. */
static void
path_of(int dirfd, const char *name, char out[PATH_MAX])
{
	out[0] = '\0';
#ifdef DESPATCH_TEST_HOOKS
	if (!fault_path(dirfd, name, out, PATH_MAX))
		(void)snprintf(out, PATH_MAX, "?");
#else
	(void)dirfd;
	(void)name;
#endif
}

/* Asks lib/fault.h about one call of op on dirfd/name, whose path goes
 * to path; on FAULT_FAIL errno is set. */
static enum fault_verdict
fault_enter(enum fault_op op, int dirfd, const char *name, char path[PATH_MAX])
{
	path_of(dirfd, name, path);
	return fault_point(op, path);
}

/* Power-loss mode: records what [off, off+n) of fd holds now (and its
 * size), in pieces; under fault_lock. */
static void
note_preimage(int fd, const char *path, off_t off, size_t n)
{
	unsigned char buf[DIO_PREIMAGE_CHUNK];
	struct stat sb;
	uint64_t size;
	size_t k, have;
	ssize_t r;

	if (fstat(fd, &sb) == -1)
		return;
	size = (uint64_t)sb.st_size;
	fault_note_write(path, (uint64_t)off, NULL, 0, size);
	while (n > 0 && (uint64_t)off < size) {
		have = (size_t)(size - (uint64_t)off);
		k = n < sizeof(buf) ? n : sizeof(buf);
		k = k < have ? k : have;
		r = pread(fd, buf, k, off);
		if (r <= 0)
			return;
		fault_note_write(path, (uint64_t)off, buf, (size_t)r, size);
		off += r;
		n -= (size_t)r;
	}
}

int
dio_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	char path[PATH_MAX];
	bool track = fault_tracking() && (flags & O_CREAT) != 0, existed = true;
	int fd;

	if (fault_enter(FAULT_OP_OPEN, dirfd, name, path) == FAULT_FAIL)
		return -1;
	if (track)
		existed = faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	fd = openat(dirfd, name, flags, mode);
	if (fd != -1 && track && !existed)
		fault_note_create(path, false);
	return fd;
}

int
dio_close(int fd)
{
	char path[PATH_MAX];

	if (fault_enter(FAULT_OP_CLOSE, fd, NULL, path) == FAULT_FAIL) {
		int e = errno;

		/* The fd is released either way, as close(2) does. */
		(void)close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

/* One write call of at most n bytes at off (-1: the file position). */
static ssize_t
write_once(int fd, const void *p, size_t n, off_t off)
{
	char path[PATH_MAX];
	enum fault_verdict v;
	bool track = fault_tracking();
	ssize_t w;

	v = fault_enter(FAULT_OP_WRITE, fd, NULL, path);
	if (v == FAULT_FAIL)
		return -1;
	if (v == FAULT_SHORT_WRITE && n > 1)
		n /= 2;
	if (!track)
		return off == -1 ? write(fd, p, n) : pwrite(fd, p, n, off);
	fault_lock();
	if (off == -1)
		off = lseek(fd, 0, SEEK_CUR);
	if (off != -1) {
		note_preimage(fd, path, off, n);
		w = pwrite(fd, p, n, off);
		if (w > 0)
			(void)lseek(fd, off + w, SEEK_SET);
	} else {
		w = write(fd, p, n);
	}
	fault_unlock();
	return w;
}

static int
write_loop(int fd, const void *p, size_t n, off_t off)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write_once(fd, c, n, off);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) { /* should not happen on a regular file */
			errno = EIO;
			return -1;
		}
		c += w;
		n -= (size_t)w;
		if (off != -1)
			off += w;
	}
	return 0;
}

int
dio_write_all(int fd, const void *p, size_t n)
{
	return write_loop(fd, p, n, -1);
}

int
dio_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	return write_loop(fd, p, n, off);
}

static int
sync_common(int fd, bool data_only)
{
	char path[PATH_MAX];
	int r;

	if (fault_enter(FAULT_OP_FSYNC, fd, NULL, path) == FAULT_FAIL)
		return -1;
	r = data_only ? fdatasync(fd) : fsync(fd);
	if (r == 0 && path[0] != '\0')
		fault_note_sync(path);
	return r;
}

int
dio_fsync(int fd)
{
	return sync_common(fd, false);
}

int
dio_fdatasync(int fd)
{
	return sync_common(fd, true);
}

int
dio_ftruncate(int fd, off_t len)
{
	char path[PATH_MAX];
	struct stat sb;
	int r;

	if (fault_enter(FAULT_OP_TRUNCATE, fd, NULL, path) == FAULT_FAIL)
		return -1;
	if (!fault_tracking())
		return ftruncate(fd, len);
	fault_lock();
	/* A cut loses the bytes past len: keep them as a pre-image (and the
	 * old size either way). */
	if (fstat(fd, &sb) == 0)
		note_preimage(fd, path, sb.st_size > len ? len : sb.st_size,
		    sb.st_size > len ? (size_t)(sb.st_size - len) : 0);
	r = ftruncate(fd, len);
	fault_unlock();
	return r;
}

int
dio_renameat2(int olddirfd, const char *oldname, int newdirfd,
    const char *newname, unsigned flags)
{
	char from[PATH_MAX], to[PATH_MAX];
	int r;

	path_of(olddirfd, oldname, from);
	if (fault_enter(FAULT_OP_RENAME, newdirfd, newname, to) == FAULT_FAIL)
		return -1;
	r = renameat2(olddirfd, oldname, newdirfd, newname, flags);
	if (r == 0 && fault_tracking())
		fault_note_rename(from, to);
	return r;
}

int
dio_linkat(int olddirfd, const char *oldname, int newdirfd,
    const char *newname, int flags)
{
	char to[PATH_MAX];
	int r;

	if (fault_enter(FAULT_OP_LINK, newdirfd, newname, to) == FAULT_FAIL)
		return -1;
	r = linkat(olddirfd, oldname, newdirfd, newname, flags);
	if (r == 0 && fault_tracking())
		fault_note_create(to, false);
	return r;
}

int
dio_unlinkat(int dirfd, const char *name, int flags)
{
	char path[PATH_MAX];
	int r;

	if (fault_enter(FAULT_OP_UNLINK, dirfd, name, path) == FAULT_FAIL)
		return -1;
	r = unlinkat(dirfd, name, flags);
	if (r == 0 && fault_tracking())
		fault_note_unlink(path);
	return r;
}

int
dio_mkdirat(int dirfd, const char *name, mode_t mode)
{
	char path[PATH_MAX];
	int r;

	if (fault_enter(FAULT_OP_MKDIR, dirfd, name, path) == FAULT_FAIL)
		return -1;
	r = mkdirat(dirfd, name, mode);
	if (r == 0 && fault_tracking())
		fault_note_create(path, true);
	return r;
}

int
dio_commit_point(void)
{
	if (fault_point(FAULT_OP_COMMIT, NULL) == FAULT_FAIL)
		return -1;
	return 0;
}

void
dio_fault_arm(void)
{
	fault_arm();
}
