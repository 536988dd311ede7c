#!/bin/bash
# soak.sh [SECONDS] - runs bench/soak.c (8 threads) under memprof run for
# SECONDS (default 600) and samples memprof's own RSS every 30 s, so that
# its memory can be seen to stay flat. Not part of make test.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
secs=${1:-600}
work=$(mktemp -d /tmp/memprof-soak.XXXXXX)
${CC:-cc} -O2 -g -pthread -o "$work/soak" bench/soak.c
"$BUILD/memprof" run -o "$work/soak.pb.gz" "$work/soak" "$secs" 8 > "$work/ops" &
mp=$!
sleep 1
for ((t = 30; t <= secs; t += 30)); do
	sleep 30
	rss=$(awk '/VmRSS/ { print $2 }' /proc/$mp/status 2>/dev/null || echo gone)
	echo "t=${t}s memprof RSS ${rss} kB"
done
wait $mp
paste -d' ' <(sed -n 's/^t=\([0-9]*\)s ops\/s=/\1 /p' "$work/ops") /dev/null | sed 's/^/ops: /'
"$BUILD/memprof" top -n 5 "$work/soak.pb.gz" | tail -6
rm -rf "$work"
