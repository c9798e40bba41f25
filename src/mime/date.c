/* SPDX-License-Identifier: MIT */
/* RFC 5322 §3.3 date-time with the obsolete forms of §4.3 (2- and 3-digit
 * years, named zones, CFWS anywhere, no day of week) and the asctime()
 * order ("Mon Feb  7 21:52:25 1994") some old agents still write. */
#include <string.h>

#include "mime/imapdata.h"

#include "lib/banned.h"

struct cur {
	const char *p, *end;
};

static void
skip_cfws(struct cur *c)
{
	unsigned nest = 0;

	while (c->p < c->end) {
		char ch = *c->p;

		if (nest > 0) {
			if (ch == '\\' && c->p + 1 < c->end)
				c->p++;
			else if (ch == '(')
				nest++;
			else if (ch == ')')
				nest--;
		} else if (ch == '(') {
			nest++;
		} else if (ch != ' ' && ch != '\t' && ch != '\r' &&
		    ch != '\n') {
			return;
		}
		c->p++;
	}
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits at the cursor: the value and how many (0: none). Capped. */
static unsigned
number(struct cur *c, int *v_out)
{
	unsigned n = 0;
	int v = 0;

	while (c->p < c->end && is_digit(*c->p)) {
		if (n < 9)
			v = v * 10 + (*c->p - '0');
		n++;
		c->p++;
	}
	*v_out = v;
	return n;
}

static struct slice
word(struct cur *c)
{
	const char *s = c->p;

	while (c->p < c->end && is_alpha(*c->p))
		c->p++;
	return slice_make(s, (size_t)(c->p - s));
}

static int
month_of(struct slice w)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";

	if (w.len < 3)
		return 0;
	for (int m = 0; m < 12; m++)
		if (slice_has_prefix_ci(slice_make(names + 3 * m, 3),
		        slice_make(w.p, 3)))
			return m + 1;
	return 0;
}

static bool
is_day(struct slice w)
{
	static const char names[] = "monwedthufrisatsuntue";

	if (w.len < 3)
		return false;
	for (int d = 0; d < 7; d++)
		if (slice_has_prefix_ci(slice_make(names + 3 * d, 3),
		        slice_make(w.p, 3)))
			return true;
	return false;
}

static bool
char_is(struct cur *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* RFC 5322 §4.3 named zones; military letters mean nothing certain and
 * count as -0000, as do unknown names. */
static int
zone_of(struct slice w)
{
	static const struct {
		const char *name;
		int minutes;
	} zones[] = {
		{ "UT", 0 },
		{ "UTC", 0 },
		{ "GMT", 0 },
		{ "Z", 0 },
		{ "EST", -300 },
		{ "EDT", -240 },
		{ "CST", -360 },
		{ "CDT", -300 },
		{ "MST", -420 },
		{ "MDT", -360 },
		{ "PST", -480 },
		{ "PDT", -420 },
	};

	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (slice_eq_ci(w, slice_cstr(zones[i].name)))
			return zones[i].minutes;
	return 0;
}

static bool
time_of_day(struct cur *c, int *h, int *m, int *s)
{
	unsigned n;

	skip_cfws(c);
	n = number(c, h);
	if (n < 1 || n > 2)
		return false;
	skip_cfws(c);
	if (!char_is(c, ':'))
		return false;
	skip_cfws(c);
	n = number(c, m);
	if (n < 1 || n > 2)
		return false;
	skip_cfws(c);
	*s = 0;
	if (char_is(c, ':')) {
		skip_cfws(c);
		n = number(c, s);
		if (n < 1 || n > 2)
			return false;
	}
	return *h <= 23 && *m <= 59 && *s <= 60;
}

static int
year_of(int v, unsigned digits)
{
	if (digits == 2) /* RFC 5322 §4.3 */
		return v < 50 ? 2000 + v : 1900 + v;
	if (digits == 3)
		return 1900 + v;
	return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

bool
mime_date_parse(struct slice value, int64_t *time_out, int *tz_minutes_out)
{
	struct cur c = { value.p, value.p + value.len };
	int day = 0, mon = 0, year = 0, h = 0, mi = 0, s = 0, tz = 0, v;
	unsigned n;
	struct slice w;
	bool ctime_order = false;

	skip_cfws(&c);
	if (c.p < c.end && is_alpha(*c.p)) {
		w = word(&c);
		if (is_day(w)) { /* optional day-of-week "," */
			skip_cfws(&c);
			(void)char_is(&c, ',');
			skip_cfws(&c);
			if (c.p < c.end && is_alpha(*c.p))
				w = word(&c);
			else
				w.len = 0;
		}
		if (w.len > 0) { /* asctime(): "Mon Feb  7 21:52:25 1994" */
			if ((mon = month_of(w)) == 0)
				return false;
			ctime_order = true;
		}
	}
	if (ctime_order) {
		skip_cfws(&c);
		if ((n = number(&c, &day)) < 1 || n > 2)
			return false;
		if (!time_of_day(&c, &h, &mi, &s))
			return false;
		skip_cfws(&c);
		if ((n = number(&c, &v)) < 2 || n > 4)
			return false;
		year = year_of(v, n);
	} else {
		if ((n = number(&c, &day)) < 1 || n > 2)
			return false;
		skip_cfws(&c);
		(void)char_is(&c, '-');
		skip_cfws(&c);
		if ((mon = month_of(word(&c))) == 0)
			return false;
		skip_cfws(&c);
		(void)char_is(&c, '-');
		skip_cfws(&c);
		if ((n = number(&c, &v)) < 2 || n > 4)
			return false;
		year = year_of(v, n);
		if (!time_of_day(&c, &h, &mi, &s))
			return false;
	}
	skip_cfws(&c);
	if (c.p < c.end && (*c.p == '+' || *c.p == '-')) {
		bool neg = *c.p == '-';

		c.p++;
		if (number(&c, &v) != 4 || v % 100 > 59)
			return false;
		tz = (v / 100) * 60 + v % 100;
		if (neg)
			tz = -tz;
	} else if (c.p < c.end && is_alpha(*c.p)) {
		tz = zone_of(word(&c));
	}
	if (day < 1 || year < 1 || year > 9999 ||
	    day > days_in_month(year, mon))
		return false;
	if (s == 60)
		s = 59; /* a leap second: the next second is another day */
	*time_out =
	    days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 +
	    h * 3600 + mi * 60 + s - (int64_t)tz * 60;
	*tz_minutes_out = tz;
	return true;
}
