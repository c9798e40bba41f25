/* SPDX-License-Identifier: MIT */
/* Built-in configuration defaults. */
#include <string.h>

#include "config.h"
#include "str.h"

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	(void)str_copy(c->hostname, sizeof(c->hostname), "localhost");
	(void)str_copy(c->log_level, sizeof(c->log_level), "info");
	c->smtp_max_message_size = 50ULL * 1024 * 1024;
	c->smtp_max_recipients = 1000;
	c->smtp_max_errors = 10;
	c->smtp_timeout_seconds = 300;
	c->smtp_reject_bare_lf = false;
	c->blob_gc_grace_seconds = 24 * 3600;
	c->commit_batch_max = 256;
	c->imap_login_timeout_seconds = 60;
}
