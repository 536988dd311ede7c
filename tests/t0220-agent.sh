#!/bin/bash
# memprof agent: services that connect on their own (MEMPROF_AGENT), three
# started separately, one that ends, one that forks; the agent restarted
# under them (they connect again and say what was lost); who may connect
# (peer credentials, the socket's mode, symlinks); sampling switched on and
# off by POST, exact at --rate 1. go tool pprof and curl are the clients.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
cd "$TRASH"
chmod 755 "$TRASH"	# another user runs the fixture in the credentials test
${CC:-cc} -g -O2 -o phases $F/phases.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null
LIB=$BUILD/libmemprof.so
export PPROF_TMPDIR=$TRASH/pprof	# where go tool pprof saves what it fetched

# service SOCK NAME [ENV...]: ./phases as a service of the agent at SOCK,
# fed from the fifo NAME.in (the caller opens it on fd 3, 4 or 5, which no
# other service inherits: each sees its own end of input), output in NAME.out
service() {
	local sock=$1 name=$2
	shift 2
	rm -f $name.in && mkfifo $name.in
	env LD_PRELOAD=$LIB MEMPROF_AGENT=$sock MEMPROF_RATE=1 "$@" \
		"$TRASH/phases" < $name.in > $name.out 3>&- 4>&- 5>&- &
}

# wait_sampling PATTERN: until the agent's GET /debug/pprof/sampling
# matches the extended regex PATTERN as a whole (it sees processes end a
# moment after they do)
wait_sampling() {
	for _ in $(seq 400); do
		curl -sf "${url}sampling" > sampling.now || true
		{ tr '\n' ' ' < sampling.now; echo; } | grep -Eqx "$1" && return 0
		sleep 0.05
	done
	echo "sampling never matched '$1':"; cat sampling.now; return 1
}

# count URL FUNCTION: the function's alloc_objects, as go tool pprof says
count() {
	go tool pprof -top -nodefraction=0 -sample_index=alloc_objects "$1" 2>/dev/null |
		awk -v f="$2" '$NF == f { print $1; found = 1 } END { if (!found) print 0 }'
}

# expect_count URL FUNCTION N: count says N, or the test says what it got
expect_count() {
	local got
	got=$(count "$1" "$2")
	[ "$got" = "$3" ] || {
		echo "$2 at $1: $got, not $3"
		go tool pprof -top -nodefraction=0 -sample_index=alloc_objects "$1" 2>&1 | head -20
		curl -s "${1%%/debug/*}/debug/pprof/sampling"
		return 1
	}
}

test_expect_success "three services started separately, one ends, one forks: per process and merged" '
	start_agent a &&
	trap "kill $ag 2>/dev/null || :" EXIT &&
	S=$TRASH/a.d/sock &&
	service $S one && exec 3> one.in && p1=$! &&
	service $S two && exec 4> two.in && p2=$! &&
	service $S three && exec 5> three.in && p3=$! &&
	echo >&3 && wait_line one.out "done 1" &&
	echo >&4 && echo >&4 && wait_line two.out "done 2" &&
	echo fork >&5 && wait_line three.out "child done 1" &&
	exec 4>&- && { wait $p2 || { echo "service two: status $?"; false; }; } &&
	wait_sampling ".*$p2 on ended .*" &&
	expect_count "${url}allocs?pid=$p1" phase_one 10 &&
	expect_count "${url}allocs?pid=$p2" phase_two 20 &&
	expect_count "${url}allocs?pid=$p2" phase_one 10 &&
	expect_count "${url}allocs?pid=$p3" phase_one 0 &&
	for _ in $(seq 200); do	# the child is listed once the agent took its connection
		child=$(curl -sf "${url}sampling?pid=$p3" | awk "\$1 != $p3 { print \$1 }")
		[ -n "$child" ] && break
		sleep 0.05
	done &&
	{ test -n "$child" || { echo "no child of $p3 listed:"; curl -s "${url}sampling"; false; }; } &&
	expect_count "${url}allocs?pid=$child" phase_one 10 &&
	expect_count "${url}allocs" phase_one 30 &&
	expect_count "${url}allocs" phase_two 20 &&
	curl -sf "${url}sampling" > st && cat st &&
	grep -q "^$p2 on ended$" st && grep -q "^$p1 on running$" st &&
	grep -q "^$child on ended$" st &&
	curl -sf "${url}" > index.html &&
	grep -q "<td>$p2</td><td>ended</td>" index.html &&
	grep -q "<td>$p1</td><td>running</td>" index.html &&
	grep -q "POST /debug/pprof/sampling?pid=N&amp;on=1" index.html &&
	go tool pprof -raw "${url}heap" > raw && grep -q "pid:\[$p1\]" raw &&
	grep -q "pid:\[$p2\]" raw && grep -q "pid:\[$child\]" raw &&
	exec 3>&- 5>&- && wait $p1 $p3 &&
	kill $ag && wait $ag && test ! -e $S
