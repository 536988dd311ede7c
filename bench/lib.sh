# bench/lib.sh - helpers shared by bench/run and bench/scaling.sh (sourced).

# median: the median of the numbers on stdin, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ratio A B: A / B to three places.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# callgrind_ir CMD...: instructions executed by CMD (not its children).
callgrind_ir() {
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
		awk '/Collected :/ { print $NF }'
}

# callgrind_ir_env VAR=VALUE... CMD...: the same with VARs (LD_PRELOAD,
# MEMPROF_*) set for CMD only. Set for valgrind itself, they would preload
# the tracker into its launcher too, which creates the recording file
# first: the program then often did not record at all.
callgrind_ir_env() {
	valgrind --tool=callgrind --trace-children=yes --callgrind-out-file=/dev/null \
		env "$@" 2>&1 >/dev/null | awk '/Collected :/ { n = $NF } END { print n }'
}
