#!/usr/bin/env bash
# local-cluster.sh - a whole DFS cluster on this machine, on loopback.
#
#   local-cluster.sh start [--dir DIR] [--mount MNT] [--chunkservers N]
#                          [--chunk-size N] [--replication N]
#                          [--heartbeat-timeout S] [--racks N]
#                          [--full-report-interval S] [--db-memory N]
#                          [--no-mapreduce] [--clean] [--secret FILE]
#                          [--tls]
#   local-cluster.sh stop [--dir DIR]
#   local-cluster.sh status [--dir DIR]
#   local-cluster.sh restart-master [--dir DIR]
#   local-cluster.sh remount [--dir DIR]
#
# start runs masterd (data in DIR/master), N chunkd (DIR/cs<i>), the
# MapReduce coordinator and one mr worker per chunk server (DIR/mr; not
# with --no-mapreduce) and fusefs mounted at MNT, each in its own session
# with stderr in DIR/logs/*.log, on free loopback ports; waits until the
# master sees N live chunk servers, the coordinator N workers and the mount
# answers; and writes DIR/cluster.env, a sourceable file:
#
#   DFS_DIR DFS_MOUNT DFS_MASTER DFS_MASTER_PID DFS_FUSEFS_PID
#   DFS_CHUNKSERVERS DFS_CHUNKD_<i> DFS_CHUNKD_<i>_PID DFS_CHUNKD_<i>_DATA
#   DFS_CHUNK_SIZE DFS_REPLICATION DFS_HEARTBEAT_TIMEOUT DFS_FULL_REPORT
#   DFS_DB_MEMORY DFS_BIN DFS_LOGS
#   DFS_COORDINATOR DFS_COORDINATOR_PID DFS_WORKER_<i>_PID
#   DFS_SECRET DFS_TLS DFS_CA
#
# Security (SPEC 7): every cluster has a secret, DIR/secret (64 random
# hex digits, mode 0600, made with openssl on the first start and kept
# across restarts; --secret FILE uses an existing key file instead), and
# every daemon and the mount get --secret: each request between them is
# signed, and clients need DFS_SECRET (cluster.env exports it). A
# cluster started again in its DIR keeps its secret and TLS. --tls
# also makes a self-signed CA and one certificate per daemon (for
# 127.0.0.1) under DIR/tls with openssl; every daemon then serves https
# only, and clients find the CA in DFS_CA.
#
# A DIR that held a stopped cluster is started again with its data and
# ports (when they are still free); --clean wipes it first. stop unmounts
# and stops every process by the pid it recorded (never by name).
# restart-master starts a stopped or killed master with the same data and
# address; remount remounts the client (for cold-cache reads).
#
# Binaries come from $DFS_BIN, else the repository's build/bin.
# Defaults: --dir ./var/cluster, --mount /mnt/dfs, 3 chunk servers;
# chunk size, replication, heartbeat timeout and --db-memory default to
# masterd's.
# DFS_START_TIMEOUT (s, default 60) bounds every wait of start.
# --racks N puts chunk server i on rack "rack<((i-1) mod N)+1>" (chunkd
# --rack), so replicas spread over racks; cluster.env then also has
# DFS_RACKS and DFS_CHUNKD_<i>_RACK.
set -euo pipefail

PROG=local-cluster.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BIN=${DFS_BIN:-$REPO/build/bin}
START_TIMEOUT=${DFS_START_TIMEOUT:-60}
STOP_TIMEOUT=${DFS_STOP_TIMEOUT:-15}
if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi
# shellcheck source=cluster-lib.sh
source "$HERE/cluster-lib.sh"

# Settings of the cluster being handled; cluster.env holds the same names.
DIR=./var/cluster
MNT=/mnt/dfs
NCS=3
CHUNK_SIZE=
REPLICATION=
HB_TIMEOUT=
FULL_REPORT=
DB_MEMORY=
RACKS=
MAPREDUCE=1
CLEAN=0
# Security: the key file, whether daemons speak TLS, and the CA file.
SECRET=
TLS=0
CA=
# What a failed wait does: 1 in start (tear the half-started cluster
# down), 0 in restart-master and remount (leave the rest running).
STOP_ON_FAIL=0
# Whether check_running watches the chunk servers too (0 once some may
# have been killed on purpose, as in restart-master).
WATCH_CHUNKD=0

