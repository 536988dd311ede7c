#!/bin/bash
# memprof leaks and memprof run --fail-on-leak: what is in use at exit per
# stack, exact at --rate 1; LeakSanitizer's suppressions (by function, file
# and library; the defaults on real programs); the gate's exit statuses.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
cd "$TRASH"
$CC -g -O1 -fPIC -shared -o libleaklib.so $F/leaklib.c &&
$CC -g -O1 -o leaker $F/leaker.c -L. -lleaklib -Wl,-rpath,'$ORIGIN' &&
cat > thread.c <<'EOF' &&
#include <pthread.h>
static void *run(void *a) { return a; }
int main(void) { pthread_t t; pthread_create(&t, 0, run, 0); return pthread_join(t, 0); }
EOF
$CC -g -O1 -pthread -o thread thread.c &&
cat > localetime.c <<'EOF' &&
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <wchar.h>
int main(void)
{
	char b[64];
	wchar_t w[8];
	time_t t = 0;
	if (!setlocale(LC_ALL, ""))
		return 2;
	strftime(b, sizeof(b), "%c", localtime(&t));
	return mbstowcs(w, "abc", 8) == 3 ? 0 : 3;
}
EOF
$CC -g -O1 -o localetime localetime.c &&
cat > dlstdcxx.c <<'EOF' &&
#include <dlfcn.h>
int main(void) { return dlopen("libstdc++.so.6", RTLD_NOW) ? 0 : 1; }
EOF
$CC -g -O1 -o dlstdcxx dlstdcxx.c &&
cat > throw.cpp <<'EOF' &&
#include <cstdio>
#include <stdexcept>
int main()
{
	try {
		throw std::runtime_error("thrown");
	} catch (const std::exception &e) {
		std::printf("%s\n", e.what());
	}
	return 0;
}
EOF
c++ -g -O1 -o throw throw.cpp || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

# stacks FILE: "BYTES OBJECTS LEAF" per stack of memprof leaks' report
# (glibc's internal __GI_ prefix left out).
stacks() {
	awk '/^In use/ { b = $(NF-6); o = $(NF-3); want = 1; next }
	     want && /#0 / { sub(/^__GI_/, "", $4); print b, o, $4; want = 0 }' "$1"
}

# Some default suppressions name glibc's internal functions, which only its
# debug symbols (Debian's libc6-dbg) give: is a source file of glibc known?
$MEMPROF run -q --rate 1 -o "$TRASH/probe.pb.gz" "$TRASH/leaker" 0 0 > /dev/null &&
	$MEMPROF leaks --no-default-suppressions "$TRASH/probe.pb.gz" | grep -q " libio/\| \./libio/" &&
	LIBC_DBG=1 || LIBC_DBG=

test_expect_success "--rate 1: the leak is exact, named with its whole stack and file:line" '
	$MEMPROF run -q --rate 1 -o a.pb.gz ./leaker 1000 0 > out &&
	$MEMPROF leaks a.pb.gz > leaks.out &&
	stacks leaks.out > got &&
	echo "1000 1 leak_here" > want &&
	test_cmp want got &&
	grep -E "^    #0 0x[0-9a-f]+ in leak_here .*leaker\.c:[0-9]+$" leaks.out &&
	grep -E "^    #1 0x[0-9a-f]+ in main .*leaker\.c:[0-9]+$" leaks.out &&
	grep -E "^    #[0-9]+ 0x[0-9a-f]+ in _start \(.*/leaker\+0x[0-9a-f]+\)$" leaks.out &&
	grep -x "In use at exit: 1000 byte(s) in 1 object(s) allocated from:" leaks.out &&
	grep -x "memprof: heap in use at exit: blocks still allocated when the program ended, reachable or not" leaks.out &&
	! grep -q estimate leaks.out &&
	grep -x "SUMMARY: memprof: 1000 byte(s) in use at exit in 1 allocation(s), after suppressions." leaks.out
'

