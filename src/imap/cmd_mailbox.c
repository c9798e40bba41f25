/* SPDX-License-Identifier: MIT */
/* Mailbox commands: SELECT/EXAMINE (CONDSTORE, QRESYNC), CREATE (with
 * CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST
 * (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), LSUB, NAMESPACE, STATUS,
 * CLOSE, UNSELECT, and the QUOTA commands (limits from the config). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/mutf7.h"
#include "imap/session_int.h"
#include "lib/mem.h"
#include "lib/str.h"

#include "lib/banned.h"

static const char sysflags_list[] = "\\Answered \\Flagged \\Deleted \\Seen "
                                    "\\Draft";

static void
store_error(struct imap_session *s, int rc, const struct err *err)
{
	switch (rc) {
	case ERR_NOTFOUND:
		imap_cmd_finish(s, "NO", "[NONEXISTENT] No such mailbox");
		break;
	case ERR_EXISTS:
		imap_cmd_finish(s, "NO", "[ALREADYEXISTS] Mailbox exists");
		break;
	case ERR_INPUT:
		imap_cmd_finish(s, "NO", "[CANNOT] Invalid mailbox name");
		break;
	case ERR_FULL:
		log_warn(&s->log, "event=store-error code=%s err=\"%s\"",
		    err_name(rc), err != NULL ? err->msg : "");
		imap_cmd_finish(s, "NO", "[OVERQUOTA] Out of space");
		break;
	default:
		log_warn(&s->log, "event=store-error code=%s err=\"%s\"",
		    err_name(rc), err != NULL ? err->msg : "");
		imap_cmd_finish(s, "NO", "[UNAVAILABLE] Try again later");
		break;
	}
}

static void
unselect(struct imap_session *s)
{
	imap_view_free(&s->view);
	s->priv->n_pend_exp = 0;
	if (s->state == IMAP_STATE_SELECTED)
		s->state = IMAP_STATE_AUTH;
}

/* --- SELECT / EXAMINE --------------------------------------------------- */

struct qresync {
	bool on;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct seqset known;
	bool has_known;
	struct buf vanished;
	size_t n_vanished;
};

static void
vanished_cb(void *ctx, uint32_t uid)
{
	struct qresync *q = ctx;

	if (q->has_known && !seqset_contains(&q->known, uid))
		return;
	(void)buf_printf(&q->vanished, "%s%u", q->n_vanished ? "," : "", uid);
	q->n_vanished++;
}

/* The expunge history was pruned: every UID below UIDNEXT that the
 * mailbox no longer holds is reported, as ranges. This may name UIDs the
 * client never had; VANISHED (EARLIER) receivers ignore those. */
static void
vanished_gaps(const struct imap_view *v, struct qresync *q)
{
	uint32_t lo = 1, hi;
	size_t i;

	buf_reset(&q->vanished);
	q->n_vanished = 0;
	for (i = 0; i <= v->n; i++) {
		hi = i < v->n ? v->msgs[i].uid : v->uidnext;
		if (hi > lo) {
			(void)buf_printf(&q->vanished, "%s%u",
			    q->n_vanished ? "," : "", lo);
			if (hi - 1 > lo)
				(void)buf_printf(&q->vanished, ":%u", hi - 1);
			q->n_vanished++;
		}
		lo = hi + 1;
	}
}

static bool
parse_select_params(struct imap_session *s, const struct imap_arg *a,
    bool *condstore, struct qresync *q)
{
	const struct imap_arg *p, *x;
	uint64_t v;
	struct slice set;

	if (a == NULL)
		return true;
	if (a->type != IMAP_ARG_LIST || a->next != NULL)
		return false;
	for (p = a->list; p != NULL; p = p->next) {
		if (imap_arg_atom_is(p, "CONDSTORE")) {
			*condstore = true;
			continue;
		}
		if (!imap_arg_atom_is(p, "QRESYNC") ||
		    !(s->enabled & IMAP_ENABLED_QRESYNC) || p->next == NULL ||
		    p->next->type != IMAP_ARG_LIST)
			return false;
		p = p->next;
		x = p->list;
		if (x == NULL || !imap_arg_number(x, UINT32_MAX, &v) || v == 0)
			return false;
		q->uidvalidity = (uint32_t)v;
		x = x->next;
		if (x == NULL || !imap_arg_number(x, UINT64_MAX, &q->modseq))
			return false;
		x = x->next;
		if (x != NULL && x->type == IMAP_ARG_ATOM) {
			set = x->str;
			if (!seqset_parse(s->cmd_arena, set, &q->known))
				return false;
			seqset_resolve(&q->known, UINT32_MAX - 1);
			q->has_known = true;
			x = x->next;
		}
		/* the sequence match data only helps servers without
		 * expunge history; ours has it */
		if (x != NULL && (x->type != IMAP_ARG_LIST || x->next != NULL))
			return false;
		q->on = true;
	}
	return true;
}

