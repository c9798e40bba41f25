#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/smtp-relay: relay throughput. Messages go in by submission and out
# through the relay's queue to one Postfix smtp-sink on 127.0.0.1; the rate
# is messages per second from the first submitted message until the sink
# has received every one of them. Same load, same sink, same run:
#
#   despatch: submission on 587+N, STARTTLS + AUTH PLAIN, outbound
#             smarthost "[127.0.0.1]:<sink port>" (its queue in the store)
#   Postfix:  a private instance on loopback (as bench/smtp-ingest sets one
#             up), smtpd with STARTTLS, relay for 127.0.0.0/8 (no SASL: the
#             Debian packages here carry no SASL server for it; AUTH is one
#             round trip per session), relayhost = [127.0.0.1]:<sink port>
#
#   bench/smtp-relay/run.sh /abs/path/to/despatch       (what `make bench` runs)
#   bench/smtp-relay/run.sh --no-despatch               (Postfix only)
#
# Environment: BENCH_SCALE (default 1; multiplies the message counts),
# BENCH_SESSIONS (default "10"), BENCH_SIZES (default "5000 100000"),
# BENCH_DOMAINS (default 10: recipient domains, r<i>@d<i % D>.test),
# BENCH_KEEP=1 keeps the work dir. Prints a table and writes it to
# bench/out/smtp-relay-<time>.txt.
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
SESSIONS=${BENCH_SESSIONS:-"10"}
SIZES=${BENCH_SIZES:-"5000 100000"}
DOMAINS=${BENCH_DOMAINS:-10}
HOST=127.0.0.1
PY=/usr/bin/python3
DRAIN_TIMEOUT=${BENCH_DRAIN_TIMEOUT:-600}

log() { printf '[bench] %s\n' "$*" >&2; }

# --- dependencies (bench only) ---------------------------------------------
need_pkgs=()
[ -x /usr/sbin/postfix ] || need_pkgs+=(postfix)
[ -x /usr/sbin/smtp-sink ] || need_pkgs+=(postfix)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing ${need_pkgs[*]} from Debian"
	echo "postfix postfix/main_mailer_type select No configuration" |
	    debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    "${need_pkgs[@]}" >/dev/null
fi
PATH=$PATH:/usr/sbin:/usr/lib/postfix/sbin

# --- work dir, cleanup -------------------------------------------------------
WORK=$(mktemp -d /tmp/despatch-relay-bench.XXXXXX)
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
	if [ -n "$SINK_PID" ]; then
		kill "$SINK_PID" 2>/dev/null
		wait "$SINK_PID" 2>/dev/null
	fi
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

