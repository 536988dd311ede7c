#!/bin/bash
# A process's life under the tracker: libraries it loads, signals it starts
# with, fork, exec in every form, small stacks, errno, descriptors, the
# ways it ends, and what memprof writes about it. Each test is a defect of
# the single-file tracker (221b07b) that must not come back.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures/lifecycle
CC=${CC:-cc}
PY=/usr/bin/python3
cd "$TRASH"
mkdir plugins &&
$CC -g -O1 -fPIC -shared -o plugins/libplug.so $F/libplug.c &&
c++ -g -O1 -fPIC -shared -o plugins/libplugxx.so $F/libplugxx.cpp &&
$CC -g -O1 -o plugmain $F/plugmain.c -ldl -Wl,--enable-new-dtags,-rpath,'$ORIGIN/plugins' &&
$CC -g -O1 -o sigdisp $F/sigdisp.c &&
$CC -g -O1 -o forks $F/forks.c &&
$CC -g -O1 -o execs $F/execs.c &&
$CC -g -O1 -o smallstack $F/smallstack.c &&
$CC -g -O1 -o errnokeep $F/errnokeep.c &&
$CC -g -O1 -pthread -o pexit $F/pexit.c &&
$CC -g -O1 -o quickend $F/quickend.c &&
$CC -g -O1 -o fdcheck $F/fdcheck.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null


# duration_ms FILE: the profile's Duration as memprof top prints it, in ms
# (fails when there is none).
duration_ms() {
	$MEMPROF top "$1" | awk '/^Duration:/ {
		d = $2; sub(/,$/, "", d); u = d; sub(/^[0-9.]+/, "", u)
		m = -1
		if (u == "ns") m = 1e-6; else if (u == "us") m = 0.001; else if (u == "ms") m = 1
		else if (u == "s") m = 1000; else if (u == "mins") m = 60000; else if (u == "hrs") m = 3600000
		if (m < 0) { print "unknown unit: " $0 > "/dev/stderr"; exit 1 }
		printf "%d\n", d * m; found = 1
	} END { if (!found) { print "no Duration line" > "/dev/stderr"; exit 1 } }'
}

# wait_for FILE: up to 60 s for FILE to be non-empty.
wait_for() {
	for i in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done
	echo "gave up waiting for $1"
	return 1
}

# ---- libraries --------------------------------------------------------------

test_expect_success "dlopen by bare name finds the library through the program's RUNPATH" '
	readelf -d plugmain | grep -q "RUNPATH.*\$ORIGIN/plugins" &&
	test_like_plain 1 runpath ./plugmain libplug.so libplugxx.so &&
	grep -q "^loaded libplug.so: 100\$" prof.out &&
	expect runpath.pb.gz alloc_objects plug_work 100
'
test_expect_success "allocations in a dlopened library's C and C++ constructors are named" '
	test_like_plain 1 ctors ./plugmain ./plugins/libplug.so ./plugins/libplugxx.so &&
	expect ctors.pb.gz alloc_objects plug_constructor 40 &&
	expect ctors.pb.gz alloc_objects plugxx::Registry::Registry 25 &&
	go tool pprof -top -nodefraction=0 -sample_index=alloc_objects ctors.pb.gz > top 2>&1 &&
	! grep -E "<unknown>|0x[0-9a-f]{6,}" top
'

# ---- signals ----------------------------------------------------------------

test_expect_success "the program starts with its parent's signal dispositions (sigaction)" '
	test_like_plain 1 sigdisp ./sigdisp &&
	grep -q "^SEGV: " prof.out
'
if [ -x $PY ]; then
test_expect_success "Python: SIGINT is still Python's; a SIGINT to itself is a KeyboardInterrupt" '
	test_like_plain 1 pyint $PY -c "import signal; print(signal.getsignal(signal.SIGINT))" &&
	grep -q default_int_handler prof.out &&
	test_like_plain 1 selfint $PY $F/selfint.py &&
	grep -q "^caught KeyboardInterrupt\$" prof.out
'
else
	test_skip "Python: SIGINT is still Python's" "no $PY"