test_expect_success "stacks come largest first; the library frame is named" '
	$MEMPROF run -q --rate 1 -o b.pb.gz ./leaker 1000 5000 > out &&
	$MEMPROF leaks b.pb.gz > leaks.out &&
	stacks leaks.out > got &&
	printf "5000 1 leaklib_keep\n1000 1 leak_here\n" > want &&
	test_cmp want got &&
	grep -E "^    #0 0x[0-9a-f]+ in leaklib_keep .*leaklib\.c:[0-9]+$" leaks.out &&
	grep -x "SUMMARY: memprof: 6000 byte(s) in use at exit in 2 allocation(s), after suppressions." leaks.out
'

test_expect_success "inlined frames each get their number, at the same address" '
	cat > inl.c <<-\EOF &&
	#include <stdlib.h>
	void *volatile keep;
	static inline void *inner(void) { return malloc(777); }
	__attribute__((noinline)) void outer(void) { keep = inner(); }
	int main(void) { outer(); return 0; }
	EOF
	$CC -g -O2 -o inl inl.c &&
	$MEMPROF run -q --rate 1 -o inl.pb.gz ./inl &&
	$MEMPROF leaks inl.pb.gz > leaks.out &&
	a0=$(awk "/#0 .* in inner /{print \$2}" leaks.out) &&
	a1=$(awk "/#1 .* in outer /{print \$2}" leaks.out) &&
	test -n "$a0" && test "$a0" = "$a1" &&
	grep -E "#0 0x[0-9a-f]+ in inner .*inl\.c:3$" leaks.out
'

test_expect_success "the stdout buffer is a default suppression, listed as used" '
	$MEMPROF leaks a.pb.gz > leaks.out &&
	grep -E "^ +1 +4096 _IO_file_doallocate \(default\)$" leaks.out &&
	$MEMPROF leaks --no-default-suppressions a.pb.gz > all.out &&
	stacks all.out > got &&
	printf "4096 1 _IO_file_doallocate\n1000 1 leak_here\n" > want &&
	test_cmp want got &&
	! grep -q "Suppressions used" all.out &&
	grep -x "SUMMARY: memprof: 5096 byte(s) in use at exit in 2 allocation(s)." all.out
'

test_expect_success "a clean program: nothing left, --fail-on-leak exits 0" '
	$MEMPROF run -q --fail-on-leak -o c.pb.gz ./leaker 0 0 > out 2> err &&
	test ! -s err &&
	$MEMPROF leaks c.pb.gz > leaks.out &&
	grep -x "memprof: nothing in use at exit but what was suppressed" leaks.out &&
	grep -x "SUMMARY: memprof: 0 byte(s) in use at exit in 0 allocation(s), after suppressions." leaks.out
'

supp_case() {
	local what=$1 pattern=$2 args=$3 code=$4
	test_expect_success "suppressed by $what ($pattern): exit $code" "
		printf '# known\nleak:%s\n' '$pattern' > supp.txt &&
		test_expect_code $code $MEMPROF run -q --fail-on-leak --suppressions=supp.txt \
			-o s.pb.gz ./leaker $args > out 2> err &&
		$MEMPROF leaks --suppressions supp.txt s.pb.gz > leaks.out &&
		grep -F ' $pattern (supp.txt:2)' leaks.out
	"
}
supp_case "function name" leak_here "1000 0" 0
supp_case "function name, anchored" '^leak_here$' "1000 0" 0
supp_case "function name, wildcard" 'leak*here' "1000 0" 0
supp_case "source file name" leaklib.c "0 1000" 0
supp_case "library (mapping) name" libleaklib.so "0 1000" 0
supp_case "the library, another stack left" libleaklib.so "1000 1000" 23
supp_case "a caller's name (any frame)" '^main$' "1000 1000" 0

test_expect_success "a suppression that matches nothing takes nothing" '
	printf "leak:no_such_function\n" > supp.txt &&
	test_expect_code 23 $MEMPROF run -q --fail-on-leak --suppressions=supp.txt -o s.pb.gz \
		./leaker 1000 0 > out 2> err &&
	$MEMPROF leaks --suppressions=supp.txt s.pb.gz > leaks.out &&
	! grep -q no_such_function leaks.out
'

