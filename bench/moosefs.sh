#!/usr/bin/env bash
# Start or stop a MooseFS cluster (1 master, 3 chunk servers, goal 3) on this
# machine, for side-by-side benchmarks with DFS.
#
#   bench/moosefs.sh start DIR MOUNT
#   bench/moosefs.sh stop DIR
#
# MooseFS refuses chunk servers on 127.0.0.0/8, so the cluster runs inside a
# network namespace this script creates, on an address of that namespace's
# own loopback (192.0.2.1, TEST-NET-1: never routed anywhere). Only the
# network namespace is entered (nsenter --net), so the mount is visible to
# the rest of the machine. Processes are tracked by pid in DIR/pids.
set -euo pipefail

NETNS=dfsbench-mfs
ADDR=192.0.2.1
CHUNKSERVERS=3

die() { echo "moosefs.sh: $*" >&2; exit 1; }
note() { echo "moosefs.sh: $*" >&2; }

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start() {
	local dir=$1 mnt=$2 i
	command -v mfsmaster >/dev/null || die "MooseFS is not installed"
	mkdir -p "$dir" "$mnt"
	dir=$(cd "$dir" && pwd)
	: > "$dir/pids"
	ip netns add "$NETNS"
	ip -n "$NETNS" link set lo up
	ip -n "$NETNS" addr add "$ADDR/32" dev lo

	mkdir -p "$dir/master"
	cp /var/lib/mfs/metadata.mfs.empty "$dir/master/metadata.mfs"
	echo "$ADDR/32 / rw,alldirs,admin,maproot=0:0" > "$dir/master/exports.cfg"
	cat > "$dir/master/mfsmaster.cfg" <<CFG
WORKING_USER = root
WORKING_GROUP = root
DATA_PATH = $dir/master
EXPORTS_FILENAME = $dir/master/exports.cfg
MATOML_LISTEN_HOST = $ADDR
MATOCS_LISTEN_HOST = $ADDR
MATOCL_LISTEN_HOST = $ADDR
NICE_LEVEL = 0
CFG
	in_ns_bg mfsmaster -f -c "$dir/master/mfsmaster.cfg" start \
		> "$dir/master.log" 2>&1 &
	echo $! >> "$dir/pids"
	wait_port 9420 || die "mfsmaster did not start: $(tail -5 "$dir/master.log")"

	for i in $(seq 1 $CHUNKSERVERS); do
		local cs="$dir/cs$i"
		mkdir -p "$cs/hdd"
		echo "$cs/hdd" > "$cs/mfshdd.cfg"
		cat > "$cs/mfschunkserver.cfg" <<CFG
WORKING_USER = root
WORKING_GROUP = root
DATA_PATH = $cs
HDD_CONF_FILENAME = $cs/mfshdd.cfg
MASTER_HOST = $ADDR
BIND_HOST = $ADDR
CSSERV_LISTEN_HOST = $ADDR
CSSERV_LISTEN_PORT = $((9422 + 10 * i))
HDD_LEAVE_SPACE_DEFAULT = 1GiB
NICE_LEVEL = 0
CFG
		in_ns_bg mfschunkserver -f -c "$cs/mfschunkserver.cfg" start \
			> "$dir/cs$i.log" 2>&1 &
		echo $! >> "$dir/pids"
		wait_port $((9422 + 10 * i)) || die "mfschunkserver $i did not start"
	done

	in_ns_bg mfsmount -f -H "$ADDR" -o mfscachemode=AUTO "$mnt" \
		> "$dir/mount.log" 2>&1 &
	echo $! >> "$dir/pids"
	echo "$mnt" > "$dir/mountpoint"
	for _ in $(seq 100); do
		mountpoint -q "$mnt" && break
		sleep 0.1
	done
	mountpoint -q "$mnt" || die "mfsmount failed: $(tail -5 "$dir/mount.log")"
	wait_chunkservers "$dir" "$mnt"
	in_ns mfssetgoal -r 3 "$mnt" > /dev/null
}

wait_port() {
	local port=$1 _
	for _ in $(seq 100); do
		in_ns bash -c "exec 3<>/dev/tcp/$ADDR/$port" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# The master needs a moment to take the chunk servers' registrations and
# their disks; a write before that fails or lands on fewer servers.
wait_chunkservers() {
	local dir=$1 mnt=$2 _ n=0 size
	for _ in $(seq 150); do
		n=$(grep -c 'chunkserver register end' "$dir/master.log" || true)
		size=$(df --output=size "$mnt" | tail -n 1)
		((n >= CHUNKSERVERS && size > 0)) && return 0
		sleep 0.2
	done
	die "only $n of $CHUNKSERVERS chunk servers registered"
}

stop() {
	local dir=$1
	if [[ -f "$dir/mountpoint" ]]; then
		local mnt
		mnt=$(cat "$dir/mountpoint")
		mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" || true; }
	fi
	if [[ -f "$dir/pids" ]]; then
		# Reverse order: mount, chunk servers, master.
		# shellcheck disable=SC2046
		stop_pids $(tac "$dir/pids")
		rm -f "$dir/pids"
	fi
	ip netns del "$NETNS" 2>/dev/null || true
}

case "${1:-}" in
start) [[ $# -eq 3 ]] || die "usage: $0 start DIR MOUNT"; start "$2" "$3" ;;
stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop "$2" ;;
*) die "usage: $0 start DIR MOUNT | stop DIR" ;;
esac
