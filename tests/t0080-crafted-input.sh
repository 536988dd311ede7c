#!/bin/bash
# Crafted input (issue "Nothing memprof touches can hurt the user", items
# 11-13): profiles built to make the reports hang, read a FIFO, or take
# gigabytes; files that are not profiles. Each must end quickly with its
# report or one line on stderr naming the problem.
. "$(dirname "$0")/test-lib.sh"
B=$SRC/testdata/bad
G=$SRC/testdata/goprof
CRAFT="/usr/bin/python3 $B/make-crafted.py"

# limited CMD...: runs CMD within 10 s and, unless under valgrind or the
# sanitizers (which need more room themselves), 256 MiB of address space.
limited() {
	if [ -n "${MEMPROF_WRAP:-}${TEST_NO_ULIMIT:-}" ]; then
		timeout 60 "$@"
	else
		(ulimit -v 262144; timeout 10 "$@")
	fi
}

# expect_error FILE PATTERN CMD...: CMD exits 1 with one line on stderr
# matching PATTERN, and prints nothing on stdout.
expect_error() {
	local err=$1 pattern=$2 rc=0
	shift 2
	limited "$@" > out 2> "$err" || rc=$?
	if [ $rc != 1 ]; then
		echo "exit status $rc, want 1: $*"; cat "$err"; return 1
	fi
	test_one_line_error "$err" "$pattern" && test ! -s out
}

# ---- 11: list's work is bounded by what it prints ----------------------

test_expect_success "list: samples at lines 1 and 2^40 of a missing file" '
	$CRAFT far-lines far.pb missing.c &&
	test $(wc -c < far.pb) -lt 200 &&
	timeout 10 $MEMPROF list . far.pb > out &&
	cat > expect <<-EOF &&
	Total: 2B
	ROUTINE ======================== f in missing.c
	        2B         2B (flat, cum)   100% of Total
	 Error: could not find file missing.c on path $PWD
	        1B         1B      1:
	        1B         1B 1099511627776:
	EOF
	test_cmp expect out
'

test_expect_success "list: 200000 sampled lines of a present file, as go tool pprof prints them" '
	$CRAFT lines big.pb big.c 200000 &&
	seq 1 200000 | sed "s/^/	line /" > big.c &&
	timeout 60 $MEMPROF list f big.pb > out &&
	test $(wc -l < out) = 200003 &&
	grep -q "^        1B         1B 200000:	line 200000\$" out &&
	go tool pprof -list f big.pb > pprof.out 2> /dev/null &&
	test_cmp pprof.out out
'

test_expect_success "list: 20000 functions in one large file (the file is read once)" '
	$CRAFT funcs funcs.pb big.c 20000 &&
	seq 1 200000 | sed "s/^/	line /" > big.c &&
	timeout 60 $MEMPROF list . funcs.pb > out &&
	test "$(grep -c "^ROUTINE" out)" = 20000 &&
	go tool pprof -list . funcs.pb > pprof.out 2> /dev/null &&
	test_cmp pprof.out out
'

test_expect_success "list: a source file that is a FIFO is not opened (relative path)" '
	mkfifo fifo.c &&
	$CRAFT lines fifo.pb fifo.c 2 &&
	timeout 10 $MEMPROF list f fifo.pb > out &&
	grep -q "^ Error: could not find file fifo.c on path $PWD\$" out &&
	grep -q "^        1B         1B      2:\$" out
'

test_expect_success "list: a source file that is a FIFO or a device (absolute path)" '
	mkfifo abs-fifo.c &&
	dev= &&
	for d in /dev/null /dev/full /dev/zero; do
		if [ -c $d ]; then dev=$d; break; fi
	done &&
	for f in $PWD/abs-fifo.c $dev; do
		$CRAFT lines abs.pb $f 2 &&
		limited $MEMPROF list --source-path=/nonexistent f abs.pb > out &&
		grep -q "^ Error: open $f: not a regular file\$" out &&
		grep -q "^        1B         1B      2:\$" out || exit 1
	done
'

# ---- 12: limits on what a profile may hold ------------------------------

test_expect_success "top: a 97 KB gzip of 50M empty strings stops at the default limit" '
	$CRAFT empty bomb.pb.gz string 50000000 &&
	test $(wc -c < bomb.pb.gz) -lt 100000 &&
	expect_error err "^memprof: bomb.pb.gz: profile has more than 4194304 elements, [0-9]* of them strings (raise the limit with --max-elements=N)\$" \
		$MEMPROF top bomb.pb.gz
'

