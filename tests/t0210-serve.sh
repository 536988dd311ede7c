#!/bin/bash
# memprof run --http: Go's /debug/pprof endpoints while the program runs,
# read by go tool pprof (top, -seconds, -http, the legacy text) and
# compared with a Go net/http/pprof server's own answers (status, content
# type, headers, error texts); ?pid=, the index page, a busy port, bad
# requests; a scrape storm (100 concurrent requests, a client that never
# reads, one that never sends, 1 MB of headers, unknown paths, more
# connections than allowed) answered or refused cleanly, with the program's
# output and status unchanged and no wait of the program on memprof.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
export PPROF_TMPDIR=$TRASH/pprof-saved	# where go tool pprof saves what it fetches
cd "$TRASH"
${CC:-cc} -g -O2 -o served $F/served.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }

# The Go reference: net/http/pprof as it is, on 127.0.0.1:0.
cat > goref.go <<'EOF'
package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
)

var keep [][]byte

func main() {
	keep = append(keep, make([]byte, 1<<20))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	http.Serve(l, nil)
}
EOF
GOREF_PID= MP_PIDS=
trap 'for p in $GOREF_PID $MP_PIDS; do kill $p 2>/dev/null; done; rm -rf "$TRASH"' EXIT
GOPORT=
if go build -o goref goref.go > goref.err 2>&1; then
	./goref > goref.port 2>> goref.err &
	GOREF_PID=$!
	for _ in $(seq 100); do [ -s goref.port ] && break; sleep 0.1; done
	GOPORT=$(cat goref.port)
fi
cd - > /dev/null

# start NAME RUN-OPTIONS... [-- PROGRAM...]: memprof run --http on a free
# loopback port in the background, with ./served NAME.ready NAME.stop as the
# program unless one is given; waits until the server listens and the program
# is ready. Sets PORT and MP (memprof's pid); stdout in NAME.out, stderr in
# NAME.err. (In $TRASH, outside any test: the tests share it.)
start() {
	local name=$1
	shift
	cd "$TRASH"
	rm -f $name.ready $name.stop
	local has_prog=
	for a in "$@"; do [ "$a" = -- ] && has_prog=1; done
	if [ -n "$has_prog" ]; then
		$MEMPROF run --http=127.0.0.1:0 "$@" > $name.out 2> $name.err &
	else
		$MEMPROF run --http=127.0.0.1:0 "$@" -- ./served $name.ready $name.stop > $name.out 2> $name.err &
	fi
	MP=$!
	MP_PIDS="$MP_PIDS $MP"
	PORT=
	for _ in $(seq 300); do
		PORT=$(sed -n 's|^memprof: serving http://127\.0\.0\.1:\([0-9]*\)/debug/pprof/$|\1|p' $name.err 2>/dev/null)
		[ -n "$PORT" ] && { [ -n "$has_prog" ] || [ -s $name.ready ]; } && break
		sleep 0.1
	done
	cd - > /dev/null
}

# finish NAME: stops ./served (the stop file) and waits for memprof; its
# status in NAME.status.
finish() {
	cd "$TRASH"
	touch $1.stop
	local rc=0
	wait $MP || rc=$?
	echo $rc > $1.status
	cd - > /dev/null
}

# raw REQUEST: the status line the server answers REQUEST (printf format) with
raw() {
	(exec 3<>/dev/tcp/127.0.0.1/$PORT && printf "%b" "$1" >&3 && timeout 10 head -1 <&3) | tr -d '\r'
}

# headers URL: status line and the headers Go's and ours are compared on
hdrs() {
	curl -s -o /dev/null -D - "$1" | tr -d '\r' |
		grep -E '^(HTTP/|Content-Type:|Content-Disposition:|X-Content-Type-Options:|X-Go-Pprof:|Location:)' |
		sort
}

start main --rate 1 -o main.pb.gz
H=http://127.0.0.1:$PORT
APID=$(cat "$TRASH/main.ready" 2>/dev/null)

test_expect_success "the server listens on loopback and the program is running" '
	test -n "'"$PORT"'" && test -n "'"$APID"'" &&
	grep -q "^memprof: serving http://127.0.0.1:'"$PORT"'/debug/pprof/$" main.err
'

