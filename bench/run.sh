#!/usr/bin/env bash
# bench/run.sh - the workloads of SPEC 8 / issue 3 through the DFS mount at
# replication 3, through a MooseFS mount at goal 3 (bench/moosefs.sh),
# through a GlusterFS mount of a replica-3 volume (bench/glusterfs.sh) and
# on the local disk, side by side in one run (`make bench`).
#
# Each round runs every workload on each system in turn (so the systems
# share the machine's state alike); the table gives the median of the
# rounds, the spread (min-max) and the ratios DFS / MooseFS,
# DFS / GlusterFS and DFS / local disk. Workloads:
#   seq write   dd bs=1M count=SIZE conv=fsync          MB/s
#   cold read   drop caches (DFS: remount too), dd      MB/s
#   warm read   the same file again, page cache kept    MB/s
#   rand read   fio 4 KiB randread O_DIRECT, psync      IOPS
#   create      FILES files of 4 KiB in one directory   files/s
#   ls -l       of those files, warm (after one ls)     entries/s
#   cp -a       TREE into the mount; diff -r; rm -rf    seconds
#   md creates  bench/mdbench.c: EP_CREATE straight to masterd from
#               MD_CLIENTS parallel clients (DFS only; its rounds run
#               before the other systems start)         creates/s
#
# /dev/cpu_dma_latency is held at 0 for the whole run: an idle virtual CPU
# wakes slowly here, which alone moves FUSE figures several-fold. Before
# each timed workload the script waits (each wait up to 30 s) for DFS's
# master to have handed out every deleted replica, syncs, and waits for
# the CPUs to be 90 % idle and the disk 95 % idle, so that no workload
# shares the machine with the background work (deletions and their
# discards, write-back) of the one before (settle()).
# Durability differs: DFS fsyncs every replica on fsync() (close() waits
# until every replica's server holds the data, SPEC 3); MooseFS's chunk
# servers do not fsync by default; GlusterFS passes fsync() to its bricks.
#
# Environment: DFS_BIN (default build/bin), DFS_BENCH_SIZE_MB (1024),
# DFS_BENCH_RUNS (3), DFS_BENCH_DIR (var/bench; wiped),
# DFS_BENCH_MOOSEFS (1; 0 skips MooseFS), DFS_BENCH_GLUSTERFS (1; 0 skips
# GlusterFS), DFS_BENCH_FILES (5000),
# DFS_BENCH_TREE (/usr/share/doc), DFS_BENCH_FIO_SECONDS (10),
# DFS_BENCH_FIO_JOBS (4), DFS_BENCH_MD_CLIENTS (8), DFS_BENCH_MD_FILES
# (per client, 2000), DFS_BENCH_ONLY (space-separated subset of: seq rand
# create tree md; default all), DFS_BENCH_SETTLE_IDLE (90, %),
# DFS_BENCH_SETTLE_DISK_BUSY (5, %), DFS_BENCH_SETTLE_SECONDS (30).
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
export DFS_BIN=${DFS_BIN:-$REPO/build/bin}
SIZE_MB=${DFS_BENCH_SIZE_MB:-1024}
RUNS=${DFS_BENCH_RUNS:-3}
WORK=${DFS_BENCH_DIR:-$REPO/var/bench}
NFILES=${DFS_BENCH_FILES:-5000}
TREE=${DFS_BENCH_TREE:-/usr/share/doc}
FIO_SECONDS=${DFS_BENCH_FIO_SECONDS:-10}
FIO_JOBS=${DFS_BENCH_FIO_JOBS:-4}
MD_CLIENTS=${DFS_BENCH_MD_CLIENTS:-8}
MD_FILES=${DFS_BENCH_MD_FILES:-2000}
SETTLE_IDLE=${DFS_BENCH_SETTLE_IDLE:-90}
SETTLE_TRIES=${DFS_BENCH_SETTLE_SECONDS:-30}
SETTLE_DISK_BUSY=${DFS_BENCH_SETTLE_DISK_BUSY:-5}
ONLY=" ${DFS_BENCH_ONLY:-seq rand create tree md} "
CLUSTER_DIR=$WORK/cluster
MNT=$WORK/mnt
LOCAL=$WORK/local
MFS_DIR=$WORK/moosefs
MFS_MNT=$WORK/mfsmnt
GL_DIR=$WORK/glusterfs
GL_MNT=$WORK/glmnt
MDBENCH=$WORK/mdbench
MFS_STARTED=0
GL_STARTED=0
DFS_STARTED=0
BENCH_DISK=
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

