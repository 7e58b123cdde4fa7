#!/usr/bin/env bash
# install-node.sh - install what a DFS host needs besides the programs
# (`make install` puts those in PREFIX/bin): the systemd units, the
# sample configs, the dfs-run wrapper, the mount.fusefs helper and the
# "dfs" system user the daemons run as.
#
#   deploy/install-node.sh [--prefix DIR] [--destdir DIR]
#
#   PREFIX/lib/dfs/dfs-run            config file -> command line
#   /sbin/mount.fusefs                fstab type "fusefs"
#   /etc/systemd/system/dfs-*.service masterd, chunkd, fusefs, mr daemons
#   /etc/dfs/*.conf                   samples; existing files are kept
#                                     (the new sample goes to *.conf.new)
#
# --prefix (default /usr/local) must match the one given to make install;
# the units name PREFIX's programs. --destdir installs into a staging
# tree (packaging, tests): no user is made and systemd is not told.
# Nothing is enabled or started: see README.md ("Deploying on several machines") for which units
# each host runs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=/usr/local
DESTDIR=

die() {
	echo "install-node.sh: $*" >&2
	exit 1
}

while (($#)); do
	case $1 in
	--prefix) PREFIX=${2:?--prefix needs a value}; shift ;;
	--destdir) DESTDIR=${2:?--destdir needs a value}; shift ;;
	-h | --help)
		awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' \
			"${BASH_SOURCE[0]}"
		exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ "$PREFIX" == /* ]] || die "--prefix must be an absolute path"
if [[ -z "$DESTDIR" && $EUID -ne 0 ]]; then
	die "run as root (or use --destdir)"
fi

install -d "$DESTDIR$PREFIX/lib/dfs" "$DESTDIR/sbin" \
	"$DESTDIR/etc/systemd/system" "$DESTDIR/etc/dfs"
install -m 0755 "$HERE/dfs-run" "$DESTDIR$PREFIX/lib/dfs/dfs-run"
install -m 0755 "$HERE/mount.fusefs" "$DESTDIR/sbin/mount.fusefs"
for unit in "$HERE"/systemd/*.service; do
	sed -e "s|/usr/local/|$PREFIX/|g" "$unit" \
		>"$DESTDIR/etc/systemd/system/$(basename "$unit")"
	chmod 0644 "$DESTDIR/etc/systemd/system/$(basename "$unit")"
done
for conf in "$HERE"/etc/dfs/*.conf; do
	dest="$DESTDIR/etc/dfs/$(basename "$conf")"
	if [[ -e "$dest" ]]; then
		install -m 0644 "$conf" "$dest.new"
		echo "install-node.sh: kept $dest; the new sample is $dest.new"
	else
		install -m 0644 "$conf" "$dest"
	fi
done

if [[ -z "$DESTDIR" ]]; then
	if ! getent passwd dfs >/dev/null; then
		useradd --system --home-dir /var/lib/dfs --no-create-home \
			--shell /usr/sbin/nologin dfs
	fi
	if [[ -d /run/systemd/system ]]; then
		systemctl daemon-reload
	fi
fi
echo "install-node.sh: installed units, configs and helpers" \
	"(prefix $PREFIX${DESTDIR:+, in $DESTDIR})"
