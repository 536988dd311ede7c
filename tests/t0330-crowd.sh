#!/bin/bash
# More threads than per-thread rings (16 slots) at --rate 1 with
# MEMPROF_THREAD_RINGS=1: 40 threads alive at once, so 24 of them write to
# the shared ring under the lock. The profile stays exact, and memprof
# run -v's count of "allocations and frees [that] came through per-thread
# rings" (docs/man/memprof-run.1) counts only what did: at most 16 threads'
# worth, not every event merged by time (the shared ring's timed records
# are merged with the rings' and were counted as theirs).
. "$(dirname "$0")/test-lib.sh"
CC=${CC:-cc}
cat > "$TRASH/crowd.c" <<'EOF'
/* crowd T N: T threads, all alive from the first barrier to the second
 * (none releases its ring slot in between), each N malloc/free pairs */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
static pthread_barrier_t bar;
static long n;
void *volatile sink;	/* escaped: no malloc/free pair may be elided */
__attribute__((noinline)) static void *crowd_site(size_t size)
{
	void *p = malloc(size);
	sink = p;
	return p;
}
static void *run(void *arg)
{
	pthread_barrier_wait(&bar);
	for (long i = 0; i < n; i++)
		free(crowd_site(40));
	pthread_barrier_wait(&bar);
	return arg;
}
int main(int argc, char **argv)
{
	int t = atoi(argv[1]);
	pthread_t th[256];
	n = atol(argv[2]);
	pthread_barrier_init(&bar, NULL, (unsigned)t);
	for (int i = 0; i < t; i++)
		pthread_create(&th[i], NULL, run, NULL);
	for (int i = 0; i < t; i++)
		pthread_join(th[i], NULL);
	puts("ok");
	return 0;
}
EOF
( cd "$TRASH" && $CC -g -O2 -pthread -o crowd crowd.c ) ||
	{ echo "FAIL $T: cannot build crowd.c"; exit 1; }

test_expect_success "40 threads at once, 16 rings: the profile exact, nothing fed out of order" '
	MEMPROF_THREAD_RINGS=1 timeout 120 $MEMPROF run -v --rate 1 -o crowd.pb.gz -- ./crowd 40 2000 \
		> crowd.out 2> crowd.err &&
	grep -qx ok crowd.out &&
	! grep "allocations at an address still live" crowd.err &&
	expect crowd.pb.gz alloc_objects crowd_site 80000 &&
	expect crowd.pb.gz inuse_objects crowd_site none
'

# 16 threads of 2 * 2000 events at most (the main thread, if it holds a
# slot, adds a few per thread it starts: 1000 is room for them); all 40
# threads: 160000
test_expect_success "-v counts only the events that came through per-thread rings (16 threads at most)" '
	n=$(sed -n "s/^memprof: \([0-9]*\) allocations and frees came through per-thread rings$/\1/p" \
		crowd.err) &&
	test -n "$n" && test "$n" -gt 0 &&
	{ test "$n" -le $((16 * 2 * 2000 + 1000)) ||
		{ echo "-v says $n through per-thread rings; 24 of the 40 threads had none"; false; }; }
'

test_done