fi
test_expect_success "SIGINT ignored by the parent stays ignored in the program" '
	(trap "" INT; ./sigdisp > plain.out; $MEMPROF run -q -o ign.pb.gz ./sigdisp > prof.out) &&
	grep -q "^INT: ignored" plain.out && test_cmp plain.out prof.out &&
	if env --ignore-signal=INT true 2> /dev/null; then
		env --ignore-signal=INT $MEMPROF run -q -o ign2.pb.gz ./sigdisp > prof2.out &&
		grep -q "^INT: ignored" prof2.out
	fi
'

# ---- fork and exec ----------------------------------------------------------

# Six children with the same allocations and their parent's random state at
# fork: with draws of their own their counts differ (all six equal by chance:
# about 1 in 100000 at some 16 samples each).
test_expect_success "forked children draw their own sample points (--rate 64k)" '
	$MEMPROF run -q --rate 64k -o forks.pb.gz ./forks > pids &&
	test "$(wc -l < pids)" = 6 &&
	for p in $(cat pids); do
		go tool pprof -top -sample_index=alloc_objects -tagfocus=pid=$p forks.pb.gz \
			2> /dev/null | awk "\$NF == \"child_alloc\" { print \$1 }" > n.$p &&
		test -s n.$p || { echo "no child_alloc for pid $p"; exit 1; }
		cat n.$p
	done > counts &&
	cat counts &&
	test "$(sort -u counts | wc -l)" -gt 1
'
test_expect_success "a failed exec leaves the tracker as it was (300000 pairs after it, exact)" '
	timeout -k 5 60 $MEMPROF run -q --rate 1 -o failed.pb.gz ./execs failed > out &&
	grep -q "^execv: -1 No such file or directory\$" out && grep -q "^done\$" out &&
	expect failed.pb.gz alloc_objects after_failed_exec 300000 &&
	expect failed.pb.gz inuse_objects after_failed_exec none
'
for how in fexecve execveat; do
	test_expect_success "$how: every allocation made before it is in the profile" "
		test_like_plain 1 $how ./execs $how &&
		grep -q '^leaf done\$' prof.out &&
		expect $how.pb.gz alloc_objects before_exec 100 &&
		expect $how.pb.gz alloc_objects leaf_after_exec 50
	"
done
test_expect_success "vfork then execl: the child allocates nothing of its parent's" '
	test_like_plain 1 vfork ./execs vfork &&
	grep -q "^child status 0\$" prof.out &&
	expect vfork.pb.gz alloc_objects parent_before 100 &&
	expect vfork.pb.gz alloc_objects parent_after 100 &&
	go tool pprof -top -nodefraction=0 -sample_index=alloc_objects vfork.pb.gz > top 2>&1 &&
	grep -q " parent_after\$" top &&
	! grep -E " (collect_args|execl|spawn_true)\$" top
'

# ---- small stacks -----------------------------------------------------------

while read -r how size; do
	test_expect_success "1000 allocations on a small stack: $how of $size bytes" "
		test_like_plain 1 small ./smallstack $how $size &&
		grep -q '^$how: ran 1 time' prof.out &&
		expect small.pb.gz alloc_objects on_small_stack 1000
	"
done <<'LIST'
ucontext 8192
ucontext 16384
altstack min
altstack sig
LIST

# ---- errno ------------------------------------------------------------------

for rate in 1 512k; do
	test_expect_success "errno is the program's across every allocator call (--rate $rate)" "
		test_like_plain $rate errno ./errnokeep 20000 &&
		grep -q '^140000 calls, errno changed by 0\$' prof.out
	"
done
# With memprof gone the ring fills and stays full: the tracker must give up
# quietly (errno untouched, no waiting) and the program go on to its end.
test_expect_success "memprof killed mid-run: the program keeps its errno and its status" '
	rm -f rc &&
	$MEMPROF run -q --rate 1 -o gone.pb.gz -- \
		sh -c "./errnokeep loop 2000 > loop.out; echo \$? > rc" > mp.out 2> mp.err &
	mp=$! &&
	sleep 0.5 && kill -9 $mp && { wait $mp || true; } &&
	wait_for rc &&
	cat loop.out &&
	test "$(cat rc)" = 0 &&
	grep -q "^errno changed by 0 calls\$" loop.out
