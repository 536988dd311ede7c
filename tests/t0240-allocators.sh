#!/bin/bash
# Programs that bring their own allocator: jemalloc, tcmalloc and mimalloc,
# linked or preloaded after the tracker, are profiled exactly at --rate 1
# (read by go tool pprof) and keep their allocator (it owns every block);
# C++'s new through those allocators is seen; jemalloc's own entry points
# do not confuse the collector; a program out of reach says what to do.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
LIBDIR=/usr/lib/$($CC -print-multiarch)
cd "$TRASH"
$CC -g -O2 -o al $F/allocators.c -ldl || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

# name  link flag  preloadable library
ALLOCATORS="jemalloc:-ljemalloc:libjemalloc.so.2
tcmalloc:-ltcmalloc_minimal:libtcmalloc_minimal.so.4
mimalloc:-lmimalloc:libmimalloc.so.2"

# pprof_sites FILE SAMPLE_INDEX: "site value" per site_* row, as go tool pprof reads them
pprof_sites() {
	go tool pprof -top -nodefraction=0 -sample_index=$2 -unit=B "$1" 2>/dev/null |
		awk '$NF ~ /^site_/ { v = $1; sub(/B$/, "", v); print $NF, v }' | sort
}

# allocators.c's table at scale 1: "site alloc_objects alloc_space inuse_objects inuse_space"
cat > "$TRASH/want.all" <<'EOF'
site_aligned 200 38400 200 38400
site_calloc 500 40000 0 0
site_legacy 200 50000 100 20000
site_malloc 1000 100000 100 10000
site_realloc 600 22400 50 3200
EOF

# exact FILE: every site exact in all four sample types
exact() {
	local col=2 si
	for si in alloc_objects alloc_space inuse_objects inuse_space; do
		awk -v c=$col '$c != 0 { print $1, $c }' want.all > want &&
		pprof_sites "$1" $si > got &&
		test_cmp want got || return 1
		col=$((col + 1))
	done
}

test_expect_success "glibc: the fixture's own numbers (the baseline)" '
	test_like_plain 1 glibc ./al &&
	grep -q "^allocator glibc: 450 of 450 blocks owned, 450 usable" prof.out &&
	exact glibc.pb.gz
'

while IFS=: read name flag lib; do
	if [ ! -e $LIBDIR/$lib ]; then
		test_skip "$name" "$LIBDIR/$lib is not installed: scripts/install-deps --test"
		continue
	fi
	test_expect_success "$name linked: exact at --rate 1, and it owns every block" "
		$CC -g -O2 -o al-$name $F/allocators.c $flag -ldl &&
		ldd al-$name | grep -q ${lib%%.so*} &&
		test_like_plain 1 $name ./al-$name &&
		grep -q '^allocator $name: 450 of 450 blocks owned, 450 usable' prof.out &&
		exact $name.pb.gz
	"
	# memprof itself takes the user's LD_PRELOAD too: an ASan build of it
	# refuses to start with an allocator before its runtime
	if ldd "$BUILD/memprof" | grep -q libasan; then
		test_skip "$name preloaded after the tracker" "a sanitizer build of memprof"
	else
	test_expect_success "$name preloaded after the tracker (LD_PRELOAD=$lib memprof run)" "
		LD_PRELOAD=$LIBDIR/$lib $MEMPROF run -q --rate 1 -o pre-$name.pb.gz ./al > out &&
		grep -q '^allocator $name: 450 of 450 blocks owned, 450 usable' out &&
		exact pre-$name.pb.gz
	"
	fi
	test_expect_success "$name: C++ new and delete (its own operator new) are seen" "
		c++ -g -O2 -o cxx-$name $F/cxx.cpp $flag &&
		nm -D --defined-only $LIBDIR/$lib | grep -qw _Znwm &&
		test_like_plain 1 cxx-$name ./cxx-$name &&
		expect cxx-$name.pb.gz alloc_objects shapes::make_widget 1000 &&
		expect cxx-$name.pb.gz inuse_space shapes::make_widget 120000 &&
		$MEMPROF top -n 0 --nodefraction=0 --sample-index=alloc_objects cxx-$name.pb.gz |
			grep -q ' fill_vector\$'
	"
done <<< "$ALLOCATORS"

test_expect_success "C++ with glibc: new still counted once" '
	c++ -g -O2 -o cxx $F/cxx.cpp &&
	test_like_plain 1 cxx ./cxx &&
	expect cxx.pb.gz alloc_objects shapes::make_widget 1000 &&
	expect cxx.pb.gz alloc_space shapes::make_widget 120000
'

# A program's own operator new and delete: the tracker's pass through to
# the next ones (libstdc++'s forward the sized delete to the program's);
# routing them to free() would crash it ("free(): invalid pointer").
test_expect_success "a program with its own operator new and delete runs as without memprof" '
	c++ -g -O2 -Wno-free-nonheap-object -o ownnew $F/ownnew.cpp &&
	test_like_plain 1 ownnew ./ownnew &&
	test "$(cat prof.out)" = "1001 1001"
'
test_expect_success "... and with jemalloc linked too" '
	c++ -g -O2 -fno-sized-deallocation -o ownnew-je $F/ownnew.cpp -ljemalloc &&
	test_like_plain 1 ownnew-je ./ownnew-je &&
	test "$(cat prof.out)" = "1000 1000"
'

