/* SPDX-License-Identifier: MIT */
/* The one error convention: 0 is success, a negative ERR_* is failure, and
 * the human detail goes into the caller's struct err (logs only). */
#ifndef DESPATCH_LIB_ERR_H
#define DESPATCH_LIB_ERR_H

enum err_code {
	ERR_INPUT = -1,	   /* the peer sent something invalid: 5xx / BAD */
	ERR_LIMIT = -2,	   /* a named limit was reached: 5xx / BAD */
	ERR_TEMP = -3,	   /* disk, db, net trouble: 4xx / NO */
	ERR_INTERNAL = -4, /* a bug or impossible state: 4xx + error log */
	ERR_NOTFOUND = -5, /* the thing looked up does not exist */
	ERR_EXISTS = -6,   /* the thing to create exists already */
	ERR_FULL = -7,	   /* out of disk space: 452 4.3.1 */
};

struct err {
	int code;
	char msg[256];
};

/* Records code and a printf-formatted message in err (which may be NULL);
 * returns code so that callers can write `return err_set(...)`. */
int err_set(struct err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A short name for an ERR_* code ("temp", "limit", ...). */
const char *err_name(int code);

#endif
