#!/bin/bash
# memprof run --mmap: the program's own anonymous mappings in the
# mmap_alloc/inuse_objects/space sample types, exact at --rate 1 on a
# fixture whose mappings are known (testdata/fixtures/maps.c), the
# allocator's own mappings left out (glibc, jemalloc, tcmalloc, mimalloc),
# and nothing changed without --mmap. go tool pprof is the reader.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
LIBDIR=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
cd "$TRASH"
$CC -g -O2 -pthread -o maps $F/maps.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

# table FILE: "function type value" for every map_* and malloc_big row of
# the four mmap types, sorted (values in bytes or counts, as pprof prints
# them with -unit=B)
table() {
	for t in mmap_alloc_objects mmap_alloc_space mmap_inuse_objects mmap_inuse_space; do
		go tool pprof -top -nodefraction=0 -unit=B -sample_index=$t "$1" 2>/dev/null |
			awk -v t=$t '$NF ~ /^(map_|malloc_big)/ && $1 != "0" {
				v = $1; sub(/B$/, "", v); print $NF, t, v }'
	done | sort
}

# total FILE TYPE: the profile's total of TYPE in bytes (or count)
total() {
	go tool pprof -top -unit=B -sample_index=$2 "$1" 2>/dev/null |
		sed -n "s/.*Total samples = \([0-9]*\)B.*/\1/p"
}

# The table of maps.c's header comment.
cat > "$TRASH/want" <<'EOF'
map_and_free mmap_alloc_objects 1
map_and_free mmap_alloc_space 1048576
map_big mmap_alloc_objects 1
map_big mmap_alloc_space 4194304
map_big mmap_inuse_objects 1
map_big mmap_inuse_space 4194304
map_break mmap_alloc_objects 1
map_break mmap_alloc_space 8192
map_break mmap_inuse_objects 1
map_break mmap_inuse_space 8192
map_commit mmap_alloc_objects 1
map_commit mmap_alloc_space 1048576
map_commit mmap_inuse_objects 1
map_commit mmap_inuse_space 1048576
map_fixed_base mmap_alloc_objects 1
map_fixed_base mmap_alloc_space 16384
map_fixed_base mmap_inuse_objects 1
map_fixed_base mmap_inuse_space 12288
map_fixed_over mmap_alloc_objects 1
map_fixed_over mmap_alloc_space 4096
map_fixed_over mmap_inuse_objects 1
map_fixed_over mmap_inuse_space 4096
map_in_thread mmap_alloc_objects 2000
map_in_thread mmap_alloc_space 16384000
map_in_thread mmap_inuse_objects 1000
map_in_thread mmap_inuse_space 8192000
map_partial mmap_alloc_objects 1
map_partial mmap_alloc_space 32768
map_partial mmap_inuse_objects 1
map_partial mmap_inuse_space 20480
map_remap mmap_alloc_objects 2
map_remap mmap_alloc_space 327680
map_remap mmap_inuse_objects 1
map_remap mmap_inuse_space 262144
EOF

test_expect_success "--rate 1: every mapping counted exactly (4 threads too), reservations and file mappings not" '
	[ "$(getconf PAGESIZE)" = 4096 ] || { echo "the table assumes 4 KiB pages"; exit 0; }
	$MEMPROF run -q --mmap --rate 1 -o m.pb.gz ./maps > out &&
	test "$(cat out)" = "maps done" &&
	table m.pb.gz > got &&
	test_cmp want got &&
	test "$(total m.pb.gz mmap_alloc_space)" = $((6680576 + 16384000)) &&
	test "$(total m.pb.gz mmap_inuse_space)" = $((5550080 + 8192000))
'

test_expect_success "glibc maps malloc(16 MiB) itself: heap types only" '
	go tool pprof -top -sample_index=alloc_space -unit=B m.pb.gz 2>/dev/null |
		grep -E "^ *16777216B .* malloc_big\$"
'

test_expect_success "the profile has the six heap types, then the four mmap ones" '
	go tool pprof -raw m.pb.gz 2>/dev/null | sed -n "/^Samples:/{n;p;q}" > types &&
	echo "alloc_objects/count alloc_space/bytes[dflt] inuse_objects/count inuse_space/bytes peak_objects/count peak_space/bytes mmap_alloc_objects/count mmap_alloc_space/bytes mmap_inuse_objects/count mmap_inuse_space/bytes" > want_types &&
	test_cmp want_types types
'

test_expect_success "memprof top -sample_index=mmap_inuse_space prints what go tool pprof prints" '
	$MEMPROF top -nodecount=0 -sample_index=mmap_inuse_space m.pb.gz > ours &&
	go tool pprof -top -sample_index=mmap_inuse_space m.pb.gz > theirs 2>/dev/null &&
	test_cmp theirs ours &&
	grep -q "^Type: mmap_inuse_space\$" ours
'

test_expect_success "without --mmap: six types, no mapping (MEMPROF_MMAP in the environment ignored)" '
	MEMPROF_MMAP=1 $MEMPROF run -q --rate 1 -o plain.pb.gz ./maps > out &&
	test "$(cat out)" = "maps done" &&
	go tool pprof -raw plain.pb.gz 2>/dev/null | sed -n "/^Samples:/{n;p;q}" > types &&
	echo "alloc_objects/count alloc_space/bytes[dflt] inuse_objects/count inuse_space/bytes peak_objects/count peak_space/bytes" > want_types &&
	test_cmp want_types types
'

