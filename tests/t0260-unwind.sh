#!/bin/bash
# The tracker's cached unwinder (lib/tracker/unwind.c) against libunwind:
# with MEMPROF_UNWIND_CHECK every stack it walks is walked by libunwind
# too, and any difference is counted and printed. Random call trees
# (testdata/fixtures/unwind/gen.py: frames with and without %rbp, VLAs,
# large locals, sibling calls, threads, a signal handler, longjmp, a
# dlopen'ed and dlclosed library), C++ exceptions, and real programs.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures/unwind
CC=${CC:-cc}
cd "$TRASH"
build_tree() {	# build_tree SEED OPTS_A OPTS_B
	mkdir -p "t$1" && python3 "$F/gen.py" "$1" "t$1" &&
	$CC -g $2 -c -o "t$1/tree_a.o" "t$1/tree_a.c" &&
	$CC -g $3 -c -o "t$1/tree_b.o" "t$1/tree_b.c" &&
	$CC -g -O2 -fPIC -shared -o "t$1/plug.so" "t$1/plug.c" &&
	$CC -g -O2 -pthread -rdynamic -o "t$1/main" "$F/main.c" "t$1/tree_a.o" "t$1/tree_b.o" -ldl
}
build_tree 1 "-O2 -fomit-frame-pointer" "-O0" &&
build_tree 2 "-O3" "-O1 -fno-omit-frame-pointer" &&
build_tree 3 "-Os" "-O2 -fno-omit-frame-pointer -mno-red-zone" &&
c++ -g -O2 -o cxxthrow "$F/cxxthrow.cpp" || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

# checked NAME: the check's line says stacks were compared and none
# differed (and prints what differed when not), and that the cached
# unwinder walked at least 9 in 10 of them itself (a rule it gets wrong
# mostly shows as a stack given up to libunwind, not as a wrong one)
checked() {
	cat "$1.check"
	grep -q "unwinder check: [1-9][0-9]* stacks compared, 0 differed" "$1.check" &&
		! grep -v " 0 differed" "$1.check" &&
		awk '{ c += $4; l += $9 } END { exit !(c >= 9 * l) }' "$1.check"
}

# run_checked RATE NAME CMD...: as test_like_plain, with the check on
run_checked() {
	local rate=$1 name=$2
	shift 2
	MEMPROF_UNWIND_CHECK=$PWD/$name.check test_like_plain "$rate" "$name" "$@" &&
		checked "$name"
}

for seed in 1 2 3; do
	test_expect_success "random call tree $seed: every stack as libunwind's" "
		run_checked 1 tree$seed t$seed/main \$PWD/t$seed/plug.so
	"
done

test_expect_success 'signal frames are left to libunwind (and counted)' '
	grep -q "differed, [1-9][0-9]* left to libunwind" tree1.check
'

test_expect_success 'the dlopened and dlclosed library is in the profile' '
	$MEMPROF top --nodecount=0 --nodefraction=0 tree1.pb.gz > top.out &&
	grep -q plug_inner top.out && grep -q "f[0-9]*$" top.out
'

test_expect_success 'the default rate: sampled stacks as libunwind'"'"'s' '
	run_checked 4096 treed t2/main $PWD/t2/plug.so
'

test_expect_success 'C++ exceptions: allocations while the unwinder runs' '
	run_checked 1 cxx ./cxxthrow
'

test_expect_success 'python3, as libunwind' '
	run_checked 1 py /usr/bin/python3 -c "import json; print(len(json.dumps([{str(i): [i]} for i in range(3000)])))"
'

test_expect_success 'sqlite3, as libunwind' '
	run_checked 1 sq sqlite3 :memory: "create table t(a, b); with recursive c(x) as (select 1 union all select x + 1 from c where x < 2000) insert into t select x, hex(randomblob(8)) from c; create index i on t(b); select count(*) from t;"
'

test_expect_success 'jq, as libunwind' '
	printf "[%s1]" "$(seq -s, 1 2000),"  > in.json &&
	run_checked 1 jq jq -c "map(. * 2) | length" in.json
'

test_expect_success 'gcc -c (cc1, as: many processes), as libunwind' '
	printf "int f(int x) { return x * 2; }\n" > x.c &&
	MEMPROF_UNWIND_CHECK=$PWD/gcc.check $MEMPROF run -q --rate 1 -o gcc.pb.gz -- gcc -O2 -c -o x.o x.c &&
	test $(grep -c "0 differed" gcc.check) -ge 2 && checked gcc
'

echo "# $T: $test_passed passed, $test_failed failed"
[ $test_failed = 0 ]
