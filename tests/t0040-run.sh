#!/bin/bash
# memprof run: exact totals at --rate 1, statistical bounds at the default
# rate, go tool pprof as the independent reader, processes, ends, errors.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
cd "$TRASH"
$CC -g -O2 -o known $F/known.c &&
$CC -g -O1 -o procs $F/procs.c &&
$CC -g -O1 -o ends $F/ends.c &&
c++ -g -O2 -o cxx $F/cxx.cpp || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

# site_values FILE SAMPLE_INDEX: "site value" for each site_* row (flat, in B or count).
site_values() {
	local unit=
	case $2 in *space) unit=--unit=B ;; esac
	$MEMPROF top -n 0 --nodefraction=0 --sample-index=$2 $unit "$1" |
		awk '$NF ~ /^site_/ { v = $1; sub(/B$/, "", v); print $NF, v }' | sort
}

# expected S: known.c's table, "site alloc_objects alloc_space inuse_objects inuse_space"
expected() {
	awk -v s="$1" 'BEGIN {
		print "site_aligned", 200*s, 100*s*384, 200*s, 100*s*384
		print "site_calloc", 500*s, 500*s*80, 0, 0
		print "site_large", 20*s, 20*s*1048576, 0, 0
		print "site_malloc", 1000*s, 1000*s*100, 100*s, 100*s*100
		print "site_realloc", 600*s, 200*s*112, 50*s, 50*s*64
	}'
}

for s in 1 3; do
	test_expect_success "--rate 1: every site exact in all four sample types (scale $s)" "
		$MEMPROF run -q --rate 1 -o k$s.pb.gz ./known $s > out &&
		grep -q 'kept' out &&
		expected $s > want.all &&
		col=2 &&
		for si in alloc_objects alloc_space inuse_objects inuse_space; do
			awk -v c=\$col '\$c != 0 { print \$1, \$c }' want.all > want &&
			site_values k$s.pb.gz \$si > got &&
			test_cmp want got || exit 1
			col=\$((col + 1))
		done
	"
done

for si in alloc_objects alloc_space inuse_objects inuse_space; do
	test_expect_success "go tool pprof reads our profile as memprof top does ($si)" "
		go tool pprof -top -nodefraction=0 -sample_index=$si k1.pb.gz > pprof.out 2>/dev/null &&
		$MEMPROF top -n 0 --nodefraction=0 --sample-index=$si k1.pb.gz > memprof.out &&
		test_cmp pprof.out memprof.out
	"
done
test_expect_success "go tool pprof -list agrees with memprof list on our profile" '
	go tool pprof -list "site_" k1.pb.gz > pprof.out 2>/dev/null &&
	$MEMPROF list "site_" k1.pb.gz > memprof.out &&
	test_cmp pprof.out memprof.out &&
	grep -q "void \*p = malloc(100);" memprof.out
'

