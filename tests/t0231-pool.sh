#!/bin/bash
# include/memprof.h: a pool allocator reports its blocks (testdata/fixtures/
# pool.c); memprof run profiles them in the pool_* sample types, exact at
# --rate 1, labelled by pool, never in the heap types (the arenas are
# there); bad reports are counted and said, never a crash; without memprof
# the program neither links nor behaves differently.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
cd "$TRASH"
$CC -g -O2 -Wall -Wextra -Werror -I"$SRC/include" -o pool $F/pool.c &&
$CC -g -O2 -Wall -Wextra -Werror -DMEMPROF_DISABLE -I"$SRC/include" -o pool-off $F/pool.c ||
	{ echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

# cum FILE TYPE: "function value" of the fixture's functions (cum, so that
# the pool's inline pool_get counts for its caller)
cum() {
	go tool pprof -top -cum -nodefraction=0 -unit=B -sample_index=$2 "$1" 2>/dev/null |
		awk '$NF ~ /^(parse_tokens|build_tree|grow_buffers|double_report|scratch_work|make_pool|churn)$/ {
			v = $4; sub(/B$/, "", v); print $NF, v }' | sort
}

test_expect_success "--rate 1: every block counted exactly, by the function that asked the pool" '
	$MEMPROF run --rate 1 -o p.pb.gz ./pool > out 2> err &&
	test "$(cat out)" = "pool used 17424 bytes" &&
	cum p.pb.gz pool_alloc_objects > got &&
	printf "%s\n" "build_tree 50" "double_report 2" "grow_buffers 20" "parse_tokens 1000" \
		"scratch_work 100" > want && test_cmp want got &&
	cum p.pb.gz pool_alloc_space > got &&
	printf "%s\n" "build_tree 12800" "double_report 96" "grow_buffers 1920" \
		"parse_tokens 32000" "scratch_work 1600" > want && test_cmp want got &&
	cum p.pb.gz pool_inuse_objects | grep -v " 0\$" > got &&
	printf "%s\n" "build_tree 50" "double_report 1" "grow_buffers 10" "parse_tokens 100" > want &&
	test_cmp want got &&
	cum p.pb.gz pool_inuse_space | grep -v " 0\$" > got &&
	printf "%s\n" "build_tree 12800" "double_report 48" "grow_buffers 1280" "parse_tokens 3200" > want &&
	test_cmp want got
'

test_expect_success "the leaf is the pool allocator, not memprof.h" '
	go tool pprof -top -sample_index=pool_alloc_objects p.pb.gz 2>/dev/null > top &&
	grep -E "^ +1161 .* pool_get \(inline\)\$" top &&
	! grep -q memprof_ top
'

test_expect_success "-O0 too: the header's functions are frames then, and left out" '
	$CC -g -O0 -I"$SRC/include" -o pool0 "$SRC/testdata/fixtures/pool.c" &&
	$MEMPROF run -q --rate 1 -o p0.pb.gz ./pool0 > out 2> /dev/null &&
	go tool pprof -top -sample_index=pool_alloc_objects p0.pb.gz 2>/dev/null > top0 &&
	grep -E "^ +1161 .* pool_get\$" top0 &&
	! grep -q memprof_ top0
'

test_expect_success "blocks carry their pool name" '
	go tool pprof -tags -sample_index=pool_alloc_objects p.pb.gz 2>/dev/null > tags &&
	grep -E "^ +1072(\.0)? \( *91\.47%\): small\$" tags &&
	grep -E "^ +100(\.0)? \( *8\.53%\): scratch\$" tags
'

test_expect_success "no byte twice: the heap types hold the arenas, not the blocks" '
	cum p.pb.gz alloc_space > got &&
	echo "make_pool 1115184" > want &&
	test_cmp want got
'

test_expect_success "bad reports are counted and said in one line" '
	grep -x "memprof: warning: memprof.h reports that do not add up (counted, then ignored): 3 memprof_free of blocks never reported, 1 blocks reported twice, 1 memprof_pool_destroy of no pool" err
'

test_expect_success "memprof top -sample_index=pool_inuse_space prints what go tool pprof prints" '
	$MEMPROF top -nodecount=0 -sample_index=pool_inuse_space p.pb.gz > ours &&
	go tool pprof -top -sample_index=pool_inuse_space p.pb.gz > theirs 2>/dev/null &&
	test_cmp theirs ours
