#!/bin/bash
#
# tests/fuzz/run.sh [SECONDS] - build the libFuzzer harnesses with clang
# and run each for SECONDS (default 10).
#
# Each harness tests/fuzz/fuzz_<name>.c is linked directly with the lib/
# files it needs, built with -fsanitize=fuzzer,address,undefined into
# build/fuzz/. It starts from the committed seeds in
# tests/fuzz/corpus/fuzz_<name>/ (read only) plus what earlier runs found
# in build/fuzz/corpus/fuzz_<name>/ (where new inputs go). A crash, leak,
# sanitizer report or timeout leaves its input in
# build/fuzz/artifacts/ and makes the script exit 1 after the other
# harnesses ran. Environment: CC (default clang), FUZZ_BUILD (default
# build/fuzz), FUZZ_ONLY (run just this harness, e.g. fuzz_auth).
#
# fuzz_master and fuzz_chunkd run a whole daemon inside the fuzzer: its
# sources are compiled in with main() renamed (-Dmain=masterd_main), all
# of lib/ with them. Their background threads allocate on their own, so
# they run without leak detection.
set -euo pipefail

secs=${1:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_BUILD:-$root/build/fuzz}
cc=${CC:-clang}
case "$cc" in *clang*) ;; *) cc=clang ;; esac

if ! command -v "$cc" >/dev/null; then
	echo "run.sh: '$cc' not found (apt-get install clang)" >&2
	exit 2
fi
case "$secs" in
'' | *[!0-9]*)
	echo "usage: run.sh [SECONDS]" >&2
	exit 2
	;;
esac

pkgs="jansson libcurl openssl libmicrohttpd sqlite3 libxxhash"
cflags="-std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra \
-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
-D_GNU_SOURCE -I$root/include $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs) -lhttp_parser -pthread -ldl -lm"
common="lib/log.c lib/xmalloc.c lib/timeutil.c lib/wire.c"
alllib=$(cd "$root" && ls lib/*.c | grep -v -x -F "$(printf '%s\n' $common)" |
	tr '\n' ' ')
# A daemon's sources, its main() renamed.
daemon_srcs() {
	(cd "$root" && ls "$1"/*.c | tr '\n' ' ')
}

# The files each harness needs besides $common.
declare -A deps=(
	[fuzz_auth]="lib/auth.c"
	[fuzz_names]="lib/proto.c lib/json_writer.c lib/http_client.c lib/http_conn.c lib/auth.c"
	[fuzz_proto_attr]="lib/proto.c lib/json_writer.c lib/http_client.c lib/http_conn.c lib/auth.c"
	[fuzz_http]="tests/fuzz/fuzz_net.c lib/http_server.c lib/work_pool.c lib/buf_pool.c lib/http_client.c lib/http_conn.c lib/auth.c lib/proto.c lib/json_writer.c"
	[fuzz_http_reply]="lib/http_client.c lib/http_conn.c lib/auth.c"
	[fuzz_path]="tools/cli.c $alllib"
	[fuzz_master]="tests/fuzz/fuzz_net.c $(daemon_srcs masterd) $alllib"
	[fuzz_chunkd]="tests/fuzz/fuzz_net.c $(daemon_srcs chunkd) $alllib"
)

# Extra compiler flags and libFuzzer options of some harnesses.
declare -A extra_cflags=(
	[fuzz_path]="-I$root/tools"
	[fuzz_master]="-I$root/masterd -Dmain=masterd_main"
	[fuzz_chunkd]="-I$root/chunkd -Dmain=chunkd_main"
)
declare -A extra_run=(
	[fuzz_http]="-detect_leaks=0"
	[fuzz_master]="-detect_leaks=0"
	[fuzz_chunkd]="-detect_leaks=0"
)

mkdir -p "$out/artifacts"
failed=()
for name in $(printf '%s\n' "${!deps[@]}" | sort); do
	if [ -n "${FUZZ_ONLY:-}" ] && [ "$name" != "$FUZZ_ONLY" ]; then
		continue
	fi
	srcs="tests/fuzz/$name.c ${deps[$name]} $common"
	echo "== build $name"
	# shellcheck disable=SC2086
	if ! (cd "$root" && $cc $cflags ${extra_cflags[$name]:-} \
		-o "$out/$name" $srcs $libs); then
		echo "!! $name does not build" >&2
		failed+=("$name")
		continue
	fi
	mkdir -p "$out/corpus/$name"
	echo "== run $name for ${secs}s (log: $out/$name.log)"
	if "$out/$name" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 ${extra_run[$name]:-} \
		-artifact_prefix="$out/artifacts/$name-" \
		"$out/corpus/$name" "$root/tests/fuzz/corpus/$name" \
		>"$out/$name.log" 2>&1; then
		grep -E '^(stat::number_of_executed_units|Done )' \
			"$out/$name.log" | sed 's/^/   /' || true
	else
		echo "!! $name failed; last lines of its log:" >&2
		tail -n 30 "$out/$name.log" >&2
		failed+=("$name")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzzing found problems in: ${failed[*]}" >&2
	exit 1
fi
echo "fuzzing: no crashes"
