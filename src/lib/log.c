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

/* The length of the well-formed UTF-8 sequence at p (RFC 3629 §4), or 0
 * if p[0..avail) does not start one. */
static size_t
utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef)
		need = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	if (avail < need || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need;
}

size_t
log_escape(char *out, size_t out_size, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, o = 0, k;

	if (out_size == 0)
		return 0;
	while (i < len) {
		unsigned char c = p[i];

		if (c >= 0x20 && c < 0x7f)
			k = 1;
		else if (c >= 0x80)
			k = utf8_len(p + i, len - i);
		else
			k = 0;
		if (k > 0) {
			if (o + k >= out_size)
				break;
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		if (o + 4 >= out_size)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
		i++;
	}
	out[o] = '\0';
	return o;
}

void
log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt,
    ...)
{
	char line[2048], raw[2048];
	struct timespec ts;
	struct tm tm;
	size_t n, len;
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
	r = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (r > 0) {
		/* A %s value may hold anything (a client's EHLO name, an
		 * error text quoting one): one line per event whatever it is. */
		len = (size_t)r < sizeof(raw) ? (size_t)r : sizeof(raw) - 1;
		n += log_escape(line + n, sizeof(line) - n - 1, raw, len);
	}
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
