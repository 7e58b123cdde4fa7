# cluster-lib.sh - shell helpers of the scripts that run a whole DFS
# cluster on one machine (local-cluster.sh, netns-cluster.sh). Source
# it; it defines functions only.
#
# The caller sets PROG (its name, for messages) and, for launch(), BIN
# (the programs' folder). Processes are always handled by pid, checked
# against their command name, never by name alone.

# die MSG / note MSG: report on stderr (die exits 1).
die() {
	echo "$PROG: $*" >&2
	exit 1
}

note() {
	echo "$PROG: $*" >&2
}

# usage_of SCRIPT: print SCRIPT's header comment (its usage).
usage_of() {
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$1"
}

# pid_alive PID NAME: PID runs (not a zombie) and its command is NAME.
pid_alive() {
	local pid=$1 name=$2 stat comm
	[[ -n "$pid" && "$pid" =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	comm=${stat#*(}
	comm=${comm%%)*}
	[[ "$comm" == "${name:0:15}" ]] || return 1
	stat=${stat##*) }
	[[ "${stat:0:1}" != Z ]]
}

# stop_pids TIMEOUT NAME PID...: SIGTERM each live PID of command NAME,
# wait up to TIMEOUT seconds, then SIGKILL what is left.
stop_pids() {
	local timeout=$1 name=$2 pid deadline left
	shift 2
	for pid in "$@"; do
		if pid_alive "$pid" "$name"; then
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	deadline=$((SECONDS + timeout))
	while :; do
		left=()
		for pid in "$@"; do
			pid_alive "$pid" "$name" && left+=("$pid")
		done
		((${#left[@]} == 0)) && return 0
		((SECONDS >= deadline)) && break
		sleep 0.1
	done
	note "$name ${left[*]} did not stop in ${timeout}s; killing"
	for pid in "${left[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	sleep 0.2
}

# is_mounted MNT: MNT is in the mount table (even if its FUSE server
# died and the mount point no longer answers).
is_mounted() {
	local m
	m=$(printf '%s' "$1" | sed 's/ /\\040/g')
	awk -v m="$m" '$2 == m { found = 1 } END { exit !found }' \
		/proc/self/mounts
}

# unmount MNT: unmount, lazily if it is busy.
unmount() {
	local mnt=$1
	is_mounted "$mnt" || return 0
	fusermount3 -u "$mnt" 2>/dev/null && return 0
	note "$mnt is busy; unmounting lazily"
	fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt"
}

# launch NETNS PROGRAM LOG ARGS...: start BIN/PROGRAM in its own session
# (inside network namespace NETNS unless it is "") with stdout and
# stderr appended to LOG; sets LAUNCHED_PID. `ip netns exec` and setsid
# exec in place, so the pid is the program's own.
launch() {
	local ns=$1 name=$2 log=$3
	shift 3
	[[ -x "$BIN/$name" ]] || die "$BIN/$name not found (run make, or set DFS_BIN)"
	echo "=== $(date -u +%FT%TZ) $PROG: starting $name $*${ns:+ in netns $ns}" >>"$log"
	if [[ -n "$ns" ]]; then
		setsid ip netns exec "$ns" "$BIN/$name" "$@" </dev/null >>"$log" 2>&1 &
	else
		setsid "$BIN/$name" "$@" </dev/null >>"$log" 2>&1 &
	fi
	LAUNCHED_PID=$!
	# The child execs setsid (and ip) before NAME: wait (bounded) for
	# that, so that pid_alive checks see the daemon, not its launcher.
	local _
	for _ in $(seq 100); do
		pid_alive "$LAUNCHED_PID" "$name" && return 0
		[[ -e "/proc/$LAUNCHED_PID" ]] || return 0
		sleep 0.02
	done
}

# exit_status PID: how our child PID ended ("status N", "signal N").
exit_status() {
	local st=0
	wait "$1" 2>/dev/null || st=$?
	if ((st > 128)); then
		echo "signal $((st - 128))"
	else
		echo "status $st"
	fi
}

# abs_dir DIR: DIR made absolute (it need not exist).
abs_dir() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$PWD/${1#./}" ;;
	esac
}

# live_servers MASTER: chunk servers the master reports alive, or
# nothing if it does not answer.
live_servers() {
	curl -sf --max-time 2 "http://$1/api/overview" 2>/dev/null |
		"${PY:-python3}" -c 'import json, sys
d = json.load(sys.stdin)
print(sum(1 for s in d.get("chunkservers", []) if s.get("alive")))' \
			2>/dev/null || true
}
