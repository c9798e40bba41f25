#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs every libFuzzer target of a fuzz build for SECONDS each, seeded from
# tests/corpus/<target>/ (new inputs go to a scratch corpus, not the repo).
# A crash leaves its input in build-fuzz/crashes/ and fails the run.
set -eu
dir=${1:?build folder}
secs=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/crashes"
status=0
for t in $(find "$dir" -type f -name 'fuzz-*' -perm -u+x | sort); do
	name=$(basename "$t" | sed 's/^fuzz-//')
	seeds="$root/tests/corpus/$name"
	work="$dir/corpus-$name"
	mkdir -p "$work" "$seeds"
	echo "fuzz: $name for ${secs}s"
	if ! "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$dir/crashes/$name-" -print_final_stats=1 \
	    "$work" "$seeds" >"$dir/fuzz-$name.log" 2>&1; then
		echo "fuzz: $name FAILED, see $dir/fuzz-$name.log" >&2
		tail -30 "$dir/fuzz-$name.log" >&2
		status=1
	fi
done
exit $status