test_expect_success "standalone (MEMPROF_OUT, MEMPROF_MMAP=1): memprof convert gives the same table" '
	[ "$(getconf PAGESIZE)" = 4096 ] || exit 0
	LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_OUT=$TRASH/maps.rec MEMPROF_RATE=1 MEMPROF_MMAP=1 \
		./maps > out &&
	$MEMPROF convert -o rec.pb.gz maps.rec 2> /dev/null &&
	table rec.pb.gz > got &&
	test_cmp want got
'

test_expect_success "the seed recording of mapping records converts (a hole, a reservation, mremap, sbrk)" '
	$MEMPROF convert -o seed.pb.gz "$SRC/testdata/recordings/mmap-records.bin" 2> /dev/null &&
	test "$(total seed.pb.gz mmap_alloc_space)" = $((3 * 65536 + 131072 + 4096)) &&
	test "$(total seed.pb.gz mmap_inuse_space)" = $((57344 + 131072 + 4096))
'

for alloc in jemalloc.so.2 tcmalloc_minimal.so.4 mimalloc.so.2; do
	lib=$LIBDIR/lib$alloc
	if [ ! -e "$lib" ]; then
		test_skip "$alloc" "$lib not installed"
		continue
	fi
	test_expect_success "$alloc preloaded: its own mappings left out, the program's exact" "
		[ \"\$(getconf PAGESIZE)\" = 4096 ] || exit 0
		\$MEMPROF run -q --mmap --rate 1 -o a.pb.gz \\
			sh -c 'LD_PRELOAD=\$LD_PRELOAD:$lib exec ./maps' > out &&
		test \"\$(cat out)\" = 'maps done' &&
		table a.pb.gz > got &&
		test_cmp want got &&
		test \"\$(total a.pb.gz mmap_alloc_space)\" = $((6680576 + 16384000)) &&
		go tool pprof -top -sample_index=alloc_space -unit=B a.pb.gz 2>/dev/null |
			grep -E '^ *16777216B .* malloc_big\$'
	"
done

if [ -e "$LIBDIR/libjemalloc.so" ]; then
	test_expect_success "jemalloc linked into the program: its own mappings left out" '
		[ "$(getconf PAGESIZE)" = 4096 ] || exit 0
		$CC -g -O2 -pthread -o maps-je "$F/maps.c" -ljemalloc &&
		$MEMPROF run -q --mmap --rate 1 -o je.pb.gz ./maps-je > out &&
		table je.pb.gz > got &&
		test_cmp want got &&
		test "$(total je.pb.gz mmap_alloc_space)" = $((6680576 + 16384000))
	'
else
	test_skip "jemalloc linked" "no $LIBDIR/libjemalloc.so (libjemalloc-dev)"
fi

test_expect_success "default rate: 400 more 1 MiB mappings estimated within 15%" '
	$MEMPROF run -q --mmap -o s.pb.gz ./maps 400 > out &&
	v=$(go tool pprof -top -sample_index=mmap_inuse_space -unit=B s.pb.gz 2>/dev/null |
		awk "\$NF == \"map_many\" { sub(/B\$/, \"\", \$1); print \$1 }") &&
	echo "map_many: $v" &&
	test "$v" -gt $((400 * 1048576 * 85 / 100)) &&
	test "$v" -lt $((400 * 1048576 * 115 / 100))
'

test_expect_success "python3 with --mmap: same output and status; its arenas and mmap.mmap counted" '
	cat > py.py <<-EOF &&
	import mmap, sys
	m = mmap.mmap(-1, 8 << 20)
	m[0] = 1
	l = [str(i) * 3 for i in range(200000)]
	print(len(l), sum(map(len, l)))
	sys.exit(3)
	EOF
	rc1=0; rc2=0
	python3 py.py > plain.out 2>&1 || rc1=$?
	$MEMPROF run -q --mmap -o py.pb.gz python3 py.py > prof.out 2> prof.err || rc2=$?
	test_cmp plain.out prof.out && test "$rc1" = 3 && test "$rc2" = 3 &&
	go tool pprof -top -unit=MB -sample_index=mmap_alloc_space py.pb.gz 2>/dev/null > top &&
	grep -E "^ +8MB " top &&
	# the names when this python3 has its symbols (a pyenv build: Debian
	# python3 has none without its -dbgsym package)
	if readelf -S "$(readlink -f "$(command -v python3)")" | grep -q " \.symtab"; then
		grep -E " _PyObject_ArenaMmap\$" top &&
		grep -E "^ +8MB .* new_mmap_object\$" top
	fi
'

test_expect_success "gcc with --mmap: the same object file and status; cc1's GC heap counted" '
	command -v gcc > /dev/null || exit 0
	printf "int twice(int x) { return 2 * x; }\n" > t.c &&
	gcc -O2 -c -o plain.o t.c &&
	$MEMPROF run -q --mmap --rate 1 -o gcc.pb.gz gcc -O2 -c -o prof.o t.c &&
	cmp plain.o prof.o &&
	test_expect_code 1 gcc -c missing.c 2> plain.err &&
	test_expect_code 1 $MEMPROF run -q --mmap -o gcc2.pb.gz gcc -c missing.c 2> prof.err &&
	test_cmp plain.err prof.err &&
	go tool pprof -tags -sample_index=mmap_alloc_space gcc.pb.gz 2>/dev/null > tags &&
	grep -E "^ +[0-9.]+[kMG]?B \( *[0-9.]+%\): cc1\$" tags
'

test_done
