#!/usr/bin/env bash
# mr_wc.sh - MapReduce word count benchmark (SPEC 8, issue 5).
#
#   bench/mr_wc.sh [SIZE_MIB]
#
# Generates SIZE_MIB (default 1024) of text by repeating the Gutenberg
# books, starts a local cluster of 3 chunk servers (deploy/local-cluster.sh,
# default 64 MiB chunks, replication 3) with an mr coordinator and one
# worker per chunk server, copies the text in through the mount, and times
# in the same run, median of MR_BENCH_RUNS (default 3) runs each:
#   - `mr submit --app wc.so` on the cluster,
#   - `mr seq --app wc.so` on the local file,
#   - LC_ALL=C tr -cs A-Za-z '\n' < FILE | sort | uniq -c
# checks that the three agree, and prints the times, the ratios and the
# share of data-local map tasks. /dev/cpu_dma_latency is held at 0 while
# it runs. Everything it starts is stopped by pid on exit.
#
# Environment: DFS_BIN (binaries, default build/bin), MR_BENCH_RUNS,
# MR_BENCH_CHUNK_SIZE (bytes), MR_BENCH_REDUCES (default 3),
# MR_BENCH_DIR (work directory, default a new one under /tmp).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BIN=${DFS_BIN:-$REPO/build/bin}
APPS=$(dirname "$BIN")/apps
SIZE_MIB=${1:-1024}
RUNS=${MR_BENCH_RUNS:-3}
REDUCES=${MR_BENCH_REDUCES:-3}
BOOKS=${MR_BENCH_BOOKS:-$REPO/../shared/data/gutenberg}
WORK=${MR_BENCH_DIR:-$(mktemp -d /tmp/mr-bench.XXXXXX)}
CLUSTER=$WORK/cluster
MNT=$WORK/mnt
PIDS=()

note() { echo "mr_wc: $*" >&2; }

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

