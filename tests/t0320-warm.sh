#!/bin/bash
# Symbolizing while the program runs (collector_warm, memprof run's idle
# polls): the profile is the same, byte for byte but for its time,
# duration and timeline (tests/pb-untimed.py), as when everything is
# symbolized at the end (MEMPROF_WARM=0). MEMPROF_WARM=1 warms whatever
# else runs on the machine; -v says how many addresses were done during
# the run. The same for the profile memprof run --http serves mid-run.
# Address-space randomization is off (setarch -R) so that both runs put
# every module at the same address.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
cd "$TRASH"
$CC -g -O1 -fPIC -shared -o a.so $F/plugin.c &&
$CC -g -O1 -fPIC -shared -o b.so $F/plugin2.c &&
$CC -g -O1 -o dlswap $F/dlswap.c -ldl &&
$CC -g -O2 -o served $F/served.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

if ! setarch -R true 2> /dev/null; then
	test_skip "warmed and unwarmed profiles compared" "setarch -R cannot turn off ASLR here"
	echo "# $T: $test_passed passed, $test_failed failed"
	exit 0
fi

# both NAME CMD...: CMD under memprof run -v --rate 1, warmed (NAME.1.pb.gz,
# NAME.1.err) and not (NAME.0.*), its stdin what $FEED (a shell command)
# writes; the two profiles must be the same but for when they were made,
# and so must what CMD printed. Both asked the symbolizer the same number
# of addresses: the warmed run looked up nothing the profile did not need.
both() {
	local name=$1 w
	shift
	for w in 1 0; do
		eval "${FEED:-:}" | MEMPROF_WARM=$w setarch -R $MEMPROF run -v --rate 1 \
			-o $name.$w.pb.gz "$@" > $name.$w.out 2> $name.$w.err
		python3 $SRC/tests/pb-untimed.py $name.$w.pb.gz > $name.$w.bin
	done
	cat $name.1.err
	test_cmp $name.1.out $name.0.out && cmp $name.1.bin $name.0.bin &&
	grep -q " 0 of them while the program ran" $name.0.err &&
	test "$(asked $name.1)" -gt 0 && test "$(asked $name.1)" = "$(asked $name.0)"
}

# asked NAME.W: how many addresses run NAME.W asked the symbolizer
asked() {
	sed -n 's/^memprof: symbolized \([0-9]*\) addresses, .*/\1/p' $1.err
}

# warmed NAME: how many addresses run NAME.1 symbolized while the program ran
warmed() {
	sed -n 's/.*symbolized [0-9]* addresses, \([0-9]*\) of them while the program ran .*/\1/p' \
		$1.1.err
}

test_expect_success "dlopen, dlclose, another library at the same address: same profile, right names" '
	both dl ./dlswap 3 ./a.so plugin_work ./b.so other_work &&
	test "$(warmed dl)" -gt 0 &&
	go tool pprof -raw dl.1.pb.gz 2>/dev/null > raw &&
	a=$(sed -n "s#^[0-9]*: \(0x[0-9a-f]*\)/.*/a\.so .*#\1#p" raw) &&
	b=$(sed -n "s#^[0-9]*: \(0x[0-9a-f]*\)/.*/b\.so .*#\1#p" raw) &&
	test -n "$a" && test "$a" = "$b" &&
	go tool pprof -top -sample_index=alloc_objects dl.1.pb.gz 2>/dev/null > top &&
	grep -E "^ +300 .* plugin_work\$" top && grep -E "^ +300 .* other_work\$" top
'

test_expect_success "jq waiting for the rest of its input: same profile, addresses done meanwhile" '
	FEED="printf \"[1,2,{\\\"a\\\":3},\"; sleep 0.3; printf \"4]\"" \
		both jq jq -c "map(tostring)" &&
	test "$(cat jq.1.out)" = "[\"1\",\"2\",\"{\\\"a\\\":3}\",\"4\"]" &&
	test "$(warmed jq)" -gt 0 &&
	go tool pprof -top jq.1.pb.gz 2>/dev/null | grep -E " jv_[a-z_]+\$"
'

# 2.5 s idle: the warming thread lets its files go (after 2 s), and opens
# them again for the second phase's new stacks
test_expect_success "python3 idle between two phases: same profile, files let go and opened again" '
	PYTHONHASHSEED=0 both py /usr/bin/python3 -c "import json, time
x = [json.dumps({\"a\": i}) for i in range(2000)]
time.sleep(2.5)
import decimal
y = [str(decimal.Decimal(i) / 7) for i in range(2000)]
print(len(x) + len(y))" &&
	test "$(cat py.1.out)" = 4000 && test "$(warmed py)" -gt 0
'

test_expect_success "a binary replaced during the run, symbolized meanwhile: still said, left as addresses" '
	$CC -g -O1 -o r1 $F/lifecycle/rebuild1.c && $CC -g -O1 -o r2 $F/lifecycle/rebuild2.c &&
	cp r1 prog &&
	MEMPROF_WARM=1 $MEMPROF run -v --rate 1 -o rb.pb.gz -- \
		sh -c "./prog & sleep 0.1; cp r2 prog.tmp; mv prog.tmp prog; wait" 2> err &&
	cat err && test "$(sed -n "s/.*, \([0-9]*\) of them while the program ran .*/\1/p" err)" -gt 0 &&
	grep -q "prog changed on disk since the program loaded it" err &&
	go tool pprof -top -nodefraction=0 rb.pb.gz > top 2>/dev/null &&
	! grep -q -E " (main|alpha|omega)\$" top && grep -q "\[prog\]" top
'

# served W: memprof run --http of served (holding 4 MiB, then idle: the
# addresses are warmed meanwhile with W=1), its /debug/pprof/heap fetched
# half a second after it is ready (http.W.pb.gz), then stopped
served() {
	local w=$1 port= mp
	rm -f ready stop
	MEMPROF_WARM=$w setarch -R $MEMPROF run -v --http=127.0.0.1:0 --rate 1 -o sv.$w.pb.gz \
		-- ./served ready stop > sv.$w.out 2> sv.$w.err &
	mp=$!
	for _ in $(seq 300); do
		port=$(sed -n 's|^memprof: serving http://127\.0\.0\.1:\([0-9]*\)/debug/pprof/$|\1|p' \
			sv.$w.err)
		[ -n "$port" ] && [ -s ready ] && break
		sleep 0.1
	done
	sleep 0.5
	curl -s -f -o http.$w.pb.gz http://127.0.0.1:$port/debug/pprof/heap
	touch stop
	wait $mp || true
	python3 $SRC/tests/pb-untimed.py http.$w.pb.gz > http.$w.bin
}

test_expect_success "memprof run --http: the heap profile served mid-run is the same warmed or not" '
	served 1 && served 0 && cat sv.1.err &&
	cmp http.1.bin http.0.bin &&
	grep -q " [1-9][0-9]* of them while the program ran" sv.1.err &&
	grep -q " 0 of them while the program ran" sv.0.err &&
	go tool pprof -top http.1.pb.gz 2>/dev/null | grep -E " hold\$"
'

echo "# $T: $test_passed passed, $test_failed failed"
[ $test_failed = 0 ]
