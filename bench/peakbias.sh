#!/bin/bash
# peakbias.sh [RUNS] [RATE] - how far above the true peak the default rate's
# peak_space lands on bench/peakbias.c (a heap that grows to 64 MiB and
# stays on that plateau through 1M replacements). The true peak comes from
# a --rate 1 run (exact); then RUNS runs (default 20) at RATE (default
# memprof's, 512 KiB).
# Prints the true peak, the mean, smallest and largest estimate, and the
# mean and sd of estimate / true.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
runs=${1:-20}
rate=${2:-512KiB}
work=$(mktemp -d /tmp/memprof-peakbias.XXXXXX)
trap 'rm -rf "$work"' EXIT
${CC:-cc} -O2 -g -o "$work/peakbias" bench/peakbias.c

peak_of() {	# the total of the peak_space column, in bytes
	"$BUILD/memprof" top -n 1 --sample-index=peak_space --unit=B "$1" |
		awk '/^Showing nodes accounting for/ { for (i = 1; i <= NF; i++) if ($i == "of") { v = $(i + 1); sub(/B,?$/, "", v); print v } }'
}

"$BUILD/memprof" run -q --rate 1 -o "$work/exact.pb.gz" "$work/peakbias" > /dev/null
true_peak=$(peak_of "$work/exact.pb.gz")
for i in $(seq "$runs"); do
	"$BUILD/memprof" run -q --rate "$rate" -o "$work/s.pb.gz" "$work/peakbias" > /dev/null
	peak_of "$work/s.pb.gz"
done > "$work/est"
awk -v t="$true_peak" -v rate="$rate" '
	{ r = $1 / t; s += r; ss += r * r; n++; if (n == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1; m += $1 }
	END {
		mean = s / n; sd = sqrt(ss / n - mean * mean)
		printf "true peak %d B (--rate 1)\n", t
		printf "rate %s, %d runs: mean %.0f B, min %d, max %d\n", rate, n, m / n, lo, hi
		printf "estimate / true: mean %.3f (bias %+.1f%%), sd %.3f\n", mean, 100 * (mean - 1), sd
	}' "$work/est"
