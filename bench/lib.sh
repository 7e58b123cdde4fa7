# shellcheck shell=bash
# lib.sh - helpers the benchmark scripts share; source it after defining
# note() (how the script reports) and, for in_ns, NETNS.

# Hold the CPU wake-up latency at 0 (a 32-bit binary int) while fd 3 is
# open, i.e. for the life of the script: an idle virtual CPU wakes
# slowly, and that alone changes FUSE figures several times over. Start
# daemons with 3>&- so that they do not keep it open after the script.
hold_cpu_latency() {
	# The group keeps 2>/dev/null from sticking to the shell as exec's
	# own redirections would.
	if { exec 3<>/dev/cpu_dma_latency; } 2>/dev/null; then
		printf '\x00\x00\x00\x00' >&3
		note "holding /dev/cpu_dma_latency at 0 for the whole run"
	else
		note "cannot open /dev/cpu_dma_latency (not root?); figures will be noisy"
	fi
}

# stop_pids PID...: TERM each, wait up to 10 s for each to go, then KILL
# what is left.
stop_pids() {
	local pid
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "$@"; do
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
}

# in_ns CMD...: run CMD in the network namespace $NETNS.
in_ns() { nsenter --net="/run/netns/$NETNS" "$@"; }

# Background form: `in_ns_bg CMD... &` makes $! the pid of CMD itself
# (nsenter execs it), so stop can signal it.
in_ns_bg() { exec nsenter --net="/run/netns/$NETNS" "$@"; }

drop_caches() {
	sync
	if ! echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
		note "cannot drop caches; 'cold' reads may come from memory"
	fi
}

now() {
	date +%s.%N
}

# elapsed START END: seconds between two now() values.
elapsed() {
	echo "$2 - $1" | bc
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# wait_quiet SECONDS CPU_IDLE DISK_BUSY DISK [MASTER...]: let the
# background work of the workload before finish, each wait bounded by
# SECONDS (a note says which one ran out):
#   1. every DFS MASTER (host:port) has handed each deleted replica to
#      its chunk server (dfs_master_replicas_pending_delete is 0); the
#      servers delete at their next heartbeat, seconds after the rm;
#   2. sync, so that the freed blocks' discards (on a disk mounted with
#      -o discard) go now, not in the middle of the next workload, where
#      every journal commit would wait for them;
#   3. over one second the CPUs are CPU_IDLE % idle and DISK (a name in
#      /proc/diskstats; "" skips it) at most DISK_BUSY % busy: I/O wait
#      counts as idle, so the CPUs alone miss the discards.
wait_quiet() {
	local secs=$1 want_idle=$2 max_busy=$3 disk=$4 tries master idle busy
	shift 4
	for master in "$@"; do
		tries=0
		while ((tries < secs)) &&
			[[ $(dfs_pending_deletes "$master") == [1-9]* ]]; do
			sleep 1
			tries=$((tries + 1))
		done
		((tries < secs)) ||
			note "$master still has replicas to delete after $secs s"
	done
	sync
	for ((tries = 0; tries < secs; tries++)); do
		read -r idle busy < <(quiet_pct "$disk")
		((idle >= want_idle && busy <= max_busy)) && return 0
	done
	note "CPUs ${idle}% idle, disk ${busy}% busy after $secs s; measuring anyway"
}

# dfs_pending_deletes MASTER: replicas the master still has to hand to
# chunk servers for deletion ("?" when it cannot be read).
dfs_pending_deletes() {
	curl -s --max-time 10 "http://$1/metrics" | awk '
		$1 == "dfs_master_replicas_pending_delete" { print $2; found = 1 }
		END { if (!found) print "?" }'
}

# disk_of PATH: the /proc/diskstats name of the device holding PATH
# ("" when there is none, e.g. on tmpfs).
disk_of() {
	local src
	src=$(findmnt -no SOURCE -T "$1" 2>/dev/null || true)
	[[ $src == /dev/* ]] && basename "$src"
	return 0
}

# disk_ticks DISK: milliseconds DISK has spent doing I/O; 0 when it is
# not in /proc/diskstats.
disk_ticks() {
	awk -v dev="$1" '$3 == dev { print $13; found = 1 }
		END { if (!found) print 0 }' /proc/diskstats
}

# cpu_times: "idle+iowait total" jiffies of all CPUs so far.
cpu_times() {
	awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

# quiet_pct DISK: "CPU idle %  DISK busy %" over one second.
quiet_pct() {
	local a b da db
	a=$(cpu_times)
	da=$(disk_ticks "$1")
	sleep 1
	b=$(cpu_times)
	db=$(disk_ticks "$1")
	awk -v a="$a" -v b="$b" -v d="$((db - da))" 'BEGIN {
		split(a, x, " "); split(b, y, " "); t = y[2] - x[2];
		printf "%d %d\n", (t > 0 ? 100 * (y[1] - x[1]) / t : 100), d / 10 }'
}