test_expect_success "several suppression files add up" '
	echo "leak:leak_here" > one.txt &&
	echo "leak:leaklib_keep" > two.txt &&
	test_expect_code 23 $MEMPROF run -q --fail-on-leak --suppressions=one.txt -o s.pb.gz \
		./leaker 1000 1000 > out 2> err &&
	$MEMPROF run -q --fail-on-leak --suppressions=one.txt --suppressions two.txt \
		-o s.pb.gz ./leaker 1000 1000 > out &&
	$MEMPROF leaks --suppressions=one.txt --suppressions=two.txt s.pb.gz > leaks.out &&
	grep " leak_here (one.txt:1)" leaks.out && grep " leaklib_keep (two.txt:1)" leaks.out
'

test_expect_success "a malformed suppressions file names its line; the program does not run" '
	printf "# ok\nleak:fine\n\nrace:foo\n" > bad.txt &&
	test_expect_code 1 $MEMPROF run -q --fail-on-leak --suppressions=bad.txt -o m.pb.gz \
		./leaker 1000 0 > out 2> err &&
	test_one_line_error err "^memprof: bad.txt:4: expected \"leak:PATTERN\"" &&
	test ! -e m.pb.gz && test ! -s out &&
	test_expect_code 1 $MEMPROF leaks --suppressions=bad.txt a.pb.gz > out 2> err &&
	test_one_line_error err "^memprof: bad.txt:4: expected \"leak:PATTERN\"" &&
	printf "leak:\n" > empty.txt &&
	test_expect_code 1 $MEMPROF leaks --suppressions=empty.txt a.pb.gz 2> err &&
	test_one_line_error err "^memprof: empty.txt:1: empty pattern"
'

test_expect_success "an unreadable suppressions file: a clear error" '
	test_expect_code 1 $MEMPROF run -q --fail-on-leak --suppressions=missing.txt -o m.pb.gz \
		./leaker 1000 0 > out 2> err &&
	test_one_line_error err "^memprof: missing.txt: No such file or directory$" &&
	test_expect_code 1 $MEMPROF leaks --suppressions=. a.pb.gz 2> err &&
	test_one_line_error err "^memprof: \.: Is a directory$" &&
	printf "leak:a\0b\n" > nul.txt &&
	test_expect_code 1 $MEMPROF leaks --suppressions=nul.txt a.pb.gz 2> err &&
	test_one_line_error err "^memprof: nul.txt: not a text file"
'

test_expect_success "the gate: a leak replaces status 0 with 23; the stacks go to stderr" '
	test_expect_code 23 $MEMPROF run -q --fail-on-leak -o g.pb.gz ./leaker 1000 5000 > out 2> err &&
	grep -x "leaked 1000 + 5000 bytes" out &&
	test -s g.pb.gz &&
	grep "^memprof: --fail-on-leak: 6000 byte(s) in 2 allocation(s) in use at exit after suppressions, over the limit of 0" err &&
	grep -E "#0 0x[0-9a-f]+ in leaklib_keep " err && grep -E "#0 0x[0-9a-f]+ in leak_here " err &&
	grep -x "memprof: all of it: memprof leaks g.pb.gz" err &&
	test_expect_code 23 $MEMPROF leaks --fail-on-leak g.pb.gz > /dev/null &&
	$MEMPROF leaks g.pb.gz > /dev/null
'

test_expect_success "the gate: the program's own non-zero status wins" '
	test_expect_code 3 $MEMPROF run -q --fail-on-leak -o g.pb.gz ./leaker 1000 0 3 > out 2> err &&
	! grep -q fail-on-leak err &&
	test_expect_code 3 $MEMPROF run -q --fail-on-leak -o g.pb.gz ./leaker 0 0 3 > out
'

test_expect_success "the gate: a program killed by a signal still kills memprof by it" '
	rc=0 && $MEMPROF run -q --fail-on-leak -o k.pb.gz ./leaker 1000 0 kill > out 2> err || rc=$? &&
	test $rc = 137 &&
	sh -c "$MEMPROF run -q --fail-on-leak -o k.pb.gz ./leaker 1000 0 kill > /dev/null 2>&1; kill -l \$?" > sig &&
	grep -x KILL sig &&
	$MEMPROF leaks k.pb.gz | grep -q "in leak_here "
'