test_expect_success "go tool pprof reads /debug/pprof/heap mid-run: hold() 4 MiB in use" '
	go tool pprof -top -sample_index=inuse_space -unit=B '"$H"'/debug/pprof/heap > top.out 2> top.err &&
	cat top.out &&
	grep -q "^Type: inuse_space" top.out &&
	awk "\$NF == \"hold\" { print \$1 }" top.out > v && test "$(cat v)" = 4194304B
'

test_expect_success "heap and allocs: exactly Gos four sample types, their default types as Gos" '
	curl -s -o heap.pb.gz '"$H"'/debug/pprof/heap &&
	curl -s -o allocs.pb.gz '"$H"'/debug/pprof/allocs &&
	go tool pprof -raw heap.pb.gz > heap.raw 2>&1 &&
	sed -n "/^Samples:/{n;p}" heap.raw > types &&
	echo "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes[dflt]" > want &&
	test_cmp want types &&
	go tool pprof -raw allocs.pb.gz | sed -n "/^Samples:/{n;p}" > types2 &&
	echo "alloc_objects/count alloc_space/bytes[dflt] inuse_objects/count inuse_space/bytes" > want &&
	test_cmp want types2 &&
	grep -q "^PeriodType: space bytes" heap.raw &&
	go tool pprof -top heap.pb.gz 2>/dev/null | grep -q "^Type: inuse_space" &&
	go tool pprof -top allocs.pb.gz 2>/dev/null | grep -q "^Type: alloc_space"
'

test_expect_success "peak: peak_objects and peak_space, peak_space the default" '
	curl -s -o peak.pb.gz '"$H"'/debug/pprof/peak &&
	go tool pprof -raw peak.pb.gz | sed -n "/^Samples:/{n;p}" > types &&
	echo "peak_objects/count peak_space/bytes[dflt]" > want && test_cmp want types &&
	go tool pprof -top -unit=B peak.pb.gz > top 2>/dev/null && cat top &&
	grep -q "^Type: peak_space" top &&
	test "$(awk "\$NF == \"hold\" { print \$1 }" top)" = 4194304B
'

test_expect_success "memprof top on the URL prints what go tool pprof prints on it" '
	$MEMPROF top -n 0 '"$H"'/debug/pprof/heap 2>/dev/null | grep -v "^Time:" > m.out &&
	go tool pprof -top '"$H"'/debug/pprof/heap 2>/dev/null | grep -v "^Time:" > g.out &&
	test_cmp g.out m.out
'

if [ -n "$GOPORT" ]; then
	test_expect_success "status, content type and headers as Gos net/http/pprof, path by path" '
		for p in /debug/pprof/ /debug/pprof /debug/pprof/heap /debug/pprof/allocs \
			"/debug/pprof/heap?debug=1" "/debug/pprof/allocs?debug=1" "/debug/pprof/heap?gc=1" \
			/debug/pprof/nosuchprofile /nosuchpath "/debug/pprof/heap?seconds=x" \
			"/debug/pprof/heap?seconds=0" "/debug/pprof/heap?seconds=1&debug=1" \
			"/debug/pprof/allocs?seconds=1" /debug/pprof/symbol "/debug/pprof/symbol?0x1"; do
			hdrs "http://127.0.0.1:'"$GOPORT"'$p" > go.h && hdrs "'"$H"'$p" > ours.h &&
			echo "== $p" && cat ours.h &&
			test_cmp go.h ours.h || return 1
		done
	'
	test_expect_success "error texts as Gos" '
		for p in /debug/pprof/nosuchprofile /nosuchpath "/debug/pprof/heap?seconds=x" \
			"/debug/pprof/heap?seconds=1&debug=1" /debug/pprof/symbol "/debug/pprof/symbol?0x0"; do
			curl -s "http://127.0.0.1:'"$GOPORT"'$p" > go.b && curl -s "'"$H"'$p" > ours.b &&
			test_cmp go.b ours.b || return 1
		done
	'
	test_expect_success "the index page is laid out as Gos and lists the process" '
		curl -s http://127.0.0.1:'"$GOPORT"'/debug/pprof/ | sed -n "1,/<thead>/p" > go.idx &&
		curl -s '"$H"'/debug/pprof/ > ours.html &&
		sed -n "1,/<thead>/p" ours.html > ours.idx && test_cmp go.idx ours.idx &&
		grep -q "<a href='"'"'heap?debug=1'"'"'>heap</a>" ours.html &&
		grep -q "<a href='"'"'allocs?debug=1'"'"'>allocs</a>" ours.html &&
		grep -q "<a href='"'"'peak?debug=1'"'"'>peak</a>" ours.html &&
		grep -q "<tr><td>'"$APID"'</td><td>running</td><td><a href='"'"'heap?pid='"$APID"''"'"'>" ours.html &&
		grep -q "/served</td>" ours.html
	'
