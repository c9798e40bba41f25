/* SPDX-License-Identifier: MIT */
/* The skeleton blob format (internal to store/msg): what ingest.c writes
 * and reader.c reads back to reassemble a message byte-exact.
 *
 * Version 1. A skeleton is "DSKL", a version byte, then records, each a
 * type byte and fields (integers are unsigned LEB128 varints, at most 10
 * bytes; ids are the 32 raw bytes of a blob id):
 *   LIT  0x01  len, len bytes   literal message bytes (header fields, blank
 *                               lines, boundary lines with the line break
 *                               before them, preamble, epilogue); len is at
 *                               most SKEL_LIT_MAX, longer runs are a RAW blob
 *   RAW  0x02  id, size         a blob copied out as stored
 *   B64  0x03  id, size, line_len, trail
 *                               a blob of decoded content, re-encoded as
 *                               base64 in lines of line_len then `trail`
 *                               CRLFs (lib/codec.h b64_encoder)
 *   QP   0x04  id, size, line_len
 *                               decoded content re-encoded by the canonical
 *                               quoted-printable encoder (qp_encoder)
 *   END  0x00  total            the message's size in bytes; nothing after
 * `size` is the blob's content size, a cross-check for readers. Readers
 * reject an unknown version or record type (never guess). */
#ifndef DESPATCH_STORE_MSG_SKELETON_H
#define DESPATCH_STORE_MSG_SKELETON_H

#include <stddef.h>
#include <stdint.h>

#define SKEL_MAGIC    "DSKL"
#define SKEL_VERSION  1
#define SKEL_HEAD_LEN 5

enum skel_rec {
	SKEL_END = 0x00,
	SKEL_LIT = 0x01,
	SKEL_RAW = 0x02,
	SKEL_B64 = 0x03,
	SKEL_QP = 0x04,
};

/* Longest literal run kept inside the skeleton; a longer one (a huge
 * preamble, a header block near its 1 MiB limit) goes to a RAW blob, so a
 * skeleton stays small whatever the message. */
#define SKEL_LIT_MAX (64 * 1024)

#define SKEL_VARINT_MAX 10

/* Writes v as a varint into out (SKEL_VARINT_MAX bytes); returns length. */
static inline size_t
skel_varint_put(unsigned char *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (unsigned char)v;
	return n;
}

#endif
