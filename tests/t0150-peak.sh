#!/bin/bash
# Peak heap and the heap over time: the peak_objects/peak_space columns
# (exact at --rate 1, estimated at the default rate), the summary line,
# the timeline memprof run keeps and memprof timeline prints. go tool
# pprof is the independent reader.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
cd "$TRASH"
$CC -g -O2 -o peak $F/peak.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

# flat_of FILE FUNC: the flat peak_space of FUNC in bytes, as go tool pprof
# prints it (nothing when FUNC has none).
flat_of() {
	go tool pprof -top -sample_index=peak_space -unit=B "$1" 2>/dev/null |
		awk -v f="$2" '$NF == f { sub(/B$/, "", $1); print $1 }'
}

test_expect_success "--rate 1: peak_space is exactly hold_first's 64 MiB, none of hold_second's" '
	$MEMPROF run --rate 1 -o p.pb.gz ./peak 2> err &&
	test "$(flat_of p.pb.gz hold_first)" = 67108864 &&
	test -z "$(flat_of p.pb.gz hold_second)" &&
	go tool pprof -top -sample_index=peak_objects p.pb.gz 2>/dev/null |
		grep -E "^ +64 +100% +100% +64 +100%  hold_first\$"
'

test_expect_success "memprof top -sample_index=peak_space prints what go tool pprof prints" '
	$MEMPROF top -sample_index=peak_space p.pb.gz > ours &&
	go tool pprof -top -sample_index=peak_space p.pb.gz > theirs 2>/dev/null &&
	test_cmp theirs ours &&
	grep -q "^Type: peak_space\$" ours
'

test_expect_success "the summary line names the peak and when it was" '
	grep -E "allocated in 96 blocks, peak 64MB at [0-9]+\.[0-9]{2} s, 0 in use at exit \(1 process\)" err
'

test_expect_success "memprof timeline: every interval, the peak in the heap column, all allocations, RSS read" '
	$MEMPROF timeline p.pb.gz > tl &&
	grep -E "^# pid [0-9]+ .*/peak: peak 64MB at [0-9.]+ s\$" tl &&
	grep -q "^time_s	pid	inuse_bytes	allocated_bytes	rss_bytes\$" tl &&
	rows=$(grep -c "^[0-9]" tl) &&
	test "$rows" -ge 5 && test "$rows" -le 2048 &&
	awk -F "\t" "/^[0-9]/ { if (\$1 + 0 < last) exit 1; last = \$1 + 0 }" tl &&
	test "$(awk -F "\t" "/^[0-9]/ && \$3 > m { m = \$3 } END { print m }" tl)" = 67108864 &&
	test "$(awk -F "\t" "/^[0-9]/ { s += \$4 } END { print s }" tl)" = 100663296 &&
	rss=$(awk -F "\t" "/^[0-9]/ && \$5 != \"-\" && \$5 > m { m = \$5 } END { print m + 0 }" tl) &&
	test "$rss" -ge $((32 << 20))
'

test_expect_success "two processes one after the other: a peak each, the merged column sums them" '
	$MEMPROF run -q --rate 1 -o two.pb.gz sh -c "./peak; ./peak" &&
	$MEMPROF timeline two.pb.gz > tl2 &&
	test "$(grep -c "^# pid [0-9]* .*/peak: peak 64MB at" tl2)" = 2 &&
	test "$(flat_of two.pb.gz hold_first)" = 134217728 &&
	go tool pprof -raw two.pb.gz 2>/dev/null | grep -c "pid:\[" > n &&
	test "$(cat n)" -ge 4
'

test_expect_success "default rate: an estimate near 64 MiB, attributed to hold_first" '
	$MEMPROF run -q -o d.pb.gz ./peak &&
	v=$(flat_of d.pb.gz hold_first) &&
	test "$v" -gt $((48 << 20)) && test "$v" -lt $((80 << 20)) &&
	s=$(flat_of d.pb.gz hold_second) &&
	test "${s:-0}" -lt "$v"
'

test_expect_success "a profile rewritten by pprof keeps the peak columns, loses the timeline (said)" '
	go tool pprof -proto p.pb.gz > rewritten.pb.gz 2>/dev/null &&
	test "$(flat_of rewritten.pb.gz hold_first)" = 67108864 &&
	test_expect_code 1 $MEMPROF timeline rewritten.pb.gz 2> err2 &&
	test_one_line_error err2 "has no timeline"
'

test_expect_success "a converted recording: peak columns and the peak in the summary, no clock" '
	LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_OUT=$PWD/r.rec MEMPROF_RATE=1 ./peak &&
	$MEMPROF convert -o r.pb.gz r.rec 2> err3 &&
	grep -E "peak 64MB, 0 in use at exit" err3 &&
	test "$(flat_of r.pb.gz hold_first)" = 67108864 &&
	test_expect_code 1 $MEMPROF timeline r.pb.gz 2> /dev/null
'

test_expect_success "memprof timeline: bad input gets one line and a non-zero status" '
	echo "not a profile" > junk &&
	test_expect_code 1 $MEMPROF timeline junk 2> e1 && test_one_line_error e1 "junk" &&
	test_expect_code 2 $MEMPROF timeline --pid=abc p.pb.gz 2> e2 &&
	grep -q "wants a process id" e2 &&
	test_expect_code 1 $MEMPROF timeline --pid=1 p.pb.gz 2> e3 &&
	test_one_line_error e3 "no process 1 in the timeline" &&
	test_expect_code 2 $MEMPROF timeline 2> /dev/null
'

echo "# $T: $test_passed passed, $test_failed failed"
[ "$test_failed" = 0 ]
