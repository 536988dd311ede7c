#!/bin/bash
# memprof list prints what go tool pprof -list prints.
. "$(dirname "$0")/test-lib.sh"
G=$SRC/testdata/goprof

compare() {	# compare REGEX "<memprof options>" "<pprof options>" FILE
	$MEMPROF list $2 "$1" "$4" > memprof.out
	go tool pprof -list "$1" $3 "$4" > pprof.out 2> pprof.err
	test_cmp pprof.out memprof.out
}

for f in heap allocs; do
	for re in 'main\.recurse' 'generateDataStructures' 'main\.(churn|leaf)' 'runtime\.main$'; do
		for si in "" alloc_space inuse_objects 1; do
			test_expect_success "$f list '$re' ${si:+--sample-index=$si}" "
				compare '$re' '--source-path=$G ${si:+--sample-index=$si}' \
					'-source_path=$G ${si:+-sample_index=$si}' $G/$f.pb.gz"
		done
	done
	test_expect_success "$f list --unit=kB" "
		compare 'main\.' '--source-path=$G --unit=kB' '-source_path=$G -unit=kB' $G/$f.pb.gz"
done
test_expect_success "cpu list 'main\.(spin|busy)'" "
	compare 'main\.(spin|busy)' '--source-path=$G' '-source_path=$G' $G/cpu.pb.gz"

test_expect_success "--source-path finds sources in a copy elsewhere" '
	mkdir -p work/goprof && cp $G/main.go work/goprof/ && cd work &&
	$MEMPROF list --source-path=$PWD/goprof "main\.churn" $G/heap.pb.gz > out &&
	grep -q "func churn() {" out
'

test_expect_success "a missing source file: pprof's message, and the numbers still print" '
	$MEMPROF list --source-path=/nonexistent/goprof "main\.churn" $G/allocs.pb.gz > out &&
	grep -q "^ Error: could not find file main.go on path /nonexistent/goprof\$" out &&
	grep -E "^ +[0-9.]+[kM]?B +[0-9.]+[kM]?B +[0-9]+:\$" out &&
	test "$(grep -c "^ROUTINE" out)" = 1
'

test_expect_success "a regex that matches nothing: pprof's message, exit 1" '
	test_expect_code 1 $MEMPROF list "no_such_function" $G/heap.pb.gz 2> err &&
	test_one_line_error err "no matches found for regexp: no_such_function"
'
test_expect_success "a regex that does not compile: exit 1" '
	test_expect_code 1 $MEMPROF list "(" $G/heap.pb.gz 2> err &&
	test_one_line_error err "invalid regexp"
'
test_done
