#!/bin/bash
# Hostile programs (issue 4): threads, fork and exec in every form, signals
# and odd control flow, libraries, process state, own allocators. Each must
# behave as without memprof and yield a profile go tool pprof reads.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
cd "$TRASH"
$CC -g -O1 -pthread -o hostile $F/hostile.c -ldl &&
$CC -g -O1 -fPIC -shared -o plugin.so $F/plugin.c &&
c++ -g -O1 -o throw $F/throw.cpp &&
$CC -g -O1 -fPIC -shared -o libctorlib.so $F/ctorlib.c &&
$CC -g -O1 -o ctormain $F/ctormain.c -L. -lctorlib -Wl,-rpath,"$TRASH" &&
$CC -O1 -o ownalloc $F/ownalloc.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null


test_expect_success "16 threads, every allocator: allocs minus frees is in use, per function" '
	R=200000 &&
	test_like_plain 1 threads ./hostile threads $R &&
	grep -q "threads kept $((16 * R / 8))" prof.out &&
	k=$((R / 8)) &&
	malloc_kept=$(awk -v k=$k "BEGIN { for (i = 0; i < k; i++) s += 48 + (8 * i) % 200; print 4 * s }") &&
	malloc_all=$(awk -v r=$R "BEGIN { for (i = 0; i < r; i++) s += 48 + i % 200; print 4 * s }") &&
	expect threads.pb.gz alloc_objects worker_malloc $((4 * R)) &&
	expect threads.pb.gz alloc_objects worker_calloc $((4 * R)) &&
	expect threads.pb.gz alloc_objects worker_realloc $((8 * R)) &&
	expect threads.pb.gz alloc_objects worker_aligned $((4 * R)) &&
	for w in worker_malloc worker_calloc worker_realloc worker_aligned; do
		expect threads.pb.gz inuse_objects $w $((4 * k)) || exit 1
	done &&
	expect threads.pb.gz alloc_space worker_malloc $malloc_all &&
	expect threads.pb.gz inuse_space worker_malloc $malloc_kept &&
	expect threads.pb.gz inuse_space worker_calloc $((4 * k * 120)) &&
	expect threads.pb.gz inuse_space worker_realloc $((4 * k * 96)) &&
	expect threads.pb.gz inuse_space worker_aligned $((4 * k * 64)) &&
	expect threads.pb.gz alloc_space worker_aligned $((4 * R / 2 * 192))
'
test_expect_success "16 threads at the default rate: same behaviour" '
	test_like_plain 512k threads-d ./hostile threads 200000
'
test_expect_success "fork in a threaded program while threads allocate; children exec or _exit" '
	test_like_plain 1 forkmt ./hostile forkmt &&
	expect forkmt.pb.gz alloc_objects forked_child_work 2000 &&
	expect forkmt.pb.gz alloc_objects leaf_work 100 &&
	go tool pprof -tags forkmt.pb.gz 2>/dev/null | sed -n "/pid:/,\$p" | grep -c "%)" > n &&
	test "$(cat n)" -ge 21
'
test_expect_success "vfork, posix_spawn, system, popen and sh -c exec: every leaf profiled" '
	test_like_plain 1 spawn ./hostile spawn &&
	grep -q "^spawn 0 0 0 0 0 leaf" prof.out &&
	expect spawn.pb.gz alloc_objects leaf_work 50
'
test_expect_success "allocation in a SIGALRM handler every millisecond" '
	test_like_plain 1 alarm ./hostile alarm &&
	test "$(flat alarm.pb.gz alloc_objects main_loop_alloc)" != none &&
	test "$(flat alarm.pb.gz alloc_objects handler_alloc)" != none
'
test_expect_success "siglongjmp out of a handler that allocated" '
	test_like_plain 1 longjmp ./hostile longjmp &&
	expect longjmp.pb.gz alloc_objects jump_work 200 &&
	expect longjmp.pb.gz alloc_objects handler_jump 200
'
test_expect_success "C++ exceptions thrown across allocating frames" '
	test_like_plain 1 throw ./throw &&
	grep -q "caught 500 kept 1000" prof.out &&
	$MEMPROF top -n 0 --nodefraction=0 --sample-index=alloc_objects throw.pb.gz > top.out &&
	grep -E " level3\$" top.out && grep -E " level1\$" top.out
'
test_expect_success "thread-local destructors and atexit handlers that allocate" '
	test_like_plain 1 tlsdtor ./hostile tlsdtor &&
	expect tlsdtor.pb.gz alloc_objects tls_destructor 20 &&
	expect tlsdtor.pb.gz alloc_objects atexit_alloc 50
'
test_expect_success "library constructors and destructors that allocate" '
	test_like_plain 1 ctor ./ctormain &&
	expect ctor.pb.gz alloc_objects main_init 30 &&
	expect ctor.pb.gz alloc_objects ctorlib_fini 60
'
test_expect_success "a daemon that closes every fd and dup2s its own files over them" '
	test_like_plain 1 closefds ./hostile closefds &&
	grep -q "closefds file size 0" prof.out &&
	expect closefds.pb.gz alloc_objects after_closing 100
