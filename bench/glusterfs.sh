#!/usr/bin/env bash
# Start or stop a GlusterFS volume (replica 3: three bricks, one glusterd)
# on this machine, for side-by-side benchmarks with DFS.
#
#   bench/glusterfs.sh start DIR MOUNT
#   bench/glusterfs.sh stop DIR
#
# GlusterFS refuses bricks on "localhost" and loopback addresses, so the
# bricks are named by this host's name, which must resolve to an address
# in 127.0.0.0/8 (Debian's /etc/hosts does that). glusterd, its brick
# processes and the client run inside a network namespace this script
# creates: its own loopback, so the ports (24007, 49152-) are never taken
# from, or clash with, a glusterd of the machine. Only the network
# namespace is entered (nsenter --net), so the mount is visible to the rest
# of the machine. glusterd keeps its state, sockets and pid files under
# DIR (working-directory, run-directory) and its daemons' logs in DIR/log
# (logging-directory), none in /var/log/glusterfs; the brick processes are
# glusterd's children and are found by their pid files there. Every wait
# is bounded; stop signals only pids this script recorded or found there.
set -euo pipefail

NETNS=dfsbench-gl
VOLUME=dfsbench
BRICKS=3
# Bound on each gluster CLI call, seconds.
CLI_TIMEOUT=60

die() { echo "glusterfs.sh: $*" >&2; exit 1; }
note() { echo "glusterfs.sh: $*" >&2; }

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# gl DIR ARGS...: the gluster CLI against this script's glusterd.
gl() {
	local dir=$1
	shift
	in_ns timeout "$CLI_TIMEOUT" gluster --mode=script \
		--glusterd-sock="$dir/run/glusterd.socket" \
		--log-file="$dir/log/cli.log" "$@"
}

# The brick host: this machine's name, if it resolves into 127.0.0.0/8.
brick_host() {
	local host addr
	host=$(hostname)
	addr=$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }')
	[[ $addr == 127.* ]] ||
		die "host name $host resolves to '${addr:-nothing}', not to 127.0.0.0/8"
	echo "$host"
}

write_volfile() {
	local dir=$1
	cat > "$dir/glusterd.vol" <<VOL
volume management
    type mgmt/glusterd
    option working-directory $dir/lib
    option run-directory $dir/run
    option glusterd-sockfile $dir/run/glusterd.socket
    option logging-directory $dir/log
    option transport-type socket
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
end-volume
VOL
}

start() {
	local dir=$1 mnt=$2 host i bricks=()
	command -v glusterd >/dev/null || die "GlusterFS is not installed"
	host=$(brick_host)
	mkdir -p "$dir" "$mnt"
	dir=$(cd "$dir" && pwd)
	mkdir -p "$dir/lib" "$dir/run" "$dir/log"
	: > "$dir/pids"
	# The volume option groups and hooks glusterd expects beside its state.
	[[ -d /var/lib/glusterd/groups ]] && cp -a /var/lib/glusterd/groups "$dir/lib/"
	write_volfile "$dir"
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up

	in_ns_bg glusterd -N -f "$dir/glusterd.vol" -p "$dir/glusterd.pid" \
		-l "$dir/log/glusterd.log" > "$dir/glusterd.out" 2>&1 &
	echo $! >> "$dir/pids"
	for _ in $(seq 100); do
		gl "$dir" peer status >/dev/null 2>&1 && break
		sleep 0.1
	done
	gl "$dir" peer status >/dev/null ||
		die "glusterd did not start: $(tail -5 "$dir/log/glusterd.log")"

	for i in $(seq 1 $BRICKS); do
		mkdir -p "$dir/brick$i"
		bricks+=("$host:$dir/brick$i")
	done
	# force: the bricks share one host and the root file system.
	gl "$dir" volume create "$VOLUME" replica $BRICKS "${bricks[@]}" force >/dev/null
	gl "$dir" volume start "$VOLUME" >/dev/null
	wait_bricks "$dir"

	in_ns_bg glusterfs -N --volfile-server="$host" --volfile-id="$VOLUME" \
		-l "$dir/log/mount.log" "$mnt" > "$dir/mount.out" 2>&1 &
	echo $! >> "$dir/pids"
	echo "$mnt" > "$dir/mountpoint"
	for _ in $(seq 100); do
		mountpoint -q "$mnt" && [[ $(df --output=size "$mnt" | tail -n 1) -gt 0 ]] && break
		sleep 0.1
	done
	mountpoint -q "$mnt" || die "the GlusterFS mount failed: $(tail -5 "$dir/log/mount.log")"
}

# Until every brick process is online. The XML form of `volume status`,
# because the text form wraps long brick paths.
wait_bricks() {
	local dir=$1 n=0
	for _ in $(seq 100); do
		n=$(gl "$dir" volume status "$VOLUME" --xml 2>/dev/null |
			tr -d '\n' | sed 's#</node>#&\n#g' |
			grep '<path>/' | grep -c '<status>1</status>' || true)
		((n >= BRICKS)) && return 0
		sleep 0.1
	done
	die "only $n of $BRICKS bricks came online"
}

# Pids of the daemons glusterd started (bricks, self-heal), from their
# pid files under DIR/run.
spawned_pids() {
	local dir=$1 f
	[[ -d "$dir/run" ]] || return 0
	find "$dir/run" -name '*.pid' -type f 2>/dev/null | while read -r f; do
		cat "$f" 2>/dev/null || true
		echo
	done | grep -E '^[0-9]+$' || true
}

stop() {
	local dir=$1 mnt pids=() spawned=()
	dir=$(cd "$dir" 2>/dev/null && pwd) || { ip netns del "$NETNS" 2>/dev/null || true; return 0; }
	if [[ -f "$dir/mountpoint" ]]; then
		mnt=$(cat "$dir/mountpoint")
		mountpoint -q "$mnt" && { umount "$mnt" 2>/dev/null || umount -l "$mnt" || true; }
	fi
	[[ -f "$dir/pids" ]] && mapfile -t pids < <(tac "$dir/pids")
	# The mount first (the last pid recorded), then the volume, so that
	# glusterd stops its bricks itself; whatever is left goes by pid.
	if ((${#pids[@]} > 1)); then
		stop_pids "${pids[0]}"
		pids=("${pids[@]:1}")
	fi
	if [[ -S "$dir/run/glusterd.socket" ]]; then
		gl "$dir" volume stop "$VOLUME" >/dev/null 2>&1 || true
	fi
	mapfile -t spawned < <(spawned_pids "$dir")
	((${#spawned[@]} == 0)) || stop_pids "${spawned[@]}"
	((${#pids[@]} == 0)) || stop_pids "${pids[@]}"
	rm -f "$dir/pids"
	ip netns del "$NETNS" 2>/dev/null || true
}

case "${1:-}" in
start) [[ $# -eq 3 ]] || die "usage: $0 start DIR MOUNT"; start "$2" "$3" ;;
stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop "$2" ;;
*) die "usage: $0 start DIR MOUNT | stop DIR" ;;
esac