else
	test_skip "formats compared with Go's net/http/pprof" "the Go reference server did not build"
fi

test_expect_success "?debug=1: Go's legacy text, which go tool pprof reads to the same totals" '
	curl -s "'"$H"'/debug/pprof/heap?debug=1" > heap.txt &&
	head -3 heap.txt &&
	grep -q "^heap profile: [0-9]*: [0-9]* \[[0-9]*: [0-9]*\] @ heap/2$" heap.txt &&
	grep -q "^4: 4194304 \[4: 4194304\] @ 0x" heap.txt &&
	grep -q "^#	0x[0-9a-f]*	hold	*/.*served.c:[0-9]*$" heap.txt &&
	go tool pprof -raw -symbolize=none heap.txt > txt.raw 2>&1 &&
	go tool pprof -top -sample_index=inuse_space -unit=B -symbolize=none heap.txt 2>&1 |
		grep "of .* total" | sed "s/.*of //" > t1 &&
	go tool pprof -top -sample_index=inuse_space -unit=B heap.pb.gz 2>&1 |
		grep "of .* total" | sed "s/.*of //" > t2 && cat t1 t2 &&
	test_cmp t2 t1
'

test_expect_success "go tool pprof on ?debug=1 itself: it asks /debug/pprof/symbol, answered as Gos (each address once)" '
	go tool pprof -top -sample_index=inuse_space -unit=B "'"$H"'/debug/pprof/heap?debug=1" > dtop.out 2> dtop.err &&
	cat dtop.err dtop.out &&
	test "$(awk "\$NF == \"hold\" { print \$1 }" dtop.out)" = 4194304B &&
	grep -q " main$" dtop.out &&
	curl -s "'"$H"'/debug/pprof/heap?debug=1" > sym.txt &&
	sed -n "s/^#\t\(0x[0-9a-f]*\)\t\([^\t]*\).*/\1 \2/p" sym.txt | sort -u -k1,1 > sym.want &&
	{ echo "num_symbols: 1"; cat sym.want; } > sym.want1 &&
	cut -d" " -f1 sym.want | paste -sd+ > sym.post &&
	curl -s -D sym.h --data-binary "$(cat sym.post)" "'"$H"'/debug/pprof/symbol" > sym.got &&
	grep -q "^Content-Type: text/plain; charset=utf-8" sym.h &&
	test_cmp sym.want1 sym.got &&
	curl -s "'"$H"'/debug/pprof/symbol?$(head -1 sym.post | cut -d+ -f1)+0x0+junk" > sym.get &&
	{ echo "num_symbols: 1"; head -1 sym.want; } > sym.want2 && test_cmp sym.want2 sym.get &&
	a=$(head -1 sym.post | cut -d+ -f1) &&
	for _ in $(seq 3000); do printf "%s+" $a; done > sym.many &&
	curl -s --data-binary @sym.many "'"$H"'/debug/pprof/symbol" > sym.once &&
	test_cmp sym.want2 sym.once
'

test_expect_success "?debug=1 of blocks whose sizes share size classes: the same totals as the profile" '
	start sizes --rate 1 -o sizes.pb.gz -- ./served sizes.ready sizes.stop sizes &&
	for _ in $(seq 100); do [ -s "$TRASH/sizes.ready" ] && break; sleep 0.1; done &&
	U=http://127.0.0.1:$PORT/debug/pprof &&
	curl -sf "$U/heap?debug=1" > sizes.txt && curl -sf "$U/heap" > sizes.pb.gz &&
	for t in inuse_space inuse_objects alloc_space; do
		for f in sizes.txt sizes.pb.gz; do
			go tool pprof -top -sample_index=$t -unit=B -symbolize=none $f 2>&1 |
				grep "of .* total" | sed "s/.*of //"
		done > tot.$t && cat tot.$t &&
		test "$(sort -u tot.$t | wc -l)" = 1 || return 1
	done &&
	grep "^heap profile: 1004: 5268804 " sizes.txt &&
	finish sizes && test "$(cat "$TRASH/sizes.status")" = 3