test_expect_success "the gate: a program memprof cannot profile fails it (status 1), said" '
	echo "int main(void) { return 0; }" > static.c &&
	$CC -O1 -static -o static static.c &&
	test_expect_code 1 $MEMPROF run -q --fail-on-leak ./static > out 2> err &&
	grep -x "memprof: --fail-on-leak: ./static was not profiled: no leak check" err &&
	test_expect_code 1 $MEMPROF run -q --fail-on-leak -o st.pb.gz ./static > out 2> err &&
	grep -x "memprof: --fail-on-leak: ./static was not profiled: no leak check" err &&
	$CC -O1 -o ownalloc $F/ownalloc.c &&
	test_expect_code 5 $MEMPROF run -q --fail-on-leak ./ownalloc > out 2> err &&
	! grep -q -- --fail-on-leak err
'

test_expect_success "--fail-on-leak=1M: a threshold, above and below" '
	test_expect_code 23 $MEMPROF run -q --fail-on-leak=1M -o t.pb.gz ./leaker 1048577 0 > out 2> err &&
	grep "over the limit of 1048576" err &&
	$MEMPROF run -q --fail-on-leak=1M -o t.pb.gz ./leaker 1048576 0 > out 2> err &&
	! grep -q fail-on-leak err &&
	$MEMPROF run -q --fail-on-leak=1MiB -o t.pb.gz ./leaker 1000000 0 > out &&
	$MEMPROF run -q --fail-on-leak=10k -o t.pb.gz ./leaker 10240 0 > out &&
	test_expect_code 23 $MEMPROF run -q --fail-on-leak=10k -o t.pb.gz ./leaker 10241 0 > out 2> err &&
	test_expect_code 23 $MEMPROF leaks --fail-on-leak=10239 t.pb.gz > /dev/null &&
	$MEMPROF leaks --fail-on-leak=10241 t.pb.gz > /dev/null &&
	test_expect_code 23 $MEMPROF run -q --fail-on-leak=0 -o t.pb.gz ./leaker 1 0 > out 2> err
'

test_expect_success "--fail-on-leak runs at --rate 1; a given --rate warns that the gate is statistical" '
	$MEMPROF run -q --fail-on-leak=1G -o r1.pb.gz ./leaker 1000 0 > out 2> err &&
	test ! -s err &&
	$MEMPROF leaks r1.pb.gz > leaks.out && ! grep -q estimate leaks.out &&
	stacks leaks.out | grep -x "1000 1 leak_here" &&
	$MEMPROF run -q --fail-on-leak=1G --rate 64k -o r2.pb.gz ./leaker 1000 0 > out 2> err &&
	test_one_line_error err "^memprof: warning: --fail-on-leak at --rate 65536: the gate is statistical" &&
	$MEMPROF leaks r2.pb.gz > leaks.out &&
	grep -x "memprof: sampled, one sample every 65536 bytes on average: the figures are estimates, and stacks never sampled are missing" leaks.out &&
	$MEMPROF run -q --fail-on-leak --rate 1 -o r3.pb.gz ./leaker 0 0 > out 2> err &&
	test ! -s err
'

test_expect_success "option errors: usage status 2, one line" '
	test_expect_code 2 $MEMPROF run --suppressions=x.txt ./leaker 2> err &&
	grep -x "memprof: run: --suppressions and --no-default-suppressions need --fail-on-leak" err &&
	test_expect_code 2 $MEMPROF run --fail-on-leak=lots ./leaker 2> err &&
	grep -x "memprof: run: invalid leak limit .lots. (bytes, e.g. 0, 4096, 10k, 1MiB)" err &&
	test_expect_code 2 $MEMPROF run --fail-on-leak --suppressions 2> err &&
	grep -x "memprof: run: option .--suppressions. needs a value" err &&
	test_expect_code 2 $MEMPROF leaks 2> err &&
	grep -x "memprof: leaks: missing profile FILE" err &&
	test_expect_code 2 $MEMPROF leaks --bogus a.pb.gz 2> err &&
	grep -x "memprof: leaks: unknown option .--bogus." err &&
	test_expect_code 2 $MEMPROF leaks a.pb.gz a.pb.gz 2> err &&
	$MEMPROF leaks --help | grep -q "^usage: memprof leaks" &&
	$MEMPROF help | grep -q "^  leaks " &&
	$MEMPROF help run | grep -q -- "--fail-on-leak" &&
	grep -q "^\.TH MEMPROF-LEAKS 1" $SRC/docs/man/memprof-leaks.1 &&
	grep -qF "fail\-on\-leak" $SRC/docs/man/memprof-run.1 &&
	grep -q "memprof-leaks" $SRC/docs/man/memprof.1
