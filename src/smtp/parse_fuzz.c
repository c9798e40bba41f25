/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the SMTP command parser and the DATA scanner: the
 * input is one command line's arguments (MAIL, then RCPT), then fed to
 * the DATA scanner in two pieces. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/data.h"
#include "smtp/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice in = slice_make(data, size);
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	struct smtp_data d;
	size_t half = size / 2, ol, used;
	char *out;

	if (smtp_parse_mail(in, &m) == SMTP_PARSE_OK &&
	    (m.path.len > SMTP_MAILBOX_MAX || m.path.addr[m.path.len] != '\0' ||
	        strlen(m.envid) > SMTP_ENVID_MAX))
		abort();
	if (smtp_parse_rcpt(in, size & 1, &r) == SMTP_PARSE_OK &&
	    (r.path.len > SMTP_MAILBOX_MAX || r.path.at > r.path.len ||
	        strlen(r.orcpt) > SMTP_ORCPT_MAX ||
	        (r.has_orcpt && strchr(r.orcpt, ';') == NULL)))
		abort();

	out = malloc(SMTP_DATA_OUT_MAX(size));
	smtp_data_init(&d, true);
	if (!smtp_data_push(&d, slice_make(data, half), out, &ol, &used)) {
		if (used != half || ol > SMTP_DATA_OUT_MAX(half))
			abort();
		(void)smtp_data_push(&d, slice_make(data + half, size - half),
		    out, &ol, &used);
	}
	free(out);
	return 0;
}
