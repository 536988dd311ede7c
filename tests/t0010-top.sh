#!/bin/bash
# memprof top prints what go tool pprof -top prints, on profiles written by
# Go's runtime (testdata/goprof) and on our own re-encoding of them.
. "$(dirname "$0")/test-lib.sh"
G=$SRC/testdata/goprof

compare() {	# compare "<memprof top options>" "<go tool pprof options>" FILE
	$MEMPROF top $1 "$3" > memprof.out
	go tool pprof -top $2 "$3" > pprof.out 2> pprof.err
	test_cmp pprof.out memprof.out
}

for f in heap allocs; do
	for si in "" alloc_objects alloc_space inuse_objects inuse_space 0 3; do
		for n in 1 4 10 0; do
			test_expect_success "$f top -n $n ${si:+--sample-index=$si}" "
				compare '-n $n ${si:+--sample-index=$si}' \
					'-nodecount=$n ${si:+-sample_index=$si}' $G/$f.pb.gz"
		done
	done
	for flag in -inuse_space -inuse_objects -alloc_space -alloc_objects; do
		test_expect_success "$f top $flag (pprof's spelling)" "
			compare '$flag -nodecount=7' '$flag -nodecount=7' $G/$f.pb.gz"
	done
	test_expect_success "$f top --cum" "
		compare '--cum -n 8' '-cum -nodecount=8' $G/$f.pb.gz"
	for unit in B kB MB GB; do
		test_expect_success "$f top --unit=$unit" "
			compare '--unit=$unit -n 6' '-unit=$unit -nodecount=6' $G/$f.pb.gz"
	done
done
for si in "" samples cpu 0 1; do
	for n in 2 5 0; do
		test_expect_success "cpu top -n $n ${si:+--sample-index=$si}" "
			compare '-n $n ${si:+--sample-index=$si}' \
				'-nodecount=$n ${si:+-sample_index=$si}' $G/cpu.pb.gz"
	done
done
test_expect_success "cpu top --cum --unit=s" "
	compare '--cum --unit=s -n 5' '-cum -unit=s -nodecount=5' $G/cpu.pb.gz"

test_expect_success "default node count is 10, as pprof's interactive top" '
	$MEMPROF top $G/allocs.pb.gz > out &&
	grep -q "^Showing top 10 nodes out of" out &&
	test "$(sed -n "/flat%/,\$p" out | wc -l)" = 11
'

for f in heap allocs cpu; do
	test_expect_success "$f: our re-encoding reads the same in go tool pprof" "
		$BUILD/test-unit roundtrip $G/$f.pb.gz ours.pb.gz &&
		go tool pprof -top $G/$f.pb.gz > theirs.out 2>/dev/null &&
		go tool pprof -top ours.pb.gz > ours.out 2>/dev/null &&
		test_cmp theirs.out ours.out &&
		$MEMPROF top -n 0 ours.pb.gz > memprof.out &&
		test_cmp theirs.out memprof.out
	"
done

test_expect_success "a raw (not gzipped) profile reads the same" '
	gzip -dc $G/heap.pb.gz > heap.pb &&
	$MEMPROF top heap.pb > raw.out && $MEMPROF top $G/heap.pb.gz > gz.out &&
	test_cmp gz.out raw.out
'

test_expect_success "a wrong sample index names the valid ones" '
	test_expect_code 1 $MEMPROF top --sample-index=bogus $G/heap.pb.gz 2> err &&
	test_one_line_error err "alloc_objects alloc_space inuse_objects inuse_space" &&
	test_expect_code 1 $MEMPROF top --sample-index=4 $G/heap.pb.gz 2> err &&
	test_one_line_error err "or 0..3"
'
test_done
