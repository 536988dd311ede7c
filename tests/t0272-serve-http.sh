#!/bin/bash
# memprof run --http, the details a service's users meet: GET
# /debug/pprof/sampling as the agent's; one row per process on the index
# and in /sampling (an exec'd chain folded: "exec'd from"); ?seconds= of
# several programs with the comments once; a client that half-closes after
# its request still gets its ?seconds= answer; a POST from a web page of
# another origin is refused (403). go tool pprof and curl are the clients.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
export PPROF_TMPDIR=$TRASH/pprof
cd "$TRASH"
${CC:-cc} -g -O2 -o served $F/served.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
# a process that execs twice before it serves: dash, dash, then served
cat > chain.sh <<'EOF2'
exec sh -c 'exec ./served chain.ready chain.stop'
EOF2
# two programs whose shares move: served holds 4 MiB, ls runs again and again
cat > grow.sh <<'EOF2'
./served grow.ready grow.stop & while [ ! -e grow.stop ]; do ls / > /dev/null; sleep 0.05; done; wait
EOF2
# half.py PORT PATH: GET PATH, then shut the sending side at once; the
# status line on stderr, the body on stdout
cat > half.py <<'EOF2'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'GET ' + sys.argv[2].encode() + b' HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
s.shutdown(socket.SHUT_WR)
data = b''
while True:
	b = s.recv(65536)
	if not b:
		break
	data += b
head, _, body = data.partition(b'\r\n\r\n')
sys.stderr.write(head.decode('latin-1').split('\r\n')[0] + '\n')
sys.stdout.buffer.write(body)
EOF2
MP_PIDS=
trap 'for p in $MP_PIDS; do kill $p 2>/dev/null; done; rm -rf "$TRASH"' EXIT
cd - > /dev/null

# start NAME -- PROGRAM...: memprof run --http --rate 1 in the background
# until NAME.ready exists; sets PORT, MP
start() {
	local name=$1
	shift 2
	cd "$TRASH"
	rm -f $name.ready $name.stop
	$MEMPROF run --http=127.0.0.1:0 --rate 1 -o $name.pb.gz -- "$@" > $name.out 2> $name.err &
	MP=$!
	MP_PIDS="$MP_PIDS $MP"
	PORT=
	for _ in $(seq 300); do
		PORT=$(sed -n 's|^memprof: serving http://127\.0\.0\.1:\([0-9]*\)/debug/pprof/$|\1|p' $name.err 2>/dev/null)
		[ -n "$PORT" ] && [ -s $name.ready ] && break
		sleep 0.1
	done
	cd - > /dev/null
}

# bursts: the sampled blocks of burst() the chain's served made so far
bursts() {
	go tool pprof -top -sample_index=alloc_objects "$H/heap" 2>/dev/null |
		awk '$NF == "burst" { n = $1 } END { print n + 0 }'
}

start chain -- sh chain.sh
H=http://127.0.0.1:$PORT/debug/pprof
CPID=$(cat "$TRASH/chain.ready" 2>/dev/null)

test_expect_success "GET /debug/pprof/sampling under run --http: one line per process, as the agent's" '
	test -n "'"$CPID"'" &&
	curl -s -D h -o list "'"$H"'/sampling" && cat h list &&
	grep -q "^HTTP/1.1 200 " h &&
	test "$(cat list)" = "'"$CPID"' on running" &&
	test "$(curl -s "'"$H"'/sampling?pid='"$CPID"'")" = "'"$CPID"' on running" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "'"$H"'/sampling?pid=999999999")" = 404 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "'"$H"'/sampling?pid=x")" = 400 &&
	curl -sf -X POST "'"$H"'/sampling?on=0" | grep -q "^sampling off" &&
	for _ in $(seq 100); do
		test "$(curl -s "'"$H"'/sampling")" = "'"$CPID"' off running" && break
		kill -USR1 '"$CPID"'; sleep 0.1	# it switches at its next sampled allocation
	done &&
	test "$(curl -s "'"$H"'/sampling")" = "'"$CPID"' off running" &&
	curl -sf -X POST "'"$H"'/sampling?on=1" > /dev/null &&
	for _ in $(seq 100); do
		test "$(curl -s "'"$H"'/sampling")" = "'"$CPID"' on running" && break
		kill -USR1 '"$CPID"'; sleep 0.1
	done &&
	test "$(curl -s "'"$H"'/sampling")" = "'"$CPID"' on running"