'

# ---- where memprof is installed ---------------------------------------------

test_expect_success "make install PREFIX=\"...with space\" installs there, and only there" '
	make -C $SRC -s install PREFIX="$TRASH/direct space" BUILD=$BUILD > /dev/null &&
	test -x "$TRASH/direct space/bin/memprof" &&
	test -f "$TRASH/direct space/lib/memprof/libmemprof.so" &&
	test ! -e $SRC/space
'
test_expect_success "an install under a path with a space preloads its tracker" '
	make -C $SRC -s install PREFIX=$TRASH/inst BUILD=$BUILD > /dev/null &&
	mv $TRASH/inst "$TRASH/with space" && mkdir tmp &&
	TMPDIR=$TRASH/tmp "$TRASH/with space/bin/memprof" run --rate 1 -o space.pb.gz \
		./execs leaf > out 2> err &&
	cat err && ! grep -q "statically linked" err && ! grep -q "sent no data" err &&
	expect space.pb.gz alloc_objects leaf_after_exec 50 &&
	test -z "$(ls -A tmp)"
'

# ---- processes memprof waits for --------------------------------------------

if command -v perl > /dev/null; then
test_expect_success "a child that outlives its parent and execs perl is waited for" '
	timeout -k 5 60 $MEMPROF run -o perl.pb.gz -- \
		sh -c "(sleep 1; perl -e \"\\\$x = q(a) x 50_000_000\") &" > out 2> err &&
	cat err &&
	$MEMPROF top -n 0 --nodefraction=0 --sample-index=alloc_space --unit=B perl.pb.gz |
		awk "\$NF ~ /^Perl_/ { v = \$1; sub(/B\$/, \"\", v); s += v }
			END { print s; exit !(s >= 50000000) }"
'
else
	test_skip "a child that outlives its parent and execs perl" "no perl"
fi
test_expect_success "--max-wait=200ms: memprof stops waiting and names what still runs" '
	t0=$(date +%s%N) &&
	{ timeout -k 5 10 $MEMPROF run --max-wait=200ms -o mw.pb.gz -- sh -c "sleep 3 &" \
		> out 2> err || { cat err; exit 1; }; } &&
	ms=$((($(date +%s%N) - t0) / 1000000)) && cat err && echo "$ms ms" &&
	test $ms -lt 2500 &&
	grep -q "stopped waiting for 1 process still running: [0-9]* (sleep)" err &&
	go tool pprof -top mw.pb.gz > /dev/null 2>&1
'

# ---- how long the program ran -------------------------------------------------

test_expect_success "Duration: at least the 300 ms the program slept" '
	$MEMPROF run -q -o d1.pb.gz ./quickend sleep 300 > out &&
	d=$(duration_ms d1.pb.gz) && echo "$d ms" && test "$d" -ge 300 &&
	go tool pprof -top d1.pb.gz 2> /dev/null | grep -q "^Duration: "
'
test_expect_success "Duration of a program killed by SIGKILL after 200 ms: there, and >= 200 ms" '
	test_expect_code 137 $MEMPROF run -q -o d2.pb.gz ./quickend sleepkill 200 > out &&
	d=$(duration_ms d2.pb.gz) && echo "$d ms" && test "$d" -ge 200
'

# ---- descriptors 0-2 and the descriptor limit ------------------------------------

test_expect_success "stdin closed: cat fails at once as without memprof (no hang)" '
	rc1=0 && rc2=0 &&
	sh -c "exec 0<&-; exec cat" > plain.out 2> plain.err || rc1=$?
	timeout -k 5 20 $MEMPROF run -q -o cat.pb.gz -- sh -c "exec 0<&-; exec cat" \
		> prof.out 2> prof.err || rc2=$?
	echo "status $rc1 plain, $rc2 profiled" &&
	test $rc1 = $rc2 && test_cmp plain.err prof.err && test_cmp plain.out prof.out &&
	grep -q "Bad file descriptor" prof.err
