/* SPDX-License-Identifier: MIT */
/* Fault injection for durable I/O (test builds only): the call counter,
 * the one-shot faults, and the power-loss simulation, which keeps what
 * each file held before every write since its last fsync and puts it back
 * before the process dies. See fault.h for the modes and what is not
 * simulated. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/fault.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/str.h"

#include "lib/banned.h"

/* One overwritten range: what the file held there before the write. */
struct wrec {
	char *path;
	uint64_t off;
	unsigned char *old;
	size_t n;
};

/* A file's size at its first write since its last fsync. */
struct frec {
	char *path;
	uint64_t size;
};

/* A folder entry made since its folder's last fsync. */
enum nkind { N_CREATE_FILE, N_CREATE_DIR, N_RENAME };
struct nrec {
	enum nkind kind;
	char *a, *b;  /* created path; or renamed from a to b */
	char *parent; /* the folder whose fsync makes it durable */
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static enum fault_mode mode;
static _Atomic uint64_t target;
static bool trace;
static _Atomic bool armed, fired, held;
static _Atomic uint64_t counter;
static const struct log_ctx lctx = { "fault", 0 };

/* Under mu. */
static struct wrec *wv;
static size_t wn, wcap;
static struct frec *fv;
static size_t fn, fcap;
static struct nrec *nv;
static size_t nn, ncap;

static const char *const op_names[] = {
	[FAULT_OP_OPEN] = "open",
	[FAULT_OP_WRITE] = "write",
	[FAULT_OP_FSYNC] = "fsync",
	[FAULT_OP_TRUNCATE] = "truncate",
	[FAULT_OP_RENAME] = "rename",
	[FAULT_OP_LINK] = "link",
	[FAULT_OP_UNLINK] = "unlink",
	[FAULT_OP_MKDIR] = "mkdir",
	[FAULT_OP_CLOSE] = "close",
	[FAULT_OP_COMMIT] = "commit",
};

static const char *const mode_names[] = {
	[FAULT_NONE] = "none",
	[FAULT_EIO] = "eio",
	[FAULT_ENOSPC] = "enospc",
	[FAULT_SHORT] = "short",
	[FAULT_POWERLOSS] = "powerloss",
	[FAULT_COUNT] = "count",
};

static void
log_count(void)
{
	log_warn(&lctx, "event=fault count=%llu mode=%s fired=%s",
	    (unsigned long long)atomic_load(&counter), mode_names[mode],
	    atomic_load(&fired) ? "yes" : "no");
}

/* Reads DESPATCH_FAULT once. A malformed value is fatal rather than
 * ignored: a walk that silently injects nothing would prove nothing. */
static void
init(void)
{
	const char *v = getenv("DESPATCH_FAULT"), *at;
	const char *t = getenv("DESPATCH_FAULT_TRACE");
	char *end;
	size_t i;

	trace = t != NULL && strcmp(t, "1") == 0;
	t = getenv("DESPATCH_FAULT_HOLD");
	atomic_store(&held, t != NULL && strcmp(t, "1") == 0);
	if (v == NULL || *v == '\0')
		return;
	at = strchr(v, '@');
	for (i = 1; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (at != NULL && strlen(mode_names[i]) == (size_t)(at - v) &&
		    strncmp(v, mode_names[i], (size_t)(at - v)) == 0)
			break;
	if (at == NULL || i == sizeof(mode_names) / sizeof(mode_names[0])) {
		log_error(&lctx, "event=fault error=\"bad DESPATCH_FAULT\"");
		_exit(2);
	}
	errno = 0;
	target = strtoull(at + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == at + 1) {
		log_error(&lctx, "event=fault error=\"bad DESPATCH_FAULT\"");
		_exit(2);
	}
	mode = (enum fault_mode)i;
	(void)atexit(log_count);
}

/* Puts back every unsynced write (newest first), cuts files back to their
 * synced size, undoes unsynced folder entries (newest first), and dies.
 * Under mu, so no other thread writes meanwhile. Errors are ignored: a
 * file removed since is simply gone. */
static _Noreturn void
powerloss(void)
{
	size_t i;
	int fd;

	for (i = wn; i-- > 0;) {
		if ((fd = open(wv[i].path, O_WRONLY | O_CLOEXEC)) == -1)
			continue;
		(void)!pwrite(fd, wv[i].old, wv[i].n, (off_t)wv[i].off);
		(void)close(fd);
	}
	for (i = 0; i < fn; i++)
		(void)!truncate(fv[i].path, (off_t)fv[i].size);
	for (i = nn; i-- > 0;) {
		switch (nv[i].kind) {
		case N_CREATE_FILE:
			(void)unlink(nv[i].a);
			break;
		case N_CREATE_DIR:
			(void)rmdir(nv[i].a);
			break;
		case N_RENAME:
			(void)rename(nv[i].b, nv[i].a);
			break;
		}
	}
	log_warn(&lctx, "event=fault powerloss=done undone_writes=%zu "
	    "files=%zu entries=%zu", wn, fn, nn);
	_exit(FAULT_POWERLOSS_EXIT);
}

enum fault_verdict
fault_point(enum fault_op op, const char *path)
{
	uint64_t n;
	bool no = false;

	(void)pthread_once(&once, init);
	if (!atomic_load(&armed))
		return FAULT_PASS;
	n = atomic_fetch_add(&counter, 1) + 1;
	if (trace)
		log_info(&lctx, "event=fault_trace n=%llu op=%s path=%s",
		    (unsigned long long)n, op_names[op],
		    path != NULL ? path : "-");
	if (mode == FAULT_NONE || mode == FAULT_COUNT ||
	    n != atomic_load(&target))
		return FAULT_PASS;
	if (mode == FAULT_SHORT && op != FAULT_OP_WRITE)
		return FAULT_PASS;
	if (!atomic_compare_exchange_strong(&fired, &no, true))
		return FAULT_PASS;
	log_warn(&lctx, "event=fault mode=%s op=%s n=%llu path=%s",
	    mode_names[mode], op_names[op], (unsigned long long)n,
	    path != NULL ? path : "-");
	switch (mode) {
	case FAULT_EIO:
		errno = EIO;
		return FAULT_FAIL;
	case FAULT_ENOSPC:
		errno = ENOSPC;
		return FAULT_FAIL;
	case FAULT_SHORT:
		return FAULT_SHORT_WRITE;
	case FAULT_POWERLOSS:
		pthread_mutex_lock(&mu);
		powerloss();
	default:
		return FAULT_PASS;
	}
}

bool
fault_tracking(void)
{
	(void)pthread_once(&once, init);
	return mode == FAULT_POWERLOSS;
}

void
fault_lock(void)
{
	pthread_mutex_lock(&mu);
}

void
fault_unlock(void)
{
	pthread_mutex_unlock(&mu);
}

void
fault_note_write(const char *path, uint64_t off, const void *old, size_t n,
    uint64_t size)
{
	size_t i;

	for (i = 0; i < fn && strcmp(fv[i].path, path) != 0; i++)
		;
	if (i == fn) {
		if (fn == fcap) {
			fcap = fcap ? fcap * 2 : 16;
			fv = xrealloc(fv, fcap * sizeof(*fv));
		}
		fv[fn++] = (struct frec){ xstrdup(path), size };
	}
	if (n == 0)
		return;
	if (wn == wcap) {
		wcap = wcap ? wcap * 2 : 64;
		wv = xrealloc(wv, wcap * sizeof(*wv));
	}
	wv[wn].path = xstrdup(path);
	wv[wn].off = off;
	wv[wn].old = xmalloc(n);
	memcpy(wv[wn].old, old, n);
	wv[wn++].n = n;
}

static void
parent_of(const char *path, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL || slash == path)
		(void)str_copy(out, size, "/");
	else
		(void)str_fmt(out, size, "%.*s", (int)(slash - path), path);
}

static void
nrec_free(struct nrec *r)
{
	free(r->a);
	free(r->b);
	free(r->parent);
}

/* Drops path's unsynced write records and its size at first write: after
 * an fsync of path, or its unlink, none of its data is left to undo.
 * mu held. */
static void
forget_file_locked(const char *path)
{
	size_t i, k;

	for (i = k = 0; i < wn; i++) {
		if (strcmp(wv[i].path, path) == 0) {
			free(wv[i].path);
			free(wv[i].old);
		} else {
			wv[k++] = wv[i];
		}
	}
	wn = k;
	for (i = k = 0; i < fn; i++) {
		if (strcmp(fv[i].path, path) == 0)
			free(fv[i].path);
		else
			fv[k++] = fv[i];
	}
	fn = k;
}

void
fault_note_sync(const char *path)
{
	size_t i, k;

	pthread_mutex_lock(&mu);
	forget_file_locked(path);
	for (i = k = 0; i < nn; i++) {
		if (strcmp(nv[i].parent, path) == 0)
			nrec_free(&nv[i]);
		else
			nv[k++] = nv[i];
	}
	nn = k;
	pthread_mutex_unlock(&mu);
}

static void
nrec_add(enum nkind kind, const char *a, const char *b)
{
	char parent[PATH_MAX];

	parent_of(b != NULL ? b : a, parent, sizeof(parent));
	if (nn == ncap) {
		ncap = ncap ? ncap * 2 : 16;
		nv = xrealloc(nv, ncap * sizeof(*nv));
	}
	nv[nn++] = (struct nrec){ kind, xstrdup(a), b ? xstrdup(b) : NULL,
		xstrdup(parent) };
}

void
fault_note_create(const char *path, bool dir)
{
	pthread_mutex_lock(&mu);
	nrec_add(dir ? N_CREATE_DIR : N_CREATE_FILE, path, NULL);
	pthread_mutex_unlock(&mu);
}

void
fault_note_rename(const char *from, const char *to)
{
	size_t i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < wn; i++)
		if (strcmp(wv[i].path, from) == 0) {
			free(wv[i].path);
			wv[i].path = xstrdup(to);
		}
	for (i = 0; i < fn; i++)
		if (strcmp(fv[i].path, from) == 0) {
			free(fv[i].path);
			fv[i].path = xstrdup(to);
		}
	nrec_add(N_RENAME, from, to);
	pthread_mutex_unlock(&mu);
}

