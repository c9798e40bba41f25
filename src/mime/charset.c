/* SPDX-License-Identifier: MIT */
/* Charset conversion to UTF-8 through glibc's iconv, with the fallback
 * every mail reader uses for unlabelled or mislabelled 8-bit text: UTF-8
 * when it is valid UTF-8, else ISO-8859-1 (which every byte is). */
#include <errno.h>
#include <iconv.h>
#include <string.h>

#include "lib/err.h"
#include "lib/str.h"
#include "mime/imapdata.h"
#include "mime/imapdata_int.h"

#include "lib/banned.h"

#define CHARSET_NAME_MAX 64

/* Names seen in mail that glibc does not know, mapped to supersets it
 * does (the WHATWG encoding standard makes the same choices). */
static const struct {
	const char *from, *to;
} aliases[] = {
	{ "ks_c_5601-1987", "CP949" },
	{ "gb2312", "GB18030" },
	{ "gbk", "GB18030" },
	{ "x-gbk", "GB18030" },
	{ "iso-8859-8-i", "ISO-8859-8" },
	{ "windows-874", "CP874" },
	{ "x-sjis", "SHIFT_JIS" },
	{ "shift-jis", "SHIFT_JIS" },
	{ "iso-8859-1", "WINDOWS-1252" }, /* C1 controls never mean that */
	{ "us-ascii", "" },
	{ "ascii", "" },
	{ "x-unknown", "" },
	{ "unknown-8bit", "" },
	{ "default", "" },
};

static int
latin1_to_utf8(struct slice in, struct buf *out)
{
	for (size_t i = 0; i < in.len; i++)
		if (utf8_put(out, (unsigned char)in.p[i]) != 0)
			return ERR_LIMIT;
	return 0;
}

/* UTF-8 in, invalid sequences replaced by U+FFFD. */
static int
utf8_clean(struct slice in, struct buf *out)
{
	const unsigned char *u = (const unsigned char *)in.p;
	size_t i = 0, start, k;

	while (i < in.len) {
		start = i;
		while (i < in.len &&
		    (u[i] < 0x80 || (k = utf8_seq_len(u + i, in.len - i)) > 0))
			i += u[i] < 0x80 ? 1 : k;
		if (buf_append(out, in.p + start, i - start) != 0)
			return ERR_LIMIT;
		if (i < in.len) {
			if (utf8_put(out, 0xfffd) != 0)
				return ERR_LIMIT;
			i++;
		}
	}
	return 0;
}

static int
fallback(struct slice in, struct buf *out)
{
	if (utf8_is_valid(in))
		return buf_append_slice(out, in) != 0 ? ERR_LIMIT : 0;
	return latin1_to_utf8(in, out);
}

static bool
name_ok(const char *cs)
{
	size_t n = strlen(cs);

	if (n == 0 || n >= CHARSET_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = cs[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		        c == '.' || c == ':'))
			return false;
	}
	return true;
}

static int
run_iconv(iconv_t cd, struct slice in, struct buf *out)
{
	char tmp[1024], *ip = (char *)(uintptr_t)in.p, *op;
	size_t il = in.len, ol, r;
	bool flushing = false;

	for (;;) {
		op = tmp;
		ol = sizeof(tmp);
		if (flushing)
			r = iconv(cd, NULL, NULL, &op, &ol);
		else
			r = iconv(cd, &ip, &il, &op, &ol);
		if (buf_append(out, tmp, sizeof(tmp) - ol) != 0)
			return ERR_LIMIT;
		if (r != (size_t)-1) {
			if (flushing)
				return 0;
			if (il == 0)
				flushing = true;
			continue;
		}
		if (errno == E2BIG)
			continue;
		/* EILSEQ or EINVAL (truncated at the end): one byte becomes
		 * U+FFFD and conversion resumes after it. */
		if (il == 0 || flushing)
			return 0;
		if (utf8_put(out, 0xfffd) != 0)
			return ERR_LIMIT;
		ip++;
		il--;
		(void)iconv(cd, NULL, NULL, NULL, NULL); /* reset shift state */
	}
}

int
mime_charset_to_utf8(const char *charset, struct slice in, struct buf *out)
{
	char name[CHARSET_NAME_MAX];
	const char *use;
	iconv_t cd;
	size_t i;
	int rc;

	if (charset == NULL || !str_copy(name, sizeof(name), charset))
		return fallback(in, out);
	str_lower(name);
	use = name;
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcmp(name, aliases[i].from) == 0)
			use = aliases[i].to;
	if (strcmp(use, "utf-8") == 0 || strcmp(use, "utf8") == 0)
		return utf8_clean(in, out);
	if (!name_ok(use))
		return fallback(in, out);
	cd = iconv_open("UTF-8", use);
	if (cd == (iconv_t)-1)
		return fallback(in, out);
	rc = run_iconv(cd, in, out);
	(void)iconv_close(cd);
	return rc;
}
