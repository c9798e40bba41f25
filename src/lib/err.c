/* SPDX-License-Identifier: MIT */
/* struct err: the caller's record of why something failed. */
#include <stdarg.h>
#include <stdio.h>

#include "err.h"

int
err_set(struct err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

const char *
err_name(int code)
{
	switch (code) {
	case 0:
		return "ok";
	case ERR_INPUT:
		return "input";
	case ERR_LIMIT:
		return "limit";
	case ERR_TEMP:
		return "temp";
	case ERR_INTERNAL:
		return "internal";
	case ERR_NOTFOUND:
		return "notfound";
	case ERR_EXISTS:
		return "exists";
	case ERR_FULL:
		return "full";
	}
	return "unknown";
}