# Results: R["workload|system"] = "v1 v2 ...".
declare -A R
# Systems of this run: "dfs", "mfs" and "gl" (when started), "local".
SYSTEMS=()

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
	if ((GL_STARTED)); then
		bash bench/glusterfs.sh stop "$GL_DIR" >/dev/null 2>&1 3>&- || true
	fi
	rm -rf "$LOCAL" "$CLUSTER_DIR/master" "$CLUSTER_DIR"/cs[0-9]* "$MFS_DIR" \
		"$GL_DIR"
	exit "$rc"
}

# shellcheck source=bench/lib.sh
. bench/lib.sh

# settle: let what the workload before left running in the background
# finish first (deleting chunks and their discards, writing back, the
# other system's housekeeping): wait_quiet (bench/lib.sh) with DFS's
# master when it runs.
settle() {
	local masters=()
	# shellcheck source=/dev/null
	((DFS_STARTED)) &&
		masters+=("$(. "$CLUSTER_DIR/cluster.env" && echo "$DFS_MASTER")")
	wait_quiet "$SETTLE_TRIES" "$SETTLE_IDLE" "$SETTLE_DISK_BUSY" \
		"$BENCH_DISK" "${masters[@]}"
}

# rate N START END: N / elapsed seconds.
rate() {
	awk -v n="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.1f\n", n / (e - s) }'
}

# secs START END: elapsed seconds.
secs() {
	awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2f\n", e - s }'
}

# mb: SIZE_MB MiB in MB (10^6 bytes), the numerator of a MB/s figure.
mb() {
	awk -v m="$SIZE_MB" 'BEGIN { printf "%.3f", m * 1048576 / 1e6 }'
}

# dir_of SYSTEM: where the system's files go.
dir_of() {
	case $1 in
	dfs) echo "$MNT/b" ;;
	mfs) echo "$MFS_MNT/b" ;;
	gl) echo "$GL_MNT/b" ;;
	local) echo "$LOCAL/b" ;;
	esac
}

# add WORKLOAD SYSTEM VALUE: record one figure.
add() {
	R["$1|$2"]="${R["$1|$2"]:-} $3"
}

# cold SYSTEM: make the next read of SYSTEM's files cold.
cold() {
	if [[ $1 == dfs ]]; then
		deploy/local-cluster.sh remount --dir "$CLUSTER_DIR" >/dev/null 3>&-
	fi
	drop_caches
}

# seq_round SYSTEM: write, cold read, warm read, then rand read of a file.
seq_round() {
	local sys=$1 d f s e
	d=$(dir_of "$sys")
	f=$d/file
	rm -f "$f"
	sync
	settle
	s=$(now)
	dd if=/dev/zero of="$f" bs=1M count="$SIZE_MB" conv=fsync status=none
	e=$(now)
	add write "$sys" "$(rate "$(mb)" "$s" "$e")"
	cold "$sys"
	s=$(now)
	dd if="$f" of=/dev/null bs=1M status=none
	e=$(now)
	add cold "$sys" "$(rate "$(mb)" "$s" "$e")"
	s=$(now)
	dd if="$f" of=/dev/null bs=1M status=none
	e=$(now)
	add warm "$sys" "$(rate "$(mb)" "$s" "$e")"
	if [[ $ONLY == *" rand "* ]] && command -v fio >/dev/null; then
		add rand "$sys" "$(fio_iops "$f")"
	fi
	rm -f "$f"
}

# fio_iops FILE: 4 KiB random read IOPS, O_DIRECT, FIO_JOBS jobs.
fio_iops() {
	fio --name=randread --filename="$1" --size="${SIZE_MB}M" \
		--rw=randread --bs=4k --direct=1 --ioengine=psync \
		--numjobs="$FIO_JOBS" --group_reporting --time_based \
		--runtime="$FIO_SECONDS" --output-format=terse 2>/dev/null |
		awk -F';' 'NR == 1 { printf "%.0f\n", $8 }'
}

