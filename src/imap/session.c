/* SPDX-License-Identifier: MIT */
/* Placeholder until its owner writes it. */
#include "imap/imap_int.h"
