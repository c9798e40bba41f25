/* SPDX-License-Identifier: MIT */
/* Logging to stderr: one line per event, written with one write(2) so that
 * lines from threads never interleave. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_set_level(enum log_level level)
{
	min_level = level;
}

int
log_level_parse(const char *s)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void
log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt,
    ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;
	va_list ap;

	if (level < min_level)
		return;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s ",
	    ts.tv_nsec / 1000000, level_names[level]);
	if (r > 0)
		n += (size_t)r;
	if (ctx != NULL && ctx->session != 0) {
		r = snprintf(line + n, sizeof(line) - n, "session=%016llx ",
		    (unsigned long long)ctx->session);
		if (r > 0 && (size_t)r < sizeof(line) - n)
			n += (size_t)r;
	}
	if (ctx != NULL && ctx->proto != NULL) {
		r = snprintf(line + n, sizeof(line) - n, "proto=%s ",
		    ctx->proto);
		if (r > 0 && (size_t)r < sizeof(line) - n)
			n += (size_t)r;
	}
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r
						  : sizeof(line) - n - 1;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

const char *
log_safe(char *out, size_t out_size, struct slice s)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (out_size == 0)
		return out;
	for (i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';

		if (o + (plain ? 1 : 4) + 4 > out_size) {
			if (o + 4 <= out_size) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