'

test_expect_success "bad profiles: one-line errors, status 1" '
	test_expect_code 1 $MEMPROF leaks missing.pb.gz 2> err &&
	test_one_line_error err "^memprof: missing.pb.gz: " &&
	echo "not a profile" > junk &&
	test_expect_code 1 $MEMPROF leaks junk 2> err &&
	test_one_line_error err "^memprof: junk: " &&
	test_expect_code 1 $MEMPROF leaks $SRC/testdata/goprof/cpu.pb.gz > out 2> err &&
	test_one_line_error err "not a heap profile: it has no inuse_space sample type (it has samples, cpu)" &&
	test ! -s out
'

test_expect_success "the files in testdata/bad: a report, or one line and status 1; no crash" '
	bad=0 &&
	for f in $SRC/testdata/bad/*; do
		rc=0 && $MEMPROF leaks "$f" > out 2> err || rc=$?
		case $rc in
		0) grep -q "^SUMMARY: memprof: " out ;;
		1) [ $(wc -l < err) = 1 ] && bad=$((bad + 1)) ;;
		*) false ;;
		esac || { echo "$f: status $rc"; cat err; exit 1; }
	done &&
	test $bad -ge 10
'

test_expect_success "a Go heap profile: in use when written, estimates; pprof's total" '
	$MEMPROF leaks $SRC/testdata/goprof/heap.pb.gz > go.out &&
	grep -x "memprof: heap in use when the profile was written (inuse_space), reachable or not" go.out &&
	grep -x "memprof: sampled, one sample every 4096 bytes on average: the figures are estimates, and stacks never sampled are missing" go.out &&
	grep -q "^In use: 10485760 byte(s) in 40 object(s) allocated from:" go.out &&
	grep -E "^    #0 0x[0-9a-f]+ in main.leafBig .*main.go:[0-9]+$" go.out &&
	total=$(go tool pprof -sample_index=inuse_space -unit=B -top $SRC/testdata/goprof/heap.pb.gz 2>/dev/null |
		sed -n "s/.* of \([0-9]*\)B total.*/\1/p") &&
	test -n "$total" &&
	grep -E "^SUMMARY: memprof: $total byte\(s\) in use in [0-9]+ allocation\(s\) \(estimated\)\.$" go.out
'

test_expect_success "--print-default-suppressions: a suppressions file that gives the defaults' result" '
	$MEMPROF leaks --print-default-suppressions > defaults.txt &&
	$MEMPROF leaks b.pb.gz > with.out &&
	$MEMPROF leaks --no-default-suppressions --suppressions=defaults.txt b.pb.gz > file.out &&
	sed "s/ (default)$//" with.out > want &&
	sed "s/ (defaults.txt:[0-9]*)$//" file.out > got &&
	test_cmp want got &&
	grep "^leak:" defaults.txt > listed &&
	test $(wc -l < listed) -ge 5 &&
	while read -r p; do
		grep -q -F "\`$p\`" $SRC/docs/leaks.md || { echo "docs/leaks.md does not list $p"; exit 1; }
	done < listed
'

# Real programs under the default suppressions: what is true, asserted.
test_expect_success "a C++ program that throws: clean under the defaults" '
	$MEMPROF run -q --fail-on-leak -o cxx.pb.gz ./throw > out &&
	grep -x thrown out &&
	$MEMPROF leaks --no-default-suppressions cxx.pb.gz > all.out &&
	stacks all.out > got && echo "4096 1 _IO_file_doallocate" > want && test_cmp want got
'

test_expect_success "libstdc++ loaded by dlopen: its emergency exception pool goes with the loader (_dl_*)" '
	$MEMPROF run -q --fail-on-leak -o dl.pb.gz ./dlstdcxx &&
	$MEMPROF leaks --no-default-suppressions dl.pb.gz > all.out &&
	grep -A3 "^In use at exit: [0-9]* byte(s) in 1 object(s)" all.out |
		grep -A2 -E "#0 0x[0-9a-f]+ .*libstdc\+\+\.so" > pool.out &&
	if [ -n "$LIBC_DBG" ]; then grep -E "#[12] .* in call_init " pool.out; fi &&
	$MEMPROF leaks dl.pb.gz | grep -E "^ +[0-9]+ +[0-9]+ _dl_\* \(default\)$"