'

test_expect_success "ended services go after --keep-ended, the oldest first past --max-ended" '
	start_agent k --max-ended=1 &&
	trap "kill $ag 2>/dev/null || :" EXIT &&
	S=$TRASH/k.d/sock &&
	for n in one two three; do
		service $S $n && exec 3> $n.in && p=$! &&
		echo >&3 && wait_line $n.out "done 1" && exec 3>&- && wait $p &&
		eval "pid_$n=$p" || return 1
	done &&
	wait_sampling "$pid_three on ended " &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "${url}heap?pid=$pid_one")" = 404 &&
	kill $ag && wait $ag &&
	start_agent k2 --keep-ended=0 &&
	service $TRASH/k2.d/sock one && exec 3> one.in && p=$! &&
	echo >&3 && wait_line one.out "done 1" &&
	curl -sf "${url}sampling" | grep -q "^$p on running$" &&
	exec 3>&- && wait $p &&
	wait_sampling "" &&
	kill $ag && wait $ag
'

test_expect_success "the agent restarted: services connect again and say what was lost" '
	start_agent r &&
	S=$TRASH/r.d/sock &&
	service $S svc && exec 3> svc.in && p=$! &&
	echo >&3 && wait_line svc.out "done 1" &&
	expect_count "${url}allocs" phase_one 10 &&
	kill -9 $ag && { wait $ag 2>/dev/null || true; } && test -S $S &&
	echo >&3 && wait_line svc.out "done 2" &&
	start_agent r &&
	trap "kill $ag 2>/dev/null || :" EXIT &&
	sleep 1.1 &&	# the tracker tries again at most once a second
	echo >&3 && wait_line svc.out "done 3" &&
	echo fork >&3 && wait_line svc.out "child done 4" &&
	expect_count "${url}allocs?pid=$p" phase_three 30 &&
	expect_count "${url}allocs?pid=$p" phase_one 0 &&
	expect_count "${url}allocs?pid=$p" phase_two 0 &&
	expect_count "${url}allocs" phase_four 40 &&
	go tool pprof -comments "${url}heap?pid=$p" > comments && cat comments &&
	grep -q "^partial (pid $p, phases): collected since .* only (the collector was away from .*: 20 records lost, 0 bytes unread)" comments &&
	curl -sf "${url}sampling" > sampling.r && cat sampling.r &&
	grep -q "^$p on running partial since .* (20 records lost)$" sampling.r &&
	exec 3>&- && wait $p && kill $ag && wait $ag
'

test_expect_success "a stopped agent never stops a service: its ring full, it goes on detached" '
	start_agent z && S=$TRASH/z.d/sock &&
	{ kill -STOP $ag || { cat z.err; false; }; } &&
	trap "kill -CONT $ag 2>/dev/null; kill $ag 2>/dev/null || :" EXIT &&
	timeout 300 env LD_PRELOAD=$LIB MEMPROF_AGENT=$S MEMPROF_RATE=1 PYTHONMALLOC=malloc \
		python3 -c "l = [str(i) for i in range(1000000)]; print(len(l))" > z.out &&
	{ test "$(cat z.out)" = 1000000 || { echo "the service said:"; cat z.out; false; }; } &&
	kill -CONT $ag && kill $ag && { wait $ag || { echo "agent: status $?"; cat z.err; false; }; } &&
	trap - EXIT
'

