/* SPDX-License-Identifier: MIT */
/* Flag lists as the store keeps them: space-separated, system flags in
 * their canonical case, no duplicates, never \Recent (the server keeps
 * that in memory, PLAN.md). */
#include <string.h>
#include <strings.h>

#include "store/sqlite/store_int.h"

#include "lib/banned.h"

static const char *const system_flags[] = { "\\Answered", "\\Flagged",
	"\\Deleted", "\\Seen", "\\Draft" };

/* The next token of s at *pos; false at the end. */
static bool
next_token(const char *s, size_t *pos, struct slice *out)
{
	size_t i = *pos, start;

	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
		i++;
	if (s[i] == '\0') {
		*pos = i;
		return false;
	}
	start = i;
	while (s[i] != '\0' && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
	    s[i] != '\n')
		i++;
	*out = slice_make(s + start, i - start);
	*pos = i;
	return true;
}

/* Whether the space-separated list holds t (case-insensitive). */
static bool
list_has(const char *list, struct slice t)
{
	size_t pos = 0;
	struct slice x;
	bool found = false;

	while (!found && next_token(list, &pos, &x))
		found = slice_eq_ci(x, t);
	return found;
}

/* Appends t to out unless present; false past the limit. */
static int
add_token(struct buf *out, struct slice t)
{
	if (out->p != NULL && list_has(out->p, t))
		return 0;
	if (out->len > 0 && buf_append(out, " ", 1) != 0)
		return ERR_LIMIT;
	return buf_append_slice(out, t) == 0 ? 0 : ERR_LIMIT;
}

int
flags_normalize(const char *in, struct buf *out)
{
	struct slice t;
	size_t pos = 0, i, k, n = 0;
	int rc;

	buf_init(out, STORE_FLAGS_MAX);
	(void)buf_append(out, "", 0);
	if (in == NULL)
		return 0;
	while (next_token(in, &pos, &t)) {
		for (k = 0; k < t.len; k++) {
			unsigned char c = (unsigned char)t.p[k];

			/* atom-specials of RFC 9051 §9 and controls; a
			 * backslash only leads. */
			if (c <= 0x20 || c == 0x7f || c == '(' || c == ')' ||
			    c == '{' || c == '"' || c == '%' || c == '*' ||
			    c == ']' || (c == '\\' && k > 0))
				return ERR_INPUT;
		}
		if (t.len == 0 || (t.p[0] == '\\' && t.len == 1))
			return ERR_INPUT;
		if (slice_eq_ci(t, slice_cstr("\\Recent")))
			continue;
		for (i = 0; i < sizeof(system_flags) / sizeof(*system_flags);
		     i++)
			if (slice_eq_ci(t, slice_cstr(system_flags[i])))
				t = slice_cstr(system_flags[i]);
		if ((rc = add_token(out, t)) != 0)
			return rc;
		if (++n > STORE_FLAGS_COUNT_MAX)
			return ERR_LIMIT;
	}
	return 0;
}

bool
flags_has(const char *list, const char *flag)
{
	return list_has(list, slice_cstr(flag));
}

static size_t
count_tokens(const char *s)
{
	size_t pos = 0, n = 0;
	struct slice t;

	while (next_token(s, &pos, &t))
		n++;
	return n;
}

bool
flags_apply(const char *cur, int mode, const char *arg, struct buf *out)
{
	struct slice t;
	size_t pos = 0;
	int rc = 0;

	buf_init(out, STORE_FLAGS_MAX);
	(void)buf_append(out, "", 0);
	switch ((enum store_flags_mode)mode) {
	case STORE_FLAGS_SET:
		rc = buf_append(out, arg, strlen(arg));
		break;
	case STORE_FLAGS_ADD:
		while (rc == 0 && next_token(cur, &pos, &t))
			rc = add_token(out, t);
		pos = 0;
		while (rc == 0 && next_token(arg, &pos, &t))
			rc = add_token(out, t);
		break;
	case STORE_FLAGS_REMOVE:
		while (rc == 0 && next_token(cur, &pos, &t))
			if (!list_has(arg, t))
				rc = add_token(out, t);
		break;
	}
	/* Over the limits: the entry keeps what it has (XXX(store): the
	 * client is not told; STORE_FLAGS_COUNT_MAX is generous). */
	if (rc != 0 || count_tokens(out->p) > STORE_FLAGS_COUNT_MAX)
		return false;
	/* Same set: same size and every token of out in cur (both are
	 * duplicate-free). */
	if (count_tokens(out->p) != count_tokens(cur))
		return true;
	pos = 0;
	while (next_token(out->p, &pos, &t))
		if (!list_has(cur, t))
			return true;
	return false;
}
