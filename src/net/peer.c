/* SPDX-License-Identifier: MIT */
/* Client addresses as the connection caps count them (net/peer.h). */
#include <arpa/inet.h>
#include <string.h>

#include "net/peer.h"

#include "lib/banned.h"

bool
net_peer_is_loopback(const char *peer)
{
	return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
	    strncmp(peer, "::ffff:127.", 11) == 0;
}

size_t
net_peer_key(const char *peer, unsigned char key[NET_PEER_KEY_MAX])
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0xff, 0xff };
	unsigned char a[16];

	if (inet_pton(AF_INET, peer, a) == 1) {
		memcpy(key, a, 4);
		return 4;
	}
	if (inet_pton(AF_INET6, peer, a) != 1)
		return 0;
	if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
		memcpy(key, a + 12, 4);
		return 4;
	}
	memcpy(key, a, 8);
	return 8;
}

bool
net_peer_same(const unsigned char *ka, size_t la, const char *pa,
    const unsigned char *kb, size_t lb, const char *pb)
{
	if (la != lb)
		return false;
	return la > 0 ? memcmp(ka, kb, la) == 0 : strcmp(pa, pb) == 0;
}

const char *
net_peer_over_cap(size_t all, size_t same, size_t max_all, size_t max_same,
    bool exempt_same)
{
	if (all > max_all)
		return "too-many-connections";
	if (!exempt_same && same > max_same)
		return "too-many-connections-from-address";
	return NULL;
}
