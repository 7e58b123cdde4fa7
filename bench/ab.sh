#!/usr/bin/env bash
# ab.sh - two builds side by side on the small-file paths.
#
#   bench/ab.sh OLD_BIN NEW_BIN [ROUNDS]
#
# Starts one local cluster per build (deploy/local-cluster.sh, 3 chunk
# servers, replication 3, no MapReduce) and runs ROUNDS (default 5)
# rounds on each, the two clusters alternating within every round so that
# both see the same moments of a noisy machine (before each, wait_quiet
# of bench/lib.sh lets both clusters' deletions and their discards end):
#   - create AB_FILES (default 1,500) files of 4 KiB in one directory,
#     then `rm -rf` it;
#   - `cp -a` of AB_TREE (default /usr/share/doc) in, then `rm -rf` it
#     (skipped when AB_TREE is empty).
# Each step prints its time and masterd's busiest API endpoints during
# it (dfs_http_request_duration_seconds): calls and µs inside masterd per
# call. At the end, the median time of every step per build, and the
# create rate. /dev/cpu_dma_latency is held at 0 while it runs; both
# clusters are stopped (by pid) on exit.
#
# A build of an older commit for OLD_BIN:
#   mkdir /tmp/old && git archive COMMIT | tar x -C /tmp/old
#   make -C /tmp/old BUILD=/tmp/old/b all
#   bench/ab.sh /tmp/old/b/bin build/bin
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
ROUNDS=${3:-5}
FILES=${AB_FILES:-1500}
TREE=${AB_TREE-/usr/share/doc}
WORK=$(mktemp -d /tmp/dfs-ab.XXXXXX)
NAMES=(old new)
declare -A BINS=([old]=${1:-} [new]=${2:-})
# One step (a create round, a copy) may take this long at most.
STEP_TIMEOUT=600

note() { echo "ab: $*" >&2; }

cleanup() {
	local n
	for n in "${NAMES[@]}"; do
		if [[ -f $WORK/$n/cluster.env ]]; then
			"$REPO/deploy/local-cluster.sh" stop --dir "$WORK/$n" \
				>/dev/null 2>&1 || true
		fi
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z ${BINS[old]} || -z ${BINS[new]} || ! $ROUNDS =~ ^[0-9]+$ ]]; then
	sed -n '4p' "$0" | sed 's/^# *//' >&2
	exit 2
fi
for n in "${NAMES[@]}"; do
	for b in masterd chunkd fusefs dfs; do
		[[ -x ${BINS[$n]}/$b ]] || { note "${BINS[$n]}/$b missing"; exit 1; }
	done
done
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
hold_cpu_latency

# masterd's cumulative time per endpoint: "endpoint count seconds" lines.
endpoint_times() {
	curl -s --max-time 10 "http://$1/metrics" | awk '
		match($0, /^dfs_http_request_duration_seconds_(sum|count)\{endpoint="[^"]+"\}/) {
			split($0, a, "\""); k = a[2]
			if ($0 ~ /_sum/) s[k] = $2; else c[k] = $2
		}
		END { for (k in c) print k, c[k], s[k] }' | sort
}

# What changed between two endpoint_times snapshots, busiest first.
endpoint_diff() {
	join -a 2 -e 0 -o 0,1.2,1.3,2.2,2.3 <(echo "$1") <(echo "$2") | awk '$4 > $2 && $1 !~ /metrics|heartbeat/ {
		n = $4 - $2; printf "%s %d %.0fus\n", $1, n, ($5 - $3) * 1e6 / n }' |
		sort -k2,2nr | head -6 | tr '\n' ' '
}

# The create workload: N files of 4 KiB in a new directory.
cat >"$WORK/create.py" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d)
block = b"x" * 4096
for i in range(n):
    fd = os.open(f"{d}/f{i}", os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, block)
    os.close(fd)
EOF

declare -A MASTER FIG
# The disk under the clusters' data, for wait_quiet.
DISK=$(disk_of "$WORK")
for n in "${NAMES[@]}"; do
	DFS_BIN=${BINS[$n]} "$REPO/deploy/local-cluster.sh" start \
		--dir "$WORK/$n" --mount "$WORK/$n-mnt" --chunkservers 3 \
		--no-mapreduce >/dev/null 3>&-
	# shellcheck source=/dev/null
	MASTER[$n]=$(. "$WORK/$n/cluster.env" && echo "$DFS_MASTER")
done
note "clusters up: old ${BINS[old]}, new ${BINS[new]}; $ROUNDS rounds"

# Run one timed step on cluster $n: "step KEY COMMAND...". Prints its
# time and masterd's calls during it; adds "KEY seconds" to the round.
step() {
	local key=$1 before t0 secs
	shift
	before=$(endpoint_times "${MASTER[$n]}")
	t0=$(now)
	timeout "$STEP_TIMEOUT" "$@"
	secs=$(elapsed "$t0" "$(now)")
	line+=" $key $secs"
	printf '    %-10s %6.2f s  masterd: %s\n' "$key" "$secs" \
		"$(endpoint_diff "$before" "$(endpoint_times "${MASTER[$n]}")")"
}

for r in $(seq "$ROUNDS"); do
	for n in "${NAMES[@]}"; do
		mnt=$WORK/$n-mnt
		# Both clusters' deletions and their discards done, the
		# machine quiet (bench/lib.sh).
		wait_quiet 30 90 5 "$DISK" "${MASTER[@]}"
		echo "$n round $r:"
		line=""
		step create-s /usr/bin/python3 "$WORK/create.py" "$mnt/files$r" "$FILES"
		step rm-files-s rm -rf "$mnt/files$r"
		if [[ -n $TREE ]]; then
			step cp-a-s cp -a "$TREE" "$mnt/tree$r"
			step rm-tree-s rm -rf "$mnt/tree$r"
		fi
		FIG[$n]+="$line"$'\n'
	done
done

echo
for n in "${NAMES[@]}"; do
	out="$n median:"
	for key in create-s rm-files-s cp-a-s rm-tree-s; do
		mapfile -t v < <(echo -n "${FIG[$n]}" |
			awk -v k="$key" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }')
		((${#v[@]} > 0)) &&
			out+=" $key $(printf '%.2f' "$(median "${v[@]}")")"
	done
	c=$(echo -n "${FIG[$n]}" | awk '{ for (i = 1; i < NF; i++) if ($i == "create-s") print $(i + 1) }')
	mapfile -t v <<<"$c"
	out+=" (creates/s $(echo "$FILES / $(median "${v[@]}")" | bc))"
	echo "$out"
done