# operator new when malloc fails: std::bad_alloc, from the next operator
# new, linked with jemalloc (the tracker's operators take over) and in a
# C++ library a C program dlopens (libstdc++ only in that library's scope)
cat > "$TRASH/huge.cpp" <<'EOF'
#include <cstddef>
#include <new>
struct Node { long v[3]; };
void *volatile sink;	/* escaped: no new/delete pair may be elided */
extern "C" int try_new(void)
{
	int got = 0;
	for (int i = 0; i < 100; i++) {
		Node *n = new Node();
		sink = n;
		delete n;
		got++;
	}
	try {
		volatile std::size_t huge = (std::size_t)1 << 62;
		char *p = new char[huge];
		sink = p;
		delete[] p;
	} catch (const std::bad_alloc &) {
		got += 1000;
	}
	return got;
}
#ifdef MAIN
#include <cstdio>
int main() { std::printf("%d\n", try_new()); return 0; }
#endif
EOF
cat > "$TRASH/dlhuge.c" <<'EOF'
#include <dlfcn.h>
#include <stdio.h>
int main(void)
{
	void *h = dlopen("./libhuge.so", RTLD_NOW | RTLD_LOCAL);
	int (*f)(void) = h ? (int (*)(void))dlsym(h, "try_new") : NULL;
	printf("%d\n", f ? f() : -1);
	return 0;
}
EOF
test_expect_success "new of too much throws std::bad_alloc: jemalloc linked, and libstdc++ only in a dlopened library" '
	c++ -g -O1 -DMAIN -o huge-je huge.cpp -ljemalloc &&
	test_like_plain 1 huge-je ./huge-je && test "$(cat prof.out)" = 1100 &&
	expect huge-je.pb.gz alloc_objects try_new 100 &&
	c++ -g -O1 -shared -fPIC -o libhuge.so huge.cpp && $CC -g -o dlhuge dlhuge.c -ldl &&
	test_like_plain 1 dlhuge ./dlhuge && test "$(cat prof.out)" = 1100 &&
	expect dlhuge.pb.gz alloc_objects try_new 100
'

# jemalloc's own entry points are not interposed (see docs/allocators.md):
# what they allocate is not seen, and free() of such a block is a free of
# an unknown block, which the collector ignores.
cat > "$TRASH/jex.c" <<'EOF'
#include <jemalloc/jemalloc.h>
#include <stdio.h>
void *volatile sink;
__attribute__((noinline)) void site_x(void)
{
	for (int i = 0; i < 100; i++) {
		void *p = mallocx(64, 0);
		sink = p;
		free(p);
		p = mallocx(32, MALLOCX_ZERO);
		p = rallocx(p, 96, 0);
		sink = p;
		dallocx(p, 0);
	}
}
__attribute__((noinline)) void site_m(void)
{
	for (int i = 0; i < 100; i++) {
		void *p = malloc(48);
		sink = p;
		free(p);
	}
}
int main(void)
{
	site_x();
	site_m();
	size_t allocated, sz = sizeof(allocated);
	printf("%d\n", mallctl("thread.allocated", &allocated, &sz, NULL, 0) == 0 && allocated > 0);
	return 0;
}
EOF
test_expect_success "jemalloc: mallocx/rallocx/dallocx unseen, free() of a mallocx block harmless" '
	[ -e /usr/include/jemalloc/jemalloc.h ] || { echo "no jemalloc.h: scripts/install-deps --test"; exit 1; }
	$CC -g -O1 -o jex jex.c -ljemalloc &&
	test_like_plain 1 jex ./jex &&
	test "$(cat prof.out)" = 1 &&
	expect jex.pb.gz alloc_objects site_m 100 &&
	expect jex.pb.gz inuse_objects site_m none &&
	expect jex.pb.gz alloc_objects site_x none
'

test_expect_success "a static program: the message says to link it dynamically" '
	$CC -static -O1 -o static $F/allocators.c 2>/dev/null || exit 0	# no static libc here
	test_expect_code 0 $MEMPROF run -q -o static.pb.gz ./static > out 2> err &&
	test_one_line_error err "statically linked.*link it dynamically" &&
	grep -q "^allocator glibc: 450 of 450" out
'

test_expect_success "a setuid program: the message says what to do" '
	[ "$(id -u)" = 0 ] || exit 0
	cp al suid && chown nobody suid && chmod 4755 suid &&
	test_expect_code 0 $MEMPROF run -q ./suid > out 2> err &&
	test_one_line_error err "setuid or setgid.*(run memprof as its owner, or profile a copy without the bit)"
'

test_expect_success "jemalloc linked in statically: the message says to link it as a shared library" '
	[ -e $LIBDIR/libjemalloc.a ] || exit 0
	$CC -g -O1 -o al-jea $F/allocators.c $LIBDIR/libjemalloc.a -lpthread -lm -ldl -lstdc++ &&
	test_expect_code 0 $MEMPROF run ./al-jea > out 2> err &&
	test_one_line_error err "defines malloc itself.*shared library, e.g. -ljemalloc" &&
	grep -q "450 of 450" out && ! ls memprof.al-jea.* 2>/dev/null
'

# A child that puts its allocator before the tracker (a wrapper script
# rewriting LD_PRELOAD) runs as it would; its blocks are not seen (the
# limit docs/allocators.md states).
test_expect_success "an allocator preloaded before the tracker: the program still works" '
	$MEMPROF run -q -o before.pb.gz env LD_PRELOAD=$LIBDIR/libjemalloc.so.2:$BUILD/libmemprof.so ./al > out &&
	grep -q "^allocator jemalloc: 450 of 450" out &&
	expect before.pb.gz alloc_objects site_malloc none
'

test_done
