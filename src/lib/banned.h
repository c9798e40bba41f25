/* SPDX-License-Identifier: MIT */
/* Included last in every .c: poisons functions with unbounded or
 * ambiguous semantics. Use str_fmt, str_copy and num_parse_u64 instead. */
#ifndef DESPATCH_LIB_BANNED_H
#define DESPATCH_LIB_BANNED_H

#pragma GCC poison strcpy strcat sprintf vsprintf gets strtok atoi strncpy

#endif
