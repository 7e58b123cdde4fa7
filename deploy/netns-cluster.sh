#!/usr/bin/env bash
# netns-cluster.sh - a whole DFS cluster on this machine, each chunk
# server in a network namespace of its own with its own address, as on
# separate hosts (run as root).
#
#   netns-cluster.sh start [--dir DIR] [--mount MNT] [--chunkservers N]
#                          [--racks R] [--chunk-size N] [--replication N]
#                          [--heartbeat-timeout S] [--subnet 10.77.X]
#                          [--no-mount] [--no-mapreduce] [--clean]
#                          [--secret FILE]
#   netns-cluster.sh stop [--dir DIR]
#   netns-cluster.sh status [--dir DIR]
#   netns-cluster.sh restart-master [--dir DIR]
#   netns-cluster.sh remount [--dir DIR]
#
# Network: a bridge "dfsnXbr" in the root namespace holds SUBNET.1/24
# (the master's, the coordinator's and the clients' address); chunk
# server i runs in namespace "dfsnX-cs<i>", reached over a veth pair
# (root side "dfsnXv<i>" on the bridge, "eth0" inside) at SUBNET.(10+i).
# Traffic stays between this machine's own namespaces. SUBNET defaults
# to the first 10.77.X (X = 0..254) that nothing here uses, so several
# clusters can run side by side. Chunk server i is on rack
# "rack<((i-1) mod R)+1>" (default R = 2).
#
# start runs masterd (DIR/master) in the root namespace, N chunkd
# (DIR/cs<i>) in their namespaces, fusefs mounted at MNT (unless
# --no-mount) and, when the mr program is built (unless --no-mapreduce), the
# MapReduce coordinator and one worker per chunk server next to it. It
# waits until the master sees N live chunk servers and the mount answers,
# and writes DIR/cluster.env, sourceable, with the names of
# local-cluster.sh's:
#
#   DFS_DIR DFS_LOGS DFS_BIN DFS_MOUNT DFS_MASTER DFS_MASTER_PID
#   DFS_FUSEFS_PID DFS_CHUNKSERVERS DFS_CHUNK_SIZE DFS_REPLICATION
#   DFS_HEARTBEAT_TIMEOUT DFS_RACKS DFS_COORDINATOR DFS_COORDINATOR_PID
#   DFS_CHUNKD_<i> DFS_CHUNKD_<i>_PID DFS_CHUNKD_<i>_DATA
#   DFS_CHUNKD_<i>_RACK DFS_WORKER_<i>_PID
#
# and the network's: DFS_SUBNET, DFS_NETNS_PREFIX, DFS_NETNS_BRIDGE,
# DFS_CHUNKD_<i>_NETNS, DFS_CHUNKD_<i>_VETH (root side; `ip link set
# VETH down` cuts server i off, for partition tests).
#
# stop unmounts, stops every process by the pid it recorded, then
# deletes every namespace, veth and bridge start made. A failed start
# cleans up the same way. Binaries come from $DFS_BIN, else the
# repository's build/bin. DFS_START_TIMEOUT (s, default 60) bounds every
# wait.
set -euo pipefail

PROG=netns-cluster.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BIN=${DFS_BIN:-$REPO/build/bin}
START_TIMEOUT=${DFS_START_TIMEOUT:-60}
STOP_TIMEOUT=${DFS_STOP_TIMEOUT:-15}
if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi
# shellcheck source=cluster-lib.sh
source "$HERE/cluster-lib.sh"

MASTER_PORT=9000
COORD_PORT=9200
CHUNKD_PORT=9100
WORKER_PORT=9300

DIR=./var/netns-cluster
MNT=/mnt/dfs
NCS=4
RACKS=2
CHUNK_SIZE=
REPLICATION=
HB_TIMEOUT=
SUBNET=
MOUNT=1
WITH_MR=1
CLEAN=0
STOP_ON_FAIL=0

# ---------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------

