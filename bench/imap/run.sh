#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/imap: despatch's IMAP server against a private Dovecot on loopback:
# memory per idle session, per-command throughput over 10 clients, and
# SEARCH BODY over a 100,000-message mailbox. See bench/README.md (IMAP).
#
#   bench/imap/run.sh /abs/path/to/despatch      (what `make bench` runs)
#
# Environment: BENCH_MSGS, BENCH_BIG, BENCH_SECONDS, BENCH_SESSIONS,
# BENCH_ONLY, BENCH_KEEP (documented in bench/imap/bench.py).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $# -ne 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 /abs/path/to/despatch" >&2
	exit 2
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec /usr/bin/python3 "$HERE/bench.py" "$1"
