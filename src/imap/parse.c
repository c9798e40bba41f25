/* SPDX-License-Identifier: MIT */
/* Placeholder until its owner writes it. */
#include "imap/parse.h"
