#!/bin/bash
# Snapshots while the program runs: --interval=DURATION writes BASE.N.pb.gz
# (cumulative, like Go's heap profile), --keep=K keeps the last K, and
# SIGUSR2 to memprof writes one now and is not passed to the program. go
# tool pprof is the independent reader.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
cd "$TRASH"
${CC:-cc} -g -O2 -o slowgrow $F/slowgrow.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

# inuse FILE: grow's in-use bytes, as go tool pprof prints them
inuse() {
	go tool pprof -top -sample_index=inuse_space -unit=B "$1" 2>/dev/null |
		awk '$NF == "grow" { sub(/B$/, "", $1); print $1 }'
}

test_expect_success "--interval: numbered snapshots whose in-use grows, then the final profile" '
	$MEMPROF run -q --rate 1 --interval=250ms -o s.pb.gz ./slowgrow &&
	test -f s.1.pb.gz && test -f s.2.pb.gz && test -f s.pb.gz &&
	last=0 &&
	for f in $(ls s.[0-9]*.pb.gz | sort -t. -k2 -n) s.pb.gz; do
		v=$(inuse $f) && echo "$f $v" &&
		test "$v" -ge "$last" || return 1
		last=$v
	done &&
	test "$(inuse s.1.pb.gz)" -lt 6553600 &&
	test "$(inuse s.pb.gz)" = 6553600
'

test_expect_success "--keep=2: only the last two snapshots stay" '
	$MEMPROF run -q --rate 1 --interval=100ms --keep=2 -o k.pb.gz ./slowgrow &&
	ls k.*.pb.gz > left && cat left &&
	test "$(wc -l < left)" = 2 &&
	n=$(sed -n "s/^k\.\([0-9]*\)\.pb\.gz$/\1/p" left | sort -n | tail -1) &&
	test -f k.$((n - 1)).pb.gz && test "$n" -ge 4
'

test_expect_success "SIGUSR2 to memprof: a snapshot now; the program never sees the signal" '
	$MEMPROF run -q --rate 1 -o u.pb.gz -- sh -c "./slowgrow; sleep 1" &
	mp=$! &&
	sleep 1.3 && kill -USR2 $mp &&
	wait $mp &&
	test -f u.1.pb.gz && test ! -f u.2.pb.gz &&
	test "$(inuse u.1.pb.gz)" = 6553600
'

test_expect_success "snapshots are numbered files: --interval with -o - or --split is refused" '
	test_expect_code 2 $MEMPROF run --interval=1s -o - true 2> e1 &&
	grep -q "not with -o -" e1 &&
	test_expect_code 2 $MEMPROF run --interval=1s --split true 2> e2 &&
	grep -q "not with --split" e2 &&
	test_expect_code 2 $MEMPROF run --interval=0 true 2> e3 &&
	grep -q "invalid interval" e3 &&
	test_expect_code 2 $MEMPROF run --keep=0 true 2> e4 &&
	grep -q "keep wants a number" e4
'

echo "# $T: $test_passed passed, $test_failed failed"
[ "$test_failed" = 0 ]