test_expect_success "dormant (MEMPROF_ACTIVE=0), switched on and off by POST: exact counts while on" '
	start_agent d &&
	trap "kill $ag 2>/dev/null || :" EXIT &&
	service $TRASH/d.d/sock svc MEMPROF_ACTIVE=0 && exec 3> svc.in && p=$! &&
	echo >&3 && wait_line svc.out "done 1" &&
	curl -sf "${url}sampling" | grep -q "^$p off running$" &&
	curl -sf -X POST "${url}sampling?pid=$p&on=1" | grep -q "sampling on for 1 service" &&
	echo >&3 && wait_line svc.out "done 2" &&
	curl -sf "${url}sampling" | grep -q "^$p on running$" &&
	curl -sf -X POST "${url}sampling?pid=$p&on=0" > /dev/null &&
	echo >&3 && wait_line svc.out "done 3" &&
	curl -sf -X POST "${url}sampling?on=1" | grep -q "sampling on for 1 service" &&
	echo >&3 && wait_line svc.out "done 4" &&
	expect_count "${url}allocs?pid=$p" phase_one 0 &&
	expect_count "${url}allocs?pid=$p" phase_two 20 &&
	expect_count "${url}allocs?pid=$p" phase_three 0 &&
	expect_count "${url}allocs?pid=$p" phase_four 40 &&
	go tool pprof -comments "${url}heap?pid=$p" > comments && cat comments &&
	grep -q "^sampling (pid $p, phases): off at [0-9:.]*Z; on at [0-9:.]*Z; off at [0-9:.]*Z; on at [0-9:.]*Z; on at the end" comments &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST "${url}sampling?pid=$p&on=yes")" = 400 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST "${url}sampling?pid=1&on=1")" = 404 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X DELETE "${url}sampling")" = 405 &&
	exec 3>&- && wait $p && kill $ag && wait $ag
'

test_expect_success "memprof run --start-paused: SIGRTMIN switches on, SIGRTMIN+1 off" '
	mkfifo run.in
	$MEMPROF run --start-paused --rate 1 -o p.pb.gz ./phases < run.in > run.out 2> run.err &
	mp=$! &&
	exec 3> run.in &&
	echo >&3 && wait_line run.out "done 1" &&
	kill -s RTMIN $mp && wait_line run.err "memprof: sampling on (at each process'"'"'s next sampled allocation)" &&
	echo >&3 && wait_line run.out "done 2" &&
	kill -s RTMIN+1 $mp && wait_line run.err "memprof: sampling off (at each process'"'"'s next sampled allocation)" &&
	echo >&3 && wait_line run.out "done 3" &&
	exec 3>&- && wait $mp &&
	expect p.pb.gz alloc_objects phase_one none &&
	expect p.pb.gz alloc_objects phase_two 20 &&
	expect p.pb.gz alloc_objects phase_three none &&
	go tool pprof -comments p.pb.gz | grep -q "^sampling (pid [0-9]*, phases): off at .*; on at .*; off at .*; off at the end"
'

test_expect_success "memprof run --http --start-paused: POST /debug/pprof/sampling switches" '
	mkfifo h.in
	$MEMPROF run --http=127.0.0.1:0 --start-paused --rate 1 -o h.pb.gz ./phases < h.in > h.out 2> h.err &
	mp=$! &&
	exec 3> h.in &&
	wait_line h.err "memprof: serving http://127.0.0.1:[0-9]*/debug/pprof/" &&
	url=$(sed -n "s#^memprof: serving \(http://.*\)\$#\1#p" h.err) &&
	echo >&3 && wait_line h.out "done 1" &&
	curl -sf -X POST "${url}sampling?on=1" | grep -q "^sampling on" &&
	echo >&3 && wait_line h.out "done 2" &&
	curl -sf -X POST "${url}sampling?on=0" | grep -q "^sampling off" &&
	echo >&3 && wait_line h.out "done 3" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST "${url}sampling?on=1&pid=1")" = 400 &&
	exec 3>&- && wait $mp &&
	expect h.pb.gz alloc_objects phase_one none &&
	expect h.pb.gz alloc_objects phase_two 20 &&
	expect h.pb.gz alloc_objects phase_three none
'

