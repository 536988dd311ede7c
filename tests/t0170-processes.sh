#!/bin/bash
# Profiles of many processes (make -j2, sh -c, git, a pyenv-like chain):
# labels, the File: line, --pid/--program, --split, command lines; one row
# for one executable reached by two paths; C++ names as pprof shows them;
# what memprof says about files that are not profiles and where users get
# stuck. go tool pprof is the oracle wherever both print.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
PY=/usr/bin/python3

cd "$TRASH"
cat > alloc.c <<'EOF'
#include <stdio.h>
#include <stdlib.h>
/* allocates argc * 1000 bytes, 1000 times, and keeps the last block */
__attribute__((noinline)) void *grab(size_t n) { return malloc(n); }
int main(int argc, char **argv)
{
	volatile void *p = 0;
	for (int i = 0; i < 1000; i++)
		p = grab(1000 * (size_t)argc);
	return p == 0;
}
EOF
cc -g -O1 -o alloc alloc.c && c++ -g -O2 -o cxx $F/cxx.cpp ||
	{ echo "FAIL $T: cannot build fixtures"; exit 1; }
mkdir src && for i in 1 2 3 4; do
	printf 'static int t[100];\nint f%d(int x) { for (int i = 0; i < 100; i++) t[i] = x * i; return t[x %% 100]; }\n' $i > src/u$i.c
done
printf 'all: u1.o u2.o u3.o u4.o\n%%.o: %%.c\n\tgcc -O2 -c -o $@ $<\n' > src/Makefile
# craft.py OUT < SPEC: a raw pprof profile. SPEC lines:
#   mapping FILE BUILDID          (each one a mapping of its own, 0x1000 apart)
#   func NAME SYSTEM_NAME         (one location each, in the last mapping; "-"
#                                  for an empty name)
#   addr                          (a location with no function, in the last mapping)
# One sample per location, its value the location's number.
cat > craft.py <<'EOF'
import sys
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F; n >>= 7
        if n: out.append(b | 0x80)
        else: out.append(b); return bytes(out)
def v(f, n): return varint(f << 3) + varint(n)
def l(f, d): return varint(f << 3 | 2) + varint(len(d)) + d
st, idx = [""], {"": 0}
def s(x):
    if x not in idx: idx[x] = len(st); st.append(x)
    return idx[x]
out = [l(1, v(1, s("alloc_space")) + v(2, s("bytes")))]
maps, locs, funcs, samples = [], [], [], []
for line in sys.stdin:
    w = line.split()
    if w[0] == "mapping":
        mid = len(maps) + 1
        maps.append(l(3, v(1, mid) + v(2, 0x10000 * mid) + v(3, 0x10000 * mid + 0x1000) + v(5, s(w[1])) + v(6, s(w[2])) + v(7, 1) + v(8, 1) + v(9, 1)))
        continue
    lid = len(locs) + 1
    body = v(1, lid) + v(2, len(maps)) + v(3, 0x10000 * len(maps) + 16 * lid)
    if w[0] == "func":
        fid = len(funcs) + 1
        funcs.append(l(5, v(1, fid) + v(2, s("" if w[1] == "-" else w[1])) + v(3, s(w[2]))))
        body += l(4, v(1, fid))
    locs.append(l(4, body))
    samples.append(l(2, l(1, varint(lid)) + l(2, varint(lid))))
data = b"".join(out + samples + maps + locs + funcs) + b"".join(l(6, x.encode()) for x in st)
open(sys.argv[1], "wb").write(data)
EOF
cd - > /dev/null

# same_top FILE [OPTIONS]: memprof top prints what go tool pprof -top prints.
same_top() {
	local f=$1
	shift
	go tool pprof -top -nodefraction=0 "$@" "$f" > want 2> pprof.err &&
	$MEMPROF top -n 0 --nodefraction=0 "$@" "$f" > got &&
	test_cmp want got
}

# tag_values FILE KEY: the values of label KEY, as go tool pprof -tags lists them.
tag_values() {
	go tool pprof -tags "$1" 2>/dev/null | sed -n "/^ $2: Total/,/^\$/p" | sed -n 's/.*): //p' | sort
}

# flat_rows FILE OPTIONS...: "flat name" of every row with a flat value, in bytes.
flat_rows() {
	local f=$1
	shift
	"$@" "$f" | awk '/flat%/ { on = 1; next } on && $1 != "0" { print $1, $NF }' | sort
}

# ---- make -j2: many programs in one profile --------------------------------

