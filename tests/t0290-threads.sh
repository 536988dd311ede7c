#!/bin/bash
# Threads at --rate 1: every allocation and free of every thread recorded,
# in an order that matches what happened (a block freed in one thread and
# its address reused by another is neither lost nor counted twice: memprof
# run -v counts both), and the peak exact (testdata/fixtures/threads.c).
# These hold whatever the tracker's records go through: one lock and one
# ring, or
# per-thread rings merged by time in memprof (MEMPROF_THREAD_RINGS: auto by
# default, from the first time two threads meet at the lock; 1 from the
# start; 0 never).
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
( cd "$TRASH" && $CC -g -O2 -pthread -o threads "$F/threads.c" ) ||
	{ echo "FAIL $T: cannot build fixtures"; exit 1; }

# flat_of FILE FUNC: FUNC's flat peak_space in bytes (nothing when none)
flat_of() {
	go tool pprof -top -sample_index=peak_space -unit=B "$1" 2>/dev/null |
		awk -v f="$2" '$NF == f { sub(/B$/, "", $1); print $1 }'
}

# run_threads NAME ARGS...: under memprof run --rate 1, nothing reported
# lost; MEMPROF_THREAD_RINGS as $RINGS (empty: the default, auto: the
# per-thread rings from the first contention; 1: from the start; 0: the one
# lock and ring)
run_threads() {
	local name=$1
	shift
	MEMPROF_THREAD_RINGS=$RINGS timeout 120 $MEMPROF run -v --rate 1 -o "$name.pb.gz" -- ./threads "$@" \
		> "$name.out" 2> "$name.err" || { cat "$name.err"; return 1; }
	grep -q "^ok$" "$name.out" && ! grep -q "not recorded" "$name.err" &&
	# every free met its block, and no block was allocated over a live one
	# (a free applied after the reuse of its address would be both)
	! grep "allocations at an address still live" "$name.err"
}

for RINGS in 1 "" 0; do
M=" [MEMPROF_THREAD_RINGS=${RINGS:-default}]"
for n in 2 8 64; do
	# 64 blocks of 1000 + 8t bytes per thread t, all alive at once
	want=$((64 * (1000 * n + 4 * n * (n - 1))))
	test_expect_success "$n threads: exact counts, and the peak exactly hold()'s $want bytes$M" "
		run_threads peak$n peak $n &&
		expect peak$n.pb.gz alloc_objects hold $((64 * n)) &&
		expect peak$n.pb.gz inuse_objects hold none &&
		expect peak$n.pb.gz alloc_objects churn_site $((2000 * n)) &&
		expect peak$n.pb.gz inuse_objects churn_site none &&
		test \"\$(flat_of peak$n.pb.gz hold)\" = $want &&
		test -z \"\$(flat_of peak$n.pb.gz churn_site)\"
	"
done

if [ "$RINGS" = 1 ]; then
	test_expect_success "MEMPROF_THREAD_RINGS=1: the records did come through per-thread rings (-v)" '
		MEMPROF_THREAD_RINGS=1 $MEMPROF run -v -q --rate 1 -o v.pb.gz -- ./threads peak 2 \
			> v.out 2> v.err &&
		grep -q "^memprof: [1-9][0-9]* allocations and frees came through per-thread rings$" v.err
	'
fi

# handed_over NAME MODE SITE: threads.c MODE with 8 threads of 20000: ping
# and SITE each allocated 80000 times, none left live
handed_over() {
	run_threads "$1" "$2" 8 20000 &&
	expect "$1.pb.gz" alloc_objects ping 80000 &&
	expect "$1.pb.gz" alloc_objects "$3" 80000 &&
	expect "$1.pb.gz" inuse_objects ping none &&
	expect "$1.pb.gz" inuse_objects "$3" none
}

test_expect_success "ping-pong: blocks freed in one thread, their addresses reused in another$M" '
	handed_over pp pingpong pong
'

# the realloc path of each mode: counts exact (the old address is reused
# after the hand-over here, so the order realloc's free is timed in is not
# what this can catch; tests/unit/test_ring.c checks the merge by time)
test_expect_success "realloc ping-pong: a block grown (moved) in one thread, its old address reused in another$M" '
	handed_over re realloc grow
'

# the live endpoint with the rings: exact counts (a drain feeds what a
# thread ring gave in the drain after, so the endpoint drains twice; the
# program here sits idle before the request, and memprof has drained many
# times by then: this does not catch an endpoint that drains once)
test_expect_success "--http: the heap asked for once the threads hold their blocks has all of them$M" '
	rm -f sv.ready sv.stop &&
	{ MEMPROF_THREAD_RINGS=$RINGS timeout 120 $MEMPROF run --rate 1 --http=127.0.0.1:0 \
		-o sv.pb.gz -- ./threads serve 4 sv.ready sv.stop > sv.out 2> sv.err & } &&
	sv=$! &&
	for _ in $(seq 400); do [ -e sv.ready ] && break; sleep 0.05; done &&
	port=$(sed -n "s|^memprof: serving http://127\.0\.0\.1:\([0-9]*\)/debug/pprof/\$|\1|p" sv.err) &&
	curl -sf -o live.pb.gz "http://127.0.0.1:$port/debug/pprof/heap" ; rc=$?
	touch sv.stop && wait $sv && test $rc = 0 &&
	expect live.pb.gz inuse_objects hold 256 &&
	expect live.pb.gz alloc_objects churn_site 80000