void
cmd_select(struct imap_session *s, const struct imap_command *cmd)
{
	bool readonly = slice_eq_ci(cmd->name, SLICE_LIT("EXAMINE"));
	bool condstore = false, rev1 = !(s->enabled & IMAP_ENABLED_REV2);
	struct qresync q;
	struct store_mailbox_status st;
	struct imap_view *v;
	const char *name;
	struct buf kw;
	struct err err = { 0 };
	size_t i;
	uint32_t recent = 0;
	int rc;

	memset(&q, 0, sizeof(q));
	if (cmd->n_args < 1 || cmd->n_args > 2) {
		imap_cmd_finish(s, "BAD", "SELECT mailbox [(parameters)]");
		return;
	}
	name = imap_arg_mailbox(s, cmd->args);
	if (name == NULL ||
	    !parse_select_params(s, cmd->args->next, &condstore, &q)) {
		imap_cmd_finish(s, "BAD", "Invalid arguments");
		return;
	}
	if (s->view != NULL) {
		unselect(s);
		imap_printf(s, "* OK [CLOSED] Previous mailbox closed\r\n");
	}
	free(s->searchres);
	s->searchres = NULL;
	s->n_searchres = 0;
	if (condstore || q.on)
		s->enabled |= IMAP_ENABLED_CONDSTORE;
	rc = imap_view_open(s, name, readonly, &v, &st);
	if (rc != 0) {
		store_error(s, rc, &err);
		return;
	}
	s->view = v;
	s->state = IMAP_STATE_SELECTED;
	buf_init(&kw, 4 * 1024 * 1024);
	imap_view_all_keywords(v, &kw);
	imap_printf(s, "* FLAGS (%s%s)\r\n", sysflags_list,
	    kw.p != NULL ? kw.p : "");
	if (readonly)
		imap_printf(s, "* OK [PERMANENTFLAGS ()] Read-only\r\n");
	else
		imap_printf(s,
		    "* OK [PERMANENTFLAGS (%s%s \\*)] Flags permitted\r\n",
		    sysflags_list, kw.p != NULL ? kw.p : "");
	buf_clear(&kw);
	imap_printf(s, "* %zu EXISTS\r\n", v->n);
	if (rev1) {
		for (i = 0; i < v->n; i++)
			if (v->msgs[i].sysflags & IMAP_F_RECENT)
				recent++;
		imap_printf(s, "* %u RECENT\r\n", recent);
		for (i = 0; i < v->n; i++)
			if (!(v->msgs[i].sysflags & IMAP_F_SEEN)) {
				imap_printf(s,
				    "* OK [UNSEEN %zu] First unseen\r\n",
				    i + 1);
				break;
			}
	}
	imap_printf(s, "* OK [UIDVALIDITY %u] UIDs valid\r\n", v->uidvalidity);
	imap_printf(s, "* OK [UIDNEXT %u] Predicted next UID\r\n", v->uidnext);
	imap_printf(s, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
	    (unsigned long long)v->highestmodseq);
	if (!rev1) {
		imap_printf(s, "* LIST () \"/\" ");
		imap_write_mailbox(s, v->name);
		imap_printf(s, "\r\n");
	}
	if (q.on && q.uidvalidity == v->uidvalidity) {
		bool complete = true;

		buf_init(&q.vanished, 16 * 1024 * 1024);
		rc = store_expunged_since(s->st, v->mailbox_id, q.modseq,
		    vanished_cb, &q, &complete, &err);
		if (rc == 0 && !complete)
			vanished_gaps(v, &q);
		if (rc == 0 && q.n_vanished > 0)
			imap_printf(s, "* VANISHED (EARLIER) %s\r\n",
			    q.vanished.p);
		buf_clear(&q.vanished);
		for (i = 0; i < v->n; i++)
			if (v->msgs[i].modseq > q.modseq)
				imap_view_write_fetch(s, &v->msgs[i], true,
				    true);
	}
	imap_cmd_finish(s, "OK", "%s %s completed",
	    readonly ? "[READ-ONLY]" : "[READ-WRITE]",
	    readonly ? "EXAMINE" : "SELECT");
}

/* --- CREATE / DELETE / RENAME / SUBSCRIBE ------------------------------- */

