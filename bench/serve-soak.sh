#!/bin/bash
# serve-soak.sh [SECONDS] [THREADS] - memprof run --http under scrapes:
# bench/soak.c (THREADS threads, default 2) runs SECONDS (default 600)
# under memprof run --http while a client fetches /debug/pprof/heap and
# /debug/pprof/allocs in turn every second and, once a minute, 100 at once
# (a storm). Prints memprof's own RSS every 30 s (it must stay flat), the
# program's operations per 30 s beside those of the same run without
# --http and scrapes, and memprof's closing line (CPU per profile served,
# snapshots built, the times the program waited for memprof). make bench
# BENCH=serve (SERVE_SECONDS=60 for a short run; SERVE_PLAIN=0 skips the run
# without --http). Not part of make test.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
secs=${1:-600}
threads=${2:-2}
work=$(mktemp -d /tmp/memprof-serve-soak.XXXXXX)
trap 'rm -rf "$work"' EXIT
${CC:-cc} -O2 -g -pthread -o "$work/soak" bench/soak.c

echo "== memprof run --http: $secs s of bench/soak ($threads threads), a scrape a second," \
	"100 at once every 60 s"
"$BUILD/memprof" run --http=127.0.0.1:0 -o "$work/served.pb.gz" "$work/soak" "$secs" "$threads" \
	> "$work/ops.served" 2> "$work/err" &
mp=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's|^memprof: serving http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/err")
	[ -n "$port" ] && break
	sleep 0.1
done
url=http://127.0.0.1:$port/debug/pprof
start=$(date +%s)
n=0 fail=0 next_rss=30
rss0=$(awk '/VmRSS/ { print $2 }' /proc/$mp/status)
echo "t=0s memprof RSS ${rss0} kB"
while kill -0 $mp 2>/dev/null; do
	t=$(($(date +%s) - start))
	[ "$t" -ge "$secs" ] && break
	kind=heap; [ $((n % 2)) = 1 ] && kind=allocs
	curl -s -m 30 -o "$work/p.pb.gz" "$url/$kind" || fail=$((fail + 1))
	n=$((n + 1))
	if [ $((n % 60)) = 0 ]; then
		for i in $(seq 100); do
			curl -s -m 60 -o /dev/null "$url/heap" &
		done
		wait $(jobs -p | grep -v "^$mp$") 2>/dev/null || true
		n=$((n + 100))
	fi
	if [ "$t" -ge "$next_rss" ]; then
		echo "t=${t}s memprof RSS $(awk '/VmRSS/ { print $2 }' /proc/$mp/status 2>/dev/null) kB," \
			"$n requests"
		next_rss=$((next_rss + 30))
	fi
	sleep 1
done
wait $mp
go tool pprof -raw "$work/p.pb.gz" > /dev/null 2>&1 && echo "last scrape read by go tool pprof: ok"
echo "requests: $n, failed: $fail"
grep "^memprof: http://" "$work/err" || true

[ "${SERVE_PLAIN:-1}" = 0 ] && exit 0
echo "== the same without --http and scrapes"
"$BUILD/memprof" run -q -o "$work/plain.pb.gz" "$work/soak" "$secs" "$threads" > "$work/ops.plain"
echo "the program's operations per second, each 30 s (scraped, then not):"
paste -d' ' <(sed -n 's/^t=\([0-9]*\)s ops\/s=/\1 /p' "$work/ops.served") \
	<(sed -n 's/^t=[0-9]*s ops\/s=//p' "$work/ops.plain") | sed 's/^/  t=/'
