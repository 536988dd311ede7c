#!/bin/bash
# Real programs from Debian behave the same under memprof run (output, exit
# status) and their profiles name their functions; go tool pprof reads them.
. "$(dirname "$0")/test-lib.sh"
PY=/usr/bin/python3

# same_behaviour NAME RATE CMD...: test_like_plain, and the same stderr.
same_behaviour() {
	local name=$1 rate=$2
	shift 2
	test_like_plain "$rate" "$name" "$@" && test_cmp plain.err prof.err
}

# names FILE PATTERN: some function matching PATTERN is in the profile
# (as go tool pprof sees it), with the same report from memprof top.
names() {
	go tool pprof -top -nodefraction=0 "$1" > pprof.out 2> pprof.err &&
	$MEMPROF top -n 0 --nodefraction=0 "$1" > memprof.out &&
	test_cmp pprof.out memprof.out &&
	grep -E -- "$2" memprof.out
}

cd "$TRASH"
$PY -c '
import json, random
random.seed(7)
rows = [{"id": i, "name": "n%d" % i, "tags": ["t%d" % (i % 7)] * 3, "v": random.random()}
        for i in range(20000)]
json.dump(rows, open("data.json", "w"))
' || { echo "FAIL $T: cannot make data.json"; exit 1; }
cd - > /dev/null

for rate in 1 512k; do
	test_expect_success "jq (rate $rate): same output and status, jv functions named" "
		same_behaviour jq $rate jq -c '[.[] | select(.id % 3 == 0) | .name] | length' data.json &&
		names jq.pb.gz ' jv_mem_(alloc|realloc)'
	"
done
test_expect_success "jq failing (exit 5 on bad input): same status and message" '
	echo "{bad json" > bad.json &&
	same_behaviour jqbad 1 jq . bad.json &&
	test -s plain.err
'
test_expect_success "sqlite3: same output, its API functions named" '
	same_behaviour sqlite 1 sqlite3 :memory: \
		"create table t(a, b); with recursive c(x) as (select 1 union all select x+1 from c where x < 20000) insert into t select x, hex(randomblob(16)) from c; create index i on t(b); select count(*), sum(a) from t;" &&
	go tool pprof -top -nodefraction=0 -cum sqlite.pb.gz 2>/dev/null | grep -E " sqlite3_(exec|step|prepare)"
'
test_expect_success "python3: same output, CPython functions named" '
	same_behaviour python 512k $PY -c "x = [str(i) * 3 for i in range(300000)]; print(len(x), x[-1])" &&
	names python.pb.gz " (PyEval_EvalCode|PyRun_SimpleStringFlags)\$"
'
test_expect_success "python3 exiting with status 7 and a traceback: same" '
	same_behaviour pyfail 512k $PY -c "import sys; print(\"bye\"); sys.exit(7)"
'
test_expect_success "gcc (driver, cc1 and as are profiled, each with its pid)" '
	printf "int f(int x) { return x * 2; }\n" > unit.c &&
	same_behaviour gcc 64k gcc -O2 -c -o unit.o unit.c &&
	names gcc.pb.gz " (xmalloc|xcalloc|xrealloc)" &&
	go tool pprof -tags gcc.pb.gz 2>/dev/null | sed -n "/pid:/,\$p" > pids &&
	test "$(grep -c "%)" pids)" -ge 2
'
test_done
