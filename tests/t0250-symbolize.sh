#!/bin/bash
# Symbols off the host: memprof run --no-symbolize writes build ids and
# addresses only; memprof symbolize fills in functions, files, lines and
# inline frames later from debug directories (.build-id trees or by name),
# the mapped files themselves, or debuginfod's cache; a file whose build id
# is not the profile's is refused, and said. Compared, with memprof top and
# go tool pprof -top, against the same program symbolized at run time.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
# no network: debuginfod only where a test sets it (libdebuginfod-common
# may set it in login shells)
export DEBUGINFOD_URLS=
cd "$TRASH"
# full/prog: as built (-g); host/prog: the same, stripped of everything
# (same build id); other.debug: the debug file of another build
mkdir full host debug
$CC -g -O2 -o full/prog $F/inline20.c &&
strip --strip-all -o host/prog full/prog &&
objcopy --only-keep-debug full/prog prog.debug &&
$CC -g -O1 -o other $F/inline20.c &&
objcopy --only-keep-debug other other.debug || { echo "FAIL $T: cannot build fixtures"; exit 1; }
ID=$(readelf -n full/prog | sed -n 's/.*Build ID: //p')
OTHER=$(readelf -n other | sed -n 's/.*Build ID: //p')
[ -n "$ID" ] && [ "$ID" != "$OTHER" ] || { echo "FAIL $T: no build ids"; exit 1; }
(cd full && $MEMPROF run -q --rate 1 -o ../ref.pb.gz ./prog > /dev/null) &&
(cd host && $MEMPROF run --rate 1 --no-symbolize -o ../raw.pb.gz ./prog > /dev/null 2> ../raw.err) ||
	{ echo "FAIL $T: cannot profile the fixtures"; exit 1; }
cd - > /dev/null

# same_reports A B: memprof top and go tool pprof -top (-lines too) print
# the same for both profiles, but for the time and duration (and the
# build id, where IGNORE_ID is set).
same_reports() {
	local skip="^(Time|Duration${IGNORE_ID:+|Build ID}):"
	for cmd in "$MEMPROF top -n 0" "$MEMPROF top -lines" "go tool pprof -top" \
		"go tool pprof -top -lines"; do
		$cmd "$1" 2>/dev/null | grep -v -E "$skip" > a.out &&
		$cmd "$2" 2>/dev/null | grep -v -E "$skip" > b.out &&
		test_cmp a.out b.out || return 1
	done
}

test_expect_success "--no-symbolize: build ids and addresses, no functions; pprof reads it" '
	go tool pprof -raw raw.pb.gz > raw.txt 2>&1 &&
	grep -q "/host/prog $ID" raw.txt &&
	sed -n "/^Locations/,/^Mappings/p" raw.txt > locs &&
	grep -q "0x[0-9a-f]* M=1" locs &&
	! grep -q -E "outer_fn|main|level" locs &&
	$MEMPROF top raw.pb.gz > top.out &&
	grep -q "\[prog\]" top.out &&
	grep -q "wrote ../raw.pb.gz" raw.err &&
	! grep -q "hint:.*no symbols" raw.err
'

test_expect_success "a .build-id tree in --debug-dir: the same reports as symbolized at run time" '
	mkdir -p dbg/.build-id/${ID:0:2} &&
	cp prog.debug dbg/.build-id/${ID:0:2}/${ID:2}.debug &&
	$MEMPROF symbolize --debug-dir=dbg -o sym.pb.gz raw.pb.gz 2> err &&
	grep -q "wrote sym.pb.gz: \([0-9]*\) of \1 addresses symbolized" err &&
	same_reports ref.pb.gz sym.pb.gz &&
	$MEMPROF top -n 0 sym.pb.gz | grep -q "level20 (inline)"
'

test_expect_success "the debug file by name (MEMPROF_DEBUG_DIRS), the profile rewritten in place" '
	mkdir -p byname && cp prog.debug byname/prog.debug && cp raw.pb.gz inplace.pb.gz &&
	MEMPROF_DEBUG_DIRS=/nonexistent:$PWD/byname $MEMPROF symbolize -q inplace.pb.gz 2> err &&
	test_cmp /dev/null err &&
	same_reports ref.pb.gz inplace.pb.gz
'

test_expect_success "the unstripped program itself in --debug-dir (by name)" '
	$MEMPROF symbolize --debug-dir=full -o self.pb.gz raw.pb.gz &&
	same_reports ref.pb.gz self.pb.gz
'

test_expect_success "a debug file with another build id is refused, and said" '
	mkdir -p bad/.build-id/${ID:0:2} &&
	cp other.debug bad/.build-id/${ID:0:2}/${ID:2}.debug &&
	cp other.debug bad/prog.debug &&
	$MEMPROF symbolize --debug-dir=bad -o bad.pb.gz raw.pb.gz 2> err &&
	grep -q "bad/.build-id/${ID:0:2}/${ID:2}.debug: build id $OTHER, not the profile.s $ID: not used" err &&
	grep -q "bad/prog.debug: build id $OTHER, not the profile.s $ID: not used" err &&
	grep -q "no symbols for .*/host/prog (build id $ID)" err &&
	! $MEMPROF top -n 0 bad.pb.gz | grep -q -E "outer_fn|level"
'

