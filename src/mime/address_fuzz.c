/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the address-list parser (mime_address_parse,
 * address.c). Properties:
 * - at most max addresses are written (the array is exactly max long, so
 *   ASan sees a write past it), every slice lies inside the value;
 * - group markers nest properly: start, members, end; an end marker is
 *   all empty; a member is never entirely empty;
 * - a list built from fuzzer-chosen atoms in the common forms
 *   (addr, Name <addr>, "Quoted, Name" <addr>, addr (Comment), groups)
 *   parses back to exactly those names, mailboxes and hosts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/fuzz_split.h"
#include "mime/imapdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RT_ADDRS 12

static bool
inside(struct slice s, struct slice v)
{
	if (s.len == 0)
		return s.p == NULL ||
		    ((const char *)s.p >= v.p && s.p <= v.p + v.len);
	return s.p >= v.p && s.len <= v.len &&
	    (size_t)(s.p - v.p) <= v.len - s.len;
}

static void
check_list(struct slice v, const struct mime_address *a, size_t n)
{
	bool in_group = false;

	for (size_t i = 0; i < n; i++) {
		if (!inside(a[i].name, v) || !inside(a[i].adl, v) ||
		    !inside(a[i].mailbox, v) || !inside(a[i].host, v))
			abort();
		if (a[i].group_start && a[i].group_end)
			abort();
		if (a[i].group_start) {
			if (in_group || a[i].mailbox.len != 0 ||
			    a[i].host.len != 0)
				abort();
			in_group = true;
		} else if (a[i].group_end) {
			if (!in_group || a[i].name.len != 0 ||
			    a[i].mailbox.len != 0 || a[i].host.len != 0)
				abort();
			in_group = false;
		} else if (a[i].name.len == 0 && a[i].mailbox.len == 0 &&
		    a[i].host.len == 0) {
			abort();
		}
	}
	if (in_group)
		abort(); /* an unterminated group is closed by the parser */
}

/* An atom of 1..8 characters from alpha, drawn from the input. */
static size_t
atom(const uint8_t **d, size_t *n, const char *alpha, char *out)
{
	size_t k = 1 + (*n > 0 ? (*d)[0] % 8 : 0), i, la = strlen(alpha);

	for (i = 0; i < k; i++)
		out[i] = alpha[(*n > i + 1 ? (*d)[i + 1] : i) % la];
	out[k] = '\0';
	i = k + 1 < *n ? k + 1 : *n;
	*d += i;
	*n -= i;
	return k;
}

struct want {
	char name[32], local[16], host[24];
	int group; /* 1 start, 2 end, 0 address */
};

static void
round_trip(const uint8_t *d, size_t n, uint32_t seed)
{
	static const char lc[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	static const char nm[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij";
	struct want w[2 * RT_ADDRS + 4];
	struct mime_address got[2 * RT_ADDRS + 4];
	size_t nw = 0, ng, i, k, want_n = 1 + seed % RT_ADDRS;
	char a[16], b[16], c[16];
	bool grp = false;
	struct buf v;

	buf_init(&v, 4096);
	for (i = 0; i < want_n; i++, seed = seed * 1103515245u + 12345u) {
		unsigned form = (seed >> 16) % 6;

		if (form == 5 && !grp) { /* open a group */
			atom(&d, &n, nm, a);
			(void)buf_printf(&v, "%s%s: ", v.len ? ", " : "", a);
			memset(&w[nw], 0, sizeof(w[nw]));
			(void)snprintf(w[nw].name, sizeof(w[nw].name), "%s", a);
			w[nw++].group = 1;
			grp = true;
			continue;
		}
		atom(&d, &n, lc, a);
		atom(&d, &n, lc, b);
		atom(&d, &n, nm, c);
		if (v.len > 0 && v.p[v.len - 2] != ':')
			(void)buf_append(&v, ", ", 2);
		memset(&w[nw], 0, sizeof(w[nw]));
		(void)snprintf(w[nw].local, sizeof(w[nw].local), "%s", a);
		(void)snprintf(w[nw].host, sizeof(w[nw].host), "%s.test", b);
		switch (form % 4) {
		case 0:
			(void)buf_printf(&v, "%s@%s.test", a, b);
			break;
		case 1:
			(void)buf_printf(&v, "%s Q <%s@%s.test>", c, a, b);
			(void)snprintf(w[nw].name, sizeof(w[nw].name), "%s Q",
			    c);
			break;
		case 2:
			(void)buf_printf(&v, "\"%s, Q\" <%s@%s.test>", c, a, b);
			(void)snprintf(w[nw].name, sizeof(w[nw].name),
			    "\"%s, Q\"", c);
			break;
		default:
			(void)buf_printf(&v, "%s@%s.test (%s)", a, b, c);
			(void)snprintf(w[nw].name, sizeof(w[nw].name), "%s", c);
			break;
		}
		nw++;
		if (grp && (seed >> 24) % 3 == 0) {
			(void)buf_append(&v, ";", 1);
			memset(&w[nw], 0, sizeof(w[nw]));
			w[nw++].group = 2;
			grp = false;
		}
	}
	if (grp) {
		(void)buf_append(&v, ";", 1);
		memset(&w[nw], 0, sizeof(w[nw]));
		w[nw++].group = 2;
	}
	ng = mime_address_parse(buf_slice(&v), got, 2 * RT_ADDRS + 4);
	if (ng != nw)
		abort();
	for (k = 0; k < nw; k++) {
		if (got[k].group_start != (w[k].group == 1) ||
		    got[k].group_end != (w[k].group == 2) ||
		    !slice_eq(got[k].name, slice_cstr(w[k].name)) ||
		    !slice_eq(got[k].mailbox, slice_cstr(w[k].local)) ||
		    !slice_eq(got[k].host, slice_cstr(w[k].host)) ||
		    got[k].adl.len != 0)
			abort();
	}
	buf_clear(&v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed = fuzz_take_u32(&data, &size);
	struct slice v = slice_make(data, size);
	size_t max = seed % 41, n;
	struct mime_address *out;

	out = malloc(max * sizeof(*out) + 1);
	if (out == NULL)
		return 0;
	n = mime_address_parse(v, out, max);
	if (n > max)
		abort();
	check_list(v, out, n);
	free(out);
	round_trip(data, size, seed);
	return 0;
}
