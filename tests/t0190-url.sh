#!/bin/bash
# Profiles over HTTP: memprof top, list, traces and peek on a URL print what
# go tool pprof prints on it, and what memprof prints on the same profile
# saved by curl; the body comes with a Content-Length, chunked or up to the
# close; pprof's "Fetching profile over HTTP from URL" line goes to stderr
# as pprof writes it (its URL as pprof rewrites it: http:// added, the
# query sorted, ?seconds=N for --seconds); failures (404, closed port, a
# server that never answers, a body that is not a profile, https://, a
# body over --max-profile-size) are one line and status 1, never a hang.
#
# The server is a Go program (net/http/pprof) that allocates a known
# amount into a global, runs a GC and turns the GC off before it listens:
# its heap profile is then the same at every fetch but for the time it was
# taken. What is compared is stdout without the "Time:" line, which names
# that time (to the minute: two fetches can straddle one).
. "$(dirname "$0")/test-lib.sh"

export PPROF_TMPDIR=$TRASH/pprof-saved	# where go tool pprof saves what it fetches

cat > "$TRASH/server.go" <<'EOF'
// server: a heap profile that does not change, served on 127.0.0.1; prints
// "PORT CLOSED_PORT" (a port it listened on and closed) on stdout.
package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
)

var keep [][]byte

//go:noinline
func allocBig() {
	for i := 0; i < 16; i++ {
		keep = append(keep, make([]byte, 4<<20))
	}
}

//go:noinline
func allocSmall() {
	for i := 0; i < 64; i++ {
		keep = append(keep, make([]byte, 256<<10))
	}
}

func heap() []byte {
	var b bytes.Buffer
	pprof.Lookup("heap").WriteTo(&b, 0)
	return b.Bytes()
}

func main() {
	allocBig()
	allocSmall()
	runtime.GC()
	debug.SetGCPercent(-1)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	closed, err2 := net.Listen("tcp", "127.0.0.1:0")
	if err != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, err, err2)
		os.Exit(1)
	}
	closed.Close()
	// the heap profile with a Content-Length, chunked, and up to the close
	http.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) {
		b := heap()
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	http.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		b := heap()
		for len(b) > 0 {
			n := 100
			if n > len(b) {
				n = len(b)
			}
			w.Write(b[:n])
			w.(http.Flusher).Flush()
			b = b[n:]
		}
	})
	http.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		c, buf, _ := w.(http.Hijacker).Hijack()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
		buf.Write(heap())
		buf.Flush()
		c.Close()
	})
	http.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/debug/pprof/heap", http.StatusFound)
	})
	http.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello, this is not a profile")
	})
	http.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {}
	})
	fmt.Println(l.Addr().(*net.TCPAddr).Port, closed.Addr().(*net.TCPAddr).Port)
	http.Serve(l, nil)
}
EOF

SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$TRASH"' EXIT
PORT= CLOSED=
if (cd "$TRASH" && go build -o server server.go) > "$TRASH/build.err" 2>&1; then
	(cd "$TRASH" && exec ./server > ports 2> server.err) &
	SERVER_PID=$!
	for _ in $(seq 100); do
		[ -s "$TRASH/ports" ] && break
		sleep 0.1
	done
	read -r PORT CLOSED < "$TRASH/ports" || true
fi
if [ -z "$PORT" ]; then
	echo "FAIL $T: the Go server did not start"
	cat "$TRASH/build.err" "$TRASH/server.err" 2>/dev/null | sed 's/^/    /'
	exit 1
fi
H=http://127.0.0.1:$PORT
U=$H/debug/pprof/heap

# stdout without the Time: line (see above)
no_time() {
	# a delta's Duration is the server's own wall time (1s, or 1.01s under load)
	{ grep -v '^Time: ' "$1" || true; } | sed -E 's/^Duration: [0-9.]+(ms|s)/Duration: D/' > "$1.nt" &&
		mv "$1.nt" "$1"
}

# compare "MEMPROF ARGS" "PPROF ARGS": both succeed and print the same
# (but for Time: and a delta's Duration:), and their first stderr lines (pprof's Fetching line) agree.
# (A chain of &&: set -e does not reach into a function called before &&.)
compare() {
	timeout 60 $MEMPROF $1 > memprof.out 2> memprof.err &&
	timeout 60 go tool pprof $2 > pprof.out 2> pprof.err &&
	no_time memprof.out && no_time pprof.out &&
	test_cmp pprof.out memprof.out &&
	head -1 pprof.err > pprof.fetch && head -1 memprof.err > memprof.fetch &&
	grep -q '^Fetching profile over HTTP from http://' memprof.fetch &&
	test_cmp pprof.fetch memprof.fetch
}

test_expect_success "top URL prints what go tool pprof -top URL prints" "
	compare 'top -n 0 $U' '-top -nodecount=0 $U' &&
	grep -q 'main.allocBig' memprof.out && grep -q 'main.allocSmall' memprof.out
"
test_expect_success "top URL keeps memprof top's 10 rows, as -nodecount=10" "
	compare 'top $U' '-top -nodecount=10 $U'
"
test_expect_success "list, traces and peek on the URL print what pprof prints" "
	compare 'list main.alloc $U' '-list main.alloc $U' &&
	grep -q 'ROUTINE.*main.allocBig' memprof.out &&
	compare 'traces $U' '-traces $U' &&
	compare 'peek main.alloc $U' '-peek main.alloc $U' &&
	compare 'tree $U' '-tree $U'
