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
	c->smtp_max_connections = 1000;
	c->smtp_max_connections_per_ip = 50;
	c->smtp_limit_loopback = false;
	c->smtp_data_time_seconds = 300;
	c->imap_max_connections = 1000;
	c->imap_max_connections_per_ip = 50;
	c->imap_limit_loopback = false;
	c->imap_command_time_seconds = 300;
	c->blob_gc_grace_seconds = 24 * 3600;
	c->commit_batch_max = 256;
	c->imap_login_timeout_seconds = 60;
	c->submission_max_messages_per_hour = 1000;
	c->submission_max_recipients_per_hour = 5000;
	c->queue_retry_min_seconds = 300;
	c->queue_retry_max_seconds = 3600;
	c->queue_lifetime_seconds = 5 * 24 * 3600;
	c->queue_delay_notice_seconds = 4 * 3600;
	c->queue_max_connections = 20;
	c->outbound_port = 25;
	c->outbound_connect_timeout_seconds = 30;
	c->outbound_timeout_seconds = 300;
	c->outbound_starttls = true;
}
