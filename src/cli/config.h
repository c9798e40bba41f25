/* SPDX-License-Identifier: MIT */
/* DATA/despatch.conf (libconfig syntax): the parser that fills struct
 * config (lib/config.h) and the writer `despatch init` uses. */
#ifndef DESPATCH_CLI_CONFIG_H
#define DESPATCH_CLI_CONFIG_H

#include "lib/config.h"
#include "lib/err.h"
#include "imap/limits.h"
#include "smtp/limits.h"

#define CLI_CONFIG_FILE "despatch.conf"

/* Ranges of config values; the caps are those of smtp/limits.h, which a
 * config value may lower but never exceed (STYLE.md §8). */
#define CLI_CONFIG_MESSAGE_SIZE_MIN (1ULL << 10)     /* 1 KiB */
#define CLI_CONFIG_MESSAGE_SIZE_CAP SMTP_MESSAGE_MAX /* 1 GiB */
#define CLI_CONFIG_RECIPIENTS_CAP   SMTP_RCPT_MAX
#define CLI_CONFIG_ERRORS_CAP       SMTP_ERRORS_MAX
#define CLI_CONFIG_TIMEOUT_MIN      10
#define CLI_CONFIG_TIMEOUT_CAP      SMTP_TIMEOUT_MAX
#define CLI_CONFIG_GC_GRACE_MIN     60
#define CLI_CONFIG_GC_GRACE_CAP     (366ULL * 24 * 3600)
#define CLI_CONFIG_BATCH_CAP        4096
#define CLI_CONFIG_QUOTA_BYTES_CAP  (1ULL << 50) /* 1 PiB */
#define CLI_CONFIG_QUOTA_MESSAGES_CAP 1000000000ULL
#define CLI_CONFIG_IMAP_LOGIN_TIMEOUT_CAP (IMAP_TIMEOUT_PREAUTH_MS / 1000)
#define CLI_CONFIG_PER_HOUR_CAP     1000000
#define CLI_CONFIG_RETRY_CAP        (24U * 3600)	/* a day between tries */
#define CLI_CONFIG_LIFETIME_CAP     (30ULL * 24 * 3600) /* 30 days */
#define CLI_CONFIG_CONNECTIONS_CAP  1000
#define CLI_CONFIG_OUTBOUND_TIMEOUT_CAP 3600

/* Reads DATA/despatch.conf: config_defaults, then every setting of the
 * file, each checked against its type and range. data_dir is made
 * absolute; relative TLS paths are taken relative to it. 0, or ERR_INPUT
 * (bad syntax, bad value, unknown setting: err says "file:line: setting:
 * what is wrong"), ERR_NOTFOUND (no config file) or ERR_TEMP. */
int cli_config_load(const char *data_dir, struct config *out, struct err *err);

/* The same on a string (for tests); `name` stands for the file name in
 * messages, data_dir is used as given. */
int cli_config_parse_string(const char *text, const char *name,
    const char *data_dir, struct config *out, struct err *err);

/* Writes c as a commented config file at path: every setting with its
 * default and cap, every listener (those this version does not serve yet
 * commented out, on their standard port + port_offset). The file appears
 * atomically and never replaces an existing one: ERR_EXISTS then. 0,
 * ERR_EXISTS or ERR_TEMP. */
int cli_config_write(const struct config *c, unsigned port_offset,
    const char *path, struct err *err);

/* Name of a listener kind as written in the file ("smtp", "imaps"...). */
const char *cli_listener_kind_name(enum listener_kind k);
/* Standard port of a listener kind (25, 587, 465, 143, 993). */
unsigned cli_listener_std_port(enum listener_kind k);

/* Checks a hostname (letters, digits, hyphens, dots; labels 1-63, total
 * <= 253). */
bool cli_hostname_ok(const char *h);
/* Checks a numeric IPv4 or IPv6 address. */
bool cli_addr_ok(const char *a);
/* A route or smarthost host: "name", "name:port", "[ip]", "[ip]:port" or
 * a numeric address. */
bool cli_route_host_ok(const char *h);

#endif