test_expect_success "the socket: 0600, 0660 for --group, owner checked, symlinks and other files refused" '
	start_agent m && S=$TRASH/m.d/sock &&
	test "$(stat -c %a $S)" = 600 &&
	test_expect_code 1 $MEMPROF agent --socket=$S --http=127.0.0.1:0 2> busy.err &&
	test_one_line_error busy.err "another memprof agent listens there" &&
	kill $ag && wait $ag &&
	start_agent g --group=nogroup && S=$TRASH/g.d/sock &&
	test "$(stat -c "%a %G" $S)" = "660 nogroup" &&
	kill $ag && wait $ag &&
	mkdir -m 700 l.d && ln -s $TRASH/elsewhere l.d/sock &&
	test_expect_code 1 $MEMPROF agent --socket=$TRASH/l.d/sock --http=127.0.0.1:0 2> l.err &&
	test_one_line_error l.err "is a symbolic link: refused" && test ! -e $TRASH/elsewhere &&
	: > l.d/file &&
	test_expect_code 1 $MEMPROF agent --socket=$TRASH/l.d/file --http=127.0.0.1:0 2> f.err &&
	test_one_line_error f.err "exists and is not a socket" &&
	mkdir -m 777 open.d &&
	test_expect_code 1 $MEMPROF agent --socket=$TRASH/open.d/sock --http=127.0.0.1:0 2> o.err &&
	test_one_line_error o.err "its directory may be changed by others" &&
	mkdir -m 1777 sticky.d &&
	test_expect_code 1 $MEMPROF agent --socket=$TRASH/sticky.d/sock --http=127.0.0.1:0 2> st.err &&
	test_one_line_error st.err "its directory may be changed by others" &&
	: a listener posing as the agent in a sticky shared directory gets nothing &&
	python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1]); s.listen(8); s.settimeout(3)
try:
    s.accept(); print(\"connected\")
except socket.timeout:
    print(\"nobody\")
" $TRASH/sticky.d/fake > fake.out &
	fake=$! && for _ in $(seq 100); do [ -S sticky.d/fake ] && break; sleep 0.05; done &&
	echo | env LD_PRELOAD=$LIB MEMPROF_AGENT=$TRASH/sticky.d/fake MEMPROF_RATE=1 ./phases > fake.svc &&
	wait $fake && test "$(cat fake.out)" = nobody &&
	test_expect_code 2 $MEMPROF agent --socket=rel/sock --http=127.0.0.1:0 2> r.err &&
	grep -q "must be an absolute path" r.err &&
	test_expect_code 2 $MEMPROF agent --http=127.0.0.1:0 2> n.err &&
	grep -q "socket=PATH is needed" n.err
'

test_expect_success "a service reaching the agent through a symlink is not profiled" '
	start_agent y && trap "kill $ag 2>/dev/null || :" EXIT &&
	mkdir -m 700 y2.d && ln -s $TRASH/y.d/sock y2.d/link &&
	service $TRASH/y2.d/link svc && exec 3> svc.in && p=$! &&
	echo >&3 && wait_line svc.out "done 1" && exec 3>&- && wait $p &&
	test -z "$(curl -sf "${url}sampling")" &&
	kill $ag && wait $ag
'

if [ "$(id -u)" = 0 ] && setpriv --version > /dev/null 2>&1; then
test_expect_success "peer credentials: another user is refused even when the mode lets it connect" '
	start_agent c && trap "kill $ag 2>/dev/null || :" EXIT && S=$TRASH/c.d/sock &&
	chmod 711 $TRASH/c.d && chmod 666 $S &&
	mkfifo nobody.in && chmod 666 nobody.in && touch nobody.out && chmod 666 nobody.out
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env LD_PRELOAD=$LIB MEMPROF_AGENT=$S MEMPROF_RATE=1 ./phases < nobody.in > nobody.out &
	p=$! && exec 3> nobody.in &&
	echo >&3 && wait_line nobody.out "done 1" && exec 3>&- && wait $p &&
	grep -q "refused a connection from uid 65534 (only uid 0, root may connect)" c.err &&
	test -z "$(curl -sf "${url}sampling")" &&
	kill $ag && wait $ag &&
	start_agent c2 --group=nogroup && S=$TRASH/c2.d/sock && chmod 711 $TRASH/c2.d
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env LD_PRELOAD=$LIB MEMPROF_AGENT=$S MEMPROF_RATE=1 ./phases < nobody.in > nobody.out &
	p=$! && exec 3> nobody.in &&
	echo >&3 && wait_line nobody.out "done 1" &&
	expect_count "${url}allocs?pid=$p" phase_one 10 &&
	exec 3>&- && wait $p && kill $ag && wait $ag
'
else
	test_skip "peer credentials" "needs root and setpriv"
fi

test_done
