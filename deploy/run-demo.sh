#!/usr/bin/env bash
# run-demo.sh - what `make run` does once everything is built.
#
# Starts a fresh local cluster (3 chunk servers, replication 3) mounted at
# /mnt/dfs, replacing one a previous run left in ./var/cluster; copies
# /usr/share/doc in with `cp -a`; checks the copy with `diff -r`
# (symlinks compared as links); prints
# `dfs status`; runs a MapReduce word count over text copied into the
# mount and prints its 10 most frequent words; and leaves the cluster
# running.
#
# Environment: DFS_DEMO_DIR (default ./var/cluster), DFS_DEMO_MOUNT
# (default /mnt/dfs), DFS_BIN (default build/bin).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR=${DFS_DEMO_DIR:-./var/cluster}
MNT=${DFS_DEMO_MOUNT:-/mnt/dfs}
SRC=/usr/share/doc
export DFS_BIN=${DFS_BIN:-$PWD/build/bin}
APPS=$(dirname "$DFS_BIN")/apps
BOOKS=${DFS_DEMO_BOOKS:-$PWD/../shared/data/gutenberg}
CLUSTER=deploy/local-cluster.sh

step() {
	printf '\n==> %s\n' "$*"
}

if [[ -f "$DIR/cluster.env" ]]; then
	step "stopping the previous demo cluster in $DIR"
	"$CLUSTER" stop --dir "$DIR"
fi

step "starting a local cluster in $DIR, mounted at $MNT"
"$CLUSTER" start --clean --dir "$DIR" --mount "$MNT"
# shellcheck disable=SC1091
source "$DIR/cluster.env"

step "cp -a $SRC $MNT/doc"
start=$(date +%s.%N)
cp -a "$SRC" "$MNT/doc"
end=$(date +%s.%N)
files=$(find "$MNT/doc" -type f | wc -l)
bytes=$(du -sb --apparent-size "$SRC" | cut -f1)
awk -v s="$start" -v e="$end" -v b="$bytes" -v f="$files" 'BEGIN {
	printf "copied %d files, %.1f MB in %.1f s (%.1f MB/s)\n",
		f, b / 1e6, e - s, b / 1e6 / (e - s) }'

# --no-dereference compares symlinks as links: some in /usr/share/doc are
# relative links out of the tree that dangle at another depth.
step "diff -r --no-dereference $SRC $MNT/doc"
diff -r --no-dereference "$SRC" "$MNT/doc"
echo "identical"

# The word count reads the public-domain books shipped beside the
# repository, else the copyright texts just copied in.
step "MapReduce word count"
mkdir -p "$MNT/books"
if compgen -G "$BOOKS/*.txt" >/dev/null; then
	cp "$BOOKS"/*.txt "$MNT/books/"
else
	find "$MNT/doc" -name copyright -type f -print0 |
		xargs -0 cat >"$MNT/books/copyrights.txt"
fi
rm -rf "$MNT/wc-out"
"$DFS_BIN/mr" submit --input "$MNT/books" --output "$MNT/wc-out" \
	--app "$APPS/wc.so" --reduces 3
step "the 10 most frequent words"
cat "$MNT"/wc-out/part-* | sort -t$'\t' -k2,2nr -k1,1 | sed -n 1,10p

step "dfs status"
"$DFS_BIN/dfs" status

stop_args=
[[ "$DIR" == ./var/cluster ]] || stop_args=" --dir $DIR"
cat <<EOF

The cluster keeps running:
  mount        $MNT
  logs         $DFS_DIR/logs
  environment  source $DFS_DIR/cluster.env   (DFS_MASTER for dfs)
  dfs          $DFS_BIN/dfs status
Stop it with:

    deploy/local-cluster.sh stop$stop_args
EOF
