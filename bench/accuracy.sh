#!/bin/bash
# accuracy.sh [RUNS] [SCALE] - how close the default-rate estimates come to
# the true totals of testdata/fixtures/known.c, for memprof (512 KiB) and
# for jemalloc's own profiler at the same rate (lg_prof_sample:19), over
# RUNS runs (default 20) at SCALE (default 1000). For each call site: the
# true bytes, the mean signed error over the runs (bias), the largest error
# of any run, and for memprof the largest error in standard deviations of
# the sampling (sd = sqrt(sum N s^2 (1-p)/p), p = 1 - exp(-s/R)).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
runs=${1:-20}
S=${2:-1000}
work=$(mktemp -d /tmp/memprof-accuracy.XXXXXX)
trap 'rm -rf "$work"' EXIT
${CC:-cc} -g -O2 -o "$work/known" testdata/fixtures/known.c
have_je=0
if ${CC:-cc} -g -O2 -o "$work/known-je" testdata/fixtures/known.c -ljemalloc 2>/dev/null &&
   command -v jeprof > /dev/null; then
	have_je=1
fi

for i in $(seq "$runs"); do
	"$BUILD/memprof" run -q -o "$work/m.pb.gz" "$work/known" "$S" > /dev/null
	for si in alloc_space inuse_space; do
		"$BUILD/memprof" top -n 0 --nodefraction=0 --sample-index=$si --unit=B "$work/m.pb.gz" |
			awk -v si=$si -v run=$i '$NF ~ /^site_/ { v = $1; sub(/B$/, "", v); print "memprof", si, run, $NF, v }'
	done >> "$work/est"
	if [ $have_je = 1 ]; then
		rm -f "$work"/je.*
		MALLOC_CONF=prof:true,prof_accum:true,prof_final:true,lg_prof_sample:19,prof_prefix:$work/je \
			"$work/known-je" "$S" > /dev/null
		for si in alloc_space inuse_space; do
			jeprof --text --show_bytes --$si "$work/known-je" "$work"/je.*.heap 2>/dev/null |
				awk -v si=$si -v run=$i '$NF ~ /^site_/ { print "jemalloc", si, run, $NF, $1 }'
		done >> "$work/est"
	fi
done

awk -v S="$S" -v R=524288 -v runs="$runs" '
function v(n, s,   p) { p = 1 - exp(-s / R); return n * s * s * (1 - p) / p }
BEGIN {
	t["alloc_space site_malloc"] = 1000*S*100;  var["alloc_space site_malloc"] = v(1000*S, 100)
	t["alloc_space site_calloc"] = 500*S*80;    var["alloc_space site_calloc"] = v(500*S, 80)
	t["alloc_space site_realloc"] = 200*S*112
	var["alloc_space site_realloc"] = v(200*S, 16) + v(200*S, 32) + v(200*S, 64)
	t["alloc_space site_aligned"] = 100*S*384;  var["alloc_space site_aligned"] = v(100*S, 256) + v(100*S, 128)
	t["alloc_space site_large"] = 20*S*1048576; var["alloc_space site_large"] = v(20*S, 1048576)
	t["inuse_space site_malloc"] = 100*S*100;   var["inuse_space site_malloc"] = v(100*S, 100)
	t["inuse_space site_realloc"] = 50*S*64;    var["inuse_space site_realloc"] = v(50*S, 64)
	t["inuse_space site_aligned"] = 100*S*384;  var["inuse_space site_aligned"] = v(100*S, 256) + v(100*S, 128)
}
{ k = $2 " " $4; est[$1, k, $3] = $5; tools[$1] = 1 }
END {
	printf "%-26s %13s | %-28s | %-20s\n", "sample type, site", "true bytes",
		"memprof: bias  max|err| max|z|", "jemalloc: bias max|err|"
	n = split("alloc_space site_malloc,alloc_space site_calloc,alloc_space site_realloc," \
		"alloc_space site_aligned,alloc_space site_large,inuse_space site_malloc," \
		"inuse_space site_realloc,inuse_space site_aligned", keys, ",")
	split("memprof jemalloc", order, " ")
	for (i = 1; i <= n; i++) {
		k = keys[i]
		line = sprintf("%-26s %13.0f |", k, t[k])
		for (o = 1; o <= 2; o++) {
			tool = order[o]
			if (!(tool in tools)) { line = line sprintf(" %-20s", "-"); continue }
			sum = 0; maxe = 0; maxz = 0
			for (r = 1; r <= runs; r++) {
				e = ((tool, k, r) in est ? est[tool, k, r] : 0) - t[k]
				sum += e
				if (e < 0 ? -e > maxe : e > maxe) maxe = e < 0 ? -e : e
				z = e / sqrt(var[k]); if (z < 0) z = -z
				if (z > maxz) maxz = z
			}
			if (tool == "memprof")
				line = line sprintf(" %+6.2f%% %7.2f%% %6.2f |", 100 * sum / runs / t[k], 100 * maxe / t[k], maxz)
			else
				line = line sprintf(" %+6.2f%% %7.2f%%", 100 * sum / runs / t[k], 100 * maxe / t[k])
		}
		print line
	}
}' "$work/est"
