#!/bin/bash
# The copy of the loader's list (modules_refresh), made outside the
# tracker's lock: on a coroutine's small stack it must not overflow (it
# runs on a stack of the tracker's own then); a pc in no object (JIT code)
# must not make a copy per sample; a forked child must not call the loader
# when a thread of its parent held the loader's lock at fork; after a
# dlclose, an allocation made while the program holds a lock that a
# dl_iterate_phdr callback of another thread waits for must not wait for
# the loader (the copy is made in the dlclose hook instead).
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
( cd "$TRASH" &&
	$CC -g -O2 -o coro "$F/coro.c" -ldl &&
	$CC -g -O2 -o jit "$F/jit.c" &&
	$CC -g -O2 -pthread -o forkloader "$F/forkloader.c" -ldl &&
	$CC -g -O2 -pthread -o loaderhold "$F/loaderhold.c" -ldl ) ||
	{ echo "FAIL $T: cannot build fixtures"; exit 1; }

test_expect_success 'a dlclose, then malloc on an 8 KiB coroutine stack: no crash' '
	timeout 60 $MEMPROF run -q --rate 1 -o coro.pb.gz -- ./coro 8 dl > coro.out ||
		{ echo "status $?"; exit 1; }
	grep -qx ok coro.out &&
	expect coro.pb.gz alloc_objects co 1
'

test_expect_success 'the same without the dlclose' '
	timeout 60 $MEMPROF run -q --rate 1 -o coro2.pb.gz -- ./coro 8 > coro2.out &&
	grep -qx ok coro2.out &&
	expect coro2.pb.gz alloc_objects co 1
'

# Before the fix every sample through the JIT stub made a full copy of the
# loader's list (a readlink each, from realpath: 20031 for 20000 samples).
test_expect_success 'malloc from JIT code: the list is not copied again per sample' '
	command -v strace > /dev/null || { echo "strace missing (scripts/install-deps --test)"; exit 1; }
	# LeakSanitizer (make sanitize-test) cannot run under ptrace
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -e trace=readlink -o jit.st $MEMPROF run -q --rate 1 -o jit.pb.gz -- ./jit 20000 x > jit.out &&
	grep -qx ok jit.out &&
	n=$(grep -c readlink jit.st) &&
	echo "readlink calls: $n" &&
	test "$n" -lt 200 &&
	go tool pprof -top jit.pb.gz > /dev/null
'

test_expect_success 'a forked child while a parent thread is inside dl_iterate_phdr: no hang' '
	timeout 60 $MEMPROF run -q --rate 1 -o fork.pb.gz -- ./forkloader > fork.out ||
		{ echo "status $?"; exit 1; }
	grep -qx "child 0" fork.out
'

test_expect_success 'a dlclose, then malloc under a lock a dl_iterate_phdr callback wants: no hang' '
	timeout 60 $MEMPROF run -q --rate 1 -o hold.pb.gz -- ./loaderhold > hold.out ||
		{ echo "status $?"; exit 1; }
	grep -qx ok hold.out &&
	expect hold.pb.gz alloc_objects main 1
'

test_done