'

test_expect_success "the profile has the heap types, then the pool ones (no mmap ones)" '
	go tool pprof -raw p.pb.gz 2>/dev/null | sed -n "/^Samples:/{n;p;q}" > types &&
	echo "alloc_objects/count alloc_space/bytes[dflt] inuse_objects/count inuse_space/bytes peak_objects/count peak_space/bytes pool_alloc_objects/count pool_alloc_space/bytes pool_inuse_objects/count pool_inuse_space/bytes" > want &&
	test_cmp want types
'

test_expect_success "--rate 4096: 6.4 MB of churn estimated within 15%, every sampled free matched" '
	$MEMPROF run -q --rate 4096 -o s.pb.gz ./pool 200 > out 2> err &&
	test "$(cat out)" = "pool used 17424 bytes" &&
	v=$(cum s.pb.gz pool_alloc_space | awk "\$1 == \"churn\" { print \$2 }") &&
	echo "churn: $v" &&
	test "$v" -gt $((6400000 * 85 / 100)) && test "$v" -lt $((6400000 * 115 / 100)) &&
	! cum s.pb.gz pool_inuse_objects | grep churn &&
	grep -Eq ": 0 memprof_free of blocks never reported, [01] blocks reported twice, 1 memprof_pool_destroy of no pool\$" err
'

test_expect_success "--rate 64: pools destroyed with sampled blocks live leave nothing behind" '
	$MEMPROF run -q --rate 64 -o r.pb.gz ./pool 0 300 > out 2> err &&
	test "$(cat out)" = "pool used 17424 bytes" &&
	! cum r.pb.gz pool_inuse_objects | grep requests &&
	v=$(go tool pprof -top -cum -nodefraction=0 -sample_index=pool_alloc_objects r.pb.gz 2>/dev/null |
		awk "\$NF == \"requests\" { print \$4 }") &&
	echo "requests: $v of 30000" &&
	test "$v" -gt 25500 && test "$v" -lt 34500 &&
	grep -Eq ": 0 memprof_free of blocks never reported, [01] blocks reported twice, 1 memprof_pool_destroy of no pool\$" err
'

test_expect_success "without memprof: no link to it, same output; MEMPROF_DISABLE compiles it away" '
	! readelf -d pool | grep -i memprof &&
	test "$(./pool)" = "pool used 17424 bytes" &&
	test "$(./pool-off)" = "pool used 17424 bytes" &&
	$MEMPROF run -q --rate 1 -o off.pb.gz ./pool-off > out &&
	go tool pprof -raw off.pb.gz 2>/dev/null | sed -n "/^Samples:/{n;p;q}" | grep -v pool_
'

test_expect_success "the header compiles as C89, C99, C11 and C++ with strict warnings" '
	printf "#include <memprof.h>\nint main(void) { memprof_alloc(0, 1); memprof_free(0); return 0; }\n" > h.c &&
	for std in c89 c99 c11; do
		$CC -std=$std -Wall -Wextra -Wpedantic -Werror -I"$SRC/include" -c -o h.o h.c || exit 1
	done &&
	cp h.c h.cpp && g++ -Wall -Wextra -Werror -I"$SRC/include" -c -o h.o h.cpp
'

test_expect_success "make install: the header and a pkg-config file a program builds with" '
	command -v pkg-config > /dev/null || { echo "no pkg-config: skipped"; exit 0; }
	make -s -C "$SRC" --no-print-directory BUILD="$BUILD" DESTDIR="$TRASH/root" \
		PREFIX=/opt/mp install > /dev/null &&
	test -f root/opt/mp/include/memprof.h &&
	grep -x "prefix=/opt/mp" root/opt/mp/lib/pkgconfig/memprof.pc &&
	flags=$(PKG_CONFIG_PATH=$TRASH/root/opt/mp/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$TRASH/root \
		pkg-config --cflags --libs memprof) &&
	test $flags = "-I$TRASH/root/opt/mp/include" &&
	$CC -g -O2 $flags -o pool2 "$SRC/testdata/fixtures/pool.c" &&
	$MEMPROF run -q --rate 1 -o i.pb.gz ./pool2 > out 2> /dev/null &&
	cum i.pb.gz pool_alloc_objects | grep -x "parse_tokens 1000"
'

test_done