'

test_expect_success "?seconds=N (go tool pprof -seconds): the allocations of those seconds only" '
	go tool pprof -seconds 4 -top -sample_index=alloc_space -unit=B \
		'"$H"'/debug/pprof/allocs > d.top 2> d.err &
	gp=$!
	sleep 1.5 && kill -USR1 '"$APID"' &&
	wait $gp && cat d.err d.top &&
	test "$(awk "\$NF == \"burst\" { print \$1 }" d.top)" = 10485760B &&
	! grep -q " hold$" d.top &&
	curl -s -D delta.h -o delta.pb.gz "'"$H"'/debug/pprof/heap?seconds=1" &&
	grep -q "filename=\"heap-delta\"" delta.h &&
	go tool pprof -raw delta.pb.gz > /dev/null
'

test_expect_success "?pid= of the program: the same samples; an unknown pid: 404" '
	go tool pprof -raw "'"$H"'/debug/pprof/heap?pid='"$APID"'" > pid.raw 2>&1 &&
	grep -q "^Samples:" pid.raw &&
	code=$(curl -s -o nopid.txt -w "%{http_code}" "'"$H"'/debug/pprof/heap?pid=999999999") &&
	test "$code" = 404 && grep -q "no process 999999999" nopid.txt &&
	code=$(curl -s -o badpid.txt -w "%{http_code}" "'"$H"'/debug/pprof/heap?pid=abc") &&
	test "$code" = 400
'

test_expect_success "go tool pprof -http: the web UI on the live endpoint" '
	# a free port (pprof 1.19 prints port 0 as it is)
	uport=$(python3 -c "import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])")
	# the tool itself, not go tool: the go command does not pass SIGTERM on
	pprof=$(go tool -n pprof)
	$pprof -no_browser -http=127.0.0.1:$uport '"$H"'/debug/pprof/heap > ui.out 2>&1 &
	gp=$! &&
	for i in $(seq 150); do
		grep -q "^Serving web UI on" ui.out && curl -s -o ui.html "http://127.0.0.1:$uport/ui/top" && break
		sleep 0.2
	done; kill -9 $gp; wait $gp 2>/dev/null;
	cat ui.out && grep -q '"'"'"Name":"hold"'"'"' ui.html
'

test_expect_success "bad requests: clean errors, each with its status" '
	# 405 with Allow, 400 malformed, 505 HTTP/2, 431 too many headers, 413 big body
	code=$(curl -s -o /dev/null -D h405 -w "%{http_code}" -X POST '"$H"'/debug/pprof/heap) &&
	test "$code" = 405 && grep -qi "^Allow: GET, HEAD" h405 &&
	raw "GARBAGE\r\n\r\n" | grep -q "^HTTP/1.1 400 Bad Request" &&
	raw "GET /debug/pprof/heap HTTP/2.0\r\n\r\n" | grep -q "^HTTP/1.1 505 " &&
	raw "GET /debug/pprof/heap%zz HTTP/1.1\r\n\r\n" | grep -q "^HTTP/1.1 400 " &&
	raw "GET /debug/pprof/heap HTTP/1.1\r\nNo colon here\r\n\r\n" | grep -q "^HTTP/1.1 400 " &&
	hs=$(for i in $(seq 100); do printf -- "-H X-$i:1 "; done) &&
	code=$(curl -s -o /dev/null -w "%{http_code}" $hs '"$H"'/debug/pprof/heap) &&
	test "$code" = 431 &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Content-Length: 100000000" \
		'"$H"'/debug/pprof/heap) &&
	test "$code" = 413 &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -I '"$H"'/debug/pprof/heap) &&
	test "$code" = 200
'

