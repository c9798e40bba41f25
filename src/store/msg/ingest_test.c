/* SPDX-License-Identifier: MIT */
/* Unit tests for ingest and reassembly over an in-memory blob store
 * (fake_blob.c): byte-exact round trips of many shapes fed split at every
 * byte (or many points for large ones), decoded-vs-raw storage decisions,
 * de-duplication across base64 wrappings, the summary, and limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/buf.h"
#include "lib/codec.h"
#include "lib/mem.h"
#include "mime/limits.h"
#include "store/ingest.h"
#include "store/msg/fake_blob.h"

static uint32_t rng_state = 777;

static uint32_t
rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

static void
random_bytes(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rng();
}

/* Appends data base64-encoded in lines of line_len, then trail CRLFs. */
static void
put_b64(struct buf *b, const void *data, size_t n, unsigned line_len,
    unsigned trail)
{
	struct b64_encoder e;
	char *out = xmalloc(b64_encode_bound(n, line_len) + B64_FINISH_MAX);
	size_t w;

	b64_encoder_init(&e, line_len);
	w = b64_encode(&e, data, n, out);
	w += b64_encode_finish(&e, trail, out + w);
	assert_int_equal(buf_append(b, out, w), 0);
	free(out);
}

static void
put_qp(struct buf *b, const void *data, size_t n)
{
	struct qp_encoder e;
	char *out = xmalloc(qp_encode_bound(n));
	size_t w;

	qp_encoder_init(&e, CODEC_QP_LINE_LEN);
	w = qp_encode(&e, data, n, out);
	w += qp_encode_finish(&e, out + w);
	assert_int_equal(buf_append(b, out, w), 0);
	free(out);
}

static void
put(struct buf *b, const char *s)
{
	assert_int_equal(buf_append(b, s, strlen(s)), 0);
}

/* Pushes msg cut at the given offsets; returns ingest_push/finish's rc. */
static int
ingest_cut(struct blob_stage *st, const char *msg, size_t len,
    const size_t *cuts, size_t ncuts, struct blob_id *skel_out,
    struct ingest **in_out)
{
	struct ingest *in = ingest_new(st);
	struct err err = { 0 };
	uint64_t size = 0;
	size_t off = 0, end, i;
	int rc = 0;

	for (i = 0; i <= ncuts && rc == 0; i++) {
		end = i < ncuts ? cuts[i] : len;
		rc = ingest_push(in, msg + off, end - off, &err);
		off = end;
	}
	if (rc == 0) {
		rc = ingest_finish(in, skel_out, &size, &err);
		if (rc == 0)
			assert_int_equal(size, len);
	}
	if (in_out != NULL && rc == 0)
		*in_out = in;
	else
		ingest_free(&in);
	assert_int_equal(fake_stage_open_writers(st), 0);
	return rc;
}

static void
read_back(struct blob_stage *st, const struct blob_id *skel, size_t chunk,
    struct buf *out)
{
	struct msg_reader *r;
	struct err err = { 0 };
	char *tmp = xmalloc(chunk);
	size_t n;

	assert_int_equal(msg_reader_open(NULL, st, skel, &r, &err), 0);
	for (;;) {
		assert_int_equal(msg_reader_read(r, tmp, chunk, &n, &err), 0);
		if (n == 0)
			break;
		assert_int_equal(buf_append(out, tmp, n), 0);
	}
	assert_int_equal(msg_reader_read(r, tmp, chunk, &n, &err), 0);
	assert_int_equal(n, 0);
	msg_reader_close(&r);
	assert_null(r);
	free(tmp);
}

struct idset {
	struct blob_id v[64];
	size_t n;
};

static void
collect(void *ctx, const struct blob_id *id)
{
	struct idset *s = ctx;

	for (size_t i = 0; i < s->n; i++)
		if (memcmp(&s->v[i], id, sizeof(*id)) == 0)
			return;
	assert_true(s->n < 64);
	s->v[s->n++] = *id;
}

/* One ingest of msg with the given cuts, checked: reassembly equals msg
 * read in pieces of `chunk`, refs of the skeleton equal ingest_parts. */