test_expect_success "the stripped program where it ran, its debug file in a .build-id tree" '
	cp raw.pb.gz local.pb.gz &&
	$MEMPROF symbolize --debug-dir=dbg local.pb.gz &&
	same_reports ref.pb.gz local.pb.gz
'

# libdebuginfod answers from its cache before it asks any server: the
# cache here holds the debug file, the server does not exist.
test_expect_success "debuginfod is asked when DEBUGINFOD_URLS is set (from its cache), not otherwise" '
	if ! ldconfig -p | grep -q libdebuginfod.so.1; then echo "no libdebuginfod1"; exit 1; fi
	mkdir -p cache/$ID && cp prog.debug cache/$ID/debuginfo &&
	DEBUGINFOD_URLS= DEBUGINFOD_CACHE_PATH=$PWD/cache \
		$MEMPROF symbolize -o none.pb.gz raw.pb.gz 2> err0 &&
	grep -q "no symbols for .*/host/prog" err0 &&
	DEBUGINFOD_URLS=http://127.0.0.1:9 DEBUGINFOD_CACHE_PATH=$PWD/cache DEBUGINFOD_TIMEOUT=2 \
		timeout 60 $MEMPROF symbolize -o dbgd.pb.gz raw.pb.gz 2> err &&
	! grep -q "no symbols" err &&
	same_reports ref.pb.gz dbgd.pb.gz
'

# The profile's build id rewritten in place (raw protobuf: memprof reads
# it as it is), the same length so the message stays whole.
with_build_id() {
	gzip -dc raw.pb.gz | ID=$ID NEW=$1 perl -0777 -pe 's/$ENV{ID}/$ENV{NEW}/g' > "$2"
}

test_expect_success "a build id in upper or mixed case (another tool's) is the same build id" '
	UPPER=$(echo $ID | tr a-f A-F) &&
	with_build_id "$UPPER" upper.pb &&
	go tool pprof -raw upper.pb | grep -q "/host/prog $UPPER" &&
	$MEMPROF symbolize --debug-dir=dbg -o upper.pb.gz upper.pb 2> err &&
	grep -q "wrote upper.pb.gz: \([0-9]*\) of \1 addresses symbolized" err &&
	IGNORE_ID=1 same_reports ref.pb.gz upper.pb.gz &&
	MIXED=$(echo $ID | sed "s/[a-f]/\U&/3g") &&
	with_build_id "$MIXED" mixed.pb &&
	$MEMPROF symbolize -q --debug-dir=byname -o mixed.pb.gz mixed.pb &&
	IGNORE_ID=1 same_reports ref.pb.gz mixed.pb.gz &&
	$MEMPROF top mixed.pb.gz | grep -q "^Build ID: $MIXED\$"
'

test_expect_success "a build id that is not hex is no build id to look for: said, nothing used" '
	for bad in "zz${ID:2}" "../${ID:3}" "${ID:0:39}g" "${ID:0:20}%2F${ID:23}"; do
		with_build_id "$bad" bad.pb &&
		$MEMPROF symbolize --debug-dir=dbg --debug-dir=byname -o badid.pb.gz bad.pb 2> err &&
		grep -q -F "no symbols for $TRASH/host/prog (build id $bad)" err &&
		! $MEMPROF top -n 0 badid.pb.gz | grep -q -E "outer_fn|level" || return 1
	done
'

# Many mappings (synth-profile raw: location i in mapping i % 300, files
# that are nowhere; the last 50 hold no address): each missing file that
# an address needed said once, in the profile's order, and the addresses
# left as they were.
test_expect_success "many mappings, none found: each needed one said once, in order; the profile unchanged" '
	$BUILD/synth-profile 2000 250 many.pb.gz raw 300 &&
	$MEMPROF symbolize -o many-out.pb.gz many.pb.gz 2> err &&
	grep -q "wrote many-out.pb.gz: 0 of 250 addresses symbolized" err &&
	grep "no symbols for" err | sed "s/ (build id.*//; s/.*no symbols for //" > said &&
	{ echo /usr/bin/synthetic; seq -f "/nonexistent/synthetic/lib%g.so" 1 249; } > want &&
	test_cmp want said &&
	go tool pprof -raw many.pb.gz > a.raw && go tool pprof -raw many-out.pb.gz > b.raw &&
	test_cmp a.raw b.raw
'

test_expect_success "an already symbolized profile stays as it is" '
	$MEMPROF symbolize -q -o again.pb.gz ref.pb.gz &&
	same_reports ref.pb.gz again.pb.gz
'

test_expect_success "bad input: one line, non-zero status" '
	test_expect_code 1 $MEMPROF symbolize nothing-here.pb.gz 2> err &&
	test_one_line_error err "nothing-here.pb.gz" &&
	echo junk > junk.pb.gz &&
	test_expect_code 1 $MEMPROF symbolize junk.pb.gz 2> err &&
	test_one_line_error err "junk.pb.gz" &&
	test_cmp junk.pb.gz - <<< junk &&
	test_expect_code 2 $MEMPROF symbolize 2> err &&
	test_expect_code 2 $MEMPROF symbolize --bogus raw.pb.gz 2> err &&
	test_expect_code 2 $MEMPROF run --no-symbolize --fail-on-leak true 2> err &&
	grep -q "cannot both be given" err
'

echo "# $T: $test_passed passed, $test_failed failed"
[ "$test_failed" = 0 ]