'

test_expect_success "a process that exec'd: one row, its current program, the ones before folded" '
	curl -s "'"$H"'/" > index.html &&
	grep "<tr><td>" index.html &&
	test "$(grep -c "^<tr><td>'"$CPID"'</td>" index.html)" = 1 &&
	grep -q "^<tr><td>'"$CPID"'</td><td>running</td>.*/served (exec.d from /usr/bin/dash, /usr/bin/dash)</td><td>./served chain.ready chain.stop</td></tr>$" index.html &&
	go tool pprof -top "'"$H"'/heap?pid='"$CPID"'" 2>/dev/null | grep -q "^File: served$"
'

test_expect_success "go tool pprof on ?debug=1: dash's nameless frames are [dash], as on the protobuf" '
	go tool pprof -top -nodefraction=0 "'"$H"'/allocs?debug=1" 2>/dev/null > text.top &&
	go tool pprof -top -nodefraction=0 "'"$H"'/allocs" 2>/dev/null > pb.top &&
	grep " \[dash\]$" pb.top && grep " \[dash\]$" text.top &&
	! grep -q "<unknown>" text.top
'

test_expect_success "a POST from a page of another origin is refused; the same origin and curl are not" '
	code=$(curl -s -o post.out -w "%{http_code}" -X POST -H "Origin: http://evil.example" "'"$H"'/sampling?on=0") &&
	cat post.out && test "$code" = 403 &&
	grep -q "^refused: a POST from another origin (http://evil.example)$" post.out &&
	curl -si -X POST -H "Origin: http://evil.example" "'"$H"'/sampling?on=0" | head -1 > status &&
	grep -q "^HTTP/1.1 403 Forbidden.$" status &&
	test "$(curl -s "'"$H"'/sampling")" = "'"$CPID"' on running" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Origin: null" "'"$H"'/sampling?on=0")" = 403 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Origin: http://127.0.0.1:'"$PORT"'" "'"$H"'/sampling?on=1")" = 200 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Origin: http://localhost:'"$PORT"'" "'"$H"'/sampling?on=1")" = 200 &&
	: a page served elsewhere on this host, or at a name rebound to it: another origin &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Host: evil.example:'"$PORT"'" -H "Origin: http://evil.example:'"$PORT"'" "'"$H"'/sampling?on=0")" = 403 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Origin: http://127.0.0.1:1" "'"$H"'/sampling?on=0")" = 403 &&
	: none of the refused switched sampling off: a burst after them is sampled &&
	before=$(bursts) && kill -USR1 '"$CPID"' &&
	for _ in $(seq 100); do [ "$(bursts)" -gt "$before" ] && break; sleep 0.1; done &&
	test "$(bursts)" -gt "$before"
'

test_expect_success "a client that half-closes after its request still gets its ?seconds= profile" '
	python3 half.py '"$PORT"' "/debug/pprof/heap?seconds=1" > half.pb.gz 2> half.status &&
	cat half.status && grep -q "^HTTP/1.1 200 OK" half.status &&
	go tool pprof -top -unit=B half.pb.gz > half.top 2>&1 && cat half.top &&
	grep -q "^Type: inuse_space" half.top &&
	python3 half.py '"$PORT"' "/debug/pprof/heap" > half2.pb.gz 2> half2.status &&
	grep -q "^HTTP/1.1 200 OK" half2.status &&
	go tool pprof -top -unit=B half2.pb.gz | grep -q "4194304B .* hold$"
'

touch "$TRASH/chain.stop"
wait $MP

start grow -- sh grow.sh
test_expect_success "?seconds= of several programs: each comment once (the end's)" '
	curl -sf -o d.pb.gz "http://127.0.0.1:'"$PORT"'/debug/pprof/heap?seconds=2" &&
	go tool pprof -comments d.pb.gz > d.comments && cat d.comments &&
	test "$(grep -c "programs by alloc_space" d.comments)" = 1 &&
	test -z "$(sort d.comments | uniq -d)"
'
touch "$TRASH/grow.stop"
wait $MP

test_done
