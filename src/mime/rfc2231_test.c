/* SPDX-License-Identifier: MIT */
/* Unit tests for rfc2231.h: the RFC's own examples, what Thunderbird,
 * Outlook, Apple Mail and mutt write, malformed values, and the limits
 * (MIME_RFC2231_SECTIONS_MAX sections and MIME_RFC2231_VALUE_MAX bytes)
 * at the limit and one past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "mime/limits.h"
#include "mime/rfc2231.h"

/* Decodes `name` from `value`; returns the rc, the value in got. */
static int
get(const char *value, const char *name, char *got, size_t size,
    struct mime_param_info *pi)
{
	struct buf b;
	int rc;

	buf_init(&b, 1 << 20);
	(void)buf_append(&b, "<", 1); /* what was in out must stay */
	rc = mime_param_get(slice_cstr(value), name, &b, pi);
	assert_true(b.len >= 1 && b.p[0] == '<');
	if (rc != 0)
		assert_int_equal(b.len, 1);
	(void)snprintf(got, size, "%.*s", (int)b.len - 1, b.p + 1);
	buf_clear(&b);
	return rc;
}

static void
expect(const char *value, const char *name, int rc, const char *want)
{
	char got[4096];

	assert_int_equal(get(value, name, got, sizeof(got), NULL), rc);
	if (rc == 0)
		assert_string_equal(got, want);
}

static void
test_rfc_examples(void **state)
{
	struct mime_param_info pi;
	char got[256];

	(void)state;
	/* RFC 2231 §3, §4, §4.1 */
	expect("message/external-body; access-type=URL;\r\n"
	       " URL*0=\"ftp://\";\r\n"
	       " URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
	    "url", 0, "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar");
	assert_int_equal(get("application/x-stuff;\r\n"
	                     " title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun"
	                     "%2A%2A%2A",
	                     "title", got, sizeof(got), &pi),
	    0);
	assert_string_equal(got, "This is ***fun***");
	assert_string_equal(pi.charset, "us-ascii");
	assert_string_equal(pi.language, "en-us");
	assert_int_equal(pi.sections, 1);
	assert_int_equal(get("application/x-stuff;\r\n"
	                     " title*0*=us-ascii'en'This%20is%20even%20more%20;"
	                     "\r\n title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n"
	                     " title*2=\"isn't it!\"",
	                     "title", got, sizeof(got), &pi),
	    0);
	assert_string_equal(got, "This is even more ***fun*** isn't it!");
	assert_string_equal(pi.language, "en");
	assert_int_equal(pi.sections, 3);
}

static void
test_clients(void **state)
{
	(void)state;
	/* Thunderbird: a long UTF-8 name, a character split across
	 * sections (U+00FC = C3 BC). */
	expect("attachment;\r\n filename*0*=UTF-8''Bericht%20%C3;\r\n"
	       " filename*1*=%BCber%20das%20Jahr%202026.pdf",
	    "filename", 0, "Bericht \xc3\xbc" "ber das Jahr 2026.pdf");
	/* Outlook: plain quoted name next to the extended one; the
	 * extended one wins. */
	expect("attachment; filename=\"Q3 figures.xls\";\r\n"
	       "\tfilename*=utf-8''Q3%20%E2%80%93%20figures.xls; size=12",
	    "filename", 0, "Q3 \xe2\x80\x93 figures.xls");
	/* Apple Mail: a Latin-1 charset, converted to UTF-8. */
	expect("inline; filename*=iso-8859-1''Gr%FC%DFe.txt", "filename", 0,
	    "Gr\xc3\xbc\xc3\x9f" "e.txt");
	/* mutt: an RFC 2231 name without language. */
	expect("attachment; filename*=UTF-8''fix%20%C3%A9.diff", "FILENAME", 0,
	    "fix \xc3\xa9.diff");
	/* A plain value with comments and escapes. */
	expect("text/plain (c) ; (x) charset = (y) \"us\\\"-ascii\" (z)",
	    "charset", 0, "us\"-ascii");
	expect("text/plain; format=flowed; delsp=yes", "delsp", 0, "yes");
	expect("text/plain; format=flowed", "charset", ERR_NOTFOUND, "");
	/* The type's own text is never a parameter. */
	expect("name=x; other=y", "name", ERR_NOTFOUND, "");
}

static void
test_malformed(void **state)
{
	(void)state;
	/* out of order, duplicates (the first counts), a gap (stops) */
	expect("a; n*2=c; n*0=a; n*1=b; n*1=X", "n", 0, "abc");
	expect("a; n*0=a; n*2=c", "n", 0, "a");
	/* no section 0: the plain value if any, else not found */
	expect("a; n*1=b; n=plain", "n", 0, "plain");
	expect("a; n*1=b", "n", ERR_NOTFOUND, "");
	/* leading zeros and junk suffixes are not sections */
	expect("a; n*01=x; n*0=y; n*1a=z; n**=w", "n", 0, "y");
	/* broken %-escapes stay, a missing charset part keeps the bytes */
	expect("a; n*=utf-8''100%; m*=%4; k*=%zz%41", "n", 0, "100%");
	expect("a; n*=%4", "n", 0, "%4");
	expect("a; n*=%zz%41", "n", 0, "%zzA");
	expect("a; n*=no-quotes%20here", "n", 0, "no-quotes here");
	expect("a; n*=\"utf-8''quoted%20ext\"", "n", 0, "quoted ext");
	/* unknown charset: UTF-8 if valid, else Latin-1 */
	expect("a; n*=x-bogus''%C3%A9", "n", 0, "\xc3\xa9");
	expect("a; n*=x-bogus''%E9", "n", 0, "\xc3\xa9");
	/* invalid UTF-8 under a UTF-8 label becomes U+FFFD */
	expect("a; n*=utf-8''%FF", "n", 0, "\xef\xbf\xbd");
	/* unterminated quotes and comments, empty values */
	expect("a; n=\"abc", "n", 0, "abc");
	expect("a; (n=x", "n", ERR_NOTFOUND, "");
	expect("a; n=", "n", 0, "");
	expect("a; n*0*=utf-8'';n*1=", "n", 0, "");
	expect("", "n", ERR_NOTFOUND, "");
	expect(";;;=;n", "n", ERR_NOTFOUND, "");
}

