/* SPDX-License-Identifier: MIT */
/* Wall-clock time for the outbound queue (retry times, lifetimes, delay
 * notices), with a test hook: when the environment variable
 * DESPATCH_TEST_CLOCK_FILE names a file, the whole number of seconds
 * written in it (may be negative; missing or unreadable file: 0) is added
 * to the real time, so that a test can move a running server days ahead
 * without waiting. The file is read again on every call. */
#ifndef DESPATCH_LIB_CLOCK_H
#define DESPATCH_LIB_CLOCK_H

#include <stdint.h>

/* Unix seconds, plus the test offset when one is set. */
int64_t clock_now(void);

/* The test offset alone (0 without DESPATCH_TEST_CLOCK_FILE). */
int64_t clock_offset(void);

#endif
