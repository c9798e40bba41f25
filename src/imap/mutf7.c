/* SPDX-License-Identifier: MIT */
/* Placeholder until its owner writes it. */
#include "imap/mutf7.h"