static void
roundtrip_once(struct blob_stage *st, const struct buf *msg, const size_t *cuts,
    size_t ncuts, size_t chunk)
{
	struct ingest *in = NULL;
	struct blob_id skel;
	struct buf out;
	struct idset refs = { .n = 0 };
	struct err err = { 0 };
	const struct blob_id *parts;
	size_t nparts, i;

	assert_int_equal(ingest_cut(st, msg->p, msg->len, cuts, ncuts, &skel,
	                     &in),
	    0);
	buf_init(&out, (size_t)1 << 32);
	read_back(st, &skel, chunk, &out);
	if (out.len != msg->len ||
	    (msg->len > 0 && memcmp(out.p, msg->p, msg->len) != 0))
		fail_msg("reassembly differs (len %zu vs %zu)", out.len,
		    msg->len);
	buf_clear(&out);
	parts = ingest_parts(in, &nparts);
	assert_int_equal(msg_skeleton_refs((struct store *)st, &skel, collect,
	                     &refs, &err),
	    0);
	if (nparts <= 64) {
		assert_int_equal(refs.n, nparts);
		for (i = 0; i < nparts; i++)
			assert_memory_equal(&refs.v[i], &parts[i],
			    sizeof(parts[i]));
	}
	ingest_free(&in);
	assert_int_equal(fake_stage_open_writers(st), 0);
}

/* Round trip whole, at every split point (or `points` spread ones), and
 * in pushes of several fixed sizes. Returns a stage holding one ingest. */
static struct blob_stage *
roundtrip(const struct buf *msg, size_t points)
{
	struct blob_stage *st;
	size_t cut, step, ncuts, i, *cuts;
	static const size_t steps[] = { 1, 2, 3, 7, 64, 1000, 4096, 65536 };

	for (cut = 0; cut <= msg->len;
	     cut += points == 0 ? 1 : msg->len / points + 1) {
		st = fake_stage_new();
		roundtrip_once(st, msg, &cut, 1, 1 + cut % 5000);
		fake_stage_free(&st);
	}
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		step = steps[i];
		if (points != 0 && step < 64 && msg->len > 200000)
			continue;
		ncuts = msg->len / step;
		cuts = xmalloc((ncuts + 1) * sizeof(*cuts));
		for (size_t k = 0; k < ncuts; k++)
			cuts[k] = (k + 1) * step;
		st = fake_stage_new();
		roundtrip_once(st, msg, cuts, ncuts, step);
		fake_stage_free(&st);
		free(cuts);
	}
	st = fake_stage_new();
	roundtrip_once(st, msg, NULL, 0, 65536);
	return st;
}

static void
expect_roundtrip(const char *s)
{
	struct buf b;
	struct blob_stage *st;

	buf_init(&b, 1 << 20);
	put(&b, s);
	st = roundtrip(&b, 0);
	fake_stage_free(&st);
	buf_clear(&b);
}

