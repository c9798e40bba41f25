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
# pattern (mime-*, 'codec-*'); none: every target. SECONDS 0 only replays
# the seeds (a quick regression run). `make fuzz` runs each for
# FUZZ_SECONDS; `make test` briefly. FUZZ_JOBS=N runs N targets at once
# (default 1). FUZZ_ARGS adds libFuzzer options. A crash, leak, timeout
# or failed property leaves its input in BUILD/crashes/ and fails the
# run; the last lines of its log are shown.
set -eu
dir=${1:?usage: fuzz.sh BUILD [SECONDS [TARGET...]]}
secs=${2:-60}
[ $# -ge 2 ] && shift 2 || shift $#
jobs=${FUZZ_JOBS:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/crashes"

wanted() {
	[ $# -le 1 ] && return 0
	n=$1
	shift
	for pat in "$@"; do
		# shellcheck disable=SC2254
		case $n in $pat) return 0 ;; esac
	done
	return 1
}

# Runs one target; prints one line (and the log's tail on failure).
run_one() {
	t=$1
	name=$(basename "$t" | sed 's/^fuzz-//')
	seeds="$root/tests/corpus/$name"
	work="$dir/corpus-$name"
	log="$dir/fuzz-$name.log"
	mkdir -p "$work" "$seeds"
	if [ "$secs" -eq 0 ]; then
		limit="-runs=0"
	else
		limit="-max_total_time=$secs"
	fi
	start=$(date +%s)
	# shellcheck disable=SC2086
	if "$t" $limit -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$dir/crashes/$name-" -print_final_stats=1 \
	    ${FUZZ_ARGS:-} "$work" "$seeds" >"$log" 2>&1; then
		stats=$(grep -E '^#[0-9]+.*(DONE|INITED|pulse|NEW|REDUCE)' \
		    "$log" | tail -1 |
		    sed -E 's/.*(cov: [0-9]+).*(corp: [^ ]+).*/\1 \2/')
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
		    "$log")
		echo "fuzz: $name ok in $(($(date +%s) - start))s:" \
		    "${execs:-?} execs, $stats"
		return 0
	fi
	echo "fuzz: $name FAILED, see $log" >&2
	tail -30 "$log" >&2
	return 1
}

targets=""
for t in $(find "$dir" -type f -name 'fuzz-*' -perm -u+x |
    awk -F/ '{ print $NF " " $0 }' | sort | cut -d' ' -f2-); do
	wanted "$(basename "$t" | sed 's/^fuzz-//')" "$@" || continue
	targets="$targets $t"
done
if [ -z "$targets" ]; then
	echo "fuzz: no target in $dir matches: $*" >&2
	exit 1
fi

status=0
if [ "$jobs" -le 1 ]; then
	for t in $targets; do
		run_one "$t" || status=1
	done
	exit $status
fi
# N groups, each run in turn by its own background shell.
rm -f "$dir"/.fuzz-failed-*
g=0
while [ "$g" -lt "$jobs" ]; do
	(
		i=0
		for t in $targets; do
			if [ $((i % jobs)) -eq "$g" ]; then
				run_one "$t" || : >"$dir/.fuzz-failed-$g"
			fi
			i=$((i + 1))
		done
	) &
	g=$((g + 1))
done
wait
if ls "$dir"/.fuzz-failed-* >/dev/null 2>&1; then
	rm -f "$dir"/.fuzz-failed-*
	exit 1
fi
exit 0
