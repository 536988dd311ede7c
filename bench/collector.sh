#!/bin/bash
# bench/collector.sh [RUNS] - the collector and the profile at scale
# (make bench, BENCH=collector): symbolizing a build of 7 C files at
# --rate 1 (make -j2: 22 processes), one call site allocating 200,000
# distinct sizes against one size, and 100k distinct stacks (memprof's peak
# RSS, its own and the tree's, and the instructions spent feeding their
# records). Prints medians of RUNS (default 3); nothing here asserts.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUNS=${1:-3}
MEMPROF=$PWD/$BUILD/memprof
work=$(mktemp -d /tmp/memprof-collector.XXXXXX)
trap 'rm -rf "$work"' EXIT
. bench/lib.sh
cc=${CC:-cc}

# 7 C files of 25 structs and 50 functions each: a build whose gcc, cc1 and
# as all run under the tracker
mkdir "$work/proj"
for i in 1 2 3 4 5 6 7; do
	{
		printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n'
		for k in $(seq 25); do
			echo "struct s${i}_$k { int a[$k+1]; double d; struct s${i}_$k *next; };
static struct s${i}_$k *mk${i}_$k(int n) { struct s${i}_$k *h = 0; for (int j = 0; j < n; j++) { struct s${i}_$k *x = calloc(1, sizeof *x); x->a[j % ($k+1)] = j; x->d = sin(j) * $k; x->next = h; h = x; } return h; }
double sum${i}_$k(int n) { double t = 0; struct s${i}_$k *h = mk${i}_$k(n); while (h) { struct s${i}_$k *x = h->next; for (int j = 0; j < $k+1; j++) t += h->a[j] * h->d; char b[32]; snprintf(b, sizeof b, \"%g\", t); t += strlen(b); free(h); h = x; } return t; }"
		done
	} > "$work/proj/f$i.c"
done
printf 'OBJS = f1.o f2.o f3.o f4.o f5.o f6.o f7.o\nCFLAGS = -O2 -g\nall: $(OBJS)\nclean:\n\trm -f $(OBJS)\n' \
	> "$work/proj/Makefile"

echo "== memprof run -v --rate 1 -- make -j2 (7 C files), $RUNS runs, medians"
: > "$work/sym"; : > "$work/wall"; : > "$work/plain"
for r in $(seq "$RUNS"); do
	make -s -C "$work/proj" clean
	/usr/bin/time -f %e -o "$work/t" make -s -C "$work/proj" -j2 > /dev/null
	cat "$work/t" >> "$work/plain"
	make -s -C "$work/proj" clean
	/usr/bin/time -f %e -o "$work/t" "$MEMPROF" run -v --rate 1 -o "$work/mk.pb.gz" -- \
		make -s -C "$work/proj" -j2 2> "$work/v" > /dev/null
	cat "$work/t" >> "$work/wall"
	sed -n 's/.*, \([0-9.]*\) s symbolizing.*/\1/p' "$work/v" >> "$work/sym"
done
procs=$(sed -n 's/.*(\([0-9]*\) processes).*/\1/p' "$work/v")
echo "processes $procs; plain wall $(median < "$work/plain") s; under memprof: wall" \
	"$(median < "$work/wall") s, symbolizing and writing $(median < "$work/sym") s CPU"

echo "== one call site: 200,000 distinct sizes (16 B .. 200 KB) against one size, --rate 1"
$cc -O2 -g -o "$work/sizes" bench/sizes.c
for m in distinct same; do
	/usr/bin/time -f %M -o "$work/t" "$MEMPROF" run -q --rate 1 -o "$work/s.pb.gz" \
		"$work/sizes" 200000 $m
	echo "$m: memprof peak RSS $(($(cat "$work/t") / 1024)) MB, profile" \
		"$(stat -c %s "$work/s.pb.gz") bytes, $(go tool pprof -raw "$work/s.pb.gz" 2>/dev/null |
			sed -n '/^Samples/,/^Locations/p' | grep -c 'bytes:') samples"
done

echo "== 100k distinct stacks (bench/stacks.c, --rate 1)"
$cc -O2 -g -o "$work/stacks" bench/stacks.c
# %M is the largest of the tree: memprof or the program with its tracker's
# tables; own-peak.sh reads memprof's own
: > "$work/rss"; : > "$work/own"
for r in $(seq "$RUNS"); do
	/usr/bin/time -f %M -o "$work/t" bench/own-peak.sh "$MEMPROF" run -q --rate 1 \
		-o "$work/st.pb.gz" "$work/stacks" 100000 > /dev/null 2> "$work/o"
	cat "$work/t" >> "$work/rss"
	sed -n 's/^own peak RSS: \([0-9]*\) kB$/\1/p' "$work/o" >> "$work/own"
done
echo "peak RSS (median of $RUNS): memprof $(median < "$work/own") kB; memprof or the" \
	"program, whichever is larger (/usr/bin/time %M) $(median < "$work/rss") kB"
LD_PRELOAD=$PWD/$BUILD/libmemprof.so MEMPROF_OUT=$work/st.rec MEMPROF_RATE=1 \
	"$work/stacks" 100000 > /dev/null
feed=$(valgrind --tool=callgrind --toggle-collect=collector_feed_recording \
	--callgrind-out-file=/dev/null "$MEMPROF" convert -o /dev/null "$work/st.rec" 2>&1 |
	awk '/Collected :/ { print $NF }')
echo "feeding the recording (memprof convert, callgrind, collector_feed_recording):" \
	"$feed instructions"