static void
test_shapes(void **state)
{
	(void)state;
	expect_roundtrip("");
	expect_roundtrip(
	    "From: a@b\r\nSubject: plain\r\n\r\nHello\r\nworld\r\n");
	expect_roundtrip("\r\nno header\r\n");
	expect_roundtrip("Subject: x\r\nbody without blank line\r\n");
	expect_roundtrip("Subject: no newline at all");
	expect_roundtrip("Content-Type: multipart/alternative; boundary=a\r\n"
	                 "\r\npre\r\n--a\r\nContent-Type: text/plain\r\n\r\n"
	                 "plain\r\n--a\r\nContent-Type: text/html\r\n\r\n"
	                 "<p>html</p>\r\n--a--\r\nepilogue\r\n");
	expect_roundtrip("Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	                 "--o\r\nContent-Type: multipart/alternative; "
	                 "boundary=i\r\n\r\n--i\r\n\r\nt\r\n--i--\r\n--o\r\n"
	                 "Content-Transfer-Encoding: base64\r\n\r\n"
	                 "aGVsbG8=\r\n--o--");
	expect_roundtrip("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	                 "--b\r\n\r\nmissing close\r\n");
	expect_roundtrip("Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	                 "Content-Transfer-Encoding: base64\n\naGVsbG8=\n"
	                 "--b--\n");
	expect_roundtrip("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	                 "--b\r\n--b\r\n\r\n--b--\r\n");
	expect_roundtrip("Content-Transfer-Encoding: base64\r\n\r\n");
	expect_roundtrip("Content-Transfer-Encoding: base64\r\n\r\n\r\n");
	expect_roundtrip("Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	                 "soft=\r\nbreak=3d lower\r\ntrailing \r\n");
	expect_roundtrip("Content-Transfer-Encoding: base64\r\n\r\n"
	                 "aGVsbG8gd29ybGQ=");
}

/* A multipart message with one base64 attachment of payload. */
static void
build_b64_msg(struct buf *b, const char *from, const void *payload, size_t n,
    unsigned line_len, unsigned trail)
{
	put(b, "From: ");
	put(b, from);
	put(b,
	    "\r\nSubject: report\r\nContent-Type: multipart/mixed; "
	    "boundary=\"==b\"\r\n\r\n--==b\r\nContent-Type: text/plain\r\n"
	    "\r\nSee attached.\r\n--==b\r\nContent-Type: application/pdf\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	put_b64(b, payload, n, line_len, trail);
	put(b, "\r\n--==b--\r\n");
}

static void
test_base64_wrappings_stored_decoded(void **state)
{
	static const unsigned lens[] = { 76, 72, 64 };
	unsigned char payload[1500];
	struct blob_stage *st;
	struct buf b;
	size_t i;
	unsigned trail;

	(void)state;
	random_bytes(payload, sizeof(payload));
	for (i = 0; i < 3; i++) {
		for (trail = 0; trail <= 2; trail++) {
			buf_init(&b, 1 << 20);
			build_b64_msg(&b, "a@example.test", payload,
			    sizeof(payload) - i, lens[i], trail);
			st = roundtrip(&b, trail == 1 ? 0 : 300);
			assert_true(
			    fake_stage_has(st, payload, sizeof(payload) - i));
			fake_stage_free(&st);
			buf_clear(&b);
		}
	}
}

static void
test_base64_broken_stored_raw(void **state)
{
	unsigned char payload[600];
	struct blob_stage *st;
	struct buf b, enc;
	size_t k;

	(void)state;
	random_bytes(payload, sizeof(payload));
	buf_init(&enc, 1 << 20);
	put_b64(&enc, payload, sizeof(payload), 76, 1);
	for (k = 0; k < 5; k++) {
		buf_init(&b, 1 << 20);
		put(&b, "Content-Transfer-Encoding: base64\r\n\r\n");
		put(&b, enc.p);
		switch (k) {
		case 0: /* a short line in the middle */
			memmove(b.p + 200, b.p + 201, b.len - 201);
			b.len--;
			break;
		case 1: /* a character outside the alphabet */
			b.p[100] = '*';
			break;
		case 2: /* a space at the end */
			put(&b, " ");
			break;
		case 3: /* LF line ends */
			for (size_t j = 37; j < b.len; j++)
				if (b.p[j] == '\r')
					b.p[j] = ' ';
			break;
		case 4: /* mismatch only in the last line */
			b.len -= 2;
			put(&b, " \r\n");
			break;
		}
		b.p[b.len] = '\0';
		st = roundtrip(&b, 0);
		/* raw: the stored part is the body as received */
		assert_true(fake_stage_has(st, b.p + 37, b.len - 37));
		assert_false(fake_stage_has(st, payload, sizeof(payload)));
		fake_stage_free(&st);
		buf_clear(&b);
	}
	buf_clear(&enc);
}

static void
test_qp_canonical_and_not(void **state)
{
	static const char text[] =
	    "Caf\xc3\xa9 = coffee, a line long enough to need a soft break "
	    "because it runs past seventy-six characters\r\ntrailing space "
	    "\r\n\tindented\r\nend";
	static const char hdr[] = "Content-Type: text/plain; charset=utf-8\r\n"
	                          "Content-Transfer-Encoding: quoted-printable"
	                          "\r\n\r\n";
	struct blob_stage *st;
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	put(&b, hdr);
	put_qp(&b, text, strlen(text));
	st = roundtrip(&b, 0);
	assert_true(fake_stage_has(st, text, strlen(text)));
	fake_stage_free(&st);
	buf_clear(&b);

	buf_init(&b, 1 << 20); /* lower-case hex: kept raw */
	put(&b, hdr);
	put(&b, "caf=c3=a9\r\n");
	st = roundtrip(&b, 0);
	assert_true(fake_stage_has(st, "caf=c3=a9\r\n", 11));
	fake_stage_free(&st);
	buf_clear(&b);
}

static void
test_large_parts(void **state)
{
	size_t n = 300 * 1024, i;
	unsigned char *payload = xmalloc(n);
	struct blob_stage *st;
	struct buf b;

	(void)state;
	random_bytes(payload, n);
	/* canonical: the raw copy spills past the tee and is dropped */
	buf_init(&b, 4 << 20);
	build_b64_msg(&b, "big@example.test", payload, n, 76, 1);
	st = roundtrip(&b, 40);
	assert_true(fake_stage_has(st, payload, n));
	assert_true(fake_stage_bytes(st) < n + 2000);
	assert_true(fake_stage_max_open(st) <= 3);
	fake_stage_free(&st);
	/* non-canonical near the end: falls back to the spilled raw copy */
	b.p[b.len - 20] = ' ';
	st = roundtrip(&b, 40);
	assert_false(fake_stage_has(st, payload, n));
	fake_stage_free(&st);
	buf_clear(&b);

	/* a huge preamble and header spill into raw blobs */
	buf_init(&b, 8 << 20);
	put(&b, "Subject: big\r\n");
	for (i = 0; i < 20; i++)
		assert_int_equal(buf_printf(&b, "X-Pad-%zu: %040000d\r\n", i,
		                     0),
		    0);
	put(&b, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (i = 0; i < 4000; i++)
		put(&b,
		    "preamble text line, long enough to add up quickly\r\n");
	put(&b, "--b\r\n\r\nx\r\n--b--\r\n");
	st = roundtrip(&b, 30);
	fake_stage_free(&st);
	buf_clear(&b);
	free(payload);
}

static void
test_dedup_across_wrappings(void **state)
{
	static const unsigned lens[] = { 76, 72, 64, 76 };
	static const char *const from[] = { "a@x.test", "b@y.test", "c@z.test",
		"d@w.test" };
	size_t n = 50 * 1024, i, before, blobs;
	unsigned char *payload = xmalloc(n);
	struct blob_stage *st = fake_stage_new();
	struct blob_id skel[4], pid;
	struct ingest *in;
	const struct blob_id *parts;
	size_t nparts, k;
	bool found;
	struct buf b, out;

	(void)state;
	random_bytes(payload, n);
	crypto_generichash(pid.h, BLOB_ID_LEN, payload, n, NULL, 0);
	for (i = 0; i < 4; i++) {
		buf_init(&b, 1 << 20);
		build_b64_msg(&b, from[i], payload, n, lens[i], i == 3 ? 0 : 1);
		before = fake_stage_count(st);
		assert_int_equal(ingest_cut(st, b.p, b.len, NULL, 0, &skel[i],
		                     &in),
		    0);
		parts = ingest_parts(in, &nparts);
		for (found = false, k = 0; k < nparts; k++)
			found |= memcmp(&parts[k], &pid, sizeof(pid)) == 0;
		assert_true(found);
		ingest_free(&in);
		/* after the first: only a new skeleton (text part dedups) */
		if (i > 0)
			assert_int_equal(fake_stage_count(st), before + 1);
		buf_init(&out, 1 << 20);
		read_back(st, &skel[i], 999, &out);
		assert_int_equal(out.len, b.len);
		assert_memory_equal(out.p, b.p, b.len);
		buf_clear(&out);
		buf_clear(&b);
	}
	blobs = fake_stage_count(st);
	assert_int_equal(blobs, 4 + 2); /* 4 skeletons, text, payload once */
	assert_true(fake_stage_bytes(st) < n + 4096);
	fake_stage_free(&st);
	free(payload);
}

static void
test_summary(void **state)
{
	char subj[600];
	struct blob_stage *st = fake_stage_new();
	struct ingest *in;
	struct blob_id skel;
	const struct ingest_summary *s;
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 1 << 20);
	put(&b,
	    "Received: x\r\nFrom: Ann <ann@example.test>\r\nSubject: "
	    "folded\r\n  subject \r\nMessage-ID: <id@x>\r\nDate: Mon, 1 Jan "
	    "2024 00:00:00 +0000\r\nSubject: second\r\nContent-Type: "
	    "multipart/mixed; boundary=b\r\n\r\n--b\r\nFrom: inner\r\n\r\n"
	    "--b--\r\n");
	assert_int_equal(ingest_cut(st, b.p, b.len, NULL, 0, &skel, &in), 0);
	s = ingest_summary(in);
	assert_string_equal(s->from, "Ann <ann@example.test>");
	assert_string_equal(s->subject, "folded  subject");
	assert_string_equal(s->message_id, "<id@x>");
	assert_string_equal(s->date, "Mon, 1 Jan 2024 00:00:00 +0000");
	ingest_free(&in);
	buf_reset(&b);
	/* truncation keeps UTF-8 whole: 'a' then 2-byte characters */
	subj[0] = 'a';
	for (i = 1; i + 2 < sizeof(subj); i += 2)
		memcpy(subj + i, "\xc3\xa9", 2);
	subj[i] = '\0';
	put(&b, "Subject: ");
	put(&b, subj);
	put(&b, "\r\n\r\n");
	assert_int_equal(ingest_cut(st, b.p, b.len, NULL, 0, &skel, &in), 0);
	s = ingest_summary(in);
	assert_int_equal(strlen(s->subject), 255);
	assert_int_equal((unsigned char)s->subject[254], 0xa9);
	assert_string_equal(s->from, "");
	ingest_free(&in);
	buf_clear(&b);
	fake_stage_free(&st);
}

static void
test_limits(void **state)
{
	struct blob_stage *st = fake_stage_new();
	struct blob_id skel;
	struct buf b;
	unsigned d;

	(void)state;
	buf_init(&b, 4 << 20);
	put(&b, "Content-Transfer-Encoding: base64\r\nX-Long: ");
	while (b.len < 36 + MIME_FIELD_MAX + 1)
		put(&b, "a");
	put(&b, "\r\n\r\nQUFB\r\n");
	assert_int_equal(ingest_cut(st, b.p, b.len, NULL, 0, &skel, NULL),
	    ERR_LIMIT);
	buf_reset(&b);
	for (d = 0; d <= MIME_DEPTH_MAX; d++)
		assert_int_equal(buf_printf(&b,
		                     "Content-Type: multipart/mixed;"
		                     " boundary=b%u\r\n\r\nx\r\n"
		                     "--b%u\r\n",
		                     d, d),
		    0);
	put(&b, "\r\nleaf\r\n");
	assert_int_equal(ingest_cut(st, b.p, b.len, NULL, 0, &skel, NULL),
	    ERR_LIMIT);
	/* at the limit it goes through and reassembles */
	buf_reset(&b);
	for (d = 0; d < MIME_DEPTH_MAX; d++)
		assert_int_equal(buf_printf(&b,
		                     "Content-Type: multipart/mixed;"
		                     " boundary=b%u\r\n\r\nx\r\n"
		                     "--b%u\r\n",
		                     d, d),
		    0);
	put(&b, "Content-Transfer-Encoding: base64\r\n\r\nQUFB\r\n");
	fake_stage_free(&st);
	st = roundtrip(&b, 20);
	assert_true(fake_stage_has(st, "AAA", 3));
	fake_stage_free(&st);
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_base64_wrappings_stored_decoded),
		cmocka_unit_test(test_base64_broken_stored_raw),
		cmocka_unit_test(test_qp_canonical_and_not),
		cmocka_unit_test(test_large_parts),
		cmocka_unit_test(test_dedup_across_wrappings),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
