#!/usr/bin/env bash
# Install the Debian packages DFS needs to build, run and test, if missing.
# Runs 'apt-get update' once, only when something has to be installed.
#   install-deps.sh [--bench]
# --bench adds what `make bench` compares against and measures with:
# MooseFS (master, chunk server, client), GlusterFS (server, client), fio
# and perf.
set -euo pipefail

packages=(
	build-essential pkg-config clang
	libfuse3-dev fuse3
	libsqlite3-dev sqlite3
	libcurl4-openssl-dev
	libmicrohttpd-dev
	libhttp-parser-dev
	libjansson-dev
	libssl-dev openssl
	libxxhash-dev
	libjemalloc-dev
	libcmocka-dev
	python3-pytest
	attr rsync curl iproute2 psmisc
	# Tools run on the mount by tests/integration/test_tools.py
	# (sqlite3, rsync and make are above or in build-essential).
	git tar util-linux
	# Operations tests: promtool, headless Chromium, systemd-analyze.
	prometheus chromium systemd
)

case "${1:-}" in
--bench)
	packages+=(moosefs-master moosefs-chunkserver moosefs-client
		glusterfs-server glusterfs-client fio linux-perf)
	;;
"") ;;
*)
	echo "usage: install-deps.sh [--bench]" >&2
	exit 2
	;;
esac

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	exit 0
fi
if ((EUID != 0)); then
	echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
