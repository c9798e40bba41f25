#!/bin/sh
# SPDX-License-Identifier: MIT
# Fails if a layer includes a header of a layer it may not use (DESIGN.md).
set -eu
cd "$(dirname "$0")/../src"

allowed() {
	case "$1" in
	lib) echo "lib" ;;
	net) echo "lib net" ;;
	mime) echo "lib mime" ;;
	store) echo "lib mime store" ;;
	auth) echo "lib store auth" ;;
	audit) echo "lib store audit" ;;
	smtp) echo "lib net mime store auth audit smtp" ;;
	imap) echo "lib net mime store auth imap" ;;
	http) echo "lib net store auth http" ;;
	cli) echo "lib net mime store auth audit smtp imap http cli" ;;
	esac
}

bad=0
for layer in */; do
	layer=${layer%/}
	ok=$(allowed "$layer")
	for inc in $(grep -rhoE '^#include "[a-z]+/' "$layer" 2>/dev/null |
	    sed -E 's/#include "([a-z]+)\//\1/' | sort -u); do
		case " $ok " in
		*" $inc "*) ;;
		*)
			echo "check-layers: $layer includes $inc/:" >&2
			grep -rn "#include \"$inc/" "$layer" >&2
			bad=1
			;;
		esac
	done
done
exit $bad
