#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/smtp-ingest: SMTP ingest throughput of despatch against a private
# Postfix instance (delivering to Maildir) and Postfix's smtp-sink (stores
# nothing: the protocol ceiling), all on 127.0.0.1 only.
#
#   bench/smtp-ingest/run.sh /abs/path/to/despatch     (what `make bench` runs)
#   bench/smtp-ingest/run.sh --no-despatch             (Postfix + smtp-sink only)
#
# Environment: BENCH_SCALE (default 1; multiplies the message counts),
# BENCH_SESSIONS (default "1 10 50"), BENCH_SIZES (default "5000 100000"),
# BENCH_FSYNC_SESSIONS (default "1 10"), BENCH_SKIP_FSYNC=1 to skip the strace runs.
# Prints a table and writes it to bench/out/smtp-ingest-<time>.txt.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT_DIR=$ROOT/bench/out
DESPATCH=${1:-}
if [ -z "$DESPATCH" ]; then
	echo "usage: $0 /abs/path/to/despatch | --no-despatch" >&2
	exit 2
fi
[ "$DESPATCH" = "--no-despatch" ] && DESPATCH=
if [ -n "$DESPATCH" ] && [ ! -x "$DESPATCH" ]; then
	echo "run.sh: $DESPATCH is not an executable" >&2
	exit 2
fi
SCALE=${BENCH_SCALE:-1}
SESSIONS=${BENCH_SESSIONS:-"1 10 50"}
SIZES=${BENCH_SIZES:-"5000 100000"}
HOST=127.0.0.1
PY=/usr/bin/python3

log() { printf '[bench] %s\n' "$*" >&2; }

# --- dependencies (bench only; not build or test dependencies) ----------
need_pkgs=()
command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ] || need_pkgs+=(postfix)
[ -x /usr/sbin/smtp-sink ] || need_pkgs+=(postfix)
command -v strace >/dev/null 2>&1 || need_pkgs+=(strace)
command -v cc >/dev/null 2>&1 || need_pkgs+=(gcc)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing ${need_pkgs[*]} from Debian"
	echo "postfix postfix/main_mailer_type select No configuration" |
	    debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    "${need_pkgs[@]}" >/dev/null
fi
PATH=$PATH:/usr/sbin:/usr/lib/postfix/sbin

# --- work dir, cleanup ---------------------------------------------------
WORK=$(mktemp -d /tmp/despatch-bench.XXXXXX)
chmod 755 "$WORK" # Postfix daemons run as user postfix and must traverse it
PF_DIR=$WORK/postfix
PF_RUNNING=0
SINK_PID=
DESPATCH_PID=

