/* SPDX-License-Identifier: MIT */
/* The self-signed certificate `despatch init` makes for STARTTLS. */
#ifndef DESPATCH_CLI_CERT_H
#define DESPATCH_CLI_CERT_H

#include "lib/err.h"

/* Makes a P-256 key (key_path, mode 0600) and a self-signed certificate
 * for hostname (cert_path, 0644): CN and subjectAltName = hostname (an
 * IP address gets an IP SAN), valid for 10 years, serverAuth. Existing
 * files are replaced. 0 or ERR_TEMP / ERR_INTERNAL with err set. */
int cli_cert_generate(const char *hostname, const char *cert_path,
    const char *key_path, struct err *err);

#endif
