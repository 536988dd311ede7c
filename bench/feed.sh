#!/bin/bash
# bench/feed.sh [ROUNDS] - the collector's feed at --rate 1 on jq (make
# bench, BENCH=feed): instructions per record (callgrind on memprof convert
# of a recording, counting collector_feed_records and what it calls), then
# ROUNDS runs (default 5) of `memprof run -v --rate 1` on jq: memprof's
# collecting CPU, how many times jq waited for memprof (its ring full), and
# jq's own wall and peak RSS. Medians; nothing here asserts. The wall
# target (jq at --rate 1 against plain) is bench/run's: WORKLOADS=jq
# TOOLS="plain memprof-rate1" BENCH=workloads bench/run.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${1:-5}
MEMPROF=$PWD/$BUILD/memprof
work=$(mktemp -d /tmp/memprof-feed.XXXXXX)
trap 'rm -rf "$work"' EXIT
. bench/lib.sh

python3 -c '
import json, random
random.seed(1)
rows = [{"id": i, "name": "user%d" % i, "tags": ["t%d" % (i % 13)] * 4,
         "score": random.random(), "nested": {"a": i, "b": [i, i + 1]}} for i in range(120000)]
json.dump(rows, open("'"$work"'/big.json", "w"))'
jq_argv=(jq -c '[.[] | select(.id % 3 == 0) | {n: .name, s: (.score * 100 | floor)}] | length'
	"$work/big.json")

echo "== the feed's instructions per record (jq at --rate 1, a recording fed by memprof convert)"
MEMPROF_OUT=$work/jq.rec MEMPROF_RATE=1 LD_PRELOAD=$PWD/$BUILD/libmemprof.so "${jq_argv[@]}" > /dev/null
ir=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
	--toggle-collect=collector_feed_records "$MEMPROF" convert "$work/jq.rec" \
	-o "$work/c.pb.gz" 2>&1 >/dev/null | awk '/Collected :/ { print $NF }')
# records: every allocation and every free (the summary's blocks; jq frees all)
blocks=$("$MEMPROF" convert "$work/jq.rec" -o "$work/c.pb.gz" 2>&1 |
	sed -n 's/.* allocated in \([0-9]*\) blocks.*/\1/p')
echo "feed: $ir instructions for $blocks allocations and as many frees:" \
	"$(awk -v i="$ir" -v b="$blocks" 'BEGIN { printf "%.0f", i / (2 * b) }') a record"

echo "== memprof run -v --rate 1 -- jq, $ROUNDS runs, medians"
: > "$work/cpu"; : > "$work/waits"; : > "$work/wall"; : > "$work/rss"
for r in $(seq "$ROUNDS"); do
	"$MEMPROF" run -v --rate 1 -o "$work/o.pb.gz" /usr/bin/time -f "%e %M" -o "$work/t" \
		"${jq_argv[@]}" > /dev/null 2> "$work/v"
	sed -n 's/.*memprof \([0-9.]*\) s collecting.*/\1/p' "$work/v" >> "$work/cpu"
	sed -n 's/.*waited for memprof \([0-9]*\) time.*/\1/p' "$work/v" >> "$work/waits"
	cut -d' ' -f1 "$work/t" >> "$work/wall"
	cut -d' ' -f2 "$work/t" >> "$work/rss"
done
echo "collecting CPU $(median < "$work/cpu") s; waits $(median < "$work/waits")" \
	"(all: $(sort -n "$work/waits" | tr '\n' ' '| sed 's/ $//')); jq wall $(median < "$work/wall") s," \
	"peak RSS $(($(median < "$work/rss") / 1024)) MB"