# --- helpers -------------------------------------------------------------------
free_port() { # [std ports...] -> a free port, or an offset N with std+N free
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

# --- the sink: smtp-sink -c counts messages (one "mesg=N" per update) ----------
SINK_PORT=
SINK_OUT=$WORK/sink-counters.txt
sink_start() {
	SINK_PORT=$(free_port)
	smtp-sink -u postfix -c -m 1000 "$HOST:$SINK_PORT" 1000 >"$SINK_OUT" 2>&1 &
	SINK_PID=$!
	wait_port "$SINK_PORT" 10
}
sink_count() {
	tr '\r' '\n' <"$SINK_OUT" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1 |
	    awk '{ print $1 + 0 } END { if (NR == 0) print 0 }'
}
# sink_wait want -> seconds (monotonic, to 1 ms) until the sink count reaches
# want, measured from T0 (set by the caller, in ms); "timeout" otherwise
now_ms() { $PY -c 'import time; print(int(time.monotonic() * 1000))'; }
sink_wait() {
	local want=$1 deadline=$((SECONDS + DRAIN_TIMEOUT)) n
	while [ $SECONDS -lt $deadline ]; do
		n=$(sink_count)
		if [ "$n" -ge "$want" ]; then
			now_ms
			return 0
		fi
		sleep 0.05
	done
	log "sink: only $(sink_count)/$want after ${DRAIN_TIMEOUT}s"
	echo timeout
}

# --- TLS key pair for Postfix's smtpd ------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" \
    -out "$WORK/cert.pem" -days 2 -subj /CN=postfix.bench.localhost \
    >/dev/null 2>&1
chmod 644 "$WORK/key.pem"

# --- private Postfix, relaying to the sink ----------------------------------------
PF_PORT=
postfix_setup() {
	mkdir -p "$PF_DIR/etc" "$PF_DIR/spool" "$PF_DIR/data"
	chown postfix:postfix "$PF_DIR/data"
	PF_PORT=$(free_port)
	cp /etc/postfix/dynamicmaps.cf "$PF_DIR/etc/" 2>/dev/null || true
	cat >"$PF_DIR/etc/main.cf" <<EOF
# Private benchmark instance; generated by bench/smtp-relay/run.sh.
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
relayhost = [$HOST]:$SINK_PORT
relay_domains =
smtpd_banner = \$myhostname ESMTP
biff = no
append_dot_mydomain = no
maillog_file_prefixes = $PF_DIR
maillog_file = $PF_DIR/maillog
message_size_limit = 52428800
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_tls_security_level = may
smtpd_tls_cert_file = $WORK/cert.pem
smtpd_tls_key_file = $WORK/key.pem
smtp_tls_security_level = may
smtp_dns_support_level = disabled
EOF
	cat >"$PF_DIR/etc/master.cf" <<EOF
$HOST:$PF_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
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

# --- despatch, relaying to the sink --------------------------------------------------
D_DATA=$WORK/despatch
D_PORT=
D_SUB=
despatch_setup() {
	local off
	off=$(free_port 25 587 465 143 993)
	D_PORT=$((25 + off))
	D_SUB=$((587 + off))
	"$DESPATCH" init --data "$D_DATA" --domain bench.test \
	    --hostname despatch.bench.localhost --listen $HOST \
	    --port-offset "$off" >/dev/null
	echo "bench-password" | "$DESPATCH" user add load@bench.test \
	    --data "$D_DATA" >/dev/null
	# Outbound: everything to the sink; no per-hour limits.
	$PY - "$D_DATA/despatch.conf" "$SINK_PORT" <<'EOF'
import re, sys
path, port = sys.argv[1], sys.argv[2]
t = open(path).read()
def setting(t, key, value):
    new, n = re.subn(rf"(?m)^(\s*{key}\s*=\s*)[^;\n]*;", rf"\g<1>{value};", t, count=1)
    if n != 1:
        sys.exit(f"despatch.conf has no {key} setting to change")
    return new
t = setting(t, "smarthost", f'"[127.0.0.1]:{port}"')
t = setting(t, "max_messages_per_hour", "0")
t = setting(t, "max_recipients_per_hour", "0")
open(path, "w").write(t)
EOF
}

despatch_start() {
	"$DESPATCH" serve --data "$D_DATA" 2>>"$WORK/despatch.log" &
	DESPATCH_PID=$!
	wait_port "$D_SUB" 30
}

despatch_stop() {
	[ -n "$DESPATCH_PID" ] || return 0
	kill -TERM "$DESPATCH_PID" 2>/dev/null || true
	wait "$DESPATCH_PID" 2>/dev/null || true
	DESPATCH_PID=
}

count_for() { # size -> messages per run
	local s=$1 n
	if [ "$s" -le 20000 ]; then n=2000; else n=500; fi
	echo $((n * SCALE))
}

# run_relay port sessions messages size auth -> "rate accept_rate" or "fail"
run_relay() {
	local port=$1 c=$2 n=$3 size=$4 auth=$5 base t0 t1 line ok
	base=$(sink_count)
	t0=$(now_ms)
	line=$($PY "$HERE/relayload.py" -p "$port" -c "$c" -n "$n" -s "$size" \
	    -d "$DOMAINS" -f load@bench.test --starttls ${auth:+--auth "$auth"} \
	    -t 60 -T "$DRAIN_TIMEOUT" || true)
	log "  submit: $line"
	ok=$(sed -n 's/^ok=\([0-9]*\).*/\1/p' <<<"$line")
	if [ -z "$ok" ] || [ "$ok" = 0 ]; then
		echo "fail -"
		return
	fi
	t1=$(sink_wait $((base + ok)))
	if [ "$t1" = timeout ]; then
		echo "fail -"
		return
	fi
	log "  sink has all $ok after $(((t1 - t0)))ms"
	awk -v n="$ok" -v ms="$((t1 - t0))" -v l="$line" 'BEGIN {
	    split(l, a, "msgs_per_s="); printf "%.1f %.1f\n", n * 1000 / ms, a[2] + 0 }'
}

# --- the timed runs ------------------------------------------------------------------
declare -A RATE ACC
sink_start
postfix_setup
postfix_start
if [ -n "$DESPATCH" ]; then
	despatch_setup
	despatch_start
fi

for size in $SIZES; do
	for c in $SESSIONS; do
		n=$(count_for "$size")
		log "size=$size sessions=$c messages=$n domains=$DOMAINS"
		if [ -n "$DESPATCH" ]; then
			log " despatch"
			read -r RATE[d,$size,$c] ACC[d,$size,$c] < <(run_relay "$D_SUB" "$c" "$n" "$size" load@bench.test:bench-password)
		fi
		log " postfix"
		read -r RATE[p,$size,$c] ACC[p,$size,$c] < <(run_relay "$PF_PORT" "$c" "$n" "$size" "")
	done
done

despatch_stop
postfix_stop

# --- report ------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
REPORT=$OUT_DIR/smtp-relay-$(date +%Y%m%d-%H%M%S).txt
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
	    if (a + 0 > 0 && b + 0 > 0) printf "%.2f", (a + 0) / (b + 0); else printf "-" }'
}
{
	echo "smtp-relay on $(hostname) $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores"
	echo "messages/s from the first submitted message until smtp-sink has every one (relay throughput);"
	echo "'accepted' = messages/s the relay took in by submission (250 after the dot)"
	echo "despatch: ${DESPATCH:-(not run)} (587 STARTTLS + AUTH PLAIN, smarthost); Postfix $(postconf -d -h mail_version 2>/dev/null) (STARTTLS, relayhost); $DOMAINS recipient domains"
	echo
	printf '%-8s %-8s %-9s %14s %14s %16s %16s %16s\n' size sessions messages \
	    despatch postfix despatch/postfix "d accepted" "p accepted"
	for size in $SIZES; do
		for c in $SESSIONS; do
			d=${RATE[d,$size,$c]:--}
			p=${RATE[p,$size,$c]:--}
			printf '%-8s %-8s %-9s %14s %14s %16s %16s %16s\n' "$size" "$c" \
			    "$(count_for "$size")" "$d" "$p" "$(ratio "$d" "$p")" \
			    "${ACC[d,$size,$c]:--}" "${ACC[p,$size,$c]:--}"
		done
	done
} | tee "$REPORT"
log "written to $REPORT"