static char *
strip_trailing_sep(char *name)
{
	size_t n = strlen(name);

	while (n > 1 && name[n - 1] == '/')
		name[--n] = '\0';
	return name;
}

void
cmd_create(struct imap_session *s, const struct imap_command *cmd)
{
	const char *name0 =
	    cmd->n_args >= 1 ? imap_arg_mailbox(s, cmd->args) : NULL;
	const struct imap_arg *p;
	char *name, use[32] = "";
	struct err err = { 0 };
	int rc;

	if (name0 == NULL || cmd->n_args > 2) {
		imap_cmd_finish(s, "BAD", "CREATE mailbox [(USE (attr))]");
		return;
	}
	if (cmd->n_args == 2) {
		p = cmd->args->next;
		if (p->type != IMAP_ARG_LIST || p->list == NULL ||
		    !imap_arg_atom_is(p->list, "USE") ||
		    p->list->next == NULL ||
		    p->list->next->type != IMAP_ARG_LIST) {
			imap_cmd_finish(s, "BAD", "Invalid CREATE parameters");
			return;
		}
		p = p->list->next;
		if (p->n > 1) {
			imap_cmd_finish(s, "NO",
			    "[USEATTR] One special use per mailbox");
			return;
		}
		if (p->n == 1 &&
		    (p->list->type != IMAP_ARG_ATOM ||
		        !str_from_slice(use, sizeof(use), p->list->str))) {
			imap_cmd_finish(s, "NO", "[USEATTR] Unknown attribute");
			return;
		}
	}
	name = arena_strndup(s->cmd_arena, name0, strlen(name0));
	if (name == NULL) {
		imap_cmd_finish(s, "BAD", "Out of memory");
		return;
	}
	strip_trailing_sep(name);
	if (strcmp(name, "INBOX") == 0) {
		imap_cmd_finish(s, "NO", "[ALREADYEXISTS] INBOX exists");
		return;
	}
	if (use[0] != '\0') {
		/* canonical spelling for the store */
		static const char *const uses[] = { "\\Archive", "\\Drafts",
			"\\Junk", "\\Sent", "\\Trash", "\\All", "\\Flagged" };
		size_t i;
		bool found = false;

		for (i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
			if (strcasecmp(use, uses[i]) == 0) {
				(void)str_copy(use, sizeof(use), uses[i]);
				found = true;
			}
		if (!found) {
			imap_cmd_finish(s, "NO", "[USEATTR] Unknown attribute");
			return;
		}
	}
	rc = store_mailbox_create(s->st, s->user_id, name,
	    use[0] != '\0' ? use : NULL, &err);
	if (rc != 0) {
		if (rc == ERR_INPUT && use[0] != '\0')
			imap_cmd_finish(s, "NO", "[USEATTR] Not allowed");
		else
			store_error(s, rc, &err);
		return;
	}
	imap_cmd_finish(s, "OK", "CREATE completed");
}

void
cmd_delete(struct imap_session *s, const struct imap_command *cmd)
{
	const char *name =
	    cmd->n_args == 1 ? imap_arg_mailbox(s, cmd->args) : NULL;
	struct store_mailbox_status st;
	struct err err = { 0 };
	int rc;

	if (name == NULL) {
		imap_cmd_finish(s, "BAD", "DELETE mailbox");
		return;
	}
	if (strcmp(name, "INBOX") == 0) {
		imap_cmd_finish(s, "NO", "[CANNOT] INBOX cannot be deleted");
		return;
	}
	if (store_mailbox_status(s->st, s->user_id, name, &st, &err) == 0 &&
	    s->view != NULL && st.id == s->view->mailbox_id) {
		/* Deleting the selected mailbox: it is closed first. */
		unselect(s);
		imap_printf(s, "* OK [CLOSED] Mailbox closed\r\n");
	}
	rc = store_mailbox_delete(s->st, s->user_id, name, &err);
	if (rc == ERR_EXISTS) {
		imap_cmd_finish(s, "NO",
		    "[HASCHILDREN] Delete the children first");
		return;
	}
	if (rc != 0) {
		store_error(s, rc, &err);
		return;
	}
	imap_cmd_finish(s, "OK", "DELETE completed");
}

void
cmd_rename(struct imap_session *s, const struct imap_command *cmd)
{
	const char *from, *to0;
	char *to;
	struct err err = { 0 };
	size_t fl;
	int rc;

	if (cmd->n_args != 2 ||
	    (from = imap_arg_mailbox(s, cmd->args)) == NULL ||
	    (to0 = imap_arg_mailbox(s, cmd->args->next)) == NULL) {
		imap_cmd_finish(s, "BAD", "RENAME from to");
		return;
	}
	to = arena_strndup(s->cmd_arena, to0, strlen(to0));
	if (to == NULL) {
		imap_cmd_finish(s, "BAD", "Out of memory");
		return;
	}
	strip_trailing_sep(to);
	rc = store_mailbox_rename(s->st, s->user_id, from, to, &err);
	if (rc != 0) {
		store_error(s, rc, &err);
		return;
	}
	if (s->view != NULL && strcmp(from, "INBOX") != 0) {
		fl = strlen(from);
		if (strcmp(s->view->name, from) == 0) {
			free(s->view->name);
			s->view->name = xstrdup(to);
		} else if (strncmp(s->view->name, from, fl) == 0 &&
		    s->view->name[fl] == '/') {
			struct buf b;

			buf_init(&b, 4096);
			(void)buf_printf(&b, "%s%s", to, s->view->name + fl);
			free(s->view->name);
			s->view->name = xstrdup(b.p);
			buf_clear(&b);
		}
	}
	imap_cmd_finish(s, "OK", "RENAME completed");
}

void
cmd_subscribe(struct imap_session *s, const struct imap_command *cmd)
{
	bool on = slice_eq_ci(cmd->name, SLICE_LIT("SUBSCRIBE"));
	const char *name =
	    cmd->n_args == 1 ? imap_arg_mailbox(s, cmd->args) : NULL;
	struct err err = { 0 };
	int rc;

	if (name == NULL) {
		imap_cmd_finish(s, "BAD", "%s mailbox",
		    on ? "SUBSCRIBE" : "UNSUBSCRIBE");
		return;
	}
	rc = store_mailbox_subscribe(s->st, s->user_id, name, on, &err);
	if (rc != 0 && !(rc == ERR_NOTFOUND && !on)) {
		store_error(s, rc, &err);
		return;
	}
	imap_cmd_finish(s, "OK", "%s completed",
	    on ? "SUBSCRIBE" : "UNSUBSCRIBE");
}

void
cmd_namespace(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	imap_printf(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_cmd_finish(s, "OK", "NAMESPACE completed");
}

/* --- STATUS ------------------------------------------------------------- */

#define ST_MESSAGES      (1u << 0)
#define ST_UIDNEXT       (1u << 1)
#define ST_UIDVALIDITY   (1u << 2)
#define ST_UNSEEN        (1u << 3)
#define ST_DELETED       (1u << 4)
#define ST_SIZE          (1u << 5)
#define ST_RECENT        (1u << 6)
#define ST_HIGHESTMODSEQ (1u << 7)

static bool
parse_status_items(const struct imap_arg *list, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned bit;
	} items[] = {
		{ "MESSAGES", ST_MESSAGES },
		{ "UIDNEXT", ST_UIDNEXT },
		{ "UIDVALIDITY", ST_UIDVALIDITY },
		{ "UNSEEN", ST_UNSEEN },
		{ "DELETED", ST_DELETED },
		{ "SIZE", ST_SIZE },
		{ "RECENT", ST_RECENT },
		{ "HIGHESTMODSEQ", ST_HIGHESTMODSEQ },
	};
	const struct imap_arg *a;
	size_t i;
	bool ok;

	*out = 0;
	if (list == NULL || list->type != IMAP_ARG_LIST || list->n == 0)
		return false;
	for (a = list->list; a != NULL; a = a->next) {
		ok = false;
		for (i = 0; i < sizeof(items) / sizeof(items[0]); i++)
			if (imap_arg_atom_is(a, items[i].name)) {
				*out |= items[i].bit;
				ok = true;
			}
		if (!ok)
			return false;
	}
	return true;
}

static void
count_cb(void *ctx, const struct store_entry *e)
{
	(void)e;
	(*(uint32_t *)ctx)++;
}

/* Writes "* STATUS name (...)". 0 or the store's error. */
static int
write_status(struct imap_session *s, const char *name, unsigned items)
{
	struct store_mailbox_status st;
	struct err err = { 0 };
	struct buf b;
	uint32_t recent = 0, hw;
	int rc;

	rc = store_mailbox_status(s->st, s->user_id, name, &st, &err);
	if (rc != 0)
		return rc;
	if (items & ST_RECENT) {
		hw = imap_server_recent_peek(s->srv, st.id, st.uidvalidity);
		if (st.uidnext > hw + 1)
			(void)store_entry_range(s->st, st.id, hw + 1,
			    UINT32_MAX, 0, count_cb, &recent, &err);
	}
	buf_init(&b, 16 * STORE_MAILBOX_NAME_MAX + 512);
	(void)buf_append_slice(&b, SLICE_LIT("* STATUS "));
	imap_buf_mailbox(s, &b, name);
	(void)buf_append_slice(&b, SLICE_LIT(" ("));
	if (items & ST_MESSAGES)
		(void)buf_printf(&b, "MESSAGES %u ", st.messages);
	if (items & ST_RECENT)
		(void)buf_printf(&b, "RECENT %u ", recent);
	if (items & ST_UIDNEXT)
		(void)buf_printf(&b, "UIDNEXT %u ", st.uidnext);
	if (items & ST_UIDVALIDITY)
		(void)buf_printf(&b, "UIDVALIDITY %u ", st.uidvalidity);
	if (items & ST_UNSEEN)
		(void)buf_printf(&b, "UNSEEN %u ", st.unseen);
	if (items & ST_DELETED)
		(void)buf_printf(&b, "DELETED %u ", st.deleted);
	if (items & ST_SIZE)
		(void)buf_printf(&b, "SIZE %llu ", (unsigned long long)st.size);
	if (items & ST_HIGHESTMODSEQ)
		(void)buf_printf(&b, "HIGHESTMODSEQ %llu ",
		    (unsigned long long)st.highestmodseq);
	if (b.p[b.len - 1] == ' ')
		b.len--;
	(void)buf_append_slice(&b, SLICE_LIT(")\r\n"));
	imap_write(s, b.p, b.len);
	buf_clear(&b);
	return 0;
}

void
cmd_status(struct imap_session *s, const struct imap_command *cmd)
{
	const char *name =
	    cmd->n_args == 2 ? imap_arg_mailbox(s, cmd->args) : NULL;
	unsigned items;
	int rc;

	if (name == NULL || !parse_status_items(cmd->args->next, &items)) {
		imap_cmd_finish(s, "BAD", "STATUS mailbox (items)");
		return;
	}
	if (items & ST_HIGHESTMODSEQ)
		imap_condstore_enable(s);
	rc = write_status(s, name, items);
	if (rc != 0) {
		store_error(s, rc, NULL);
		return;
	}
	imap_cmd_finish(s, "OK", "STATUS completed");
}

/* --- LIST / LSUB ---------------------------------------------------------- */

struct mbox {
	char *name;
	char special[16];
	bool subscribed, has_children, nonexistent;
};

struct mbox_list {
	struct imap_session *s;
	struct mbox *v;
	size_t n, cap;
};

static struct mbox *
mbox_add(struct mbox_list *l, const char *name)
{
	struct mbox *m;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	m = &l->v[l->n++];
	memset(m, 0, sizeof(*m));
	m->name = xstrdup(name);
	return m;
}

static struct mbox *
mbox_find(struct mbox_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

static void
list_cb(void *ctx, const struct store_mailbox *mb)
{
	struct mbox_list *l = ctx;
	struct mbox *m = mbox_add(l, mb->name);

	if (mb->special_use != NULL)
		(void)str_copy(m->special, sizeof(m->special), mb->special_use);
	m->subscribed = mb->subscribed;
	m->has_children = mb->has_children;
}

static void
sub_cb(void *ctx, const char *name)
{
	struct mbox_list *l = ctx;
	struct mbox *m = mbox_find(l, name);

	if (m == NULL) {
		m = mbox_add(l, name);
		m->nonexistent = true;
	}
	m->subscribed = true;
}

static void
mbox_list_free(struct mbox_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* Pattern match with "*" (anything) and "%" (anything but "/"), by
 * dynamic programming over name positions (no backtracking). */
static bool
match(const char *pat, const char *name)
{
	size_t nl = strlen(name), j;
	bool a[STORE_MAILBOX_NAME_MAX * 2 + 2], b[sizeof(a)], *cur = a,
	                                                      *nxt = b, *t;
	bool run;

	if (nl + 1 > sizeof(a))
		return false;
	memset(cur, 0, nl + 1);
	cur[0] = true;
	for (; *pat != '\0'; pat++) {
		memset(nxt, 0, nl + 1);
		if (*pat == '*') {
			run = false;
			for (j = 0; j <= nl; j++) {
				run = run || cur[j];
				nxt[j] = run;
			}
		} else if (*pat == '%') {
			run = false;
			for (j = 0; j <= nl; j++) {
				if (j > 0 && name[j - 1] == '/')
					run = false;
				run = run || cur[j];
				nxt[j] = run;
			}
		} else {
			for (j = 0; j < nl; j++)
				nxt[j + 1] = cur[j] && name[j] == *pat;
		}
		t = cur;
		cur = nxt;
		nxt = t;
	}
	return cur[nl];
}

/* A pattern argument decoded to UTF-8 (in the command arena). */
static char *
arg_pattern(struct imap_session *s, const struct imap_arg *a)
{
	struct slice str;
	struct buf dec;
	char *out;

	if (!imap_arg_string(a, &str) || memchr(str.p, '\0', str.len) != NULL ||
	    str.len > 2 * STORE_MAILBOX_NAME_MAX)
		return NULL;
	if (imap_session_utf8(s))
		return arena_strndup(s->cmd_arena, str.p, str.len);
	buf_init(&dec, 8 * STORE_MAILBOX_NAME_MAX);
	if (!mutf7_to_utf8(str, &dec)) {
		buf_clear(&dec);
		return NULL;
	}
	out = arena_strndup(s->cmd_arena, dec.p != NULL ? dec.p : "", dec.len);
	buf_clear(&dec);
	return out;
}

#define SEL_SUBSCRIBED (1u << 0)
#define SEL_RECURSIVE  (1u << 1)
#define SEL_SPECIAL    (1u << 2)
#define RET_SUBSCRIBED (1u << 0)
#define RET_CHILDREN   (1u << 1)
#define RET_SPECIAL    (1u << 2)
#define RET_STATUS     (1u << 3)

static bool
has_subscribed_child(const struct mbox_list *l, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < l->n; i++)
		if (l->v[i].subscribed && strncmp(l->v[i].name, name, n) == 0 &&
		    l->v[i].name[n] == '/')
			return true;
	return false;
}

static void
list_run(struct imap_session *s, const char *ref, char **pats, size_t n_pats,
    unsigned sel, unsigned ret, unsigned status_items, bool lsub)
{
	struct mbox_list l = { s, NULL, 0, 0 };
	struct err err = { 0 };
	struct buf full, line;
	size_t i, k;
	int rc;

	rc = store_mailbox_list(s->st, s->user_id, list_cb, &l, &err);
	if (rc == 0 && (sel & SEL_SUBSCRIBED))
		rc = store_subscription_list(s->st, s->user_id, sub_cb, &l,
		    &err);
	if (rc != 0) {
		mbox_list_free(&l);
		store_error(s, rc, &err);
		return;
	}
	buf_init(&full, 4 * STORE_MAILBOX_NAME_MAX + 16);
	buf_init(&line, 16 * STORE_MAILBOX_NAME_MAX + 512);
	for (i = 0; i < l.n; i++) {
		struct mbox *m = &l.v[i];
		bool matched = false, childinfo = false, any = false;

		for (k = 0; k < n_pats && !matched; k++) {
			buf_reset(&full);
			(void)buf_printf(&full, "%s%s", ref, pats[k]);
			if (full.p == NULL)
				continue;
			if (strncasecmp(full.p, "INBOX", 5) == 0 &&
			    (full.p[5] == '\0' || full.p[5] == '/' ||
			        strcmp(m->name, "INBOX") == 0))
				memcpy(full.p, "INBOX", 5);
			matched = match(full.p, m->name);
		}
		if (!matched)
			continue;
		if ((sel & SEL_SPECIAL) && m->special[0] == '\0')
			continue;
		if ((sel & SEL_SUBSCRIBED) && !m->subscribed) {
			if (!(sel & SEL_RECURSIVE) ||
			    !has_subscribed_child(&l, m->name))
				continue;
			childinfo = true;
		} else if ((sel & SEL_SUBSCRIBED) && (sel & SEL_RECURSIVE) &&
		    has_subscribed_child(&l, m->name)) {
			childinfo = true;
		}
		buf_reset(&line);
		(void)buf_printf(&line, "* %s (", lsub ? "LSUB" : "LIST");
#define ATTR(x)                                                                \
	do {                                                                   \
		if (any)                                                       \
			(void)buf_append(&line, " ", 1);                       \
		(void)buf_append_slice(&line, SLICE_LIT(x));                   \
		any = true;                                                    \
	} while (0)
		if (m->nonexistent) {
			if (lsub)
				ATTR("\\Noselect");
			else
				ATTR("\\NonExistent");
		} else if (!lsub) {
			if (m->has_children)
				ATTR("\\HasChildren");
			else
				ATTR("\\HasNoChildren");
		}
		if (!lsub && m->subscribed &&
		    ((ret & RET_SUBSCRIBED) || (sel & SEL_SUBSCRIBED)))
			ATTR("\\Subscribed");
		if (!lsub && m->special[0] != '\0') {
			if (any)
				(void)buf_append(&line, " ", 1);
			(void)buf_append_slice(&line, slice_cstr(m->special));
			any = true;
		}
#undef ATTR
		(void)buf_append_slice(&line, SLICE_LIT(") \"/\" "));
		imap_buf_mailbox(s, &line, m->name);
		if (childinfo && !lsub)
			(void)buf_append_slice(&line,
			    SLICE_LIT(" (\"CHILDINFO\" (\"SUBSCRIBED\"))"));
		(void)buf_append_slice(&line, SLICE_LIT("\r\n"));
		imap_write(s, line.p, line.len);
		if ((ret & RET_STATUS) && !m->nonexistent)
			(void)write_status(s, m->name, status_items);
	}
	buf_clear(&full);
	buf_clear(&line);
	mbox_list_free(&l);
	imap_cmd_finish(s, "OK", "%s completed", lsub ? "LSUB" : "LIST");
}

void
cmd_list(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *a = cmd->args, *p;
	unsigned sel = 0, ret = 0, status_items = 0;
	char *ref, **pats;
	size_t n_pats = 0;
	struct slice str;

	if (a != NULL && a->type == IMAP_ARG_LIST) {
		for (p = a->list; p != NULL; p = p->next) {
			if (imap_arg_atom_is(p, "SUBSCRIBED"))
				sel |= SEL_SUBSCRIBED;
			else if (imap_arg_atom_is(p, "RECURSIVEMATCH"))
				sel |= SEL_RECURSIVE;
			else if (imap_arg_atom_is(p, "SPECIAL-USE"))
				sel |= SEL_SPECIAL;
			else if (imap_arg_atom_is(p, "REMOTE"))
				continue;
			else {
				imap_cmd_finish(s, "BAD",
				    "Unknown selection option");
				return;
			}
		}
		if ((sel & SEL_RECURSIVE) && !(sel & ~SEL_RECURSIVE)) {
			imap_cmd_finish(s, "BAD",
			    "RECURSIVEMATCH needs another option");
			return;
		}
		a = a->next;
	}
	if (a == NULL || a->next == NULL) {
		imap_cmd_finish(s, "BAD", "LIST reference pattern");
		return;
	}
	ref = arg_pattern(s, a);
	a = a->next;
	pats = arena_alloc(s->cmd_arena,
	    (a->type == IMAP_ARG_LIST ? a->n + 1 : 1) * sizeof(char *));
	if (ref == NULL || pats == NULL) {
		imap_cmd_finish(s, "BAD", "Invalid reference");
		return;
	}
	if (a->type == IMAP_ARG_LIST) {
		for (p = a->list; p != NULL; p = p->next)
			if ((pats[n_pats++] = arg_pattern(s, p)) == NULL) {
				imap_cmd_finish(s, "BAD", "Invalid pattern");
				return;
			}
	} else {
		if ((pats[n_pats++] = arg_pattern(s, a)) == NULL) {
			imap_cmd_finish(s, "BAD", "Invalid pattern");
			return;
		}
	}
	a = a->next;
	if (a != NULL) {
		if (!imap_arg_atom_is(a, "RETURN") || a->next == NULL ||
		    a->next->type != IMAP_ARG_LIST || a->next->next != NULL) {
			imap_cmd_finish(s, "BAD", "Invalid LIST arguments");
			return;
		}
		for (p = a->next->list; p != NULL; p = p->next) {
			if (imap_arg_atom_is(p, "SUBSCRIBED"))
				ret |= RET_SUBSCRIBED;
			else if (imap_arg_atom_is(p, "CHILDREN"))
				ret |= RET_CHILDREN;
			else if (imap_arg_atom_is(p, "SPECIAL-USE"))
				ret |= RET_SPECIAL;
			else if (imap_arg_atom_is(p, "STATUS")) {
				if (!parse_status_items(p->next,
				        &status_items)) {
					imap_cmd_finish(s, "BAD",
					    "Invalid STATUS items");
					return;
				}
				ret |= RET_STATUS;
				p = p->next;
			} else {
				imap_cmd_finish(s, "BAD",
				    "Unknown return option");
				return;
			}
		}
		if (status_items & ST_HIGHESTMODSEQ)
			imap_condstore_enable(s);
	}
	/* RFC 9051 §6.3.9: an empty pattern asks for the delimiter. */
	if (n_pats == 1 && pats[0][0] == '\0' &&
	    cmd->args->type != IMAP_ARG_LIST) {
		(void)imap_arg_string(cmd->args, &str);
		imap_printf(s, "* LIST (\\Noselect) \"/\" \"\"\r\n");
		imap_cmd_finish(s, "OK", "LIST completed");
		return;
	}
	list_run(s, ref, pats, n_pats, sel, ret, status_items, false);
}

void
cmd_lsub(struct imap_session *s, const struct imap_command *cmd)
{
	char *ref, *pat;

	if (cmd->n_args != 2 || (ref = arg_pattern(s, cmd->args)) == NULL ||
	    (pat = arg_pattern(s, cmd->args->next)) == NULL) {
		imap_cmd_finish(s, "BAD", "LSUB reference pattern");
		return;
	}
	if (pat[0] == '\0') {
		imap_printf(s, "* LSUB (\\Noselect) \"/\" \"\"\r\n");
		imap_cmd_finish(s, "OK", "LSUB completed");
		return;
	}
	list_run(s, ref, &pat, 1, SEL_SUBSCRIBED, 0, 0, true);
}

/* --- CLOSE / UNSELECT ------------------------------------------------------
 */

static void
close_done(void *ctx, const struct store_op_result *res)
{
	struct imap_session *s = ctx;

	unselect(s);
	if (res->status != 0)
		log_warn(&s->log, "event=close-expunge-failed err=\"%s\"",
		    res->err.msg);
	imap_cmd_finish(s, "OK", "CLOSE completed");
}

void
cmd_close(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	if (s->view->readonly) {
		unselect(s);
		imap_cmd_finish(s, "OK", "CLOSE completed");
		return;
	}
	/* Silently (RFC 9051 §6.4.1: no EXPUNGE responses). */
	if (store_expunge(s->st, s->view->mailbox_id, NULL, 0, close_done, s) !=
	    0) {
		unselect(s);
		imap_cmd_finish(s, "OK", "CLOSE completed");
	}
}

void
cmd_unselect(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	unselect(s);
	imap_cmd_finish(s, "OK", "UNSELECT completed");
}

/* --- QUOTA (RFC 9208) ------------------------------------------------------
 */

static int
write_quota(struct imap_session *s)
{
	uint64_t bytes = 0, msgs = 0;
	struct err err = { 0 };
	struct buf b;
	int rc;

	rc = store_user_usage(s->st, s->user_id, &bytes, &msgs, &err);
	if (rc != 0)
		return rc;
	buf_init(&b, 512);
	(void)buf_append_slice(&b, SLICE_LIT("* QUOTA \"\" ("));
	if (s->quota_bytes > 0)
		(void)buf_printf(&b, "STORAGE %llu %llu",
		    (unsigned long long)((bytes + 1023) / 1024),
		    (unsigned long long)(s->quota_bytes / 1024));
	if (s->quota_messages > 0)
		(void)buf_printf(&b, "%sMESSAGE %llu %llu",
		    s->quota_bytes > 0 ? " " : "", (unsigned long long)msgs,
		    (unsigned long long)s->quota_messages);
	(void)buf_append_slice(&b, SLICE_LIT(")\r\n"));
	imap_write(s, b.p, b.len);
	buf_clear(&b);
	return 0;
}

void
cmd_getquotaroot(struct imap_session *s, const struct imap_command *cmd)
{
	const char *name =
	    cmd->n_args == 1 ? imap_arg_mailbox(s, cmd->args) : NULL;
	struct store_mailbox_status st;
	struct err err = { 0 };
	int rc;

	if (name == NULL) {
		imap_cmd_finish(s, "BAD", "GETQUOTAROOT mailbox");
		return;
	}
	rc = store_mailbox_status(s->st, s->user_id, name, &st, &err);
	if (rc != 0) {
		store_error(s, rc, &err);
		return;
	}
	imap_printf(s, "* QUOTAROOT ");
	imap_write_mailbox(s, name);
	imap_printf(s, " \"\"\r\n");
	if ((rc = write_quota(s)) != 0) {
		store_error(s, rc, NULL);
		return;
	}
	imap_cmd_finish(s, "OK", "GETQUOTAROOT completed");
}

void
cmd_getquota(struct imap_session *s, const struct imap_command *cmd)
{
	struct slice root;
	int rc;

	if (cmd->n_args != 1 || !imap_arg_string(cmd->args, &root)) {
		imap_cmd_finish(s, "BAD", "GETQUOTA root");
		return;
	}
	if (root.len != 0) {
		imap_cmd_finish(s, "NO", "[NONEXISTENT] No such quota root");
		return;
	}
	if ((rc = write_quota(s)) != 0) {
		store_error(s, rc, NULL);
		return;
	}
	imap_cmd_finish(s, "OK", "GETQUOTA completed");
}

void
cmd_setquota(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	imap_cmd_finish(s, "NO",
	    "[CANNOT] Quota limits are set by the administrator");
}
