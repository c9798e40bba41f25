/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the RFC 5322 date parser (mime_date_parse,
 * date.c). Properties:
 * - an accepted date lies in years 1..9999 (give or take the zone) and
 *   its zone offset within +-99:59;
 * - the result does not depend on bytes after the value's end (the
 *   parser must not read past it: the copy is exactly sized for ASan);
 * - a date formatted from fuzzer-chosen fields in the RFC 5322 form, the
 *   obsolete two-digit-year form and the asctime() form parses back to
 *   the same instant and zone. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fuzz_split.h"
#include "mime/imapdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define T_MIN (-62135596800LL)
#define T_MAX 253402300799LL
#define TZ_MAX (99 * 60 + 59)

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm, as an independent reference. */
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static void
round_trip(uint32_t a, uint32_t b)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static const char *const wd[] = { "Thu", "Fri", "Sat", "Sun", "Mon",
		"Tue", "Wed" };
	int year = 1 + (int)(a % 9999), m = 1 + (int)((a >> 14) % 12);
	int d = 1 + (int)((a >> 18) % 28), h = (int)(b % 24);
	int mi = (int)((b >> 5) % 60), s = (int)((b >> 11) % 60);
	int tz = (int)((b >> 17) % (2 * 1440 + 1)) - 1440; /* +-24:00 */
	unsigned form = (a >> 23) % 3;
	int64_t want, t, days;
	char text[128];
	int tzo;

	days = days_from_civil(year, (unsigned)m, (unsigned)d);
	want = days * 86400 + h * 3600 + mi * 60 + s - (int64_t)tz * 60;
	if (form == 1) { /* "Date: 7 Feb 94 21:52:25 -0800": 1950..2049 */
		year = 1950 + year % 100;
		days = days_from_civil(year, (unsigned)m, (unsigned)d);
		want = days * 86400 + h * 3600 + mi * 60 + s -
		    (int64_t)tz * 60;
		(void)snprintf(text, sizeof(text),
		    "%d %s %02d %02d:%02d:%02d %c%02d%02d", d, mon[m - 1],
		    year % 100, h, mi, s, tz < 0 ? '-' : '+', abs(tz) / 60,
		    abs(tz) % 60);
	} else if (form == 2) { /* asctime(), zone after the year */
		(void)snprintf(text, sizeof(text),
		    "%s %s %2d %02d:%02d:%02d %04d %c%02d%02d",
		    wd[((days % 7) + 7) % 7], mon[m - 1], d, h, mi, s, year,
		    tz < 0 ? '-' : '+', abs(tz) / 60, abs(tz) % 60);
	} else {
		(void)snprintf(text, sizeof(text),
		    "%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d",
		    wd[((days % 7) + 7) % 7], d, mon[m - 1], year, h, mi, s,
		    tz < 0 ? '-' : '+', abs(tz) / 60, abs(tz) % 60);
	}
	if (!mime_date_parse(slice_cstr(text), &t, &tzo) || t != want ||
	    tzo != tz) {
		fprintf(stderr, "date round trip: \"%s\" want %lld/%d\n", text,
		    (long long)want, tz);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t a = fuzz_take_u32(&data, &size);
	uint32_t b = fuzz_take_u32(&data, &size);
	int64_t t1 = 0, t2 = 0;
	int z1 = 0, z2 = 0;
	bool ok1, ok2;
	char *copy, *pad;

	if (size > 4096)
		return 0;
	copy = malloc(size > 0 ? size : 1);
	pad = malloc(size + 16);
	if (copy == NULL || pad == NULL)
		abort();
	memcpy(copy, data, size);
	memcpy(pad, data, size);
	memcpy(pad + size, " 12:00 +0100 1999", 16);
	ok1 = mime_date_parse(slice_make(copy, size), &t1, &z1);
	ok2 = mime_date_parse(slice_make(pad, size), &t2, &z2);
	if (ok1 != ok2 || (ok1 && (t1 != t2 || z1 != z2)))
		abort();
	if (ok1 && (z1 < -TZ_MAX || z1 > TZ_MAX ||
	               t1 < T_MIN - TZ_MAX * 60LL ||
	               t1 > T_MAX + TZ_MAX * 60LL))
		abort();
	free(copy);
	free(pad);
	round_trip(a, b);
	return 0;
}
