#!/bin/bash
# The dynamic loader's lock: a program that allocates while it holds it
# (a dl_iterate_phdr callback that mallocs and frees; dlclose freeing its
# own bookkeeping) must never hang under memprof, and nothing it allocates
# or frees there may be lost (testdata/fixtures/loaderlock.c). Before the
# fix the tracker called dl_iterate_phdr while holding its own lock, and
# this program hung in 5 runs out of 5.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
( cd "$TRASH" &&
	$CC -g -O2 -pthread -o loaderlock "$F/loaderlock.c" -ldl &&
	$CC -g -O2 -fPIC -shared -o plugin.so "$F/plugin.c" ) ||
	{ echo "FAIL $T: cannot build fixtures"; exit 1; }

# walked NAME: the callback's allocation count, as the program printed it
walked() {
	awk '{ print $2 }' "$1"
}

for i in 1 2 3; do
	test_expect_success "callback allocating under the loader's lock, run $i: no hang" '
		timeout 60 $MEMPROF run -q --rate 1 -o ll$i.pb.gz -- ./loaderlock 2000 $PWD/plugin.so > ll$i.out 2> ll$i.err ||
			{ echo "status $?"; cat ll$i.err; exit 1; }
		grep -q "^ok [1-9]" ll$i.out
	'
done

test_expect_success 'every allocation and free in the callback is recorded' '
	n=$(walked ll1.out) &&
	expect ll1.pb.gz alloc_objects walk_cb $n &&
	expect ll1.pb.gz alloc_space walk_cb $((48 * n)) &&
	expect ll1.pb.gz inuse_objects walk_cb none &&
	expect ll1.pb.gz alloc_objects leaf 4000 &&
	expect ll1.pb.gz inuse_objects leaf none &&
	expect ll1.pb.gz inuse_objects walker 1 &&
	expect ll1.pb.gz inuse_objects grower 2
'

test_expect_success 'the dlopened library'"'"'s frames are named' '
	expect ll1.pb.gz alloc_objects plugin_work 250
'

test_expect_success 'a callback allocating at a sampled rate: no hang' '
	timeout 60 $MEMPROF run -q --rate 4096 -o dflt.pb.gz -- ./loaderlock 2000 $PWD/plugin.so > dflt.out ||
		{ echo "status $?"; exit 1; }
	grep -q "^ok [1-9]" dflt.out && go tool pprof -top dflt.pb.gz > /dev/null
'

test_expect_success 'standalone recording (MEMPROF_OUT): no hang' '
	LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_OUT=$PWD/rec MEMPROF_RATE=1 \
		timeout 60 ./loaderlock 500 $PWD/plugin.so > rec.out ||
		{ echo "status $?"; exit 1; }
	grep -q "^ok [1-9]" rec.out &&
	$MEMPROF convert -o rec.pb.gz rec &&
	expect rec.pb.gz alloc_objects walk_cb $(walked rec.out)
'

test_done