'
test_expect_success "stderr closed: the program's writes to fd 2 fail with EBADF as without" '
	./fdcheck stderr > plain.out 2>&- &&
	timeout -k 5 20 $MEMPROF run -q -o fd2.pb.gz ./fdcheck stderr > prof.out 2>&- &&
	test_cmp plain.out prof.out &&
	grep -q "^write(2): -1 Bad file descriptor\$" prof.out
'
# The tracker's descriptors (memprof's socket, libunwind's pipe) sit at the
# top of the range, so a program that uses all it may have gets fewer than
# without memprof: it must still get some.
test_expect_success "ulimit -n 8 around memprof: the program runs and opens files" '
	(ulimit -n 8; ./fdcheck open) > plain.out &&
	(ulimit -n 8; timeout -k 5 20 $MEMPROF run -q --rate 1 -o lim8.pb.gz ./fdcheck open) \
		> prof.out &&
	cat plain.out prof.out &&
	n=$(awk "/^opened/ { print \$2 + 0 }" prof.out) && test "$n" -ge 1
'
test_expect_success "ulimit -n 6 set inside the run: the program opens as many as without" '
	(ulimit -n 6; ./fdcheck open) > plain.out &&
	timeout -k 5 20 $MEMPROF run -q --rate 1 -o lim6.pb.gz -- \
		sh -c "ulimit -n 6; exec ./fdcheck open" > prof.out &&
	cat plain.out prof.out &&
	n=$(awk "/^opened/ { print \$2 + 0 }" prof.out) && test "$n" -ge 1 &&
	test_cmp plain.out prof.out
'
test_expect_success "the tracker holds one descriptor: memprof's connection, at the top, none in 0-2" '
	sh -c "ls /proc/\$\$/fd" | sort -n > plain.fds &&
	$MEMPROF run -q --rate 1 -o fds.pb.gz -- sh -c "ls /proc/\$\$/fd" | sort -n > prof.fds &&
	cat plain.fds prof.fds &&
	test "$(comm -13 plain.fds prof.fds | wc -l)" = 1 &&
	test -z "$(comm -23 plain.fds prof.fds)" &&
	test "$(comm -13 plain.fds prof.fds)" = "$(( $(ulimit -n) - 1 ))"
'
test_expect_success "ulimit -n 5 around memprof: the program opens a file, and is profiled" '
	(ulimit -n 5; timeout -k 5 20 $MEMPROF run -q --rate 1 -o around5.pb.gz \
		./fdcheck open) > around5.out &&
	cat around5.out && grep -q "^opened 1:" around5.out &&
	expect around5.pb.gz alloc_objects main 1
'
test_expect_success "ulimit -n 6 around memprof: the program runs and is profiled" '
	(ulimit -n 6; timeout -k 5 20 $MEMPROF run -q --rate 1 -o around6.pb.gz \
		./fdcheck open) > around.out &&
	n=$(awk "/^opened/ { print \$2 + 0 }" around.out) && test "$n" -ge 1 &&
	go tool pprof -top around6.pb.gz > /dev/null 2>&1
'

# ---- threads ------------------------------------------------------------------

test_expect_success "threads that start and end: no event reported lost, each thread's block counted" '
	cc -O1 -g -pthread -o threads5 $F/threads5.c &&
	$MEMPROF run --rate 1 -o t5.pb.gz ./threads5 2> err &&
	cat err && ! grep -q "not recorded" err &&
	expect t5.pb.gz alloc_objects thread_work 5
'
test_expect_success "main thread pthread_exits while another allocates for 200 ms: exit 0" '
	timeout -k 5 20 $MEMPROF run -q --rate 1 -o pw.pb.gz ./pexit worker > out &&
	test "$(flat pw.pb.gz alloc_objects worker_alloc)" != none
'
test_expect_success "main thread pthread_exits with no other thread: the process ends" '
	timeout -k 5 10 $MEMPROF run -q --rate 1 -o pa.pb.gz ./pexit alone > out &&
	grep -q "^main thread leaves (alone)\$" out
