# shellcheck shell=bash
# lib.sh - helpers the benchmark scripts share; source it after defining
# note() (how the script reports).

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
