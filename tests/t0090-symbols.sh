#!/bin/bash
# Symbolization: inline chains of any depth keep the function they were
# inlined into; module and debug file paths that name FIFOs do not hang
# memprof convert. go tool pprof is the independent reader.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
cd "$TRASH"
$CC -g -O2 -o inline20 $F/inline20.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

# chain FILE: the frames of the trace holding level20, innermost first,
# from go tool pprof -traces (the value column dropped).
chain() {
	go tool pprof -traces -sample_index=alloc_objects "$1" 2>/dev/null |
		awk '/level20/ { on = 1 } on && /^---/ { exit }
			on { sub(/^ *([0-9.]+[kMG]?B?)? +/, ""); print }'
}

# want_chain: level20 (inline) .. level1 (inline), outer_fn, main.
want_chain() {
	for i in $(seq 20 -1 1); do echo "level$i (inline)"; done
	printf '%s\n' outer_fn main
}

test_expect_success "20 nested inline functions: the whole chain, then outer_fn, then main" '
	$MEMPROF run -q --rate 1 -o p.pb.gz ./inline20 > out &&
	want_chain > want &&
	chain p.pb.gz > got.all &&
	head -n 22 got.all > got &&
	test_cmp want got &&
	grep -q "^__libc_start" got.all
'

test_expect_success "memprof top shows outer_fn with every allocation, no level as a caller of main" '
	$MEMPROF top -n 0 --nodefraction=0 --sample-index=alloc_objects p.pb.gz > top.out &&
	grep -E "^ +100 +100% +100% +100 +100%  level20 \(inline\)\$" top.out &&
	grep -E "^ +0 +0% +100% +100 +100%  outer_fn\$" top.out &&
	grep -E "^ +0 +0% +100% +100 +100%  level1 \(inline\)\$" top.out &&
	! grep -E "level[0-9]+\$" top.out &&
	go tool pprof -top -nodefraction=0 -sample_index=alloc_objects p.pb.gz > pprof.out 2>/dev/null &&
	test_cmp pprof.out top.out
'

# The recording names the program by path; put a FIFO there before
# converting. Nothing writes to it: an open() or read() of it would block.
test_expect_success "convert does not block on a module that is now a FIFO" '
	cp inline20 prog &&
	LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_OUT=rec MEMPROF_RATE=1 ./prog &&
	rm prog && mkfifo prog &&
	timeout 20 $MEMPROF convert rec 2> err &&
	grep -q "wrote rec.pb.gz" err &&
	go tool pprof -traces rec.pb.gz > traces 2>/dev/null &&
	! grep -q "outer_fn" traces &&
	grep -q "__libc_start" traces
'

test_expect_success "a .gnu_debuglink naming a FIFO: no hang; a regular one is used" '
	objcopy --only-keep-debug inline20 dl.debug &&
	objcopy --strip-debug --add-gnu-debuglink=dl.debug inline20 dl &&
	LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_OUT=dlrec MEMPROF_RATE=1 ./dl &&
	$MEMPROF convert -o dl.pb.gz dlrec 2> err &&
	want_chain > want && chain dl.pb.gz | head -n 22 > got && test_cmp want got &&
	mv dl.debug dl.debug.real && mkfifo dl.debug &&
	timeout 20 $MEMPROF convert -o fifo.pb.gz dlrec 2> err &&
	go tool pprof -traces fifo.pb.gz > traces 2>/dev/null &&
	grep -q "outer_fn" traces && ! grep -q "level" traces
'

test_done