'
test_expect_success "chdir, setrlimit (files, address space), setsid" '
	test_like_plain 1 limits ./hostile limits &&
	expect limits.pb.gz alloc_objects after_closing 100
'
test_expect_success "64 threads created and joined, ten times" '
	test_like_plain 1 burst ./hostile burst &&
	expect burst.pb.gz alloc_objects burst_thread 1280
'
test_expect_success "realloc that fails keeps its block; realloc(p, 0) frees it (--rate 1)" '
	test_like_plain 1 reallocs ./hostile reallocs &&
	grep -q "1000 failed with ENOMEM" prof.out &&
	expect reallocs.pb.gz inuse_objects realloc_failed 1000 &&
	expect reallocs.pb.gz inuse_space realloc_failed 100000 &&
	expect reallocs.pb.gz alloc_objects realloc_zero 1000 &&
	expect reallocs.pb.gz inuse_objects realloc_zero none
'
test_expect_success "the same edges of realloc when sampling (--rate 64)" '
	test_like_plain 64 reallocs64 ./hostile reallocs &&
	expect reallocs64.pb.gz inuse_objects realloc_zero none &&
	kept=$(flat reallocs64.pb.gz inuse_space realloc_failed) &&
	test "$kept" != none &&
	expect reallocs64.pb.gz alloc_space realloc_failed "$kept"
'
test_expect_success "dlopen and dlclose 200 times" '
	test_like_plain 1 dlloop ./hostile dlloop ./plugin.so &&
	expect dlloop.pb.gz alloc_objects plugin_work 1000
'
test_expect_success "RTLD_DEEPBIND: a warning that names the library" '
	test_like_plain 1 deepbind ./hostile deepbind ./plugin.so &&
	grep -q "plugin.so was dlopen.ed with RTLD_DEEPBIND" prof.err
'
test_expect_success "a program with its own malloc: said so, its status kept, an empty profile" '
	test_expect_code 5 $MEMPROF run -o own.pb.gz ./ownalloc > out 2> err &&
	grep -q "defines malloc itself" err && go tool pprof -top own.pb.gz > /dev/null 2>&1 &&
	grep -q "own allocator used" out
'
test_expect_success "a program that allocates nothing: said so; -o always leaves a valid profile" '
	$MEMPROF run -o none.pb.gz /bin/true 2> err &&
	grep -q "made no allocation" err && grep -q "wrote none.pb.gz: 0 samples" err &&
	go tool pprof -top none.pb.gz > top 2>&1 && grep -q "Type: alloc_space" top &&
	mkdir d && (cd d && $MEMPROF run /bin/true) 2> err2 &&
	grep -q "no profile written" err2 && test -z "$(ls d)"
'
if ! /usr/bin/python3 -c "import pty; pty.openpty()" 2>/dev/null; then
	test_skip "Ctrl-C at a terminal" "no pseudo-terminals here (/dev/pts not mounted)"
else
test_expect_success "Ctrl-C at a terminal reaches the program once; the profile is written" '
	$CC -g -O1 -o ends $F/ends.c &&
	/usr/bin/python3 - "$MEMPROF" <<-EOF > status
	import os, pty, sys, time
	pid, fd = pty.fork()
	if pid == 0:
	    os.execv(sys.argv[1], [sys.argv[1], "run", "-q", "--rate", "1", "-o", "int.pb.gz",
	                           "./ends", "wait"])
	time.sleep(1.0)
	os.write(fd, b"\x03")          # the terminal sends SIGINT to the foreground group
	try:
	    while os.read(fd, 1024):
	        pass
	except OSError:
	    pass
	_, st = os.waitpid(pid, 0)
	print(os.WEXITSTATUS(st) if os.WIFEXITED(st) else -os.WTERMSIG(st))
	EOF
	test "$(cat status)" = -2 &&	# killed by SIGINT, as the program was
	$MEMPROF top --sample-index=alloc_objects int.pb.gz | grep -E "^ +500 .* before_end\$" &&
	! ls -A | grep -q "\.tmp\."
'
test_expect_success "symbolizing shows progress on a terminal, and only there" '
	$CC -O1 -g -o stacks $SRC/bench/stacks.c &&
	MEMPROF_PROGRESS_MS=0 /usr/bin/python3 - "$MEMPROF" <<-EOF > tty.out &&
	import os, pty, sys
	pid, fd = pty.fork()
	if pid == 0:
	    os.execv(sys.argv[1], [sys.argv[1], "run", "--rate", "1", "-o", "p.pb.gz", "./stacks", "3000"])
	out = b""
	try:
	    while True:
	        b = os.read(fd, 4096)
	        if not b:
	            break
	        out += b
	except OSError:
	    pass
	os.waitpid(pid, 0)
	sys.stdout.write(out.decode())
	EOF
	grep -q "memprof: symbolized [0-9]* locations" tty.out &&
	MEMPROF_PROGRESS_MS=0 $MEMPROF run --rate 1 -o p2.pb.gz ./stacks 3000 2> err > /dev/null &&
	! grep -q symboliz err
'
fi
test_done