test_expect_success "a scrape storm: 100 at once, a reader that never reads, a sender that never sends, 1 MB of headers, unknown paths" '
	cat > storm.py <<-EOF &&
	import socket, sys, threading, time
	port = int(sys.argv[1])
	def conn():
	    return socket.create_connection(("127.0.0.1", port), timeout=60)
	# a client that sends nothing, and one that asks and never reads
	idle = conn()
	stuck = conn()
	stuck.sendall(b"GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n\r\n")
	# 1 MB of headers
	def big():
	    s = conn()
	    try:
	        s.sendall(b"GET /debug/pprof/heap HTTP/1.1\r\n" + b"X-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
	    except OSError:
	        pass
	    data = b""
	    try:
	        while True:
	            d = s.recv(65536)
	            if not d:
	                break
	            data += d
	    except OSError:
	        pass
	    results.append(("big", data.split(b"\r\n")[0].decode()))
	results = []
	def get(path, tag):
	    s = conn()
	    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
	    data = b""
	    while True:
	        d = s.recv(65536)
	        if not d:
	            break
	        data += d
	    head, _, body = data.partition(b"\r\n\r\n")
	    results.append((tag, head.split(b"\r\n")[0].decode(), body[:2] == b"\x1f\x8b", len(body)))
	ts = [threading.Thread(target=big)]
	for i in range(100):
	    ts.append(threading.Thread(target=get, args=("/debug/pprof/heap" if i % 2 else "/debug/pprof/allocs", "p")))
	for i in range(5):
	    ts.append(threading.Thread(target=get, args=("/no/such/path%d" % i, "404")))
	for t in ts:
	    t.start()
	for t in ts:
	    t.join()
	for r in sorted(results):
	    print(*r)
	# the one that never sent anything is closed by the server (read timeout)
	idle.settimeout(60)
	print("idle closed" if idle.recv(1) == b"" else "idle answered")
	stuck.close()
	EOF
	timeout 120 python3 storm.py '"$PORT"' > storm.out &&
	grep -c "^p HTTP/1.1 200 OK True" storm.out > n200 && cat n200 &&
	test "$(cat n200)" = 100 &&
	test "$(grep -c "^404 HTTP/1.1 404 Not Found" storm.out)" = 5 &&
	grep -q "^big HTTP/1.1 431 " storm.out &&
	grep -q "^idle closed$" storm.out &&
	curl -s -o after.pb.gz '"$H"'/debug/pprof/heap && go tool pprof -raw after.pb.gz > /dev/null
'

test_expect_success "more connections than allowed: a 503 for the one too many, then served again" '
	cat > many.py <<-EOF &&
	import socket, sys, time
	port = int(sys.argv[1])
	held = [socket.create_connection(("127.0.0.1", port)) for i in range(128)]
	time.sleep(0.5)
	s = socket.create_connection(("127.0.0.1", port))
	s.sendall(b"GET /debug/pprof/heap HTTP/1.1\r\n\r\n")
	print(s.recv(4096).split(b"\r\n")[0].decode())
	for h in held:
	    h.close()
	EOF
	timeout 60 python3 many.py '"$PORT"' > many.out && cat many.out &&
	grep -q "^HTTP/1.1 503 Service Unavailable" many.out &&
	sleep 0.5 &&
	code=$(curl -s -o /dev/null -w "%{http_code}" '"$H"'/debug/pprof/heap) && test "$code" = 200
'

finish main

test_expect_success "the program ran as without memprof; memprof says what serving cost" '
	test "$(cat main.status)" = 3 && echo done > want && test_cmp want main.out &&
	grep "^memprof: http://" main.err > cost && cat cost &&
	grep -q "the program waited for memprof 0 times" cost &&
	grep -q " [0-9]* refused (over the connection limit)" cost &&
	grep -q " [1-9][0-9]* timed out" cost &&
	test -f main.pb.gz && go tool pprof -top main.pb.gz > /dev/null
'

test_expect_success "a storm is served from few snapshots (shared), not one per request" '
	n=$(sed -n "s/.* profiles served from \([0-9]*\) snapshots.*/\1/p" main.err) &&
	p=$(sed -n "s/.*requests, \([0-9]*\) profiles served.*/\1/p" main.err) &&
	echo "$p profiles from $n snapshots" && test "$p" -gt 100 && test "$n" -lt 50
'

# two processes: ?pid= picks one; the default has both, with pid labels
cat > "$TRASH/two.sh" <<'EOF'
./served two.ready two.stop & ./served two2.ready two.stop; wait
EOF
start two --rate 1 -o two.pb.gz -- sh two.sh
for _ in $(seq 100); do [ -s "$TRASH/two.ready" ] && [ -s "$TRASH/two2.ready" ] && break; sleep 0.1; done
P1=$(cat "$TRASH/two.ready" 2>/dev/null) P2=$(cat "$TRASH/two2.ready" 2>/dev/null)
H2=http://127.0.0.1:$PORT
test_expect_success "?pid=N: one processs samples; by default both, with pid labels" '
	go tool pprof -tags -sample_index=inuse_space "'"$H2"'/debug/pprof/heap" > all.tags 2>/dev/null &&
	cat all.tags && grep -q " '"$P1"'$" all.tags && grep -q " '"$P2"'$" all.tags &&
	go tool pprof -tags -sample_index=inuse_space "'"$H2"'/debug/pprof/heap?pid='"$P1"'" > one.tags 2>/dev/null &&
	cat one.tags && grep -q " '"$P1"'$" one.tags && ! grep -q " '"$P2"'$" one.tags &&
	go tool pprof -top -unit=B -sample_index=inuse_space "'"$H2"'/debug/pprof/heap?pid='"$P2"'" 2>/dev/null |
		awk "\$NF == \"hold\" { print \$1 }" > v && test "$(cat v)" = 4194304B
'
test_expect_success "?pid=N says only that process: its File, mappings and comments" '
	SH=$(ps -o ppid= -p '"$P1"' | tr -d " ") && test -n "$SH" &&
	go tool pprof -raw "'"$H2"'/debug/pprof/heap?pid=$SH" > sh.raw 2>/dev/null &&
	go tool pprof -top "'"$H2"'/debug/pprof/heap?pid=$SH" > sh.top 2>/dev/null &&
	go tool pprof -comments "'"$H2"'/debug/pprof/heap?pid=$SH" > sh.comments 2>/dev/null &&
	cat sh.top sh.comments &&
	grep -q "^File: dash$" sh.top &&
	sed -n "/^Mappings/,\$p" sh.raw > sh.maps && cat sh.maps &&
	! grep -q "/served " sh.maps &&
	grep -q "^command: sh two.sh$" sh.comments &&
	! grep -q "programs" sh.comments &&
	go tool pprof -comments "'"$H2"'/debug/pprof/heap?pid='"$P1"'" > p1.comments 2>/dev/null &&
	cat p1.comments &&
	grep -q "^command: ./served two.ready two.stop$" p1.comments &&
	grep -q "^run: sh two.sh$" p1.comments &&
	go tool pprof -top "'"$H2"'/debug/pprof/heap?pid='"$P1"'" 2>/dev/null | grep -q "^File: served$"
'
test_expect_success "a busy port: one clear line, and the program never starts" '
	test_expect_code 1 '"$MEMPROF"' run --http=127.0.0.1:'"$PORT"' -- touch ran 2> busy.err &&
	cat busy.err &&
	test_one_line_error busy.err "^memprof: --http 127.0.0.1:'"$PORT"': Address already in use$" &&
	test ! -e ran
'
touch "$TRASH/two.stop"
wait $MP

test_expect_success "a bad address: one clear line" '
	test_expect_code 1 '"$MEMPROF"' run --http=nonsense -- true 2> e1 &&
	test_one_line_error e1 "not an address to listen on" &&
	test_expect_code 1 '"$MEMPROF"' run --http=127.0.0.1:99999 -- true 2> e2 &&
	test_one_line_error e2 "not an address"
'

test_expect_success "snapshots without HTTP: --interval names them memprof.PROGRAM.PID.N.pb.gz" '
	mkdir names && cd names
	(sleep 1; touch s) &
	test_expect_code 3 '"$MEMPROF"' run -q --rate 1 --interval=200ms --keep=3 -- ../served r s > /dev/null &&
	pid=$(cat r) && ls > files && cat files &&
	grep -q "^memprof\.served\.$pid\.pb\.gz$" files &&
	test "$(grep -c "^memprof\.served\.$pid\.[0-9]*\.pb\.gz$" files)" = 3 &&
	last=$(sed -n "s/^memprof\.served\.$pid\.\([0-9]*\)\.pb\.gz$/\1/p" files | sort -n | tail -1) &&
	go tool pprof -top -unit=B -sample_index=inuse_space memprof.served.$pid.$last.pb.gz 2>/dev/null |
		awk "\$NF == \"hold\" { print \$1 }" > v && test "$(cat v)" = 4194304B
'

test_done
