#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the libFuzzer targets of a fuzz build for SECONDS each, seeded from
# tests/corpus/<target>/ (new inputs go to a scratch corpus in the build
# folder, not the repo). Every seed runs first, so a crash-* file kept in
# a corpus is a regression test.
#
#   scripts/fuzz.sh BUILD [SECONDS [TARGET...]]
#
# TARGET is a target name without "fuzz-" (smtp-session) or a shell
# pattern (mime-*, 'codec-*'); none: every target. `make test` runs each
# briefly (e.g. 20 s); `make fuzz` for FUZZ_SECONDS. A crash, leak or
# timeout leaves its input in BUILD/crashes/ and fails the run; the last
# lines of its log are shown. FUZZ_ARGS adds libFuzzer options.
set -eu
dir=${1:?usage: fuzz.sh BUILD [SECONDS [TARGET...]]}
secs=${2:-60}
[ $# -ge 2 ] && shift 2 || shift $#
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/crashes"

wanted() {
	[ $# -eq 0 ] && return 0
	n=$1
	shift
	for pat in "$@"; do
		# shellcheck disable=SC2254
		case $n in $pat) return 0 ;; esac
	done
	return 1
}

status=0
ran=0
for t in $(find "$dir" -type f -name 'fuzz-*' -perm -u+x |
    awk -F/ '{ print $NF " " $0 }' | sort | cut -d' ' -f2-); do
	name=$(basename "$t" | sed 's/^fuzz-//')
	case $name in *.log) continue ;; esac
	wanted "$name" "$@" || continue
	seeds="$root/tests/corpus/$name"
	work="$dir/corpus-$name"
	mkdir -p "$work" "$seeds"
	ran=$((ran + 1))
	start=$(date +%s)
	# shellcheck disable=SC2086
	if "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$dir/crashes/$name-" -print_final_stats=1 \
	    ${FUZZ_ARGS:-} "$work" "$seeds" >"$dir/fuzz-$name.log" 2>&1; then
		stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' \
		    "$dir/fuzz-$name.log" | tail -1 |
		    sed -E 's/.*(cov: [0-9]+).*(corp: [^ ]+).*/\1 \2/')
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
		    "$dir/fuzz-$name.log")
		echo "fuzz: $name ok in $(($(date +%s) - start))s:" \
		    "${execs:-?} execs, $stats"
	else
		echo "fuzz: $name FAILED, see $dir/fuzz-$name.log" >&2
		tail -30 "$dir/fuzz-$name.log" >&2
		status=1
	fi
done
if [ "$ran" -eq 0 ]; then
	echo "fuzz: no target in $dir matches: $*" >&2
	exit 1
fi
exit $status
