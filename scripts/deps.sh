#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs every build, test and bench dependency of despatch from Debian's
# packages. Idempotent: installs only what is missing, so it is cheap to rerun.
# testssl.sh (and the hexdump/dig it uses) is for tests/integration/test_tls.py;
# iproute2 and util-linux (unshare, nsenter, setpriv) and passwd (useradd,
# which `despatch init` runs as root) for test_privilege.py.
set -eu

PKGS="build-essential pkg-config meson ninja-build clang libclang-rt-14-dev
libuv1-dev libssl-dev openssl libsqlite3-dev sqlite3 libsodium-dev libzstd-dev
zlib1g-dev libconfig-dev libcmocka-dev python3 python3-pytest swaks ca-certificates
procps psmisc libnet-ssleay-perl libio-socket-ssl-perl isync offlineimap3 fetchmail
libunbound-dev unbound python3-aiosmtpd postfix python3-pytest-xdist
testssl.sh bsdextrautils bsdmainutils dnsutils iproute2 util-linux passwd"

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: run as root (installs Debian packages)" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	exit 0
fi
echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# postfix is only for its smtp-sink (tests) and as the bench's reference; it
# must not configure or start itself as the machine's MTA.
echo "postfix postfix/main_mailer_type select No configuration" |
    debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
