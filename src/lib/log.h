/* SPDX-License-Identifier: MIT */
/* One key=value line per event on stderr, tagged with the session id.
 * Never secrets, AUTH payloads or message bodies. */
#ifndef DESPATCH_LIB_LOG_H
#define DESPATCH_LIB_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "slice.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

struct log_ctx {
	const char *proto; /* "smtp", "store", "cli"; NULL: none */
	uint64_t session;  /* 0: no session */
};

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; -1 if unknown. */
int log_level_parse(const char *s);

void log_msg(enum log_level level, const struct log_ctx *ctx,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define log_debug(ctx, ...) log_msg(LOG_DEBUG, (ctx), __VA_ARGS__)
#define log_info(ctx, ...) log_msg(LOG_INFO, (ctx), __VA_ARGS__)
#define log_warn(ctx, ...) log_msg(LOG_WARN, (ctx), __VA_ARGS__)
#define log_error(ctx, ...) log_msg(LOG_ERROR, (ctx), __VA_ARGS__)

/* The last defence of log_msg: copies in[0..len) to out (at most
 * out_size-1 bytes, NUL-terminated), with every byte that could split or
 * forge a line - CR, LF, NUL, other controls, DEL, and bytes that are not
 * part of well-formed UTF-8 (overlongs, surrogates, stray continuations,
 * truncated sequences) - written as \xHH; valid UTF-8 and printable ASCII
 * pass unchanged. Stops at a character that does not fit whole. Returns
 * the bytes written. log_msg runs every formatted message through it, so
 * a value logged with %s can never end a line early (log injection). */
size_t log_escape(char *out, size_t out_size, const char *in, size_t len);

/* Renders client-supplied bytes for a log line: at most out_size-1 bytes,
 * printable ASCII kept, everything else (CR, LF, '"', '\\', controls,
 * 8-bit) as \xHH, truncated with "..." if long. Returns out. */
const char *log_safe(char *out, size_t out_size, struct slice s);

#endif
