#!/bin/bash
# Bad input: one line on stderr naming the file and the problem, exit 1, no
# crash, no hang, bounded memory. Usage errors: a usage line, exit 2.
. "$(dirname "$0")/test-lib.sh"
B=$SRC/testdata/bad

# expect_bad FILE PATTERN: memprof top fails cleanly within 10 s and 256 MiB
# (under valgrind, which needs more room itself, within 60 s).
expect_bad() {
	local rc=0
	if [ -n "${MEMPROF_WRAP:-}${TEST_NO_ULIMIT:-}" ]; then
		timeout 60 $MEMPROF top "$1" > out 2> err || rc=$?
	else
		(ulimit -v 262144; timeout 10 $MEMPROF top "$1") > out 2> err || rc=$?
	fi
	if [ $rc != 1 ]; then
		echo "exit status $rc, want 1"; cat err; return 1
	fi
	test_one_line_error err "^memprof: $1: $2"
	test ! -s out
}

while read -r file pattern; do
	test_expect_success "top rejects $file" "expect_bad $B/$file '$pattern'"
done <<'LIST'
empty empty file
random.bin malformed protobuf
text.txt not a pprof profile (looks like a legacy text profile
truncated.pb.gz truncated gzip data
corrupt.pb.gz corrupt gzip data
truncated.pb truncated protobuf: Profile.string_table claims 6 bytes
length-past-end.pb truncated protobuf: Profile.sample claims 200 bytes
length-huge.pb truncated protobuf: Profile.sample claims 3221225472 bytes
varint-overlong.pb truncated protobuf: Profile.time_nanos
wiretype-sample.pb malformed protobuf: Profile.sample has wire type varint
wiretype-string.pb malformed protobuf: Profile.string_table has wire type 64-bit
wiretype-group.pb Profile.location has wire type group start
strtab-first-not-empty.pb string_table\[0\] is not empty
strtab-missing.pb string table is empty
string-index-range.pb sample_type\[0\].unit: string index 99 out of range
location-id-range.pb sample\[0\] refers to location id 7
value-count.pb sample\[0\] has 2 values for 1 sample types
function-id-zero.pb function\[0\] has id 0
mapping-id-duplicate.pb mapping\[1\] repeats id 1
mapping-id-range.pb location\[0\] refers to mapping id 9
function-id-range.pb location\[0\].line\[0\] refers to function id 8
zeros.pb.gz malformed protobuf: invalid field number 0
LIST

for f in $SRC/testdata/fuzz-regressions/*; do
	test_expect_success "fuzzer regression $(basename $f): a clean error or a report" "
		rc=0 && $MEMPROF top $f > out 2> err || rc=\$? &&
		test \$rc -le 1 && { test \$rc = 0 || test_one_line_error err '^memprof: '; }
	"
done
test_expect_success "a directory" 'expect_bad $B "is a directory"'
test_expect_success "a missing file" 'expect_bad $B/nonexistent "No such file or directory"'
test_expect_success "an unreadable file" '
	if [ "$(id -u)" = 0 ]; then exit 0; fi	# root reads anything
	: > secret && chmod 000 secret && expect_bad secret "Permission denied"
'
test_expect_success "list reports bad input the same way" '
	test_expect_code 1 $MEMPROF list main $B/corrupt.pb.gz 2> err &&
	test_one_line_error err "^memprof: $B/corrupt.pb.gz: corrupt gzip data"
'
test_expect_success "valid tiny profiles (raw and gzip) are read" '
	$MEMPROF top $B/valid.pb > raw.out && $MEMPROF top $B/valid.pb.gz > gz.out &&
	test_cmp raw.out gz.out && grep -q " main\$" raw.out
'
test_expect_success "200000 tiny samples load in bounded memory" '
	if [ -z "${MEMPROF_WRAP:-}${TEST_NO_ULIMIT:-}" ]; then ulimit -v 262144; fi
	$MEMPROF top $B/many-empty-samples.pb.gz > out &&
	grep -q "195.41kB total" out
'

test_expect_success "usage: no command, unknown command, unknown option" '
	test_expect_code 2 $MEMPROF 2> err && grep -q "^usage: memprof" err &&
	test_expect_code 2 $MEMPROF frobnicate 2> err && grep -q "not a memprof command" err &&
	test_expect_code 2 $MEMPROF top --bogus x 2> err && grep -q "unknown option" err &&
	grep -q "^usage: memprof top" err
'
test_expect_success "usage: missing and extra arguments" '
	test_expect_code 2 $MEMPROF top 2> err && grep -q "missing profile FILE" err &&
	test_expect_code 1 $MEMPROF top a b 2> err && grep -q "^memprof: a: " err &&
	test_expect_code 2 $MEMPROF list onlyregex 2> err && grep -q "needs a REGEX" err
'
test_expect_success "usage: bad option values" '
	test_expect_code 2 $MEMPROF top -n -3 $B/valid.pb 2> err && grep -q "invalid node count" err &&
	test_expect_code 2 $MEMPROF top --nodecount 2> err && grep -q "needs a value" err &&
	test_expect_code 2 $MEMPROF top --unit=furlongs $B/valid.pb 2> err &&
	grep -q "unknown unit" err &&
	test_expect_code 2 $MEMPROF top --cum=yes $B/valid.pb 2> err &&
	grep -q "invalid value .yes. for option .-cum." err
'
test_expect_success "a full stdout is an error, not silence" '
	test_expect_code 1 $MEMPROF top $SRC/testdata/goprof/heap.pb.gz > /dev/full 2> err &&
	grep -q "write error on stdout" err
'
test_expect_success "help: memprof help, --help, help CMD" '
	$MEMPROF help > h1 && $MEMPROF --help > h2 && test_cmp h1 h2 &&
	grep -q "^  top " h1 &&
	for c in top list traces peek tree tags run convert; do
		$MEMPROF help $c > hc && grep -q "^usage: memprof $c" hc &&
		$MEMPROF $c --help > hc2 2>&1 || true
	done &&
	$MEMPROF top --help | grep -q -- "--sample-index" &&
	test_expect_code 2 $MEMPROF help nosuch 2> err && grep -q "no help for" err
'
test_expect_success "every command has a man page" '
	for c in memprof memprof-top memprof-list memprof-traces memprof-peek memprof-tree \
		 memprof-tags memprof-run memprof-convert; do
		test -s $SRC/docs/man/$c.1 &&
		man -l $SRC/docs/man/$c.1 > /dev/null 2>&1 || grep -q "^\.TH" $SRC/docs/man/$c.1
	done
'
test_done