'

test_expect_success "5,000 short threads, one after another: each block counted, none left$M" '
	run_threads short short 5000 &&
	expect short.pb.gz alloc_objects short_thread 5000 &&
	expect short.pb.gz inuse_objects short_thread none &&
	expect short.pb.gz inuse_objects keep 1
'

test_expect_success "fork while threads allocate: the children's blocks, the parent's churn$M" '
	run_threads fork fork 2 &&
	expect fork.pb.gz alloc_objects child_site 30 &&
	expect fork.pb.gz inuse_objects child_site 30 &&
	expect fork.pb.gz inuse_objects churn_site none
'
done

( cd "$TRASH" && $CC -O1 -pthread -o cancel "$F/cancel.c" &&
	$CC -O1 -pthread -o reallocerrno "$F/reallocerrno.c" ) ||
	{ echo "FAIL $T: cannot build cancel.c, reallocerrno.c"; exit 1; }

# the lock's futex wait sets errno (EAGAIN) when two threads meet there
for mode in "--rate 1 0" "--rate 64 0" "--rate 1 1"; do
	set -- $mode
	test_expect_success "realloc leaves errno alone while threads contend ($1 $2, MEMPROF_THREAD_RINGS=$3)" "
		MEMPROF_THREAD_RINGS=$3 \$MEMPROF run -q $1 $2 -o re.pb.gz -- ./reallocerrno > re.out &&
		grep -qx \"reallocs that changed errno: 0\" re.out
	"
done
for RINGS in "" 0; do
	test_expect_success "a thread cancelled while its cancel was pending: cancelled in the program, not in the tracker [MEMPROF_THREAD_RINGS=${RINGS:-default}]" '
		./cancel > plain.out &&
		MEMPROF_THREAD_RINGS=$RINGS timeout -s KILL 60 $MEMPROF run -q --rate 1 -o cancel.pb.gz -- ./cancel > cancel.out &&
		cmp plain.out cancel.out &&
		printf "joined, cancelled\ndone\n" | cmp - cancel.out
	'
done

# A clock that ticks in milliseconds (coarse.so, preloaded into memprof and
# the program alike): memprof gives the program MEMPROF_THREAD_RINGS=0,
# says so when it was given 1, and the counts stay exact
cat > "$TRASH/coarse.c" <<'EOF'
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
int clock_gettime(clockid_t id, struct timespec *t)
{
	int rc = (int)syscall(SYS_clock_gettime, id, t);
	if (rc == 0 && id == CLOCK_MONOTONIC)
		t->tv_nsec -= t->tv_nsec % 1000000;
	return rc;
}
EOF
( cd "$TRASH" && $CC -O2 -fPIC -shared -o coarse.so coarse.c ) ||
	{ echo "FAIL $T: cannot build coarse.so"; exit 1; }
for RINGS in "" 1; do
	# memprof itself takes the preload too: an ASan build of it refuses
	# to start with a library before its runtime
	if ldd "$BUILD/memprof" | grep -q libasan; then
		test_skip "a coarse clock [MEMPROF_THREAD_RINGS=${RINGS:-default}]" "a sanitizer build of memprof"
		continue
	fi
	test_expect_success "a coarse clock: no per-thread rings, counts exact [MEMPROF_THREAD_RINGS=${RINGS:-default}]" '
		LD_PRELOAD=$TRASH/coarse.so MEMPROF_THREAD_RINGS=$RINGS timeout 120 \
			$MEMPROF run -v --rate 1 -o co.pb.gz -- ./threads pingpong 8 20000 > co.out 2> co.err &&
		grep -q "^ok$" co.out &&
		! grep "came through per-thread rings" co.err &&
		! grep "allocations at an address still live" co.err &&
		if test "$RINGS" = 1; then
			grep -q "^memprof: warning: this machine.s clock is too coarse" co.err
		else
			! grep -q "warning" co.err
		fi &&
		expect co.pb.gz alloc_objects ping 80000 &&
		expect co.pb.gz alloc_objects pong 80000
	'
done

for bad in "MEMPROF_THREAD_RINGS=2" "MEMPROF_THREAD_RINGS=01" "MEMPROF_WARM=yes"; do
	test_expect_success "$bad: one line saying what it must be, exit 2, the program not run" '
		rm -f ran bad.pb.gz &&
		test_expect_code 2 env $bad $MEMPROF run -q -o bad.pb.gz -- touch ran 2> bad.err &&
		test "$(wc -l < bad.err)" = 1 &&
		grep -q "^memprof: run: ${bad%%=*} must be 0\(, 1 or auto\| or 1\), not .${bad#*=}.$" bad.err &&
		test ! -e ran && test ! -e bad.pb.gz
	'
done

test_done