void
fault_note_unlink(const char *path)
{
	size_t i, k;

	pthread_mutex_lock(&mu);
	forget_file_locked(path);
	/* A file created and removed again since the last folder fsync
	 * leaves nothing to undo. */
	for (i = k = 0; i < nn; i++) {
		if (nv[i].kind == N_CREATE_FILE && strcmp(nv[i].a, path) == 0)
			nrec_free(&nv[i]);
		else
			nv[k++] = nv[i];
	}
	nn = k;
	pthread_mutex_unlock(&mu);
}

bool
fault_path(int dirfd, const char *name, char *out, size_t size)
{
	char link[64], dir[PATH_MAX];
	ssize_t n;

	if (name != NULL && name[0] == '/')
		return str_copy(out, size, name);
	if (dirfd == AT_FDCWD) {
		if (getcwd(dir, sizeof(dir)) == NULL)
			return false;
	} else {
		(void)str_fmt(link, sizeof(link), "/proc/self/fd/%d", dirfd);
		n = readlink(link, dir, sizeof(dir) - 1);
		if (n <= 0)
			return false;
		dir[n] = '\0';
	}
	if (name == NULL || *name == '\0')
		return str_copy(out, size, dir);
	return str_fmt(out, size, "%s/%s", dir, name);
}

/* Decimal digits of v into p (no NUL); returns the length. */
static size_t
fmt_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* SIGUSR2 re-arms, SIGUSR1 disarms: one server walks N over many
 * requests, with set-up work between them left uncounted. Both log the
 * count since the last arming; SIGUSR2 moves the fault to N + 1 (one-shot
 * again) and counts from 0. Only lock-free atomics and write(2):
 * signal-safe. */
