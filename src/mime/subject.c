/* SPDX-License-Identifier: MIT */
/* RFC 5256 §2.1 base subject, for SORT SUBJECT and THREAD. The input is a
 * decoded UTF-8 subject; the output is case folded (simple lower-case
 * folding of Latin, Greek and Cyrillic, the scripts where it matters in
 * practice) so that equal base subjects compare equal byte for byte. */
#include <string.h>

#include "lib/err.h"
#include "lib/mem.h"
#include "mime/imapdata.h"
#include "mime/imapdata_int.h"
#include "mime/lex.h"
#include "mime/limits.h"

#include "lib/banned.h"

static uint32_t
fold(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c < 0xc0)
		return c;
	if (c <= 0xde && c != 0xd7)
		return c + 32;
	if (c >= 0x100 && c <= 0x137)
		return c | 1;
	if (c >= 0x139 && c <= 0x148)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x14a && c <= 0x177)
		return c | 1;
	if (c == 0x178)
		return 0xff;
	if (c >= 0x179 && c <= 0x17e)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
		return c + 32;
	if (c == 0x3c2)
		return 0x3c3;
	if (c >= 0x410 && c <= 0x42f)
		return c + 32;
	if (c >= 0x400 && c <= 0x40f)
		return c + 80;
	return c;
}

static bool
prefix_ci(struct slice s, const char *p)
{
	return slice_has_prefix_ci(s, slice_cstr(p));
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP: its length, 0 if none at s. */
static size_t
blob_len(struct slice s)
{
	size_t i;

	if (s.len == 0 || s.p[0] != '[')
		return 0;
	for (i = 1; i < s.len && s.p[i] != ']'; i++)
		if (s.p[i] == '[')
			return 0;
	if (i == s.len)
		return 0;
	for (i++; i < s.len && s.p[i] == ' '; i++)
		;
	return i;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP; its length or 0. */
static size_t
leader_len(struct slice s)
{
	size_t i = 0, k;

	if (s.len > 0 && s.p[0] == ' ')
		return 1;
	while ((k = blob_len(slice_skip(s, i))) > 0)
		i += k;
	/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
	if (prefix_ci(slice_skip(s, i), "re"))
		i += 2;
	else if (prefix_ci(slice_skip(s, i), "fwd"))
		i += 3;
	else if (prefix_ci(slice_skip(s, i), "fw"))
		i += 2;
	else
		return 0;
	while (i < s.len && s.p[i] == ' ')
		i++;
	i += blob_len(slice_skip(s, i));
	if (i < s.len && s.p[i] == ':')
		return i + 1;
	return 0;
}

int
mime_base_subject(struct slice subject, struct buf *out)
{
	char *w = NULL;
	struct slice s;
	size_t i, n = 0, k, len;
	bool changed;
	int rc = 0;

	if (subject.len > MIME_FIELD_MAX)
		subject.len = MIME_FIELD_MAX;
	w = xmalloc(subject.len + 1);
	/* (1) Whitespace runs, folding included, become one space. */
	for (i = 0; i < subject.len; i++) {
		if (mime_is_ws(subject.p[i])) {
			if (n == 0 || w[n - 1] != ' ')
				w[n++] = ' ';
		} else {
			w[n++] = subject.p[i];
		}
	}
	s = slice_make(w, n);
	for (;;) {
		/* (2) Trailing subj-trailer: "(fwd)" or WSP. */
		for (;;) {
			if (s.len > 0 && s.p[s.len - 1] == ' ')
				s.len--;
			else if (s.len >= 5 &&
			    prefix_ci(slice_make(s.p + s.len - 5, 5), "(fwd)"))
				s.len -= 5;
			else
				break;
		}
		/* (3)-(5) Leaders, then a leading blob if something is
		 * left after it, until neither applies. */
		do {
			changed = false;
			while ((k = leader_len(s)) > 0) {
				s = slice_skip(s, k);
				changed = true;
			}
			k = blob_len(s);
			if (k > 0 && k < s.len) {
				s = slice_skip(s, k);
				changed = true;
			}
		} while (changed);
		/* (6) "[fwd:" subject "]": unwrap and start again. */
		if (s.len >= 6 && prefix_ci(s, "[fwd:") &&
		    s.p[s.len - 1] == ']') {
			s = slice_make(s.p + 5, s.len - 6);
			continue;
		}
		break;
	}
	for (i = 0; i < s.len && rc == 0; i += len) {
		len = utf8_seq_len((const unsigned char *)s.p + i, s.len - i);
		if (len == 0) {
			rc = buf_append(out, s.p + i, 1);
			len = 1;
		} else {
			rc = utf8_put(out,
			    fold(
			        utf8_get((const unsigned char *)s.p + i, len)));
		}
	}
	xfree(&w);
	return rc != 0 ? ERR_LIMIT : 0;
}