cleanup() {
	stop_pids "${PIDS[@]}"
	if [[ -f $CLUSTER/cluster.env ]]; then
		"$REPO/deploy/local-cluster.sh" stop --dir "$CLUSTER" \
			>/dev/null 2>&1 || true
	fi
	[[ -n ${MR_BENCH_DIR:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

for b in mr masterd chunkd fusefs; do
	[[ -x $BIN/$b ]] || { note "$BIN/$b missing (run make)"; exit 1; }
done
[[ -f $APPS/wc.so ]] || { note "$APPS/wc.so missing (run make)"; exit 1; }
books=("$BOOKS"/pg-*.txt)
if [[ ! -f ${books[0]} ]]; then
	books=(/usr/share/common-licenses/*)
fi

hold_cpu_latency

# ---------------------------------------------------------------------
note "generating ${SIZE_MIB} MiB of text in $WORK"
input=$WORK/input.txt
limit=$((SIZE_MIB * 1024 * 1024))
: >"$input"
while (($(stat -c %s "$input") < limit)); do
	cat "${books[@]}" >>"$input"
done
# Exactly SIZE_MIB MiB, ending with a newline so every tool sees the
# same words.
truncate -s $((limit - 1)) "$input"
printf '\n' >>"$input"

note "starting a 3-server cluster"
args=(start --dir "$CLUSTER" --mount "$MNT" --chunkservers 3)
[[ -n ${MR_BENCH_CHUNK_SIZE:-} ]] && args+=(--chunk-size "$MR_BENCH_CHUNK_SIZE")
mkdir -p "$MNT"
DFS_BIN=$BIN "$REPO/deploy/local-cluster.sh" "${args[@]}" >"$WORK/start.log" 2>&1 3>&- ||
	{ cat "$WORK/start.log" >&2; exit 1; }
# shellcheck disable=SC1091
source "$CLUSTER/cluster.env"
logs=$CLUSTER/logs

if [[ -z ${DFS_COORDINATOR:-} ]]; then
	setsid "$BIN/mr" coordinator --listen 127.0.0.1:0 --master "$DFS_MASTER" \
		--data "$CLUSTER/mr-coordinator" </dev/null >"$logs/mr-coordinator.log" 2>&1 3>&- &
	PIDS+=($!)
	for _ in $(seq 100); do
		DFS_COORDINATOR=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' \
			"$logs/mr-coordinator.log" | tail -n 1)
		[[ -n $DFS_COORDINATOR ]] && break
		sleep 0.1
	done
	[[ -n $DFS_COORDINATOR ]] || { note "coordinator did not start"; exit 1; }
	for i in $(seq "$DFS_CHUNKSERVERS"); do
		v=DFS_CHUNKD_$i
		setsid "$BIN/mr" worker --chunkd "${!v}" --coordinator "$DFS_COORDINATOR" \
			--master "$DFS_MASTER" --data "$CLUSTER/mr-worker-$i" \
			</dev/null >"$logs/mr-worker-$i.log" 2>&1 3>&- &
		PIDS+=($!)
	done
fi
export DFS_COORDINATOR DFS_MASTER DFS_MOUNT
for _ in $(seq 100); do
	n=$(curl -sf "http://$DFS_COORDINATOR/health" |
		sed -n 's/.*"workers": *\([0-9]*\).*/\1/p')
	[[ ${n:-0} -ge $DFS_CHUNKSERVERS ]] && break
	sleep 0.1
done

note "copying the input into the mount"
t0=$(now)
mkdir -p "$MNT/bench"
cp "$input" "$MNT/bench/input.txt"
t_copy=$(elapsed "$t0" "$(now)")

# ---------------------------------------------------------------------
t_mr=() t_seq=() t_unix=() local_share=
for run in $(seq "$RUNS"); do
	note "run $run/$RUNS: mr submit"
	drop_caches
	t0=$(now)
	"$BIN/mr" submit --quiet --input "$MNT/bench/input.txt" \
		--output "/bench-out-$run" --app "$APPS/wc.so" \
		--reduces "$REDUCES" >"$WORK/submit-$run.txt"
	t_mr+=("$(elapsed "$t0" "$(now)")")
	job=$(sed -n 's/^job \(.*\)$/\1/p' "$WORK/submit-$run.txt" | head -n 1)
	local_share=$("$BIN/mr" status "$job" --json | /usr/bin/python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
d, m = c["data_local_maps"], c["maps"]
print("%d/%d (%.0f%%)" % (d, m, 100.0 * d / max(1, m)))')

	note "run $run/$RUNS: mr seq"
	rm -rf "$WORK/seq-out"
	drop_caches
	t0=$(now)
	"$BIN/mr" seq --app "$APPS/wc.so" --reduces "$REDUCES" \
		--output "$WORK/seq-out" "$input" 2>/dev/null
	t_seq+=("$(elapsed "$t0" "$(now)")")

	note "run $run/$RUNS: tr | sort | uniq -c"
	drop_caches
	t0=$(now)
	LC_ALL=C tr -cs 'A-Za-z' '\n' <"$input" | LC_ALL=C sort |
		LC_ALL=C uniq -c >"$WORK/unix.txt"
	t_unix+=("$(elapsed "$t0" "$(now)")")
done

note "checking that the three outputs agree"
cat "$MNT"/bench-out-1/part-* | LC_ALL=C sort >"$WORK/mr.sorted"
cat "$WORK"/seq-out/part-* | LC_ALL=C sort >"$WORK/seq.sorted"
awk 'NF == 2 { print $2 "\t" $1 }' "$WORK/unix.txt" | LC_ALL=C sort \
	>"$WORK/unix.sorted"
cmp -s "$WORK/mr.sorted" "$WORK/seq.sorted" ||
	{ note "cluster output differs from mr seq"; exit 1; }
cmp -s "$WORK/mr.sorted" "$WORK/unix.sorted" ||
	{ note "cluster output differs from tr|sort|uniq"; exit 1; }

m_mr=$(median "${t_mr[@]}")
m_seq=$(median "${t_seq[@]}")
m_unix=$(median "${t_unix[@]}")
chunk=$(curl -sf "http://$DFS_MASTER/api/overview" |
	sed -n 's/.*"chunk_size": *\([0-9]*\).*/\1/p')
cat <<EOF

MapReduce word count, $SIZE_MIB MiB of text, 3 chunk servers, chunk size ${chunk:-?} B,
$REDUCES reduces, $(nproc) CPUs; median of $RUNS runs (all runs: mr ${t_mr[*]}; seq ${t_seq[*]}; tr|sort|uniq ${t_unix[*]})
  copy into the mount (cp)       $(printf '%8.2f' "$t_copy") s
  mr submit (cluster)            $(printf '%8.2f' "$m_mr") s
  mr seq (one process)           $(printf '%8.2f' "$m_seq") s   cluster speed-up x$(awk -v a="$m_seq" -v b="$m_mr" 'BEGIN { printf "%.2f", a / b }')
  tr | sort | uniq -c            $(printf '%8.2f' "$m_unix") s   cluster speed-up x$(awk -v a="$m_unix" -v b="$m_mr" 'BEGIN { printf "%.2f", a / b }')
  data-local map tasks           $local_share
EOF