test_expect_success "make -j2: every sample carries program and exe; pid and cmdline" '
	cp -r src mk && cd mk &&
	$MEMPROF run -q --rate 64k -o ../make.pb.gz make -s -j2 &&
	cd .. && test -f mk/u4.o &&
	go tool pprof -raw make.pb.gz > raw 2>/dev/null &&
	n=$(sed -n "/^Samples:/,/^Locations/p" raw | grep -c "bytes:\[") &&
	for k in program exe pid; do
		test "$(sed -n "/^Samples:/,/^Locations/p" raw | grep -c " $k:\[")" = "$n" || {
			echo "not every sample has $k"; exit 1; }
	done &&
	tag_values make.pb.gz program > programs &&
	grep -qx cc1 programs && grep -qx make programs &&
	# a process that is gone before memprof reads its ring has no cmdline
	tag_values make.pb.gz cmdline | grep -q "^make -s -j2\$"
'

test_expect_success "make -j2: File: names cc1, the program that allocated most; a comment gives the shares" '
	same_top make.pb.gz &&
	grep -qx "File: cc1" got &&
	grep -E "^[0-9]+ programs by alloc_space: cc1 [0-9]+%, " got
'

test_expect_success "make -j2: list and -cum agree with go tool pprof too" '
	same_top make.pb.gz -cum &&
	go tool pprof -list "^xmalloc\$" make.pb.gz > want 2>/dev/null &&
	$MEMPROF list "^xmalloc\$" make.pb.gz > got &&
	test_cmp want got
'

test_expect_success "--program and --pid select as pprof -tagfocus does (totals: the selection)" '
	flat_rows make.pb.gz go tool pprof -top -nodefraction=0 -unit=B "-tagfocus=program=^cc1\$" > want 2>/dev/null &&
	flat_rows make.pb.gz $MEMPROF top -n 0 --nodefraction=0 --unit=B --program=cc1 > got &&
	test -s want && test_cmp want got &&
	pid=$(tag_values make.pb.gz pid | head -1) &&
	flat_rows make.pb.gz go tool pprof -top -nodefraction=0 -unit=B "-tagfocus=pid=$pid" > want 2>/dev/null &&
	flat_rows make.pb.gz $MEMPROF top -n 0 --nodefraction=0 --unit=B --pid=$pid > got &&
	test -s want && test_cmp want got &&
	$MEMPROF top --program=cc1,as make.pb.gz > both &&
	grep -q "Total samples" both
'

test_expect_success "--pid/--program that match nothing, bad values: one line, exit 1 or 2" '
	test_expect_code 1 $MEMPROF top --program=nosuch make.pb.gz 2> e1 &&
	test_one_line_error e1 "^memprof: make.pb.gz: no sample has program nosuch (there are: .*cc1" &&
	test_expect_code 1 $MEMPROF top --pid=1 make.pb.gz 2> e2 &&
	test_one_line_error e2 "no sample has pid 1 (there are: [0-9]" &&
	test_expect_code 2 $MEMPROF top --pid=x make.pb.gz 2> e3 &&
	grep -q "invalid pid list" e3 &&
	test_expect_code 1 $MEMPROF top --program=cc1 $SRC/testdata/goprof/heap.pb.gz 2> e4 &&
	test_one_line_error e4 "the samples carry no program label"
'

# ---- sh -c: one program's processes, the command line ------------------

test_expect_success "one process: program and exe labels, no pid (two runs cancel under -diff_base)" '
	$MEMPROF run -q --rate 1 -o one.pb.gz ./alloc &&
	$MEMPROF run -q --rate 1 -o two.pb.gz ./alloc &&
	go tool pprof -raw one.pb.gz 2>/dev/null > raw &&
	grep -q "program:\[alloc\]" raw && grep -q "exe:\[$TRASH/alloc\]" raw &&
	! grep -q "pid:\[" raw && ! grep -q "cmdline:\[" raw &&
	go tool pprof -top -diff_base=one.pb.gz two.pb.gz 2>/dev/null | grep -q "Showing nodes accounting for 0, 0% of"
'

test_expect_success "the command: comment pastes back into a shell" '
	$MEMPROF run -q --rate 1 -o q.pb.gz sh -c "printf \"[%s]\\n\" \"\$@\"" sh "a b" "it'"'"'s" "" "x	y" "\$HOME" > plain &&
	go tool pprof -top q.pb.gz 2>/dev/null | sed -n "s/^command: //p" > cmd &&
	test "$(wc -l < cmd)" = 1 &&
	eval "$(cat cmd)" > again && test_cmp plain again &&
	grep -q "\\[\$HOME\\]" again
'

test_expect_success "sh -c: File: names the program that allocated most, not the shell" '
	$MEMPROF run -q --rate 1 -o sh.pb.gz sh -c "./alloc; ./alloc x y; ./alloc z" &&
	same_top sh.pb.gz &&
	grep -qx "File: alloc" got &&
	grep -q "^2 programs by alloc_space: alloc 100%, dash <1%\$" got &&
	tag_values sh.pb.gz cmdline > cmds &&
	! grep -v -x -e "./alloc" -e "./alloc x y" -e "./alloc z" -e "sh -c '"'"'./alloc; ./alloc x y; ./alloc z'"'"'" cmds
'

# ---- --split --------------------------------------------------------------

test_expect_success "--split: one profile per process image, each read by go tool pprof" '
	$MEMPROF run --rate 1 --split -o parts sh -c "./alloc; ./alloc x y" 2> err &&
	ls parts > files && test "$(grep -c "^memprof\.alloc\.[0-9]*\.pb\.gz\$" files)" = 2 &&
	grep -q "^memprof\.dash\.[0-9]*\.pb\.gz\$" files &&
	test "$(grep -c "^memprof: wrote parts/memprof\." err)" = 3 &&
	for f in parts/memprof.alloc.*; do
		same_top $f && grep -qx "File: alloc" got &&
		! grep -q "programs by" got &&
		go tool pprof -raw $f 2>/dev/null | grep -q "program:\[alloc\]" || exit 1
	done &&
	cat parts/memprof.alloc.* | go tool pprof -top -sample_index=alloc_space -unit=B /dev/stdin 2>/dev/null > /dev/null;
	# a process gone before memprof read its command line is named by its path
	for f in parts/memprof.alloc.*; do go tool pprof -top -unit=B $f 2>/dev/null | sed -n "s/^command: //p"; done |
		sort > cmds &&
	test "$(wc -l < cmds)" = 2 && ! grep -v -x -e "./alloc" -e "./alloc x y" -e "$TRASH/alloc" cmds &&
	go tool pprof -top parts/memprof.alloc.* 2>/dev/null | grep -q "^run: sh -c "
'

test_expect_success "--split: the totals are those of the whole run, process by process" '
	$MEMPROF run -q --rate 1 -o whole.pb.gz sh -c "./alloc; ./alloc x y" &&
	$MEMPROF run -q --rate 1 --split -o parts2 sh -c "./alloc; ./alloc x y" &&
	for f in parts2/memprof.alloc.*; do
		$MEMPROF top --unit=B $f | sed -n "s/.*Total samples = \\([0-9]*\\)B.*/\\1/p"
	done | sort -n > split &&
	for p in $(tag_values whole.pb.gz pid); do
		$MEMPROF top --unit=B --pid=$p whole.pb.gz | sed -n "s/.*Total samples = \\([0-9]*\\)B.*/\\1/p"
	done | sort -n | tail -2 > whole &&
	test_cmp whole split
'

test_expect_success "--split: bad -o is refused before the program runs" '
	: > afile &&
	test_expect_code 1 $MEMPROF run --split -o afile sh -c "echo ran" > out 2> e1 &&
	test_one_line_error e1 "afile: not a directory" && ! test -s out &&
	test_expect_code 1 $MEMPROF run --split -o - true 2> e2 &&
	test_one_line_error e2 "must name a directory"
'

# ---- one executable, two paths: one row --------------------------------

test_expect_success "a hard link: the same executable by two paths is one [alloc] row" '
	mkdir -p d1 d2 && cp alloc d1/prog && ln d1/prog d2/prog && strip d1/prog &&
	$MEMPROF run -q --rate 1 -o link.pb.gz sh -c "d1/prog; d2/prog x" &&
	same_top link.pb.gz &&
	test "$(grep -c "\\[prog\\]" got)" = 1
'

if command -v git > /dev/null && [ -x /usr/lib/git-core/git ]; then
	test_expect_success "git and git-core/git: one [git] row, as go tool pprof shows" '
		$MEMPROF run -q --rate 1 -o git.pb.gz sh -c "git --version; /usr/lib/git-core/git --version" > /dev/null &&
		same_top git.pb.gz &&
		test "$(grep -c "\\[git\\]" got)" -le 1
	'
else
	test_skip "git and git-core/git" "git is not installed"
fi

test_expect_success "a profile with one build id under two file names: memprof top merges as pprof does" '
	printf "mapping /usr/bin/git ab12\naddr\naddr\nmapping /usr/lib/git-core/git ab12\naddr\nfunc main main\n" |
		$PY craft.py twopaths.pb &&
	same_top twopaths.pb &&
	test "$(grep -c "\\[git\\]" got)" = 1
'

# ---- C++ names ----------------------------------------------------------------

test_expect_success "C++: pprof short names stored, mangled as system_name; --full-names" '
	$MEMPROF run -q --rate 1 -o cxx.pb.gz ./cxx > /dev/null &&
	same_top cxx.pb.gz &&
	grep -q " std::vector::_M_realloc_insert\$" got &&
	go tool pprof -raw cxx.pb.gz 2>/dev/null | grep -q " std::vector::_M_realloc_insert .*s=[0-9]*(_ZNSt6vector" &&
	$MEMPROF top -n 0 --full-names cxx.pb.gz > full &&
	grep -q " std::vector<long, std::allocator<long> >::_M_realloc_insert<long>(__gnu_cxx::__normal_iterator<long\*, std::vector<long, std::allocator<long> > >, long&&)\$" full
'

test_expect_success "C++ names demangled on reading, as go tool pprof does (name = system_name)" '
	nm -D --defined-only /usr/lib/x86_64-linux-gnu/libstdc++.so.6 | awk "\$3 ~ /^_Z/ { print \$3 }" |
		sed "s/@.*//" | sort -u | head -1500 | awk "{ print \"func\", \$1, \$1 }" > spec &&
	printf "func - _ZNSt6vectorIiSaIiEE17_M_realloc_insertIJRKiEEEvN9__gnu_cxx17__normal_iteratorIPiS1_EEDpOT_\nfunc ns::f<int>(int) ns::f<int>(int)\n" >> spec &&
	(echo "mapping /nonexistent/libstdc++.so x"; cat spec) | $PY craft.py names.pb &&
	same_top names.pb &&
	grep -q " std::vector::_M_realloc_insert\$" got && grep -q " ns::f\$" got
'

# ---- what it looks like, hints ---------------------------------------------

test_expect_success "files that are not profiles: what they look like" '
	test_expect_code 1 $MEMPROF top ./alloc 2> e1 &&
	test_one_line_error e1 "^memprof: ./alloc: not a pprof profile (looks like an ELF executable)\$" &&
	gzip -c alloc > alloc.gz && test_expect_code 1 $MEMPROF top alloc.gz 2> e2 &&
	test_one_line_error e2 "(looks like a gzip-compressed ELF executable)\$" &&
	cc -c -o alloc.o alloc.c && test_expect_code 1 $MEMPROF top alloc.o 2> e3 &&
	test_one_line_error e3 "(looks like an ELF object file)\$" &&
	seq 1 1000 | gzip -c > seq.gz && test_expect_code 1 $MEMPROF top seq.gz 2> e4 &&
	test_one_line_error e4 "(looks like gzip-compressed text)\$" &&
	{ printf "\3757zXZ\0\0" && seq 1 1000; } > seq.xz &&
	test_expect_code 1 $MEMPROF top seq.xz 2> e5 &&
	test_one_line_error e5 "(looks like xz-compressed data)\$"
'

test_expect_success "hint: a profile with no sample suggests a smaller --rate" '
	printf "#include <stdlib.h>\nint main(void) { volatile void *p = malloc(100); return p == 0; }\n" > small.c &&
	cc -o small small.c &&
	$MEMPROF run -o small.pb.gz ./small 2> err &&
	grep -q "^memprof: hint: no allocation was sampled: .*--rate" err &&
	$MEMPROF run -q -o small2.pb.gz ./small 2> err2 && ! test -s err2
'

test_expect_success "hint: most bytes under a stripped program name its debug symbols" '
	cp alloc stripped && strip stripped &&
	$MEMPROF run --rate 1 -o stripped.pb.gz ./stripped 2> err &&
	grep -q "^memprof: hint: [0-9]*% of the bytes were allocated under $TRASH/stripped, which has no symbols (the \\[stripped\\] rows): put its debug file at /usr/lib/debug/.build-id/" err &&
	$MEMPROF run --rate 1 -o unstripped.pb.gz ./alloc 2> err2 && ! grep -q hint err2
'
test_expect_success "no stripped hint for a nameless frame above named allocating code (std::thread)" '
	cat > th.cpp <<-EOF &&
	#include <thread>
	#include <vector>
	#include <cstdio>
	static std::vector<int> *work(int n) { return new std::vector<int>(n); }
	int main() {
		std::vector<int> *r = nullptr;
		std::thread t([&] { for (int i = 0; i < 1000; i++) { delete r; r = work(1000 + i); } });
		t.join();
		printf("%zu\\n", r->size());
		delete r;
	}
	EOF
	g++ -O1 -g -pthread -o th th.cpp &&
	$MEMPROF run --rate 1 -o th.pb.gz ./th > out 2> err &&
	test "$(cat out)" = 1999 && grep -q "^memprof: wrote th.pb.gz" err && ! grep -q hint err &&
	$MEMPROF top -n 3 th.pb.gz > top && grep -q work top
'

test_expect_success "hint: python3 mentions PYTHONMALLOC=malloc, unless it is set" '
	env -u PYTHONMALLOC $MEMPROF run -o py.pb.gz $PY -c "x = [str(i) for i in range(200000)]" 2> err &&
	grep -q "^memprof: hint: python3[.0-9]* allocates small objects .* PYTHONMALLOC=malloc" err &&
	PYTHONMALLOC=malloc $MEMPROF run -o py2.pb.gz $PY -c "x = [str(i) for i in range(200000)]" 2> err2 &&
	! grep -q PYTHONMALLOC err2
'

test_done
