/* SPDX-License-Identifier: MIT */
/* The pure parts of SORT and THREAD (RFC 5256, RFC 5957): sort keys and
 * their comparison, the REFERENCES and ORDEREDSUBJECT threading
 * algorithms, and the "(1 2)(3 (4)(5))" output. No I/O and no session:
 * cmd_search.c extracts the header fields, these functions order them;
 * search_test.c tests them over plain arrays. Internal to src/imap. */
#ifndef DESPATCH_IMAP_SEARCH_THREAD_H
#define DESPATCH_IMAP_SEARCH_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/slice.h"

/* One message as SORT and THREAD see it. Slices are borrowed from the
 * caller for the duration of the call. */
struct sort_msg {
	uint32_t id;     /* what is printed: sequence number or UID */
	uint32_t seq;    /* sequence number: the final tie-breaker */
	int64_t arrival; /* INTERNALDATE, unix seconds */
	int64_t date;    /* sent date (Date:), INTERNALDATE when absent or
	                  * unparsable (RFC 5256 §2.2) */
	uint64_t size;
	struct slice subject;      /* base subject (RFC 5256 §2.1), folded */
	bool is_reply;             /* the subject had Re:/Fwd:/(fwd) removed */
	struct slice from, to, cc; /* first mailbox's local part, folded */
	struct slice displayfrom, displayto; /* RFC 5957, folded */
	struct slice message_id;  /* between "<" and ">", may be empty */
	struct slice references;  /* raw References: value, may be empty */
	struct slice in_reply_to; /* raw In-Reply-To: value, may be empty */
};

enum sort_key {
	SORT_ARRIVAL,
	SORT_CC,
	SORT_DATE,
	SORT_FROM,
	SORT_SIZE,
	SORT_SUBJECT,
	SORT_TO,
	SORT_DISPLAYFROM,
	SORT_DISPLAYTO,
};

/* One criterion of a SORT program; REVERSE sets reverse. */
struct sort_crit {
	enum sort_key key;
	bool reverse;
};

/* Sorts order[0..n) (indices into msgs) by the criteria, ties broken by
 * ascending sequence number (RFC 5256 §3). Stable merge sort: scratch
 * of n entries is allocated (xmalloc) and freed. */
void sort_msgs(const struct sort_msg *msgs, uint32_t *order, size_t n,
    const struct sort_crit *crit, size_t n_crit);

/* RFC 5256 §2.1 reply detection on a decoded subject: after leading
 * whitespace and "[blob]" prefixes, "re", "fw" or "fwd" (any case) and
 * an optional "[blob]" before ":", or a trailing "(fwd)". */
bool subject_is_reply(struct slice subject);

/* The first "<...>" of a Message-ID/In-Reply-To value, without the
 * brackets and surrounding whitespace; empty when there is none. */
struct slice msgid_first(struct slice value);
/* Iterates the "<...>" ids of a References value: *pos starts at 0;
 * true and the next id, false at the end. */
bool msgid_next(struct slice value, size_t *pos, struct slice *id_out);

/* Threads msgs[0..n) with RFC 5256 §2.5 REFERENCES (thread_references)
 * or §2.4 ORDEREDSUBJECT and appends the thread list ("(1 2)(3 (4)(5))",
 * no "* THREAD" prefix) to out. Every message given is in the result.
 * Iterative throughout: reference chains of any depth are safe.
 * 0, or ERR_LIMIT when out is full. */
int thread_references(const struct sort_msg *msgs, size_t n, struct buf *out);
int thread_orderedsubject(const struct sort_msg *msgs, size_t n,
    struct buf *out);

#endif