"
test_expect_success "the Fetching line is all memprof adds on stderr" "
	$MEMPROF top $U > out 2> err &&
	echo 'Fetching profile over HTTP from $U' > want &&
	test_cmp want err
"
test_expect_success "top URL prints what top prints on the profile curl saved" "
	curl -s -o saved.pb.gz $U &&
	$MEMPROF top -n 0 saved.pb.gz > file.out &&
	$MEMPROF top -n 0 $U > url.out 2>/dev/null &&
	no_time file.out && no_time url.out && test_cmp file.out url.out
"
for path in length chunked close redirect; do
	test_expect_success "a body $path reads as the saved profile" "
		curl -s -o saved.pb.gz $U &&
		$MEMPROF traces saved.pb.gz > file.out &&
		timeout 60 $MEMPROF traces $H/$path > url.out 2> url.err &&
		no_time file.out && no_time url.out && test_cmp file.out url.out
	"
done
test_expect_success "HOST:PORT/PATH is http://, the query sorted as pprof sorts it" "
	compare 'top 127.0.0.1:$PORT/debug/pprof/heap?gc=0&debug=0' \
		'-top -nodecount=10 127.0.0.1:$PORT/debug/pprof/heap?gc=0&debug=0' &&
	grep -qx 'Fetching profile over HTTP from $U?debug=0&gc=0' memprof.err
"
test_expect_success "--seconds=N asks for ?seconds=N and says so, as pprof -seconds" "
	compare 'top --seconds=1 $H/debug/pprof/allocs' \
		'-top -nodecount=10 -seconds=1 $H/debug/pprof/allocs' &&
	sed -n 2p pprof.err > pprof.wait && sed -n 2p memprof.err > memprof.wait &&
	grep -qx 'Please wait... (1s)' memprof.wait && test_cmp pprof.wait memprof.wait
"
test_expect_success "HOST:PORT alone is pprof's /debug/pprof/profile" "
	timeout 60 $MEMPROF top --seconds=1 127.0.0.1:$PORT > out 2> err &&
	grep -qx 'Fetching profile over HTTP from $H/debug/pprof/profile?seconds=1' err &&
	grep -q '^Type: cpu' out
"
test_expect_success "--base=URL subtracts what it fetches, as pprof -base" "
	compare 'top --base=$U $U' '-top -nodecount=10 -base=$U $U' &&
	grep -q '^Showing nodes accounting for 0, 0% of 0 total' memprof.out
"
test_expect_success "leaks and report take a URL" "
	curl -s -o saved.pb.gz $U &&
	$MEMPROF leaks saved.pb.gz > file.out &&
	$MEMPROF leaks $U > url.out 2>/dev/null &&
	test_cmp file.out url.out && grep -q main.allocBig url.out &&
	$MEMPROF report -q $U 2>/dev/null && grep -q main.allocBig heap.html
"

# expect_failure WHAT PATTERN ARGS...: memprof ARGS exits with status 1
# within 20 s and says one line matching PATTERN (besides the Fetching line)
expect_failure() {
	local what=$1 pattern=$2
	shift 2
	test_expect_success "$what: one line, status 1" "
		rc=0; start=\$(date +%s)
		timeout 20 $MEMPROF $* > out 2> err.all || rc=\$?
		[ \$rc = 1 ] || { echo \"status \$rc\"; cat err.all; exit 1; }
		[ \$((\$(date +%s) - start)) -lt 10 ]
		grep -v '^Fetching profile over HTTP from ' err.all > err || true
		test_one_line_error err '$pattern' && ! [ -s out ]
	"
}
expect_failure "a pprof endpoint that is not there" \
	": server response: 404 Not Found - Unknown profile\$" top $H/debug/pprof/nosuch
expect_failure "a path that is not there" ": server response: 404 Not Found\$" top $H/nosuch
expect_failure "a closed port" "cannot connect to 127.0.0.1 port $CLOSED: Connection refused" \
	top http://127.0.0.1:$CLOSED/debug/pprof/heap
expect_failure "a server that never answers, --timeout=1" "timed out" \
	top --timeout=1 $H/hang
expect_failure "pprof's -timeout 1" "timed out" list -timeout 1 main $H/hang
expect_failure "a body that is not a profile" "$H/text: not a pprof profile" traces $H/text
expect_failure "https://" "https://127.0.0.1:$PORT/debug/pprof/heap: https is not supported; use go tool pprof or curl -o\$" \
	peek main https://127.0.0.1:$PORT/debug/pprof/heap
expect_failure "a body over --max-profile-size" \
	"response larger than 1024 bytes (raise the limit with --max-profile-size=BYTES)" \
	top --max-profile-size=1k $U
expect_failure "a base that cannot be fetched" "$H/nosuch: server response: 404" \
	top --base=$H/nosuch $U
test_expect_success "https:// is refused before any Fetching line" "
	test_must_fail() { ! \"\$@\"; }
	test_must_fail $MEMPROF top https://127.0.0.1:$PORT/x 2> err &&
	! grep -q Fetching err
"
test_expect_success "a bad --timeout is a usage error" "
	test_expect_code 2 $MEMPROF top --timeout=soon $U 2> err &&
	grep -q \"invalid number of seconds 'soon'\" err
"
test_expect_success "a file whose name has no host:port stays a file" "
	cp $SRC/testdata/goprof/heap.pb.gz 'a b.pb.gz' &&
	$MEMPROF top 'a b.pb.gz' > out 2> err && ! [ -s err ]
"

kill "$SERVER_PID" 2>/dev/null
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
test_done
