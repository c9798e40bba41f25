/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"

#include "lib/banned.h"

int64_t
clock_offset(void)
{
	const char *path = getenv("DESPATCH_TEST_CLOCK_FILE");
	char buf[32];
	ssize_t n;
	size_t i = 0;
	int64_t v = 0;
	bool neg = false;
	int fd;

	if (path == NULL || path[0] == '\0')
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	while (buf[i] == ' ' || buf[i] == '\t')
		i++;
	if (buf[i] == '-' || buf[i] == '+')
		neg = buf[i++] == '-';
	for (; buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (v > (INT64_MAX - 9) / 10)
			return 0; /* nonsense: no offset */
		v = v * 10 + (buf[i] - '0');
	}
	return neg ? -v : v;
}

int64_t
clock_now(void)
{
	return (int64_t)time(NULL) + clock_offset();
}