# create_round SYSTEM: NFILES files of 4 KiB in one directory; ls -l.
create_round() {
	local sys=$1 d s e
	d=$(dir_of "$sys")/many
	rm -rf "$d"
	mkdir -p "$d"
	sync
	settle
	s=$(now)
	"$PY" -c '
import sys
d, n = sys.argv[1], int(sys.argv[2])
buf = b"x" * 4096
for i in range(n):
    with open("%s/f%05d" % (d, i), "wb") as f:
        f.write(buf)
' "$d" "$NFILES"
	e=$(now)
	add create "$sys" "$(rate "$NFILES" "$s" "$e")"
	ls -l "$d" >/dev/null
	s=$(now)
	ls -l "$d" >/dev/null
	e=$(now)
	add ls "$sys" "$(rate "$NFILES" "$s" "$e")"
	rm -rf "$d"
}

# tree_round SYSTEM: cp -a TREE in, diff -r, rm -rf.
tree_round() {
	local sys=$1 d s e
	d=$(dir_of "$sys")/tree
	rm -rf "$d"
	sync
	settle
	s=$(now)
	cp -a "$TREE" "$d"
	e=$(now)
	add cp "$sys" "$(secs "$s" "$e")"
	s=$(now)
	diff -r --no-dereference "$TREE" "$d" >/dev/null || note "diff -r found differences on $sys"
	e=$(now)
	add diff "$sys" "$(secs "$s" "$e")"
	s=$(now)
	rm -rf "$d"
	e=$(now)
	add rm "$sys" "$(secs "$s" "$e")"
}

# md_round: metadata creates/s straight against masterd.
md_round() {
	local master secret out
	master=$(. "$CLUSTER_DIR/cluster.env" && echo "$DFS_MASTER")
	secret=$(. "$CLUSTER_DIR/cluster.env" && echo "${DFS_SECRET:-}")
	# Start with nothing dirty and the CPUs quiet, as the other rounds
	# do: the rounds before leave deletions and write-back behind.
	sync
	settle
	out=$("$MDBENCH" --master "$master" ${secret:+--secret "$secret"} \
		--clients "$MD_CLIENTS" --files "$MD_FILES")
	add md dfs "$(awk '{ for (i = 1; i < NF; i++) if ($i == "creates/s") print $(i + 1) }' <<<"$out")"
}

build_mdbench() {
	local pkgs="libcurl jansson libxxhash openssl libmicrohttpd"
	make -s build/obj/libdfs.a >/dev/null
	# shellcheck disable=SC2046
	cc -std=gnu11 -O2 -D_GNU_SOURCE -Iinclude -pthread -o "$MDBENCH" \
		bench/mdbench.c build/obj/libdfs.a \
		$(pkg-config --libs $pkgs) -lhttp_parser -pthread -lm
}