'

test_expect_success "a thread's TLS vector (the loader's): clean under the defaults" '
	$MEMPROF run -q --fail-on-leak -o thr.pb.gz ./thread &&
	$MEMPROF leaks --no-default-suppressions thr.pb.gz | grep -E -q "in (__GI_)?_dl_allocate_tls "
'

UTF8=$(locale -a 2>/dev/null | grep -ix "c\.utf-\?8" | head -1)
if [ -n "$UTF8" ] && [ -n "$LIBC_DBG" ]; then
	test_expect_success "setlocale, time zone and charset data: clean under the defaults" '
		LC_ALL=$UTF8 $MEMPROF run -q --fail-on-leak -o loc.pb.gz ./localetime &&
		$MEMPROF leaks loc.pb.gz > leaks.out &&
		grep -E " setlocale \(default\)$" leaks.out && grep -E " _nl_\* \(default\)$" leaks.out &&
		grep -E " __wcsmbs_load_conv \(default\)$" leaks.out &&
		grep -E " tzset_internal \(default\)$" leaks.out
	'
else
	test_skip "setlocale, time zone and charset data" "no C.UTF-8 locale or no glibc debug symbols"
fi

test_expect_success "jq reading stdin: clean under the defaults" '
	echo "{\"a\":[1,2]}" | $MEMPROF run -q --fail-on-leak -o jq.pb.gz jq -c .a > out &&
	grep -x "\[1,2\]" out
'

test_expect_success "jq reading a file: its FILE is still open at exit (472 bytes from fopen)" '
	echo "{\"a\":[1,2]}" > in.json &&
	test_expect_code 23 $MEMPROF run -q --fail-on-leak -o jqf.pb.gz jq -c .a in.json > out 2> err &&
	$MEMPROF leaks jqf.pb.gz > leaks.out &&
	stacks leaks.out > got &&
	if [ -n "$LIBC_DBG" ]; then echo "472 1 __fopen_internal"; else echo "472 1 "; fi > want &&
	test_cmp want got &&
	grep -q "in jq_util_input_next_input " leaks.out
'

test_expect_success "sqlite3: clean under the defaults (getpwuid: the name service switch)" '
	$MEMPROF run -q --fail-on-leak -o sq.pb.gz sqlite3 :memory: \
		"create table t(a); insert into t values(1); select count(*) from t;" > out &&
	grep -x 1 out &&
	$MEMPROF leaks sq.pb.gz > leaks.out &&
	grep -E " \^getpwuid\\$ \(default\)$" leaks.out &&
	grep -E " (nss_database|__nss_\*_lookup2) \(default\)$" leaks.out
'

# Debian's python3 itself (a pyenv shim on PATH would be a shell script)
if [ -x /usr/bin/python3 ]; then
	test_expect_success "python3 -c pass: not clean; what is left is the interpreter's own (and unnamed glibc frames without its debug symbols)" '
		test_expect_code 23 env LC_ALL=${UTF8:-C} $MEMPROF run -q --fail-on-leak -o py.pb.gz \
			/usr/bin/python3 -c pass 2> err &&
		$MEMPROF leaks py.pb.gz > leaks.out &&
		grep -q "^In use at exit" leaks.out &&
		if [ -n "$LIBC_DBG" ]; then own="/python3[.0-9]*+0x"; else own="/python3[.0-9]*+0x\|/libc.so.6+0x"; fi &&
		! grep "#0 " leaks.out | grep -v "$own" &&
		grep -E " \(default\)$" leaks.out &&
		if [ -n "$UTF8" ] && [ -n "$LIBC_DBG" ]; then
			grep -E " tzset_internal \(default\)$" leaks.out &&
			grep -E " setlocale \(default\)$" leaks.out &&
			$MEMPROF leaks --no-default-suppressions py.pb.gz | grep -q "in __GI_setlocale "
		fi
	'
else
	test_skip "python3 -c pass" "no /usr/bin/python3"
fi

test_done
