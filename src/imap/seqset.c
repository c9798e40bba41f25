/* SPDX-License-Identifier: MIT */
/* Placeholder until its owner writes it. */
#include "imap/seqset.h"