'
# run_sleeper CMD...: starts CMD (pexit sleeper), sends SIGTERM to the
# program once its main thread has left; its status.
run_sleeper() {
	local bg rc=0
	rm -f pexit.pid sleeper.out
	timeout -k 5 20 "$@" > sleeper.out &
	bg=$!
	wait_for pexit.pid && wait_for sleeper.out && sleep 0.2 &&
	kill -TERM "$(cat pexit.pid)"
	wait $bg || rc=$?
	echo $rc
}
test_expect_success "SIGTERM after the main thread pthread_exited: 143 as without memprof" '
	test "$(run_sleeper ./pexit sleeper)" = 143 &&
	test "$(run_sleeper $MEMPROF run -q --rate 1 -o ps.pb.gz ./pexit sleeper)" = 143
'

# ---- nothing lost at the end ----------------------------------------------------

test_expect_success "SIGKILL right after allocating: every allocation is in the profile" '
	test_expect_code 137 $MEMPROF run -q --rate 1 -o kill.pb.gz ./quickend kill > out &&
	expect kill.pb.gz alloc_objects alloc_then_end 500
'
test_expect_success "stack overflow (SIGSEGV, no handler can run): every allocation before it is in the profile" '
	cc -O1 -g -o overflow $F/overflow.c &&
	test_expect_code 139 $MEMPROF run -q --rate 1 -o ov.pb.gz ./overflow &&
	expect ov.pb.gz alloc_objects before_overflow 500
'
test_expect_success "a program that closes every descriptor and lowers RLIMIT_NOFILE: nothing lost" '
	cc -O1 -g -o dropfd $F/dropfd.c &&
	$MEMPROF run -q --rate 1 -o df.pb.gz ./dropfd &&
	expect df.pb.gz alloc_objects after_drop 100
'
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
test_expect_success "an image that changed user before exec (setpriv, as root) is still profiled" '
	mkdir -m 755 pub && cp execs pub/ && chmod 755 "$TRASH" &&
	$MEMPROF run -q --rate 1 -o su.pb.gz -- \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$TRASH/pub/execs" leaf > out &&
	grep -q "^leaf done" out &&
	expect su.pb.gz alloc_objects leaf_after_exec 50
'
else
	test_skip "an image that changed user before exec" "not root, or no setpriv"
fi
test_expect_success "quick_exit right after allocating: every allocation is in the profile" '
	test_expect_code 6 $MEMPROF run -q --rate 1 -o qe.pb.gz ./quickend quick_exit > out &&
	expect qe.pb.gz alloc_objects alloc_then_end 500
'

# ---- standalone recordings ------------------------------------------------------

test_expect_success "MEMPROF_OUT naming an existing file: refused and said, the file untouched" '
	echo "notes of someone else" > x.rec && cp x.rec x.orig &&
	test_expect_code 6 ./quickend quick_exit > plain.out &&
	test_expect_code 6 env LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_OUT=x.rec MEMPROF_RATE=1 \
		./quickend quick_exit > prof.out 2> err &&
	cat err && test_cmp plain.out prof.out && cmp x.orig x.rec &&
	test_one_line_error err "$TRASH/x.rec"
'
test_expect_success "a recording replaced during the run: a later image refuses it, leaves it alone" '
	env LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_OUT=swap.rec MEMPROF_RATE=1 \
		sh -c "rm swap.rec; echo planted > swap.rec; exec ./execs leaf" > out 2> err &&
	cat out err && grep -q "^leaf done" out &&
	test "$(cat swap.rec)" = planted &&
	grep -q "swap.rec.*not the recording this run made" err
'
test_expect_success "a recording cut by 5 bytes: the whole batches convert, with a warning" '
	LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_OUT=cut.rec MEMPROF_RATE=1 ./execs fexecve > out &&
	truncate -s -5 cut.rec &&
	{ $MEMPROF convert cut.rec 2> err || { cat err; exit 1; }; } &&
	cat err && grep -q "warning: cut.rec: the recording is cut short" err &&
	expect cut.rec.pb.gz alloc_objects before_exec 100
'