# At the default rate a block of size s is sampled with p = 1 - exp(-s/R);
# the estimate of a site's bytes has sd = sqrt(sum over its sizes of
# N * s^2 * (1 - p) / p). Each site must be within 4 sd (a false alarm
# once in ~16000 checks).
test_expect_success "default rate: each site's alloc_space and inuse_space within 4 sd" '
	$MEMPROF run -q -o kd.pb.gz ./known 2000 > out &&
	site_values kd.pb.gz alloc_space > got.alloc &&
	site_values kd.pb.gz inuse_space > got.inuse &&
	awk -v S=2000 -v R=524288 -v alloc=got.alloc -v inuse=got.inuse "
		function v(n, s,   p) { p = 1 - exp(-s / R); return n * s * s * (1 - p) / p }
		BEGIN {
			ta[\"site_malloc\"] = 1000*S*100;  va[\"site_malloc\"] = v(1000*S, 100)
			ta[\"site_calloc\"] = 500*S*80;    va[\"site_calloc\"] = v(500*S, 80)
			ta[\"site_realloc\"] = 200*S*112
			va[\"site_realloc\"] = v(200*S, 16) + v(200*S, 32) + v(200*S, 64)
			ta[\"site_aligned\"] = 100*S*384;  va[\"site_aligned\"] = v(100*S, 256) + v(100*S, 128)
			ta[\"site_large\"] = 20*S*1048576; va[\"site_large\"] = v(20*S, 1048576)
			ti[\"site_malloc\"] = 100*S*100;   vi[\"site_malloc\"] = v(100*S, 100)
			ti[\"site_realloc\"] = 50*S*64;    vi[\"site_realloc\"] = v(50*S, 64)
			ti[\"site_aligned\"] = 100*S*384;  vi[\"site_aligned\"] = va[\"site_aligned\"]
			bad = 0
			while ((getline line < alloc) > 0) { split(line, f, \" \"); got[f[1]] = f[2] }
			for (k in ta) {
				d = (got[k] - ta[k]) / sqrt(va[k])
				printf \"alloc %-13s true %12d got %12d  %+.2f sd\\n\", k, ta[k], got[k], d
				if (d > 4 || d < -4) bad = 1
			}
			delete got
			while ((getline line < inuse) > 0) { split(line, f, \" \"); got[f[1]] = f[2] }
			for (k in ti) {
				d = (got[k] - ti[k]) / sqrt(vi[k])
				printf \"inuse %-13s true %12d got %12d  %+.2f sd\\n\", k, ti[k], got[k], d
				if (d > 4 || d < -4) bad = 1
			}
			exit bad
		}"
'

test_expect_success "C++: new is attributed to its caller, operator new never shows" '
	$MEMPROF run -q --rate 1 -o cxx.pb.gz ./cxx > out &&
	test "$(cat out)" = "1000 100000 1" &&
	$MEMPROF top -n 0 --nodefraction=0 --sample-index=alloc_objects cxx.pb.gz > top.out &&
	grep -E "^ +1000 .* shapes::make_widget\$" top.out &&
	! grep -q "operator new" top.out &&
	$MEMPROF top -n 0 --nodefraction=0 --sample-index=alloc_space --unit=B cxx.pb.gz |
		grep -E "^ +120000B .* shapes::make_widget\$" &&
	go tool pprof -raw cxx.pb.gz 2>/dev/null | grep -q "_ZN6shapes11make_widgetEv"
'

test_expect_success "fork and exec: every process's samples carry its pid" '
	$MEMPROF run -q --rate 1 -o procs.pb.gz ./procs both > out &&
	parent=$(awk "/^parent/ { print \$2 }" out) &&
	child=$(awk "/^child/ { print \$2 }" out) &&
	leaf=$(awk "/^leaf/ { print \$2 }" out) &&
	for p in parent:$parent:parent_work:100 child:$child:child_work:200 leaf:$leaf:leaf_work:300; do
		IFS=: read -r who pid fn n <<< "$p"
		go tool pprof -top -sample_index=alloc_objects -tagfocus=pid=$pid procs.pb.gz \
			2>/dev/null > top.$who &&
		grep -E "^ +$n .* $fn\$" top.$who || { cat top.$who; exit 1; }
		for other in parent_work child_work leaf_work; do
			[ $other = $fn ] || ! grep -q "$other" top.$who || exit 1
		done
	done
'

while read -r how code; do
	test_expect_success "the program ends by $how: status $code, nothing lost" "
		test_expect_code $code ./ends $how &&
		test_expect_code $code $MEMPROF run -q --rate 1 -o end.pb.gz ./ends $how &&
		$MEMPROF top --sample-index=alloc_objects end.pb.gz | grep -E '^ +500 .* before_end\$'
	"
done <<'LIST'
return 0
exit 3
_exit 4
abort 134
segv 139
kill 137
exec 0
LIST

test_expect_success "SIGTERM to memprof reaches the program; the profile is still written" '
	sh -c "echo \$\$ > mp.pid; exec $MEMPROF run -q --rate 1 -o term.pb.gz ./ends wait" & bg=$! &&
	sleep 0.5 && kill -TERM $(cat mp.pid) &&
	rc=0 && wait $bg || rc=$? &&
	test $rc = 143 &&
	$MEMPROF top --sample-index=alloc_objects term.pb.gz | grep -E "^ +500 .* before_end\$"
'

test_expect_success "a daemon left running: SIGTERM to memprof then writes the profile" '
	rm -f started &&
	sh -c "echo \$\$ > mp.pid; exec $MEMPROF run -q --rate 1 -o daemon.pb.gz sh -c \"./ends return; (while :; do ./procs leaf; done) > /dev/null & echo > started\"" &
	bg=$! &&
	for i in $(seq 100); do [ -e started ] && break; sleep 0.1; done &&
	sleep 1 && kill -TERM $(cat mp.pid) && rc=0 && wait $bg || rc=$?
	pkill -f "while :; do ./procs leaf" || true; pkill -x procs || true
	test "$rc" = 0 &&
	$MEMPROF top -n 0 --nodefraction=0 --sample-index=alloc_objects daemon.pb.gz |
		grep -E "^ +500 .* before_end\$"
'
test_expect_success "default output name, one summary line, no temporary files left" '
	mkdir out-dir && cd out-dir &&
	$MEMPROF run --rate 1 ../ends return 2> ../err &&
	ls -A > ../files && test "$(wc -l < ../files)" = 1 &&
	grep -E "^memprof\.ends\.[0-9]+\.pb\.gz\$" ../files &&
	test "$(wc -l < ../err)" = 1 &&
	grep -q "^memprof: wrote memprof.ends.[0-9]*.pb.gz: .* samples, .* allocated in" ../err
'
test_expect_success "--verbose reports the program's and memprof's CPU, and the program's waits" '
	$MEMPROF run -v --rate 1 -o v.pb.gz ./ends return 2> err &&
	grep -E "^memprof: CPU: program [0-9.]+ s; memprof [0-9.]+ s collecting \([0-9.]+% of the program.s\), [0-9.]+ s symbolizing and writing; the program waited for memprof [0-9]+ times? \(its ring full\)\$" err
'
test_expect_success "--rate takes 4096, 4k, 512KiB, 1M; the profile records it" '
	for r in 4096:4096 4k:4096 512KiB:524288 1M:1048576; do
		$MEMPROF run -q --rate ${r%%:*} -o r.pb.gz ./ends return &&
		go tool pprof -raw r.pb.gz 2>/dev/null | grep -q "^Period: ${r#*:}\$" || exit 1
	done &&
	test_expect_code 2 $MEMPROF run --rate 0 ./ends 2> err && grep -q "invalid rate" err &&
	test_expect_code 2 $MEMPROF run --rate 12parsecs ./ends 2> err
'
test_expect_success "errors before anything runs: missing, not executable, unwritable output" '
	test_expect_code 127 $MEMPROF run ./no-such-program 2> err &&
	test_one_line_error err "no-such-program" &&
	test_expect_code 127 $MEMPROF run no-such-command-anywhere 2> err &&
	test_one_line_error err "command not found" &&
	echo "touch ran" > script && chmod 644 script &&
	test_expect_code 126 $MEMPROF run ./script 2> err && test_one_line_error err "not executable" &&
	chmod 755 script &&
	test_expect_code 1 $MEMPROF run -o /nonexistent/dir/x.pb.gz ./script 2> err &&
	test_one_line_error err "cannot write here" && test ! -e ran &&
	test_expect_code 2 $MEMPROF run 2> err && grep -q "missing PROGRAM" err &&
	if [ "$(id -u)" != 0 ]; then
		mkdir ro && chmod 555 ro && cd ro &&
		test_expect_code 1 $MEMPROF run ../script 2> ../err && test ! -e ../ran &&
		grep -q "cannot write here" ../err
	fi
'
test_expect_success "options stop at the first non-option word" '
	$MEMPROF run -q --rate 1 -o opt.pb.gz ./ends -o > out &&
	test -s opt.pb.gz && test ! -e ./-o
'
test_expect_success "a static program: said so, its status kept, -o leaves an empty profile" '
	$CC -static -O1 -o static $F/ends.c 2>/dev/null || exit 0	# no static libc here
	test_expect_code 3 $MEMPROF run -o static.pb.gz ./static exit 2> err &&
	grep -q "statically linked.*the profile will be empty" err &&
	go tool pprof -raw static.pb.gz > raw 2>&1 && grep -q "^Samples:" raw &&
	test "$(sed -n "/^Samples:/,/^Locations/p" raw | wc -l)" = 3 &&
	test_expect_code 3 $MEMPROF run ./static exit 2> err &&
	grep -q "no profile will be written" err && ! ls memprof.static.* 2>/dev/null
'
test_expect_success "a setuid program: said so, -o leaves an empty profile" '
	[ "$(id -u)" = 0 ] || exit 0
	cp ends suid && chown nobody suid && chmod 4755 suid &&
	test_expect_code 4 $MEMPROF run -o suid.pb.gz ./suid _exit 2> err &&
	grep -q "setuid" err && go tool pprof -top suid.pb.gz > /dev/null 2>&1
'

test_expect_success "standalone mode: MEMPROF_OUT and memprof convert give the same profile" '
	LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_OUT=rec MEMPROF_RATE=1 ./known > out &&
	test "$(stat -c %a rec)" = 600 &&
	$MEMPROF convert rec 2> err && grep -q "wrote rec.pb.gz" err &&
	for si in alloc_objects alloc_space inuse_objects inuse_space; do
		site_values rec.pb.gz $si > a && site_values k1.pb.gz $si > b && test_cmp b a || exit 1
	done &&
	test_expect_code 1 $MEMPROF convert $SRC/testdata/bad/random.bin 2> err &&
	test_one_line_error err "not a memprof recording" &&
	: > empty.rec && test_expect_code 1 $MEMPROF convert empty.rec 2> err &&
	test_one_line_error err "empty recording"
'
test_expect_success "a stack deeper than 128 frames is cut and marked, nothing crashes" '
	$CC -g -O1 -pthread -o deep $F/deep.c &&
	$MEMPROF run -q --rate 1 -o deep.pb.gz ./deep 200000 > out && test "$(cat out)" = 200001 &&
	$MEMPROF top -n 0 --unit=B deep.pb.gz > top.out &&
	grep -E "^ +1000B .* descend\$" top.out &&
	grep -E "^ +0 .* 1000B .*\[truncated stack\]\$" top.out
'
test_expect_success "a library dlclosed before the end still names its functions" '
	$CC -g -O1 -fPIC -shared -o plugin.so $F/plugin.c &&
	$CC -g -O1 -o dlopener $F/dlopener.c -ldl &&
	$MEMPROF run -q --rate 1 -o dl.pb.gz ./dlopener ./plugin.so 20 > out &&
	$MEMPROF top --sample-index=alloc_objects dl.pb.gz > top.out &&
	grep -E "^ +2000 .* plugin_work\$" top.out && grep -E "^ +100 .* after_close\$" top.out &&
	$MEMPROF list --sample-index=alloc_objects plugin_work dl.pb.gz |
		grep -E "^ +2000 +2000 +[0-9]+:.*malloc\(5000\)"
'
test_expect_success "separate debug info (.gnu_debuglink) is found for a stripped binary" '
	$CC -g -O2 -o stripped $F/known.c &&
	objcopy --only-keep-debug stripped stripped.debug &&
	objcopy --strip-all --add-gnu-debuglink=stripped.debug stripped &&
	! readelf -S stripped | grep -q "\.symtab" &&
	$MEMPROF run -q --rate 1 -o stripped.pb.gz ./stripped > out &&
	site_values stripped.pb.gz alloc_objects > got &&
	site_values k1.pb.gz alloc_objects > want && test_cmp want got &&
	$MEMPROF list site_calloc stripped.pb.gz | grep -q "calloc(10, 8)"
'
test_expect_success "a program linked with jemalloc keeps it, and is profiled exactly" '
	$CC -g -O2 -o known-je $F/known.c -ljemalloc &&
	ldd known-je | grep -q libjemalloc &&
	$MEMPROF run -q --rate 1 -o je.pb.gz ./known-je > out &&
	for si in alloc_objects alloc_space inuse_objects inuse_space; do
		site_values je.pb.gz $si > a && site_values k1.pb.gz $si > b && test_cmp b a || exit 1
	done
'
test_expect_success "make install: the installed memprof finds its tracker" '
	make -C $SRC -s install PREFIX=$TRASH/inst BUILD=$BUILD > /dev/null &&
	mv $TRASH/inst $TRASH/moved &&
	$TRASH/moved/bin/memprof run -q --rate 1 -o inst.pb.gz ./ends return &&
	$MEMPROF top --sample-index=alloc_objects inst.pb.gz | grep -E "^ +500 .* before_end\$" &&
	test -f $TRASH/moved/share/man/man1/memprof-run.1
'
test_expect_success "without MEMPROF_SOCK or MEMPROF_OUT the preloaded tracker does nothing" '
	LD_PRELOAD=$BUILD/libmemprof.so ./ends exit > out; test $? = 3 &&
	mkdir -p idle &&
	(cd idle && LD_PRELOAD=$BUILD/libmemprof.so MEMPROF_RATE=1 ../known > ../out1) &&
	./known > out2 && test_cmp out2 out1 &&
	test -z "$(ls -A idle)"
'
test_done