# subnet_in_use SUBNET: some interface or our names use it already.
subnet_in_use() {
	local x=${1##*.}
	ip -4 -o addr show 2>/dev/null | grep -q " $1\." && return 0
	ip link show "dfsn${x}br" >/dev/null 2>&1 && return 0
	ip netns list 2>/dev/null | grep -q "^dfsn$x-" && return 0
	return 1
}

# pick_subnet: the first free 10.77.X unless --subnet named one.
pick_subnet() {
	local x
	if [[ -n "$SUBNET" ]]; then
		[[ "$SUBNET" =~ ^10\.77\.([0-9]{1,3})$ ]] &&
			((BASH_REMATCH[1] <= 254)) ||
			die "--subnet wants 10.77.X with X = 0..254, not '$SUBNET'"
		subnet_in_use "$SUBNET" && die "subnet $SUBNET.0/24 is in use"
		return 0
	fi
	for ((x = 0; x <= 254; x++)); do
		if ! subnet_in_use "10.77.$x"; then
			SUBNET=10.77.$x
			return 0
		fi
	done
	die "no free 10.77.X.0/24 subnet"
}

# Names derived from the subnet (set by net_names).
net_names() {
	local x=${SUBNET##*.}
	PREFIX_NS=dfsn$x
	BRIDGE=dfsn${x}br
}

ns_of() { echo "$PREFIX_NS-cs$1"; }
veth_of() { echo "dfsn${SUBNET##*.}v$1"; }
addr_of() { echo "$SUBNET.$((10 + $1))"; }
rack_of() { echo "rack$((($1 - 1) % RACKS + 1))"; }

# net_up: the bridge, one namespace and veth pair per chunk server.
net_up() {
	local i ns veth
	ip link add "$BRIDGE" type bridge
	ip addr add "$SUBNET.1/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	for ((i = 1; i <= NCS; i++)); do
		ns=$(ns_of "$i")
		veth=$(veth_of "$i")
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		ip link add "$veth" type veth peer name eth0 netns "$ns"
		ip link set "$veth" master "$BRIDGE" up
		ip -n "$ns" addr add "$(addr_of "$i")/24" dev eth0
		ip -n "$ns" link set eth0 up
	done
}

# net_down: delete what net_up made (whatever part of it exists). The
# veths go first: deleting a namespace frees its end of a pair only
# later, in the background.
net_down() {
	local ns veth
	[[ -n "${PREFIX_NS:-}" ]] || return 0
	for veth in $(ip -o link show 2>/dev/null |
		awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' |
		grep "^dfsn${SUBNET##*.}v[0-9]*$" || true); do
		ip link del "$veth" 2>/dev/null || note "cannot delete veth $veth"
	done
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' |
		grep "^$PREFIX_NS-cs[0-9]*$" || true); do
		ip netns del "$ns" 2>/dev/null || note "cannot delete netns $ns"
	done
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link del "$BRIDGE" || note "cannot delete bridge $BRIDGE"
	fi
}

# ---------------------------------------------------------------------
# The environment file
# ---------------------------------------------------------------------

env_file() {
	echo "$DIR/cluster.env"
}

# write_env: (re)write DIR/cluster.env atomically from the globals.
write_env() {
	local tmp i v
	tmp="$(env_file).tmp.$$"
	{
		echo "# Written by deploy/netns-cluster.sh; source it."
		printf 'export DFS_DIR=%q\n' "$DIR"
		printf 'export DFS_LOGS=%q\n' "$DIR/logs"
		printf 'export DFS_BIN=%q\n' "$BIN"
		printf 'export DFS_MOUNT=%q\n' "$MNT"
		printf 'export DFS_MOUNTED=%q\n' "$MOUNT"
		printf 'export DFS_MASTER=%q\n' "$DFS_MASTER"
		printf 'export DFS_SECRET=%q\n' "${DFS_SECRET:-}"
		printf 'export DFS_MASTER_PID=%q\n' "${DFS_MASTER_PID:-}"
		printf 'export DFS_FUSEFS_PID=%q\n' "${DFS_FUSEFS_PID:-}"
		printf 'export DFS_CHUNKSERVERS=%q\n' "$NCS"
		printf 'export DFS_CHUNK_SIZE=%q\n' "$CHUNK_SIZE"
		printf 'export DFS_REPLICATION=%q\n' "$REPLICATION"
		printf 'export DFS_HEARTBEAT_TIMEOUT=%q\n' "$HB_TIMEOUT"
		printf 'export DFS_RACKS=%q\n' "$RACKS"
		printf 'export DFS_SUBNET=%q\n' "$SUBNET"
		printf 'export DFS_NETNS_PREFIX=%q\n' "$PREFIX_NS"
		printf 'export DFS_NETNS_BRIDGE=%q\n' "$BRIDGE"
		printf 'export DFS_COORDINATOR=%q\n' "${DFS_COORDINATOR:-}"
		printf 'export DFS_COORDINATOR_PID=%q\n' "${DFS_COORDINATOR_PID:-}"
		for ((i = 1; i <= NCS; i++)); do
			printf 'export DFS_CHUNKD_%d=%q\n' "$i" "$(addr_of "$i"):$CHUNKD_PORT"
			v="DFS_CHUNKD_${i}_PID"
			printf 'export DFS_CHUNKD_%d_PID=%q\n' "$i" "${!v:-}"
			printf 'export DFS_CHUNKD_%d_DATA=%q\n' "$i" "$DIR/cs$i"
			printf 'export DFS_CHUNKD_%d_RACK=%q\n' "$i" "$(rack_of "$i")"
			printf 'export DFS_CHUNKD_%d_NETNS=%q\n' "$i" "$(ns_of "$i")"
			printf 'export DFS_CHUNKD_%d_VETH=%q\n' "$i" "$(veth_of "$i")"
			v="DFS_WORKER_${i}_PID"
			printf 'export DFS_WORKER_%d_PID=%q\n' "$i" "${!v:-}"
		done
	} >"$tmp"
	mv -f "$tmp" "$(env_file)"
}

# load_env: read DIR/cluster.env into the globals; fails if absent.
load_env() {
	local f
	f=$(env_file)
	[[ -f "$f" ]] || return 1
	# shellcheck disable=SC1090
	source "$f"
	MNT=$DFS_MOUNT
	MOUNT=$DFS_MOUNTED
	NCS=$DFS_CHUNKSERVERS
	CHUNK_SIZE=$DFS_CHUNK_SIZE
	REPLICATION=$DFS_REPLICATION
	HB_TIMEOUT=$DFS_HEARTBEAT_TIMEOUT
	RACKS=$DFS_RACKS
	SUBNET=$DFS_SUBNET
	PREFIX_NS=$DFS_NETNS_PREFIX
	BRIDGE=$DFS_NETNS_BRIDGE
}

# ---------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------

log_tails() {
	local f
	for f in "$DIR"/logs/*.log; do
		[[ -f "$f" ]] || continue
		echo "----- tail of $f" >&2
		tail -n 15 "$f" >&2
	done
}

# start_failed MSG: report, show the logs, undo start (STOP_ON_FAIL),
# exit 1.
start_failed() {
	note "failed: $*"
	log_tails
	if ((STOP_ON_FAIL)); then
		note "stopping the half-started cluster"
		do_stop >/dev/null 2>&1 || true
	fi
	note "logs are in $DIR/logs"
	exit 1
}

# check_pid PID NAME LOG: PID still runs, else start fails.
check_pid() {
	pid_alive "$1" "$2" ||
		start_failed "$2 exited with $(exit_status "$1") (see $3)"
}

# wait_servers N: until the master reports N live chunk servers.
wait_servers() {
	local want=$1 deadline=$((SECONDS + START_TIMEOUT)) live=
	while ((SECONDS < deadline)); do
		check_pid "$DFS_MASTER_PID" masterd "$DIR/logs/masterd.log"
		live=$(live_servers "$DFS_MASTER")
		[[ -n "$live" ]] && ((live >= want)) && return 0
		sleep 0.1
	done
	start_failed "master $DFS_MASTER reports ${live:-no answer} of $want chunk servers alive after ${START_TIMEOUT}s"
}

# wait_http ADDR PATH WHAT PID NAME LOG: until GET http://ADDR/PATH
# answers (while PID, of command NAME logging to LOG, runs).
wait_http() {
	local deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		check_pid "$4" "$5" "$6"
		curl -sf --max-time 2 "http://$1$2" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	start_failed "$3 at $1 does not answer after ${START_TIMEOUT}s"
}

wait_mount() {
	local deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		check_pid "$DFS_FUSEFS_PID" fusefs "$DIR/logs/fusefs.log"
		if is_mounted "$MNT" && timeout 5 stat -f "$MNT" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	start_failed "$MNT not mounted after ${START_TIMEOUT}s"
}

# ---------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------

start_master() {
	local args=(--data "$DIR/master" --listen "$DFS_MASTER")
	[[ -n "$CHUNK_SIZE" ]] && args+=(--chunk-size "$CHUNK_SIZE")
	[[ -n "$REPLICATION" ]] && args+=(--replication "$REPLICATION")
	[[ -n "$HB_TIMEOUT" ]] && args+=(--heartbeat-timeout "$HB_TIMEOUT")
	[[ -n "${DFS_COORDINATOR:-}" ]] && args+=(--coordinator "$DFS_COORDINATOR")
	mkdir -p "$DIR/master"
	launch "" masterd "$DIR/logs/masterd.log" "${args[@]}"
	DFS_MASTER_PID=$LAUNCHED_PID
	write_env
}

start_chunkd() {
	local i=$1
	mkdir -p "$DIR/cs$i"
	launch "$(ns_of "$i")" chunkd "$DIR/logs/chunkd-$i.log" \
		--data "$DIR/cs$i" --master "$DFS_MASTER" \
		--listen "$(addr_of "$i"):$CHUNKD_PORT" --rack "$(rack_of "$i")"
	printf -v "DFS_CHUNKD_${i}_PID" '%s' "$LAUNCHED_PID"
	write_env
}

start_fusefs() {
	mkdir -p "$MNT"
	launch "" fusefs "$DIR/logs/fusefs.log" --master "$DFS_MASTER" "$MNT" -f
	DFS_FUSEFS_PID=$LAUNCHED_PID
	write_env
}

start_mr() {
	local i v log=$DIR/logs/mr-coordinator.log
	mkdir -p "$DIR/mr-coordinator"
	launch "" mr "$log" coordinator --listen "$DFS_COORDINATOR" \
		--master "$DFS_MASTER" --data "$DIR/mr-coordinator"
	DFS_COORDINATOR_PID=$LAUNCHED_PID
	write_env
	wait_http "$DFS_COORDINATOR" /health coordinator "$DFS_COORDINATOR_PID" \
		mr "$log"
	for ((i = 1; i <= NCS; i++)); do
		mkdir -p "$DIR/worker$i"
		launch "$(ns_of "$i")" mr "$DIR/logs/worker-$i.log" worker \
			--chunkd "$(addr_of "$i"):$CHUNKD_PORT" \
			--coordinator "$DFS_COORDINATOR" --master "$DFS_MASTER" \
			--data "$DIR/worker$i" --listen "$(addr_of "$i"):$WORKER_PORT"
		printf -v "DFS_WORKER_${i}_PID" '%s' "$LAUNCHED_PID"
	done
	write_env
	sleep 0.3
	for ((i = 1; i <= NCS; i++)); do
		v="DFS_WORKER_${i}_PID"
		check_pid "${!v}" mr "$DIR/logs/worker-$i.log"
	done
}

prepare_mount() {
	if is_mounted "$MNT"; then
		if timeout 5 stat -f "$MNT" >/dev/null 2>&1; then
			die "$MNT is already mounted (stop that first)"
		fi
		note "clearing dead mount at $MNT"
		fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	mkdir -p "$MNT"
}

# ---------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------

parse_start() {
	local v
	while (($#)); do
		case $1 in
		--dir) DIR=${2:?--dir needs a value}; shift ;;
		--mount) MNT=${2:?--mount needs a value}; shift ;;
		--chunkservers) NCS=${2:?--chunkservers needs a value}; shift ;;
		--racks) RACKS=${2:?--racks needs a value}; shift ;;
		--chunk-size) CHUNK_SIZE=${2:?--chunk-size needs a value}; shift ;;
		--replication) REPLICATION=${2:?--replication needs a value}; shift ;;
		--heartbeat-timeout) HB_TIMEOUT=${2:?--heartbeat-timeout needs a value}; shift ;;
		--subnet) SUBNET=${2:?--subnet needs a value}; shift ;;
		--no-mount) MOUNT=0 ;;
		--no-mapreduce | --no-mr) WITH_MR=0 ;;
		--clean) CLEAN=1 ;;
		# The cluster secret: every daemon finds it in $DFS_SECRET.
		--secret) export DFS_SECRET=$(abs_dir "${2:?--secret needs a value}"); shift ;;
		-h | --help) usage_of "${BASH_SOURCE[0]}"; exit 0 ;;
		*) die "start: unknown argument '$1' (see --help)" ;;
		esac
		shift
	done
	[[ "$NCS" =~ ^[1-9][0-9]?$ ]] || die "--chunkservers wants 1..99, not '$NCS'"
	[[ "$RACKS" =~ ^[1-9][0-9]*$ ]] || die "--racks wants a positive number, not '$RACKS'"
	for v in "$CHUNK_SIZE" "$REPLICATION" "$HB_TIMEOUT"; do
		[[ -z "$v" || "$v" =~ ^[0-9]+$ ]] || die "'$v' is not a number"
	done
	DIR=$(abs_dir "$DIR")
	MNT=$(abs_dir "$MNT")
}

# check_tools: what start needs besides our programs.
check_tools() {
	local t
	((EUID == 0)) || die "network namespaces need root"
	for t in ip curl setsid; do
		command -v "$t" >/dev/null || die "'$t' not found (deploy/install-deps.sh)"
	done
	for t in masterd chunkd fusefs; do
		[[ -x "$BIN/$t" ]] || die "$BIN/$t not found (run make, or set DFS_BIN)"
	done
	[[ -x "$BIN/mr" ]] || WITH_MR=0
}

do_start() {
	local i settings=("$MNT" "$NCS" "$RACKS" "$CHUNK_SIZE" "$REPLICATION" "$HB_TIMEOUT" "$MOUNT" "$SUBNET")
	check_tools
	mkdir -p "$DIR"
	if load_env && pid_alive "$DFS_MASTER_PID" masterd; then
		die "a cluster is already running in $DIR (stop it with: $0 stop --dir $DIR)"
	fi
	MNT=${settings[0]} NCS=${settings[1]} RACKS=${settings[2]}
	CHUNK_SIZE=${settings[3]} REPLICATION=${settings[4]}
	HB_TIMEOUT=${settings[5]} MOUNT=${settings[6]} SUBNET=${settings[7]}
	if ((CLEAN)); then
		rm -rf "$DIR/master" "$DIR"/cs[0-9]* "$DIR"/worker[0-9]* \
			"$DIR/mr-coordinator" "$DIR/logs" "$(env_file)"
	fi
	mkdir -p "$DIR/logs"
	((MOUNT)) && prepare_mount
	pick_subnet
	net_names
	DFS_MASTER=$SUBNET.1:$MASTER_PORT
	DFS_COORDINATOR=
	((WITH_MR)) && DFS_COORDINATOR=$SUBNET.1:$COORD_PORT
	DFS_MASTER_PID='' DFS_FUSEFS_PID='' DFS_COORDINATOR_PID=''
	for ((i = 1; i <= NCS; i++)); do
		printf -v "DFS_CHUNKD_${i}_PID" '%s' ""
		printf -v "DFS_WORKER_${i}_PID" '%s' ""
	done
	STOP_ON_FAIL=1
	trap 'start_failed interrupted' INT TERM
	write_env
	net_up || start_failed "cannot set up the network"
	start_master
	wait_http "$DFS_MASTER" /api/overview master "$DFS_MASTER_PID" masterd \
		"$DIR/logs/masterd.log"
	for ((i = 1; i <= NCS; i++)); do
		start_chunkd "$i"
	done
	wait_servers "$NCS"
	if ((MOUNT)); then
		start_fusefs
		wait_mount
	fi
	((WITH_MR)) && start_mr
	trap - INT TERM
	echo "DFS cluster up: master $DFS_MASTER, $NCS chunk servers in" \
		"namespaces $PREFIX_NS-cs1..$NCS on $SUBNET.0/24, $RACKS racks${DFS_COORDINATOR:+, coordinator $DFS_COORDINATOR}"
	((MOUNT)) && echo "mounted at $MNT"
	echo "environment: source $(env_file)"
}

do_stop() {
	local i v pids=() workers=()
	load_env || {
		echo "no cluster in $DIR"
		return 0
	}
	if ((MOUNT)); then
		unmount "$MNT" || note "could not unmount $MNT"
	fi
	stop_pids "$STOP_TIMEOUT" fusefs "${DFS_FUSEFS_PID:-}"
	for ((i = 1; i <= NCS; i++)); do
		v="DFS_WORKER_${i}_PID"
		workers+=("${!v:-}")
		v="DFS_CHUNKD_${i}_PID"
		pids+=("${!v:-}")
	done
	stop_pids "$STOP_TIMEOUT" mr "${workers[@]}" "${DFS_COORDINATOR_PID:-}"
	stop_pids "$STOP_TIMEOUT" chunkd "${pids[@]}"
	stop_pids "$STOP_TIMEOUT" masterd "${DFS_MASTER_PID:-}"
	net_down
	echo "DFS cluster in $DIR stopped; network $SUBNET.0/24 removed"
}

show() {
	if pid_alive "$2" "$1"; then
		printf '%-10s %-8s running  %s\n' "$1" "$2" "$3"
	else
		printf '%-10s %-8s STOPPED  %s\n' "$1" "${2:--}" "$3"
		return 1
	fi
}

do_status() {
	local i v p ok=0
	load_env || {
		echo "no cluster in $DIR"
		return 3
	}
	show masterd "$DFS_MASTER_PID" "$DFS_MASTER" || ok=1
	for ((i = 1; i <= NCS; i++)); do
		v="DFS_CHUNKD_$i"
		p="DFS_CHUNKD_${i}_PID"
		show chunkd "${!p:-}" "${!v} netns $(ns_of "$i") $(rack_of "$i")" || ok=1
	done
	if [[ -n "${DFS_COORDINATOR:-}" ]]; then
		show mr "${DFS_COORDINATOR_PID:-}" "coordinator $DFS_COORDINATOR" || ok=1
		for ((i = 1; i <= NCS; i++)); do
			p="DFS_WORKER_${i}_PID"
			show mr "${!p:-}" "worker $i in netns $(ns_of "$i")" || ok=1
		done
	fi
	if ((MOUNT)); then
		show fusefs "${DFS_FUSEFS_PID:-}" "$MNT" || ok=1
	fi
	echo "network    bridge $BRIDGE $SUBNET.1/24;" \
		"namespaces: $(ip netns list | awk '{ print $1 }' | grep -c "^$PREFIX_NS-cs" || true)"
	if pid_alive "$DFS_MASTER_PID" masterd && [[ -x "$BIN/dfs" ]]; then
		echo
		"$BIN/dfs" --master "$DFS_MASTER" status || ok=1
	fi
	return $ok
}

alive_chunkd_count() {
	local i p n=0
	for ((i = 1; i <= NCS; i++)); do
		p="DFS_CHUNKD_${i}_PID"
		pid_alive "${!p:-}" chunkd && n=$((n + 1))
	done
	echo "$n"
}

do_restart_master() {
	load_env || die "no cluster in $DIR"
	stop_pids "$STOP_TIMEOUT" masterd "${DFS_MASTER_PID:-}"
	start_master
	wait_servers "$(alive_chunkd_count)"
	echo "masterd restarted: $DFS_MASTER pid $DFS_MASTER_PID"
}

do_remount() {
	load_env || die "no cluster in $DIR"
	((MOUNT)) || die "this cluster was started with --no-mount"
	unmount "$MNT" || die "cannot unmount $MNT"
	stop_pids "$STOP_TIMEOUT" fusefs "${DFS_FUSEFS_PID:-}"
	prepare_mount
	start_fusefs
	wait_mount
	echo "remounted $MNT (fusefs pid $DFS_FUSEFS_PID)"
}

parse_dir_only() {
	while (($#)); do
		case $1 in
		--dir) DIR=${2:?--dir needs a value}; shift ;;
		-h | --help) usage_of "${BASH_SOURCE[0]}"; exit 0 ;;
		*) die "unknown argument '$1' (see --help)" ;;
		esac
		shift
	done
	DIR=$(abs_dir "$DIR")
}

main() {
	local cmd=${1:-}
	(($#)) && shift
	case $cmd in
	start) parse_start "$@"; do_start ;;
	stop) parse_dir_only "$@"; do_stop ;;
	status) parse_dir_only "$@"; do_status ;;
	restart-master) parse_dir_only "$@"; do_restart_master ;;
	remount) parse_dir_only "$@"; do_remount ;;
	-h | --help | help) usage_of "${BASH_SOURCE[0]}" ;;
	*) usage_of "${BASH_SOURCE[0]}" >&2; exit 2 ;;
	esac
}

main "$@"
