#!/bin/bash
# memprof agent's profiles: a running service's Duration runs to now (not
# to the end of its last ended process); ?pid=N is that process's own
# profile (its File, its command line). go tool pprof is the client.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
cd "$TRASH"
${CC:-cc} -g -O2 -o phases $F/phases.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null
LIB=$BUILD/libmemprof.so
export PPROF_TMPDIR=$TRASH/pprof

service() {
	rm -f svc.in && mkfifo svc.in
	env LD_PRELOAD=$LIB MEMPROF_AGENT=$TRASH/a.d/sock MEMPROF_RATE=1 ./phases \
		< svc.in > svc.out &
}

# seconds FILE: the Duration go tool pprof printed in FILE, in seconds
seconds() {
	sed -n 's/.*Duration: \([0-9.]*\)\(m\{0,1\}s\),.*/\1 \2/p' "$1" |
		awk '{ print $2 == "ms" ? $1 / 1000 : $1 }'
}

test_expect_success "a running service: Duration runs to now, past its ended child; ?pid= is the process's own" '
	start_agent a &&
	trap "kill $ag 2>/dev/null || :" EXIT &&
	t0=$(date +%s.%N) &&
	service && p=$! && exec 3> svc.in &&
	echo >&3 && wait_line svc.out "done 1" &&
	echo fork >&3 && wait_line svc.out "child done 2" &&
	t1=$(date +%s.%N) &&
	sleep 3 &&
	go tool pprof -top "${url}allocs" > all.top 2>&1 && cat all.top &&
	d=$(seconds all.top) && t=$(echo "$t0 $t1" | awk "{ print \$2 - \$1 + 2 }") &&
	echo "Duration ${d}s; the child ended within $(echo "$t0 $t1" | awk "{ print \$2 - \$1 }")s of the start" &&
	awk -v d="$d" -v t="$t" "BEGIN { exit !(d >= t) }" &&
	go tool pprof -top "${url}allocs?pid=$p" > p.top 2>&1 && cat p.top &&
	d=$(seconds p.top) && awk -v d="$d" -v t="$t" "BEGIN { exit !(d >= t) }" &&
	grep -q "^File: phases$" p.top &&
	go tool pprof -comments "${url}heap?pid=$p" > p.comments 2>/dev/null && cat p.comments &&
	grep -q "^memprof .* agent$" p.comments && grep -q "^command: .*phases$" p.comments &&
	exec 3>&- && wait $p &&
	for _ in $(seq 200); do
		curl -sf "${url}sampling" | grep -q "^$p on ended" && break
		sleep 0.05
	done &&
	go tool pprof -top "${url}allocs" > end1.top 2>&1 && sleep 1.5 &&
	go tool pprof -top "${url}allocs" > end2.top 2>&1 &&
	: an ended service keeps its span: the same Duration a moment later &&
	test "$(seconds end1.top)" = "$(seconds end2.top)" &&
	kill $ag && wait $ag
'

test_done
