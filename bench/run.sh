#!/usr/bin/env bash
# bench/run.sh - sequential write and cold read through the DFS mount at
# replication 3, against the local disk, in the same run (`make bench`).
#
# For each of RUNS rounds: write SIZE MiB with `dd bs=1M conv=fsync` to
# the local disk (a directory on the filesystem that holds the chunk
# servers' data) and to the mount; then drop the page cache (and remount
# the client) and read each file back with dd. Prints the median MB/s of
# each figure and the ratio DFS / local disk. With MooseFS installed (and
# DFS_BENCH_MOOSEFS not 0), the same figures for a MooseFS mount at
# goal 3 (bench/moosefs.sh) are printed too.
#
# /dev/cpu_dma_latency is held at 0 for the whole run: an idle virtual CPU
# wakes slowly here, which alone moves FUSE figures several-fold.
#
# Environment: DFS_BIN (default build/bin), DFS_BENCH_SIZE_MB (1024),
# DFS_BENCH_RUNS (3), DFS_BENCH_DIR (var/bench; wiped), DFS_BENCH_MOOSEFS.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
export DFS_BIN=${DFS_BIN:-$REPO/build/bin}
SIZE_MB=${DFS_BENCH_SIZE_MB:-1024}
RUNS=${DFS_BENCH_RUNS:-3}
WORK=${DFS_BENCH_DIR:-$REPO/var/bench}
CLUSTER_DIR=$WORK/cluster
MNT=$WORK/mnt
LOCAL=$WORK/local
MFS_DIR=$WORK/moosefs
MFS_MNT=$WORK/mfsmnt
MFS_STARTED=0
DFS_STARTED=0

note() {
	echo "bench: $*" >&2
}

cleanup() {
	local rc=$?
	if ((DFS_STARTED)); then
		deploy/local-cluster.sh stop --dir "$CLUSTER_DIR" >/dev/null 3>&- || true
	fi
	if ((MFS_STARTED)); then
		bash bench/moosefs.sh stop "$MFS_DIR" >/dev/null 2>&1 3>&- || true
	fi
	rm -rf "$LOCAL" "$CLUSTER_DIR/master" "$CLUSTER_DIR"/cs[0-9]* "$MFS_DIR"
	exit "$rc"
}

# Hold the CPU wake-up latency at 0 (a 32-bit binary int) while fd 3 is
# open, i.e. for the life of this script.
hold_cpu_latency() {
	# The group keeps 2>/dev/null from sticking to the shell as exec's
	# own redirections would.
	if { exec 3<>/dev/cpu_dma_latency; } 2>/dev/null; then
		printf '\x00\x00\x00\x00' >&3
	else
		note "cannot open /dev/cpu_dma_latency (not root?); figures will be noisy"
	fi
}

drop_caches() {
	sync
	if ! echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
		note "cannot drop caches; 'cold' reads may come from memory"
	fi
}

now() {
	date +%s.%N
}

# mbps START END: SIZE_MB over the elapsed time, in MB/s (10^6 bytes).
mbps() {
	awk -v s="$1" -v e="$2" -v m="$SIZE_MB" \
		'BEGIN { printf "%.1f\n", m * 1048576 / 1e6 / (e - s) }'
}

# write_test FILE: MB/s of a fresh sequential write of SIZE_MB MiB.
write_test() {
	local f=$1 s e
	rm -f "$f"
	sync
	s=$(now)
	dd if=/dev/zero of="$f" bs=1M count="$SIZE_MB" conv=fsync status=none
	e=$(now)
	mbps "$s" "$e"
}

# read_test FILE: MB/s of a sequential read (caches already dropped).
read_test() {
	local f=$1 s e
	s=$(now)
	dd if="$f" of=/dev/null bs=1M status=none
	e=$(now)
	mbps "$s" "$e"
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

start_moosefs() {
	[[ "${DFS_BENCH_MOOSEFS:-1}" != 0 ]] || return 1
	command -v mfsmaster >/dev/null || return 1
	note "starting MooseFS (bench/moosefs.sh)"
	if bash bench/moosefs.sh start "$MFS_DIR" "$MFS_MNT" 3>&-; then
		MFS_STARTED=1
		return 0
	fi
	note "MooseFS did not start; skipping it"
	bash bench/moosefs.sh stop "$MFS_DIR" >/dev/null 2>&1 3>&- || true
	return 1
}

main() {
	local i w_local=() w_dfs=() r_local=() r_dfs=() w_mfs=() r_mfs=()
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	hold_cpu_latency
	rm -rf "$WORK"
	mkdir -p "$LOCAL"
	note "starting a DFS cluster (3 chunk servers, replication 3)"
	DFS_STARTED=1
	deploy/local-cluster.sh start --clean --dir "$CLUSTER_DIR" \
		--mount "$MNT" --replication 3 >/dev/null 3>&-
	start_moosefs || true

	for ((i = 1; i <= RUNS; i++)); do
		note "round $i of $RUNS: write ${SIZE_MB} MiB"
		w_local+=("$(write_test "$LOCAL/file")")
		w_dfs+=("$(write_test "$MNT/file")")
		((MFS_STARTED)) && w_mfs+=("$(write_test "$MFS_MNT/file")")
		note "round $i of $RUNS: cold read"
		drop_caches
		r_local+=("$(read_test "$LOCAL/file")")
		deploy/local-cluster.sh remount --dir "$CLUSTER_DIR" >/dev/null 3>&-
		drop_caches
		r_dfs+=("$(read_test "$MNT/file")")
		if ((MFS_STARTED)); then
			drop_caches
			r_mfs+=("$(read_test "$MFS_MNT/file")")
		fi
		rm -f "$LOCAL/file" "$MNT/file"
		((MFS_STARTED)) && rm -f "$MFS_MNT/file"
	done

	local wl wd rl rd
	wl=$(median "${w_local[@]}")
	wd=$(median "${w_dfs[@]}")
	rl=$(median "${r_local[@]}")
	rd=$(median "${r_dfs[@]}")
	echo
	echo "DFS benchmark: ${SIZE_MB} MiB sequential, dd bs=1M, median of $RUNS runs"
	echo "replication 3, default chunk size, local disk = $(df --output=source "$LOCAL" | tail -n 1)"
	echo
	printf '%-22s %12s %12s %8s\n' "" "DFS (MB/s)" "local (MB/s)" "ratio"
	printf '%-22s %12s %12s %8s\n' "write (conv=fsync)" "$wd" "$wl" "$(ratio "$wd" "$wl")"
	printf '%-22s %12s %12s %8s\n' "cold read" "$rd" "$rl" "$(ratio "$rd" "$rl")"
	if ((MFS_STARTED)); then
		local wm rm_
		wm=$(median "${w_mfs[@]}")
		rm_=$(median "${r_mfs[@]}")
		echo
		printf '%-22s %12s %12s %8s\n' "" "MooseFS" "DFS/MooseFS" ""
		printf '%-22s %12s %12s\n' "write (conv=fsync)" "$wm" "$(ratio "$wd" "$wm")"
		printf '%-22s %12s %12s\n' "cold read" "$rm_" "$(ratio "$rd" "$rm_")"
	fi
	echo
	echo "runs (MB/s): write dfs ${w_dfs[*]} local ${w_local[*]};" \
		"read dfs ${r_dfs[*]} local ${r_local[*]}"
	((MFS_STARTED)) && echo "runs (MB/s): moosefs write ${w_mfs[*]} read ${r_mfs[*]}"
	return 0
}

main "$@"
