/* SPDX-License-Identifier: MIT */
/* Unit tests of net/peer.c: which clients the per-address caps count as
 * one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "net/peer.h"

static bool
same(const char *a, const char *b)
{
	unsigned char ka[NET_PEER_KEY_MAX], kb[NET_PEER_KEY_MAX];
	size_t la = net_peer_key(a, ka), lb = net_peer_key(b, kb);

	return net_peer_same(ka, la, a, kb, lb, b);
}

static void
test_loopback(void **state)
{
	(void)state;
	assert_true(net_peer_is_loopback("127.0.0.1"));
	assert_true(net_peer_is_loopback("127.255.3.4"));
	assert_true(net_peer_is_loopback("::1"));
	assert_true(net_peer_is_loopback("::ffff:127.0.0.2"));
	assert_false(net_peer_is_loopback("128.0.0.1"));
	assert_false(net_peer_is_loopback("::2"));
	assert_false(net_peer_is_loopback("10.127.0.1"));
}

static void
test_ipv4_whole_address(void **state)
{
	unsigned char k[NET_PEER_KEY_MAX];

	(void)state;
	assert_int_equal(net_peer_key("192.0.2.1", k), 4);
	assert_true(same("192.0.2.1", "192.0.2.1"));
	assert_false(same("192.0.2.1", "192.0.2.2"));
	/* v4-mapped IPv6 is the same client as the IPv4 address. */
	assert_int_equal(net_peer_key("::ffff:192.0.2.1", k), 4);
	assert_true(same("::ffff:192.0.2.1", "192.0.2.1"));
}

static void
test_ipv6_counted_per_64(void **state)
{
	unsigned char k[NET_PEER_KEY_MAX];

	(void)state;
	assert_int_equal(net_peer_key("2001:db8:1:2::1", k), 8);
	/* Any address of one /64 is one client... */
	assert_true(same("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"));
	/* ...the next /64 is another. */
	assert_false(same("2001:db8:1:2::1", "2001:db8:1:3::1"));
}

static void
test_non_numeric_compared_as_strings(void **state)
{
	unsigned char k[NET_PEER_KEY_MAX];

	(void)state;
	assert_int_equal(net_peer_key("unknown", k), 0);
	assert_true(same("unknown", "unknown"));
	assert_false(same("unknown", "other"));
	assert_false(same("unknown", "192.0.2.1"));
}

static void
test_over_cap_at_and_past_each_limit(void **state)
{
	(void)state;
	/* At each limit the session stays; one past it, it is refused. */
	assert_null(net_peer_over_cap(10, 3, 10, 3, false));
	assert_string_equal(net_peer_over_cap(11, 1, 10, 3, false),
	    "too-many-connections");
	assert_string_equal(net_peer_over_cap(5, 4, 10, 3, false),
	    "too-many-connections-from-address");
	/* Exempt from the per-address cap (loopback), not from the total. */
	assert_null(net_peer_over_cap(5, 5, 10, 3, true));
	assert_string_equal(net_peer_over_cap(11, 11, 10, 3, true),
	    "too-many-connections");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_ipv4_whole_address),
		cmocka_unit_test(test_ipv6_counted_per_64),
		cmocka_unit_test(test_non_numeric_compared_as_strings),
		cmocka_unit_test(test_over_cap_at_and_past_each_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