test_expect_success "standalone with stdout closed: the program's writes fail as plain, none reach the recording" '
	sh -c "x=text; echo out-\$x" >&- 2> plain.err; echo "rc=$?" > plain.rc
	env LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_OUT=so.rec MEMPROF_RATE=1 \
		sh -c "x=text; echo out-\$x" >&- 2> prof.err; echo "rc=$?" > prof.rc
	test_cmp plain.rc prof.rc && test_cmp plain.err prof.err &&
	! grep -q -a out-text so.rec &&
	$MEMPROF convert so.rec 2> err && go tool pprof -top so.rec.pb.gz > /dev/null 2>&1
'

# ---- who the tracker talks to ---------------------------------------------------

test_expect_success "children of Python's subprocess (close_fds): profiled through the fallback socket, silently" '
	/usr/bin/python3 -c "import subprocess; subprocess.run([\"./execs\", \"leaf\"], check=True)" \
		> plain.out 2> plain.err &&
	mkdir tmpd &&
	TMPDIR=$TRASH/tmpd $MEMPROF run -q --rate 1 -o sub.pb.gz -- /usr/bin/python3 -c \
		"import subprocess; subprocess.run([\"./execs\", \"leaf\"], check=True)" > prof.out 2> prof.err &&
	test_cmp plain.out prof.out && test_cmp plain.err prof.err &&
	expect sub.pb.gz alloc_objects leaf_after_exec 50 &&
	test -z "$(ls -A tmpd)"
'
test_expect_success "a descriptor whose peer is not memprof: the tracker sends nothing, says so" '
	/usr/bin/python3 $F/notours.py "$BUILD/libmemprof.so" > out 2> err &&
	cat out err &&
	test "$(cat out)" = "0 hello received nothing" &&
	grep -q "cannot reach memprof" err
'

# ---- memprof's own output -------------------------------------------------------

test_expect_success "a binary replaced during the run: its frames stay addresses, and it is said" '
	cc -g -O1 -o r1 $F/rebuild1.c && cc -g -O1 -o r2 $F/rebuild2.c && cp r1 prog &&
	$MEMPROF run -q --rate 1 -o rb.pb.gz -- \
		sh -c "./prog & sleep 0.1; cp r2 prog.tmp; mv prog.tmp prog; wait" 2> err &&
	cat err && grep -q "prog changed on disk since the program loaded it" err &&
	go tool pprof -top -nodefraction=0 rb.pb.gz > top 2>/dev/null &&
	! grep -q -E " (main|omega|pad1|pad2)\$" top && grep -q "\[prog\]" top
'
test_expect_success "a program killed by a signal: memprof ends by the same signal, no core of its own" '
	/usr/bin/python3 -c "
import subprocess, sys
m = sys.argv[1]
for c in [\"kill -SEGV \$\$\", \"kill -TERM \$\$\", \"kill -INT \$\$\", \"exit 3\"]:
    a = subprocess.run([\"sh\", \"-c\", c]).returncode
    b = subprocess.run([m, \"run\", \"-q\", \"-o\", \"sig.pb.gz\", \"--\", \"sh\", \"-c\", c]).returncode
    print(a, b)
" "$MEMPROF" > st && cat st &&
	test "$(awk "\$1 != \$2" st | wc -l)" = 0 && test "$(wc -l < st)" = 4 &&
	! ls core* 2>/dev/null
'
test_expect_success "SIGUSR1 sent to memprof reaches the program (memprof is not killed by it)" '
	cc -O1 -o usr1 $F/usr1.c &&
	{ $MEMPROF run -q -o u.pb.gz ./usr1 > u.out & m=$!; } &&
	sleep 0.5 && kill -USR1 $m && wait $m &&
	test "$(cat u.out)" = "got 10" && go tool pprof -top u.pb.gz > /dev/null 2>&1
'
test_expect_success "memprof's stderr a closed pipe: it still returns the program's status" '
	( rc=0; $MEMPROF run -o pipe.pb.gz -- sh -c "sleep 0.5; exit 7" 2>&1 || rc=$?
	  echo "rc=$rc" >&3 ) 3> status | true &&
	cat status && test "$(cat status)" = rc=7 &&
	go tool pprof -top pipe.pb.gz > /dev/null 2>&1
'
test_done