# cell WORKLOAD SYSTEM: "median (min-max)", or "-".
cell() {
	local v=${R["$1|$2"]:-}
	if [[ -z ${v// /} ]]; then
		echo "-"
		return
	fi
	# shellcheck disable=SC2086
	printf '%s (%s-%s)' "$(median $v)" \
		"$(printf '%s\n' $v | sort -g | head -n 1)" \
		"$(printf '%s\n' $v | sort -g | tail -n 1)"
}

# ratio WORKLOAD A B: median(A) / median(B), or "-".
ratio() {
	local a=${R["$1|$2"]:-} b=${R["$1|$3"]:-}
	if [[ -z ${a// /} || -z ${b// /} ]]; then
		echo "-"
		return
	fi
	# shellcheck disable=SC2086
	awk -v a="$(median $a)" -v b="$(median $b)" \
		'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
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

start_glusterfs() {
	[[ "${DFS_BENCH_GLUSTERFS:-1}" != 0 ]] || return 1
	command -v glusterd >/dev/null || return 1
	note "starting GlusterFS (bench/glusterfs.sh)"
	# Set first: an interrupted start leaves daemons for cleanup to stop.
	GL_STARTED=1
	if bash bench/glusterfs.sh start "$GL_DIR" "$GL_MNT" 3>&-; then
		return 0
	fi
	note "GlusterFS did not start; skipping it"
	bash bench/glusterfs.sh stop "$GL_DIR" >/dev/null 2>&1 3>&- || true
	GL_STARTED=0
	return 1
}

print_table() {
	local row w unit label
	echo
	echo "DFS benchmark: median of $RUNS runs (min-max); replication/goal 3;" \
		"/dev/cpu_dma_latency held at 0"
	echo "local disk = $(df --output=source "$LOCAL" | tail -n 1);" \
		"seq ${SIZE_MB} MiB dd bs=1M; rand read fio 4k O_DIRECT" \
		"${FIO_JOBS} jobs ${FIO_SECONDS}s; $NFILES files; tree $TREE"
	echo
	printf '%-22s %-9s %-26s %-26s %-26s %-26s %8s %8s %9s\n' workload \
		unit DFS MooseFS GlusterFS "local disk" DFS/MFS DFS/GlFS DFS/local
	for row in "write|seq write fsync|MB/s" "cold|seq read cold|MB/s" \
		"warm|seq read warm|MB/s" "rand|4k rand read O_DIRECT|IOPS" \
		"create|create 4k files|files/s" "ls|ls -l warm|entries/s" \
		"cp|cp -a tree in|s" "diff|diff -r tree|s" "rm|rm -rf tree|s" \
		"md|md creates ${MD_CLIENTS} cl|creates/s"; do
		IFS='|' read -r w label unit <<<"$row"
		[[ -n ${R["$w|dfs"]:-}${R["$w|local"]:-} ]] || continue
		printf '%-22s %-9s %-26s %-26s %-26s %-26s %8s %8s %9s\n' \
			"$label" "$unit" "$(cell "$w" dfs)" "$(cell "$w" mfs)" \
			"$(cell "$w" gl)" "$(cell "$w" local)" "$(ratio "$w" dfs mfs)" \
			"$(ratio "$w" dfs gl)" "$(ratio "$w" dfs local)"
	done
	echo
	echo "ratios are of medians; for the s rows lower is better (DFS/MFS < 1: DFS faster)."
	echo "DFS fsyncs every replica's disk on fsync() (close() waits for" \
		"every replica's server); MooseFS chunk servers do not fsync by default;"
	echo "GlusterFS passes fsync() to its bricks."
}

main() {
	local i sys
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	hold_cpu_latency
	rm -rf "$WORK"
	mkdir -p "$LOCAL/b"
	BENCH_DISK=$(disk_of "$WORK")
	if [[ $ONLY == *" md "* ]]; then
		note "building bench/mdbench.c"
		build_mdbench
	fi
	note "starting a DFS cluster (3 chunk servers, replication 3)"
	DFS_STARTED=1
	deploy/local-cluster.sh start --clean --dir "$CLUSTER_DIR" \
		--mount "$MNT" --replication 3 --no-mapreduce >/dev/null 3>&-
	mkdir -p "$MNT/b"
	SYSTEMS=(dfs)
	# DFS's metadata rounds first, before the other systems start: they
	# measure masterd alone, and the peers' idle daemons (MooseFS's chunk
	# servers take ~12 % of the CPUs here) would share the CPUs with it.
	if [[ $ONLY == *" md "* ]]; then
		for ((i = 1; i <= RUNS; i++)); do
			note "round $i of $RUNS: masterd creates, $MD_CLIENTS clients"
			md_round
		done
	fi
	if start_moosefs; then
		mkdir -p "$MFS_MNT/b"
		SYSTEMS+=(mfs)
	fi
	if start_glusterfs; then
		mkdir -p "$GL_MNT/b"
		SYSTEMS+=(gl)
	fi
	SYSTEMS+=(local)
	[[ $ONLY == *" tree "* ]] && tar cf - "$TREE" 2>/dev/null | cat >/dev/null

	for ((i = 1; i <= RUNS; i++)); do
		for sys in "${SYSTEMS[@]}"; do
			if [[ $ONLY == *" seq "* || $ONLY == *" rand "* ]]; then
				note "round $i of $RUNS: $sys: sequential ${SIZE_MB} MiB"
				seq_round "$sys"
			fi
			if [[ $ONLY == *" create "* ]]; then
				note "round $i of $RUNS: $sys: create $NFILES files, ls -l"
				create_round "$sys"
			fi
			if [[ $ONLY == *" tree "* ]]; then
				note "round $i of $RUNS: $sys: cp -a, diff -r, rm -rf"
				tree_round "$sys"
			fi
		done
	done
	print_table
	return 0
}

main "$@"