cleanup() {
	set +e
	if [ "$PF_RUNNING" = 1 ]; then
		postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1
		PF_RUNNING=0
	fi
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
	if [ -n "$DESPATCH_PID" ]; then
		kill -TERM "$DESPATCH_PID" 2>/dev/null
		wait "$DESPATCH_PID" 2>/dev/null
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ---------------------------------------------------------------
# Prints a free TCP port on 127.0.0.1 (and, with an argument list of
# standard ports, an offset N such that every std+N is free).
free_port() {
	$PY - "$@" <<'EOF'
import random, socket, sys
def free(p):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
std = [int(a) for a in sys.argv[1:]]
rng = random.Random()
for _ in range(500):
    n = rng.randrange(20000, 60000)
    if std:
        if all(free(p + n) for p in std):
            print(n); break
    elif free(n):
        print(n); break
else:
    sys.exit("no free port")
EOF
}

wait_port() { # port seconds
	local port=$1 deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		if (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "port $port did not open"
	return 1
}

count_for() { # sessions size -> total messages for that run
	local c=$1 s=$2 n
	if [ "$s" -le 20000 ]; then n=4000; else n=1000; fi
	[ "$c" = 1 ] && n=$((n / 4))
	echo $((n * SCALE))
}

LOAD=$WORK/smtpload
cc -O2 -pthread -o "$LOAD" "$HERE/smtpload.c"

# run_load port sessions total size rcpt -> prints msgs/s (or "fail")
run_load() {
	local line rate ok fail
	line=$("$LOAD" -h $HOST -p "$1" -c "$2" -n "$3" -s "$4" -r "$5" -t 60 || true)
	log "  $line"
	rate=$(sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' <<<"$line")
	fail=$(sed -n 's/.*fail=\([0-9]*\).*/\1/p' <<<"$line")
	ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$line")
	if [ -z "$rate" ] || [ "${ok:-0}" = 0 ]; then
		echo "fail"
	elif [ "${fail:-0}" != 0 ]; then
		echo "${rate}(${fail}fail)"
	else
		echo "$rate"
	fi
}

# strace_sum FILE -> total calls of the traced sync syscalls
strace_sum() {
	awk '$NF ~ /^(fsync|fdatasync|sync_file_range|syncfs|msync)$/ { n += $4 }
	    END { print n + 0 }' "$1"
}

# --- private Postfix -------------------------------------------------------
PF_PORT=
PF_UID=$(id -u postfix)
PF_GID=$(id -g postfix)
maildir_count() {
	find "$PF_DIR/mail/bench/new" "$PF_DIR/mail/bench/cur" -type f 2>/dev/null | wc -l
}

postfix_setup() {
	mkdir -p "$PF_DIR/etc" "$PF_DIR/spool" "$PF_DIR/data" "$PF_DIR/mail"
	chown postfix:postfix "$PF_DIR/data"
	chown "$PF_UID:$PF_GID" "$PF_DIR/mail"
	PF_PORT=$(free_port)
	cp /etc/postfix/dynamicmaps.cf "$PF_DIR/etc/" 2>/dev/null || true
	cat >"$PF_DIR/etc/main.cf" <<EOF
# Private benchmark instance; generated by bench/smtp-ingest/run.sh.
compatibility_level = 3.6
config_directory = $PF_DIR/etc
queue_directory = $PF_DIR/spool
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.localhost
mydomain = bench.localhost
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
relay_domains =
smtpd_banner = \$myhostname ESMTP
biff = no
append_dot_mydomain = no
maillog_file_prefixes = $PF_DIR
maillog_file = $PF_DIR/maillog
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $PF_DIR/mail
virtual_mailbox_maps = static:bench/
virtual_uid_maps = static:$PF_UID
virtual_gid_maps = static:$PF_GID
virtual_minimum_uid = 1
message_size_limit = 52428800
virtual_mailbox_limit = 0
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
EOF
	# No chroot (the temp dir has none of the files a chroot needs).
	cat >"$PF_DIR/etc/master.cf" <<EOF
$HOST:$PF_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	postfix -c "$PF_DIR/etc" check >/dev/null 2>&1 ||
	    postfix -c "$PF_DIR/etc" check
}

postfix_start() {
	postfix -c "$PF_DIR/etc" start >/dev/null 2>&1 || {
		cat "$PF_DIR/maillog" >&2 2>/dev/null
		return 1
	}
	PF_RUNNING=1
	wait_port "$PF_PORT" 20
}

postfix_stop() {
	postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1 || true
	PF_RUNNING=0
	local i
	for i in $(seq 1 100); do
		postfix -c "$PF_DIR/etc" status >/dev/null 2>&1 || return 0
		sleep 0.1
	done
}

# Waits (bounded) until Postfix has delivered `want` messages to Maildir.
postfix_drain() {
	local want=$1 deadline=$((SECONDS + 120))
	while [ "$(maildir_count)" -lt "$want" ] && [ $SECONDS -lt $deadline ]; do
		sleep 0.2
	done
	[ "$(maildir_count)" -ge "$want" ] || log "postfix: only $(maildir_count)/$want delivered"
}

# --- smtp-sink -------------------------------------------------------------
SINK_PORT=
sink_start() {
	SINK_PORT=$(free_port)
	smtp-sink -u postfix -m 1000 "$HOST:$SINK_PORT" 1000 >/dev/null 2>&1 &
	SINK_PID=$!
	wait_port "$SINK_PORT" 10
}

# --- despatch ----------------------------------------------------------------
D_DATA=$WORK/despatch
D_PORT=
despatch_setup() {
	local off
	off=$(free_port 25 587 465 143 993)
	D_PORT=$((25 + off))
	"$DESPATCH" init --data "$D_DATA" --domain bench.test \
	    --hostname despatch.bench.localhost --listen $HOST \
	    --port-offset "$off" >/dev/null
	echo "bench-password" | "$DESPATCH" user add sink@bench.test \
	    --data "$D_DATA" >/dev/null
}

despatch_start() { # [wrapper...]
	"$@" "$DESPATCH" serve --data "$D_DATA" 2>>"$WORK/despatch.log" &
	DESPATCH_PID=$!
	wait_port "$D_PORT" 30
}

despatch_stop() {
	[ -n "$DESPATCH_PID" ] || return 0
	kill -TERM "$DESPATCH_PID" 2>/dev/null || true
	wait "$DESPATCH_PID" 2>/dev/null || true
	DESPATCH_PID=
}

# --- the timed runs --------------------------------------------------------
declare -A RATE
PF_DELIVERED=0

postfix_setup
postfix_start
sink_start
if [ -n "$DESPATCH" ]; then
	despatch_setup
	despatch_start
fi

for size in $SIZES; do
	for c in $SESSIONS; do
		n=$(count_for "$c" "$size")
		log "size=$size sessions=$c messages=$n"
		if [ -n "$DESPATCH" ]; then
			log " despatch"
			RATE[d,$size,$c]=$(run_load "$D_PORT" "$c" "$n" "$size" sink@bench.test)
		fi
		log " postfix"
		RATE[p,$size,$c]=$(run_load "$PF_PORT" "$c" "$n" "$size" sink@bench.test)
		PF_DELIVERED=$((PF_DELIVERED + n))
		postfix_drain "$PF_DELIVERED" # the next run starts with an empty queue
		log " smtp-sink"
		RATE[s,$size,$c]=$(run_load "$SINK_PORT" "$c" "$n" "$size" sink@bench.test)
	done
done

kill "$SINK_PID" 2>/dev/null || true
wait "$SINK_PID" 2>/dev/null || true
SINK_PID=
postfix_stop
despatch_stop

# --- fsyncs per message (untimed, under strace) -------------------------------
# Each server runs once idle (baseline: start-up and shutdown syncs) and once
# with FS_N messages of 5 KB over 10 sessions; the difference over FS_N is
# the per-message figure. Postfix's includes the Maildir delivery.
FS_N=$((1000 * SCALE))
FS_SESSIONS=${BENCH_FSYNC_SESSIONS:-"1 10"}
declare -A FSYNC
if [ "${BENCH_SKIP_FSYNC:-0}" != 1 ]; then
	strace_postfix() { # messages sessions -> total sync calls
		local n=$1 c=$2 f=$WORK/strace-postfix-$1-$2.txt spid
		strace -f -c -o "$f" -e trace=fsync,fdatasync,sync_file_range,syncfs,msync \
		    postfix -c "$PF_DIR/etc" start-fg >/dev/null 2>&1 &
		spid=$!
		PF_RUNNING=1
		wait_port "$PF_PORT" 30
		if [ "$n" -gt 0 ]; then
			"$LOAD" -h $HOST -p "$PF_PORT" -c "$c" -n "$n" -s 5000 -r sink@bench.test >&2 || true
			PF_DELIVERED=$((PF_DELIVERED + n))
			postfix_drain "$PF_DELIVERED"
		fi
		postfix_stop
		wait "$spid" 2>/dev/null || true
		strace_sum "$f"
	}
	log "fsync count: postfix"
	pb=$(strace_postfix 0 1)
	for c in $FS_SESSIONS; do
		pt=$(strace_postfix "$FS_N" "$c")
		FSYNC[p,$c]=$(awk -v t="$pt" -v b="$pb" -v n="$FS_N" 'BEGIN { printf "%.2f", (t - b) / n }')
		log "  postfix: sessions=$c baseline=$pb loaded=$pt n=$FS_N"
	done
	if [ -n "$DESPATCH" ]; then
		strace_despatch() { # messages sessions -> total sync calls
			local n=$1 c=$2 f=$WORK/strace-despatch-$1-$2.txt
			despatch_start strace -f -c -o "$f" -e trace=fsync,fdatasync,sync_file_range,syncfs,msync
			if [ "$n" -gt 0 ]; then
				"$LOAD" -h $HOST -p "$D_PORT" -c "$c" -n "$n" -s 5000 -r sink@bench.test >&2 || true
			fi
			# SIGTERM the traced despatch (strace's child), then strace exits.
			local child
			child=$(pgrep -P "$DESPATCH_PID" | head -1 || true)
			[ -n "$child" ] && kill -TERM "$child" 2>/dev/null
			wait "$DESPATCH_PID" 2>/dev/null || true
			DESPATCH_PID=
			strace_sum "$f"
		}
		log "fsync count: despatch"
		db=$(strace_despatch 0 1)
		for c in $FS_SESSIONS; do
			dt=$(strace_despatch "$FS_N" "$c")
			FSYNC[d,$c]=$(awk -v t="$dt" -v b="$db" -v n="$FS_N" 'BEGIN { printf "%.2f", (t - b) / n }')
			log "  despatch: sessions=$c baseline=$db loaded=$dt n=$FS_N"
		done
	fi
fi

# --- report ----------------------------------------------------------------
mkdir -p "$OUT_DIR"
REPORT=$OUT_DIR/smtp-ingest-$(date +%Y%m%d-%H%M%S).txt
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
	    if (a + 0 > 0 && b + 0 > 0) printf "%.2f", (a + 0) / (b + 0); else printf "-" }'
}
{
	echo "smtp-ingest on $(hostname) $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores"
	echo "messages/s accepted (250 after the final dot), loopback, smtpload (bench/smtp-ingest/smtpload.c)"
	echo "despatch: ${DESPATCH:-(not run)}; Postfix $(postconf -d -h mail_version 2>/dev/null) to Maildir; smtp-sink stores nothing"
	echo
	printf '%-8s %-8s %-9s %12s %12s %12s %16s\n' size sessions messages despatch postfix smtp-sink despatch/postfix
	for size in $SIZES; do
		for c in $SESSIONS; do
			d=${RATE[d,$size,$c]:--}
			p=${RATE[p,$size,$c]:--}
			s=${RATE[s,$size,$c]:--}
			printf '%-8s %-8s %-9s %12s %12s %12s %16s\n' "$size" "$c" \
			    "$(count_for "$c" "$size")" "$d" "$p" "$s" "$(ratio "$d" "$p")"
		done
	done
	echo
	echo "fsyncs per message (5 KB, $FS_N messages, strace -f -c, minus an idle baseline;"
	echo "Postfix's include the Maildir delivery):"
	printf '  %-9s %10s %10s\n' sessions despatch postfix
	for c in $FS_SESSIONS; do
		printf '  %-9s %10s %10s\n' "$c" "${FSYNC[d,$c]:--}" "${FSYNC[p,$c]:--}"
	done
} | tee "$REPORT"
log "written to $REPORT"
