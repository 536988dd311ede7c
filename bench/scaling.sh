#!/bin/bash
# scaling.sh - memprof's cost against rate, stack depth and threads, and the
# collector's against distinct stacks. Writes bench/scaling.tsv and, with
# bench/plot.py, docs/scaling.svg. Instruction counts come from callgrind
# (repeatable); thread scaling is wall time (medians of PAIRS rounds).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PAIRS=${PAIRS:-3}
work=$(mktemp -d /tmp/memprof-scaling.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc=${CC:-cc}
$cc -O2 -g -pthread -o "$work/churn" bench/churn.c
$cc -O2 -g -o "$work/stacks" bench/stacks.c
out=bench/scaling.tsv
: > "$out"

. bench/lib.sh
traced() {	# traced RATE CMD...: ir under the tracker in standalone mode
	local r=$1
	shift
	rm -f "$work/rec"
	callgrind_ir_env LD_PRELOAD="$(realpath "$BUILD")/libmemprof.so" MEMPROF_OUT="$work/rec" \
		MEMPROF_RATE="$r" "$@"
}

echo "== instructions against rate (churn, 1 thread, 1M malloc/free)"
plain=$(callgrind_ir "$work/churn" 1 1)
for r in 1 4096 65536 524288 4194304; do
	t=$(traced $r "$work/churn" 1 1)
	x=$(ratio "$t" "$plain")
	echo "rate $r: $t instructions, $x x plain"
	printf 'rate\t%s\t%s\n' "$r" "$x" >> "$out"
done

echo "== instructions against stack depth (200k malloc/free at the bottom of the stack, rate 4096)"
for d in 10 50 200; do
	p=$(callgrind_ir "$work/stacks" 200000 $d)
	t=$(traced 4096 "$work/stacks" 200000 $d)
	x=$(ratio "$t" "$p")
	echo "depth $d: plain $p, memprof $t, $x x"
	printf 'depth\t%s\t%s\n' "$d" "$x" >> "$out"
done

echo "== program wall against threads (churn, 8M malloc/free in all, medians of $PAIRS)"
for th in 1 2 4 8; do
	: > "$work/p"; : > "$work/m"
	for i in $(seq "$PAIRS"); do
		/usr/bin/time -f %e -o "$work/t" "$work/churn" $th 8 > /dev/null
		tail -1 "$work/t" >> "$work/p"
		"$BUILD/memprof" run -q -o "$work/o.pb.gz" /usr/bin/time -f %e -o "$work/t" \
			"$work/churn" $th 8 > /dev/null
		tail -1 "$work/t" >> "$work/m"
	done
	pm=$(median < "$work/p"); mm=$(median < "$work/m")
	x=$(ratio "$mm" "$pm")
	echo "threads $th: plain $pm s, memprof $mm s, $x x"
	printf 'threads\t%s\t%s\n' "$th" "$x" >> "$out"
done

echo "== the collector against distinct stacks (rate 1, one allocation per stack)"
for n in 1000 10000 100000; do
	/usr/bin/time -f %M -o "$work/t" "$BUILD/memprof" run -v --rate 1 -o "$work/s.pb.gz" \
		"$work/stacks" $n 2> "$work/v" > /dev/null
	rss=$(tail -1 "$work/t")
	cpu=$(sed -n 's/.*memprof \([0-9.]*\) s collecting.*, \([0-9.]*\) s symbolizing.*/\1 \2/p' "$work/v")
	size=$(stat -c %s "$work/s.pb.gz")
	echo "stacks $n: collecting $(echo $cpu | cut -d' ' -f1) s, symbolizing and writing $(echo $cpu | cut -d' ' -f2) s, peak RSS $((rss / 1024)) MB, profile $((size / 1024)) KiB"
	printf 'stacks\t%s\t%s\t%s\t%s\n' "$n" "$(echo $cpu | tr ' ' '\t')" "$rss" "$size" >> "$out"
done
python3 bench/plot.py "$out" docs/scaling.svg && echo "wrote docs/scaling.svg"
