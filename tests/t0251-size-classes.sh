#!/bin/bash
# Size classes: one call site allocating 20,000 distinct sizes gives a
# sample per size class (Go's classes, then 8 a power of two), exact totals
# at --rate 1, and a bytes label that memprof tags and -tagfocus=bytes read
# as go tool pprof does.
. "$(dirname "$0")/test-lib.sh"
cd "$TRASH"
${CC:-cc} -O2 -g -o sizes "$SRC/bench/sizes.c" || { echo "FAIL $T: cannot build bench/sizes.c"; exit 1; }
$MEMPROF run -q --rate 1 -o s.pb.gz ./sizes 20000 &&
$MEMPROF run -q --rate 1 -o one.pb.gz ./sizes 20000 same || { echo "FAIL $T: cannot profile"; exit 1; }
cd - > /dev/null

test_expect_success "a sample per size class, not per size; exact totals at --rate 1" '
	go tool pprof -raw s.pb.gz 2>/dev/null | sed -n "/^Samples/,/^Locations/p" > raw &&
	n=$(grep -c "bytes:\[" raw) &&
	test "$n" -ge 40 && test "$n" -le 120 &&
	# sizes 16 .. 20015: 20000 blocks, sum 16*20000 + 19999*20000/2 bytes
	$MEMPROF top -n 0 --unit=B --sample-index=alloc_space s.pb.gz | grep -q "^ *200310000B .* one\$" &&
	$MEMPROF top -n 0 --sample-index=alloc_objects s.pb.gz | grep -q "^ *20000 .* one\$"
'

test_expect_success "every bytes label is a class: Go.s below 32kB, 8 a power of two above" '
	grep -o "bytes:\[[0-9]*\]" raw | tr -dc "0-9\n" | sort -n > labels &&
	grep -qx 16 labels && grep -qx 1024 labels && grep -qx 3200 labels &&
	grep -qx 20480 labels && ! grep -qx 17 labels && ! grep -qx 1000 labels &&
	test "$(tail -1 labels)" = 20480
'

test_expect_success "memprof tags and -tagfocus=bytes print what go tool pprof prints" '
	$MEMPROF tags s.pb.gz > tags.memprof &&
	go tool pprof -tags s.pb.gz > tags.pprof 2>/dev/null &&
	test_cmp tags.pprof tags.memprof &&
	$MEMPROF top -tagfocus=bytes=1kB:2kB s.pb.gz > focus.memprof &&
	go tool pprof -top -tagfocus=bytes=1kB:2kB s.pb.gz > focus.pprof 2>/dev/null &&
	test_cmp focus.pprof focus.memprof &&
	grep -q "Active filters" focus.memprof
'

test_expect_success "one size: one sample; the profile of 20,000 sizes is not much larger" '
	go tool pprof -raw one.pb.gz 2>/dev/null | grep -c "bytes:\[" > n1 &&
	test "$(cat n1)" = 1 &&
	test "$(stat -c %s s.pb.gz)" -lt $((4 * $(stat -c %s one.pb.gz)))
'

echo "# $T: $test_passed passed, $test_failed failed"
[ "$test_failed" = 0 ]