/* n sections "n*0=x; n*1=x; ..." */
static char *
sections(size_t n)
{
	size_t cap = n * 24 + 16, len = 0, i;
	char *s = malloc(cap);

	assert_non_null(s);
	len += (size_t)snprintf(s + len, cap - len, "attachment");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "; n*%zu=x", i);
	return s;
}

static void
test_limit_sections(void **state)
{
	char want[MIME_RFC2231_SECTIONS_MAX + 1];
	char *v;

	(void)state;
	memset(want, 'x', MIME_RFC2231_SECTIONS_MAX);
	want[MIME_RFC2231_SECTIONS_MAX] = '\0';
	v = sections(MIME_RFC2231_SECTIONS_MAX); /* at the limit */
	expect(v, "n", 0, want);
	free(v);
	v = sections(MIME_RFC2231_SECTIONS_MAX + 1); /* past it */
	expect(v, "n", ERR_LIMIT, "");
	free(v);
	/* A lone huge section number, however large, is the limit. */
	expect("a; n*0=a; n*100=b", "n", ERR_LIMIT, "");
	expect("a; n*99=b; n*0=a", "n", 0, "a");
	expect("a; n*99999999999999999999999=b; n=a", "n", ERR_LIMIT, "");
	/* Another parameter's sections do not count. */
	expect("a; m*100=b; n=a", "n", 0, "a");
}

static void
test_limit_value(void **state)
{
	const size_t max = MIME_RFC2231_VALUE_MAX;
	char *v = malloc(3 * max + 64), got[8];
	struct buf b;
	size_t len;

	(void)state;
	assert_non_null(v);
	/* Exactly MIME_RFC2231_VALUE_MAX bytes out, plain and extended. */
	len = (size_t)snprintf(v, 64, "a; n=");
	memset(v + len, 'y', max);
	v[len + max] = '\0';
	buf_init(&b, 1 << 20);
	assert_int_equal(mime_param_get(slice_cstr(v), "n", &b, NULL), 0);
	assert_int_equal(b.len, max);
	/* One more byte: ERR_LIMIT, nothing appended. */
	v[len + max] = 'y';
	v[len + max + 1] = '\0';
	buf_reset(&b);
	assert_int_equal(mime_param_get(slice_cstr(v), "n", &b, NULL),
	    ERR_LIMIT);
	assert_int_equal(b.len, 0);
	/* The limit counts UTF-8 out: max/2 Latin-1 bytes double. */
	len = (size_t)snprintf(v, 64, "a; n*=iso-8859-1''");
	for (size_t i = 0; i < max / 2; i++)
		memcpy(v + len + 3 * i, "%E9", 3);
	v[len + 3 * (max / 2)] = '\0';
	buf_reset(&b);
	assert_int_equal(mime_param_get(slice_cstr(v), "n", &b, NULL), 0);
	assert_int_equal(b.len, max);
	memcpy(v + len + 3 * (max / 2), "%E9", 4);
	buf_reset(&b);
	assert_int_equal(mime_param_get(slice_cstr(v), "n", &b, NULL),
	    ERR_LIMIT);
	assert_int_equal(b.len, 0);
	/* An out buffer too small for the value: ERR_LIMIT, unchanged. */
	buf_clear(&b);
	buf_init(&b, 4);
	(void)buf_append(&b, "ab", 2);
	assert_int_equal(
	    mime_param_get(slice_cstr("a; n=xyz"), "n", &b, NULL), ERR_LIMIT);
	assert_int_equal(b.len, 2);
	buf_clear(&b);
	(void)got;
	free(v);
}

/* Every prefix of a value parses without reading past it (ASan). */
static void
test_every_prefix(void **state)
{
	static const char in[] =
	    "attachment; filename*0*=UTF-8'en'%E2%82%AC%20\"x\"; "
	    "filename*1=\"q\\\"uote(d)\"; (c) filename=plain";
	const size_t len = sizeof(in) - 1;
	struct buf b;
	size_t n;
	char *p;

	(void)state;
	buf_init(&b, 1 << 16);
	for (n = 0; n <= len; n++) {
		p = malloc(n + 1);
		assert_non_null(p);
		memcpy(p, in, n);
		buf_reset(&b);
		(void)mime_param_get(slice_make(p, n), "filename", &b, NULL);
		free(p);
	}
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_clients),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limit_sections),
		cmocka_unit_test(test_limit_value),
		cmocka_unit_test(test_every_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