static void
on_signal(int sig)
{
	static const char a[] = "level=warn proto=fault event=fault count=";
	static const char b[] = " rearm=";
	static const char d[] = " disarm=yes";
	char line[sizeof(a) + sizeof(b) + sizeof(d) + 48];
	uint64_t c = atomic_exchange(&counter, 0), t = 0;
	int saved = errno;
	size_t n;

	if (sig == SIGUSR2 && atomic_exchange(&held, false)) {
		/* The first SIGUSR2 of a held start arms at N itself. */
		t = atomic_load(&target);
		atomic_store(&fired, false);
		atomic_store(&armed, true);
	} else if (sig == SIGUSR2) {
		t = atomic_fetch_add(&target, 1) + 1;
		atomic_store(&fired, false);
		atomic_store(&armed, true);
	} else {
		atomic_store(&armed, false);
	}
	memcpy(line, a, sizeof(a) - 1);
	n = sizeof(a) - 1;
	n += fmt_u64(line + n, c);
	if (sig == SIGUSR2) {
		memcpy(line + n, b, sizeof(b) - 1);
		n += sizeof(b) - 1;
		n += fmt_u64(line + n, t);
	} else {
		memcpy(line + n, d, sizeof(d) - 1);
		n += sizeof(d) - 1;
	}
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
	errno = saved;
}

void
fault_arm(void)
{
	struct sigaction sa;

	(void)pthread_once(&once, init);
	atomic_store(&counter, 0);
	atomic_store(&armed, !atomic_load(&held));
	if (mode != FAULT_NONE) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sa.sa_flags = SA_RESTART;
		(void)sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGUSR1, &sa, NULL);
		(void)sigaction(SIGUSR2, &sa, NULL);
		/* After the handlers: a test may signal once it sees this. */
		log_warn(&lctx, "event=fault_arm mode=%s n=%llu held=%s",
		    mode_names[mode], (unsigned long long)atomic_load(&target),
		    atomic_load(&held) ? "yes" : "no");
	}
}

void
fault_set(enum fault_mode m, uint64_t n)
{
	(void)pthread_once(&once, init);
	mode = m;
	target = n;
	atomic_store(&counter, 0);
	atomic_store(&armed, false);
	atomic_store(&fired, false);
}

uint64_t
fault_count(void)
{
	return atomic_load(&counter);
}

bool
fault_fired(void)
{
	return atomic_load(&fired);
}