usage() {
	usage_of "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------------
# Processes and mounts
# ---------------------------------------------------------------------

# launch NAME LOG ARGS...: start BIN/NAME in its own session with stdout
# and stderr appended to LOG; sets LAUNCHED_PID.
launch() {
	local name=$1 log=$2
	shift 2
	[[ -x "$BIN/$name" ]] || die "$BIN/$name not found (run make, or set DFS_BIN)"
	echo "=== $(date -u +%FT%TZ) $PROG: starting $name $*" >>"$log"
	setsid "$BIN/$name" "$@" </dev/null >>"$log" 2>&1 &
	LAUNCHED_PID=$!
	# The child is bash, then setsid, then NAME: wait (bounded) for the
	# exec, so that pid_alive checks see the daemon and not its launcher.
	local _
	for _ in $(seq 50); do
		pid_alive "$LAUNCHED_PID" "$name" && return 0
		[[ -e "/proc/$LAUNCHED_PID" ]] || return 0
		sleep 0.02
	done
}

# ---------------------------------------------------------------------
# Ports and the environment file
# ---------------------------------------------------------------------

# free_ports N [PREFERRED...]: N distinct free loopback ports, one a line,
# taking the preferred ones first when they are free. Ports come from
# below the ephemeral range so outgoing connections cannot take them.
free_ports() {
	"$PY" - "$@" <<'EOF'
import random, socket, sys
n, preferred = int(sys.argv[1]), [int(p) for p in sys.argv[2:] if p]
lo, hi = map(int, open('/proc/sys/net/ipv4/ip_local_port_range').read().split())
pool = range(20000, lo) if lo > 21000 else range(hi + 1, 65536)

def free(port):
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        s.close()

got = []
for p in preferred:
    if len(got) < n and p not in got and free(p):
        got.append(p)
for p in random.sample(pool, len(pool)):
    if len(got) == n:
        break
    if p not in got and free(p):
        got.append(p)
if len(got) < n:
    sys.exit('no free ports')
print('\n'.join(map(str, got)))
EOF
}

env_file() {
	echo "$DIR/cluster.env"
}

# write_env: (re)write DIR/cluster.env atomically from the globals.
write_env() {
	local tmp i v
	tmp="$(env_file).tmp.$$"
	{
		echo "# Written by deploy/local-cluster.sh; source it."
		printf 'export DFS_DIR=%q\n' "$DIR"
		printf 'export DFS_LOGS=%q\n' "$DIR/logs"
		printf 'export DFS_BIN=%q\n' "$BIN"
		printf 'export DFS_MOUNT=%q\n' "$MNT"
		printf 'export DFS_MASTER=%q\n' "$DFS_MASTER"
		printf 'export DFS_MASTER_PID=%q\n' "${DFS_MASTER_PID:-}"
		printf 'export DFS_FUSEFS_PID=%q\n' "${DFS_FUSEFS_PID:-}"
		printf 'export DFS_CHUNKSERVERS=%q\n' "$NCS"
		printf 'export DFS_CHUNK_SIZE=%q\n' "$CHUNK_SIZE"
		printf 'export DFS_REPLICATION=%q\n' "$REPLICATION"
		printf 'export DFS_HEARTBEAT_TIMEOUT=%q\n' "$HB_TIMEOUT"
		printf 'export DFS_FULL_REPORT=%q\n' "$FULL_REPORT"
		printf 'export DFS_DB_MEMORY=%q\n' "$DB_MEMORY"
		printf 'export DFS_RACKS=%q\n' "$RACKS"
		for ((i = 1; i <= NCS; i++)); do
			v="DFS_CHUNKD_$i"
			printf 'export DFS_CHUNKD_%d=%q\n' "$i" "${!v:-}"
			v="DFS_CHUNKD_${i}_PID"
			printf 'export DFS_CHUNKD_%d_PID=%q\n' "$i" "${!v:-}"
			printf 'export DFS_CHUNKD_%d_DATA=%q\n' "$i" "$DIR/cs$i"
			printf 'export DFS_CHUNKD_%d_RACK=%q\n' "$i" "$(rack_of "$i")"
		done
		printf 'export DFS_MAPREDUCE=%q\n' "$MAPREDUCE"
		printf 'export DFS_COORDINATOR=%q\n' "${DFS_COORDINATOR:-}"
		printf 'export DFS_COORDINATOR_PID=%q\n' "${DFS_COORDINATOR_PID:-}"
		for ((i = 1; i <= NCS; i++)); do
			v="DFS_WORKER_${i}_PID"
			printf 'export DFS_WORKER_%d_PID=%q\n' "$i" "${!v:-}"
		done
		printf 'export DFS_SECRET=%q\n' "$SECRET"
		printf 'export DFS_TLS=%q\n' "$TLS"
		printf 'export DFS_CA=%q\n' "$CA"
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
	NCS=$DFS_CHUNKSERVERS
	CHUNK_SIZE=$DFS_CHUNK_SIZE
	REPLICATION=$DFS_REPLICATION
	HB_TIMEOUT=$DFS_HEARTBEAT_TIMEOUT
	FULL_REPORT=${DFS_FULL_REPORT:-}
	DB_MEMORY=${DFS_DB_MEMORY:-}
	RACKS=${DFS_RACKS:-}
	MAPREDUCE=${DFS_MAPREDUCE:-0}
	SECRET=${DFS_SECRET:-}
	TLS=${DFS_TLS:-0}
	CA=${DFS_CA:-}
}

# rack_of I: the rack of chunk server I ("" without --racks).
rack_of() {
	[[ -n "$RACKS" ]] || return 0
	echo "rack$((($1 - 1) % RACKS + 1))"
}

# ---------------------------------------------------------------------
# Security
# ---------------------------------------------------------------------

# setup_secret: the cluster's key file, DIR/secret unless --secret named
# one; made (atomically, mode 0600) when it does not exist yet.
setup_secret() {
	local tmp
	[[ -n "$SECRET" ]] || SECRET=$DIR/secret
	SECRET=$(abs_dir "$SECRET")
	[[ -e "$SECRET" ]] && return 0
	command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
	tmp="$SECRET.tmp.$$"
	(umask 077 && openssl rand -hex 32 >"$tmp") ||
		die "cannot write the cluster secret $tmp"
	mv -f "$tmp" "$SECRET"
}

# make_cert NAME: DIR/tls/NAME.pem and NAME.key, a certificate for
# 127.0.0.1 signed by the cluster's CA (kept when it already exists).
make_cert() {
	local d=$DIR/tls name=$1
	[[ -s "$d/$name.pem" && -s "$d/$name.key" ]] && return 0
	(umask 077 && openssl req -new -newkey ec \
		-pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=dfs $name" \
		-keyout "$d/$name.key" -out "$d/$name.csr") >/dev/null 2>&1 ||
		die "openssl cannot make a key for $name"
	printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		"basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth,clientAuth" >"$d/$name.ext"
	openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" \
		-CAkey "$d/ca.key" -CAcreateserial -days 825 -sha256 \
		-extfile "$d/$name.ext" -out "$d/$name.pem" >/dev/null 2>&1 ||
		die "openssl cannot sign the certificate of $name"
	rm -f "$d/$name.csr" "$d/$name.ext"
}

# setup_tls: a self-signed CA in DIR/tls and a certificate per daemon.
setup_tls() {
	local d=$DIR/tls i
	command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
	mkdir -p "$d"
	chmod 755 "$d"
	if [[ ! -s "$d/ca.pem" || ! -s "$d/ca.key" ]]; then
		(umask 077 && openssl req -x509 -newkey ec \
			-pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
			-sha256 -subj "/CN=dfs local cluster CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" \
			-keyout "$d/ca.key" -out "$d/ca.pem") >/dev/null 2>&1 ||
			die "openssl cannot make the cluster CA"
		chmod 644 "$d/ca.pem"
	fi
	CA=$d/ca.pem
	make_cert master
	make_cert coordinator
	for ((i = 1; i <= NCS; i++)); do
		make_cert "cs$i"
		make_cert "worker$i"
	done
}

# sec_args NAME: the security options of program NAME into SEC_ARGS:
# --secret for everyone; with TLS the CA, and a daemon's certificate
# (NAME is its certificate's name; "fusefs" has none).
sec_args() {
	SEC_ARGS=(--secret "$SECRET")
	((TLS)) || return 0
	SEC_ARGS+=(--ca "$CA")
	[[ "$1" == fusefs ]] && return 0
	SEC_ARGS+=(--tls-cert "$DIR/tls/$1.pem" --tls-key "$DIR/tls/$1.key")
}

# http_get ADDR PATH: GET a public path of a daemon (https with TLS).
http_get() {
	if ((TLS)); then
		curl -sf --max-time 2 --cacert "$CA" "https://$1$2"
	else
		curl -sf --max-time 2 "http://$1$2"
	fi
}

# ---------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------

# live_servers: number of chunk servers the master reports alive, or
# nothing if the master does not answer. (EP_OVERVIEW needs no
# signature.)
live_servers() {
	http_get "$DFS_MASTER" /api/overview 2>/dev/null |
		"$PY" -c 'import json, sys
d = json.load(sys.stdin)
print(sum(1 for s in d.get("chunkservers", []) if s.get("alive")))' \
			2>/dev/null || true
}

# log_tails: the end of every log, for failure messages.
log_tails() {
	local f
	for f in "$DIR"/logs/*.log; do
		[[ -f "$f" ]] || continue
		echo "----- tail of $f" >&2
		tail -n 15 "$f" >&2
	done
}

# start_failed MSG: report, show the logs, stop what start started (see
# STOP_ON_FAIL), exit 1.
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

# check_running: every process start launched is still alive.
check_running() {
	local i v
	pid_alive "$DFS_MASTER_PID" masterd ||
		start_failed "masterd exited with $(exit_status "$DFS_MASTER_PID") (see $DIR/logs/masterd.log)"
	for ((i = 1; WATCH_CHUNKD && i <= NCS; i++)); do
		v="DFS_CHUNKD_${i}_PID"
		[[ -z "${!v:-}" ]] || pid_alive "${!v}" chunkd ||
			start_failed "chunkd $i exited with $(exit_status "${!v}") (see $DIR/logs/chunkd-$i.log)"
	done
}

# wait_master: until the master answers its status endpoint (so that the
# chunk servers find it listening when they start).
wait_master() {
	local deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		check_running
		[[ -n "$(live_servers)" ]] && return 0
		sleep 0.05
	done
	start_failed "master $DFS_MASTER does not answer after ${START_TIMEOUT}s"
}

# wait_servers N: until the master reports N live chunk servers.
wait_servers() {
	local want=$1 deadline=$((SECONDS + START_TIMEOUT)) live=
	while ((SECONDS < deadline)); do
		check_running
		live=$(live_servers)
		[[ -n "$live" ]] && ((live >= want)) && return 0
		sleep 0.1
	done
	start_failed "master $DFS_MASTER reports ${live:-no answer} of $want chunk servers alive after ${START_TIMEOUT}s"
}

# wait_mount: until MNT is mounted and answers.
wait_mount() {
	local deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		pid_alive "$DFS_FUSEFS_PID" fusefs ||
			start_failed "fusefs exited with $(exit_status "$DFS_FUSEFS_PID") (see $DIR/logs/fusefs.log)"
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
	[[ -n "$FULL_REPORT" ]] && args+=(--full-report-interval "$FULL_REPORT")
	[[ -n "$DB_MEMORY" ]] && args+=(--db-memory "$DB_MEMORY")
	[[ -n "${DFS_COORDINATOR:-}" ]] && args+=(--coordinator "$DFS_COORDINATOR")
	sec_args master
	args+=("${SEC_ARGS[@]}")
	mkdir -p "$DIR/master"
	launch masterd "$DIR/logs/masterd.log" "${args[@]}"
	DFS_MASTER_PID=$LAUNCHED_PID
	write_env
}

# start_chunkd I ADDR
start_chunkd() {
	local i=$1 addr=$2 rack=()
	mkdir -p "$DIR/cs$i"
	[[ -n "$RACKS" ]] && rack=(--rack "$(rack_of "$i")")
	sec_args "cs$i"
	launch chunkd "$DIR/logs/chunkd-$i.log" --data "$DIR/cs$i" \
		--master "$DFS_MASTER" --listen "$addr" "${rack[@]}" \
		"${SEC_ARGS[@]}"
	printf -v "DFS_CHUNKD_$i" '%s' "$addr"
	printf -v "DFS_CHUNKD_${i}_PID" '%s' "$LAUNCHED_PID"
	write_env
}

# start_mapreduce: the coordinator, then one worker per chunk server
# reading that server's chunks directly.
start_mapreduce() {
	local i v
	mkdir -p "$DIR/mr"
	sec_args coordinator
	launch mr "$DIR/logs/mr-coordinator.log" coordinator \
		--listen "$DFS_COORDINATOR" --master "$DFS_MASTER" \
		--data "$DIR/mr/coordinator" "${SEC_ARGS[@]}"
	DFS_COORDINATOR_PID=$LAUNCHED_PID
	for ((i = 1; i <= NCS; i++)); do
		v="DFS_CHUNKD_$i"
		sec_args "worker$i"
		launch mr "$DIR/logs/mr-worker-$i.log" worker --chunkd "${!v}" \
			--coordinator "$DFS_COORDINATOR" --master "$DFS_MASTER" \
			--data "$DIR/mr/worker-$i" --listen 127.0.0.1:0 \
			"${SEC_ARGS[@]}"
		printf -v "DFS_WORKER_${i}_PID" '%s' "$LAUNCHED_PID"
	done
	write_env
}

# wait_workers N: until the coordinator has N live workers.
wait_workers() {
	local want=$1 n deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		pid_alive "$DFS_COORDINATOR_PID" mr ||
			start_failed "mr coordinator exited (see $DIR/logs/mr-coordinator.log)"
		n=$(http_get "$DFS_COORDINATOR" /health 2>/dev/null |
			"$PY" -c 'import json,sys; print(json.load(sys.stdin).get("workers", 0))' 2>/dev/null || echo 0)
		((n >= want)) && return 0
		sleep 0.2
	done
	start_failed "the coordinator has ${n:-0} of $want workers after ${START_TIMEOUT}s"
}

# stop_mapreduce: workers first, then the coordinator.
stop_mapreduce() {
	local i v pids=()
	for ((i = 1; i <= NCS; i++)); do
		v="DFS_WORKER_${i}_PID"
		pids+=("${!v:-}")
	done
	stop_pids "$STOP_TIMEOUT" mr "${pids[@]}"
	stop_pids "$STOP_TIMEOUT" mr "${DFS_COORDINATOR_PID:-}"
}

start_fusefs() {
	mkdir -p "$MNT"
	sec_args fusefs
	launch fusefs "$DIR/logs/fusefs.log" --master "$DFS_MASTER" \
		"${SEC_ARGS[@]}" "$MNT" -f
	DFS_FUSEFS_PID=$LAUNCHED_PID
	write_env
}

# prepare_mount: MNT must not be in use; a dead FUSE mount is cleared.
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

# pick_addresses: the master's and chunk servers' addresses, reusing
# those of a previous run in DIR where still free.
pick_addresses() {
	local old=() ports i
	if [[ -f "$(env_file)" ]]; then
		old+=("$(sed -n "s/^export DFS_MASTER=127.0.0.1://p" "$(env_file)")")
		for ((i = 1; i <= NCS; i++)); do
			old+=("$(sed -n "s/^export DFS_CHUNKD_$i=127.0.0.1://p" "$(env_file)")")
		done
		old+=("$(sed -n "s/^export DFS_COORDINATOR=127.0.0.1://p" "$(env_file)")")
	fi
	mapfile -t ports < <(free_ports $((NCS + 2)) "${old[@]}") ||
		die "cannot find free ports"
	((${#ports[@]} == NCS + 2)) || die "cannot find free ports"
	DFS_MASTER=127.0.0.1:${ports[0]}
	for ((i = 1; i <= NCS; i++)); do
		printf -v "DFS_CHUNKD_$i" '%s' "127.0.0.1:${ports[$i]}"
	done
	DFS_COORDINATOR=127.0.0.1:${ports[$((NCS + 1))]}
}

# ---------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------

parse_start() {
	while (($#)); do
		case $1 in
		--dir) DIR=${2:?--dir needs a value}; shift ;;
		--mount) MNT=${2:?--mount needs a value}; shift ;;
		--chunkservers) NCS=${2:?--chunkservers needs a value}; shift ;;
		--chunk-size) CHUNK_SIZE=${2:?--chunk-size needs a value}; shift ;;
		--replication) REPLICATION=${2:?--replication needs a value}; shift ;;
		--heartbeat-timeout) HB_TIMEOUT=${2:?--heartbeat-timeout needs a value}; shift ;;
		--full-report-interval) FULL_REPORT=${2:?--full-report-interval needs a value}; shift ;;
		--db-memory) DB_MEMORY=${2:?--db-memory needs a value}; shift ;;
		--racks) RACKS=${2:?--racks needs a value}; shift ;;
		--no-mapreduce) MAPREDUCE=0 ;;
		--clean) CLEAN=1 ;;
		--secret) SECRET=${2:?--secret needs a value}; shift ;;
		--tls) TLS=1 ;;
		-h | --help) usage; exit 0 ;;
		*) die "start: unknown argument '$1' (see --help)" ;;
		esac
		shift
	done
	[[ "$NCS" =~ ^[1-9][0-9]*$ ]] || die "--chunkservers wants a positive number, not '$NCS'"
	[[ -z "$RACKS" || "$RACKS" =~ ^[1-9][0-9]*$ ]] || die "--racks wants a positive number, not '$RACKS'"
	for v in "$CHUNK_SIZE" "$REPLICATION" "$HB_TIMEOUT" "$FULL_REPORT"; do
		[[ -z "$v" || "$v" =~ ^[0-9]+$ ]] || die "'$v' is not a number"
	done
	[[ -z "$DB_MEMORY" || "$DB_MEMORY" =~ ^[0-9]+[KMG]?$ ]] || die "--db-memory wants a size, not '$DB_MEMORY'"
	DIR=$(abs_dir "$DIR")
	MNT=$(abs_dir "$MNT")
}

do_start() {
	local i v mnt=$MNT ncs=$NCS cs=$CHUNK_SIZE rep=$REPLICATION hb=$HB_TIMEOUT
	local full=$FULL_REPORT dbmem=$DB_MEMORY racks=$RACKS mapreduce=$MAPREDUCE secret=$SECRET tls=$TLS
	mkdir -p "$DIR"
	if load_env && pid_alive "$DFS_MASTER_PID" masterd; then
		die "a cluster is already running in $DIR (stop it with: $0 stop --dir $DIR)"
	fi
	# A cluster started again keeps its secret and TLS (not with --clean).
	if ((!CLEAN)) && [[ -z "$secret" && -f "${SECRET:-}" ]]; then
		secret=$SECRET
	fi
	((CLEAN)) || ((tls)) || tls=${TLS:-0}
	MNT=$mnt NCS=$ncs CHUNK_SIZE=$cs REPLICATION=$rep HB_TIMEOUT=$hb
	FULL_REPORT=$full DB_MEMORY=$dbmem RACKS=$racks MAPREDUCE=$mapreduce SECRET=$secret TLS=$tls CA=
	if ((CLEAN)); then
		rm -rf "$DIR/master" "$DIR"/cs[0-9]* "$DIR/mr" "$DIR/logs" \
			"$(env_file)" "$DIR/secret" "$DIR/tls"
	fi
	mkdir -p "$DIR/logs"
	setup_secret
	((TLS)) && setup_tls
	for i in masterd chunkd fusefs $( ((MAPREDUCE)) && echo mr); do
		[[ -x "$BIN/$i" ]] || die "$BIN/$i not found (run make, or set DFS_BIN)"
	done
	prepare_mount
	pick_addresses
	DFS_MASTER_PID=''
	DFS_FUSEFS_PID=''
	DFS_COORDINATOR_PID=''
	for ((i = 1; i <= NCS; i++)); do
		printf -v "DFS_CHUNKD_${i}_PID" '%s' ""
		printf -v "DFS_WORKER_${i}_PID" '%s' ""
	done
	((MAPREDUCE)) || DFS_COORDINATOR=''
	STOP_ON_FAIL=1
	WATCH_CHUNKD=1
	trap 'start_failed interrupted' INT TERM
	start_master
	wait_master
	for ((i = 1; i <= NCS; i++)); do
		v="DFS_CHUNKD_$i"
		start_chunkd "$i" "${!v}"
	done
	wait_servers "$NCS"
	if ((MAPREDUCE)); then
		start_mapreduce
		wait_workers "$NCS"
	fi
	start_fusefs
	wait_mount
	trap - INT TERM
	echo "DFS cluster up: master $DFS_MASTER, $NCS chunk servers, mounted at $MNT"
	if ((MAPREDUCE)); then
		echo "MapReduce: coordinator $DFS_COORDINATOR, $NCS workers"
	fi
	echo "environment: source $(env_file)"
}

do_stop() {
	local i v pids=()
	load_env || {
		echo "no cluster in $DIR"
		return 0
	}
	unmount "$MNT" || note "could not unmount $MNT"
	stop_pids "$STOP_TIMEOUT" fusefs "${DFS_FUSEFS_PID:-}"
	stop_mapreduce
	for ((i = 1; i <= NCS; i++)); do
		v="DFS_CHUNKD_${i}_PID"
		pids+=("${!v:-}")
	done
	stop_pids "$STOP_TIMEOUT" chunkd "${pids[@]}"
	stop_pids "$STOP_TIMEOUT" masterd "${DFS_MASTER_PID:-}"
	echo "DFS cluster in $DIR stopped"
}

# show NAME PID WHAT: one status line; returns 1 when not running.
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
		show chunkd "${!p:-}" "${!v} $DIR/cs$i" || ok=1
	done
	if ((MAPREDUCE)); then
		show mr "${DFS_COORDINATOR_PID:-}" "coordinator $DFS_COORDINATOR" || ok=1
		for ((i = 1; i <= NCS; i++)); do
			p="DFS_WORKER_${i}_PID"
			show mr "${!p:-}" "worker $i" || ok=1
		done
	fi
	show fusefs "${DFS_FUSEFS_PID:-}" "$MNT" || ok=1
	if is_mounted "$MNT"; then
		echo "mount      $MNT mounted"
	else
		echo "mount      $MNT NOT MOUNTED"
		ok=1
	fi
	if pid_alive "$DFS_MASTER_PID" masterd && [[ -x "$BIN/dfs" ]]; then
		echo
		"$BIN/dfs" --master "$DFS_MASTER" status || ok=1
	fi
	return $ok
}

# Chunk servers whose processes are alive (what a restarted master should
# see register again).
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
		-h | --help) usage; exit 0 ;;
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
	-h | --help | help) usage ;;
	*) usage >&2; exit 2 ;;
	esac
}

main "$@"