test_expect_success "top and list: --max-elements (and -max_elements) lowers the limit" '
	$CRAFT empty strings.pb.gz string 100000 &&
	expect_error err "^memprof: strings.pb.gz: profile has more than 50000 elements, 49995 of them strings (raise the limit with --max-elements=N)\$" \
		$MEMPROF top --max-elements=50000 strings.pb.gz &&
	expect_error err "^memprof: strings.pb.gz: profile has more than 50000 elements" \
		$MEMPROF list -max_elements=50000 main strings.pb.gz &&
	$MEMPROF top --max-elements=200000 strings.pb.gz > out &&
	grep -q " main\$" out
'

test_expect_success "the limit counts every kind of element and names it" '
	for kind in sample mapping location function line label; do
		$CRAFT empty $kind.pb.gz $kind 3000 &&
		expect_error err "^memprof: $kind.pb.gz: profile has more than 2000 elements, [0-9]* of them ${kind}s (raise" \
			$MEMPROF top --max-elements 2000 $kind.pb.gz || exit 1
	done
'

test_expect_success "--max-profile-size: inflated data and files past it" '
	$CRAFT empty samples.pb.gz sample 100000 &&
	test $(wc -c < samples.pb.gz) -lt 102400 &&
	expect_error err "^memprof: samples.pb.gz: profile decompresses to more than 102400 bytes (raise the limit with --max-profile-size=BYTES)\$" \
		$MEMPROF top --max-profile-size=100k samples.pb.gz &&
	expect_error err "^memprof: $B/valid.pb: file is larger than 50 bytes (raise the limit with --max-profile-size=BYTES)\$" \
		$MEMPROF list -max_profile_size=50 main $B/valid.pb
'

test_expect_success "real profiles read the same with the limits given at their defaults" '
	for f in heap allocs cpu; do
		$MEMPROF top $G/$f.pb.gz > plain.out &&
		$MEMPROF top --max-profile-size=1G --max-elements=4194304 $G/$f.pb.gz > limits.out &&
		test_cmp plain.out limits.out &&
		$MEMPROF list --source-path=$G "main\." $G/$f.pb.gz > plain.out &&
		$MEMPROF list --source-path=$G --max-profile-size=1073741824 \
			--max-elements=4194304 "main\." $G/$f.pb.gz > limits.out &&
		test_cmp plain.out limits.out || exit 1
	done
'

test_expect_success "limits: bad values are usage errors; help and man pages name the flags" '
	for v in --max-profile-size=0 --max-profile-size=3G --max-profile-size=12q \
		 --max-elements=0 --max-elements=-1 --max-elements=many; do
		test_expect_code 2 $MEMPROF top $v $B/valid.pb 2> err &&
		grep -q "^usage: memprof top" err || exit 1
	done &&
	for c in top list; do
		$MEMPROF help $c > help &&
		grep -q -- "--max-profile-size=BYTES" help && grep -q -- "--max-elements=N" help &&
		grep -q "max\\\\-elements" $SRC/docs/man/memprof-$c.1 &&
		grep -q "max\\\\-profile\\\\-size" $SRC/docs/man/memprof-$c.1 || exit 1
	done
'

# ---- 13: files that are not profiles say what they are ------------------

test_expect_success "an ELF file, plain or gzip-compressed" '
	expect_error err "^memprof: $BUILD/memprof: not a pprof profile (looks like an ELF executable)\$" \
		$MEMPROF top $BUILD/memprof &&
	expect_error err "^memprof: $BUILD/memprof: not a pprof profile (looks like an ELF executable)\$" \
		$MEMPROF list main $BUILD/memprof &&
	gzip -c < $BUILD/memprof > elf.gz &&
	expect_error err "^memprof: elf.gz: not a pprof profile (looks like a gzip-compressed ELF executable)\$" \
		$MEMPROF top elf.gz
'

test_expect_success "gzip-compressed text" '
	$CRAFT gzip-text heap.txt.gz &&
	expect_error err "^memprof: heap.txt.gz: not a pprof profile (looks like a legacy text profile, which go tool pprof reads and memprof does not)\$" \
		$MEMPROF top heap.txt.gz &&
	seq 1 200000 | gzip -c > seq.gz &&
	expect_error err "^memprof: seq.gz: not a pprof profile (looks like gzip-compressed text)\$" \
		$MEMPROF list main seq.gz
'

test_expect_success "plain text keeps its message" '
	expect_error err "^memprof: $B/text.txt: not a pprof profile (looks like a legacy text profile, which go tool pprof reads and memprof does not)\$" \
		$MEMPROF top $B/text.txt &&
	echo "hello, world" > hello.txt &&
	expect_error err "^memprof: hello.txt: not a pprof profile (looks like text; pprof profiles are protobuf)\$" \
		$MEMPROF top hello.txt
'
test_done
