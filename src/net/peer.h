/* SPDX-License-Identifier: MIT */
/* Client addresses as the connection caps of SMTP and IMAP count them. */
#ifndef DESPATCH_NET_PEER_H
#define DESPATCH_NET_PEER_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of the longest key net_peer_key makes. */
#define NET_PEER_KEY_MAX 16

/* Whether peer (a numeric address as net_conn reports it) is loopback:
 * 127.0.0.0/8, ::1, or 127.x mapped into IPv6. */
bool net_peer_is_loopback(const char *peer);

/* The part of peer the per-address cap counts, into key: an IPv4 address
 * (v4-mapped too), or an IPv6 address's /64, since one subscriber usually
 * holds a whole /64 (RFC 6177) and counting /128s would give it 2^64
 * caps. Returns the key's length, 4 or 8; 0 if peer is not a numeric
 * address (net_peer_same then compares the strings). */
size_t net_peer_key(const char *peer, unsigned char key[NET_PEER_KEY_MAX]);

/* Whether two peers count as the same client address: their keys (as
 * net_peer_key made them) are equal, or, with no key, their strings. */
bool net_peer_same(const unsigned char *ka, size_t la, const char *pa,
    const unsigned char *kb, size_t lb, const char *pb);

/* The connection caps' verdict on a new session: all open sessions of the
 * server and same of them from its client address, the new one counted in
 * both. exempt_same: the per-address cap does not apply (a loopback peer
 * unless the config limits loopback too). NULL if the session may stay,
 * else the reason to log and refuse it with. */
const char *net_peer_over_cap(size_t all, size_t same, size_t max_all,
    size_t max_same, bool exempt_same);

#endif
