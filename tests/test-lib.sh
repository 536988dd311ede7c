# test-lib.sh - sourced by tests/tNNNN-*.sh (after git's t/test-lib.sh).
# Each test_expect_success runs its body with `set -e` in a scratch
# directory and prints "ok   <test>: <what>" or "FAIL <test>: <what>".
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
# MEMPROF_WRAP runs every memprof command under a tool (make valgrind-test)
MEMPROF="${MEMPROF_WRAP:+$MEMPROF_WRAP }$BUILD/memprof"
T=$(basename "$0" .sh)
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/memprof-$T.XXXXXX")
trap 'rm -rf "$TRASH"' EXIT
export TZ=UTC LC_ALL=C
test_passed=0
test_failed=0

# start_agent NAME [OPTIONS...]: memprof agent on $TRASH/NAME.d/sock (a
# directory of mode 700), its stderr in NAME.err, descriptors 3-5 (the
# tests' fifos to their services) closed in it; sets $ag (its pid) and
# $url (.../debug/pprof/). For the agent tests (t0220, t0270, t0271).
start_agent() {
	local name=$1
	shift
	mkdir -p -m 700 "$TRASH/$name.d"
	$MEMPROF agent --socket="$TRASH/$name.d/sock" --http=127.0.0.1:0 "$@" 2> "$name.err" \
		3>&- 4>&- 5>&- &
	ag=$!
	for _ in $(seq 200); do
		grep -q serving "$name.err" 2>/dev/null && break
		kill -0 $ag 2>/dev/null || break
		sleep 0.05
	done
	url=$(sed -n 's#.*serving \(http://[^ ]*\)$#\1#p' "$name.err")
	[ -n "$url" ] || { cat "$name.err"; return 1; }
}

# wait_line FILE REGEX, wait_grep FILE REGEX: until FILE has a line that
# the basic regex matches whole (wait_line) or in part (wait_grep); 20 s
# at most, then FILE is shown and 1 returned
wait_line() { wait_match -qx "$@"; }
wait_grep() { wait_match -q "$@"; }
wait_match() {
	for _ in $(seq 400); do
		grep "$1" -e "$3" "$2" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no line '$3' in $2:"; cat "$2"; return 1
}

test_expect_success() {
	local what=$1 body=$2 out
	if out=$(cd "$TRASH" && (set -e; eval "$body") 2>&1); then
		test_passed=$((test_passed + 1))
		echo "ok   $T: $what"
	else
		test_failed=$((test_failed + 1))
		echo "FAIL $T: $what"
		printf '%s\n' "$out" | sed 's/^/    /' | tail -40
	fi
}

# test_skip WHAT WHY: a test that cannot run here (said, not counted).
test_skip() {
	echo "skip $T: $1 ($2)"
}

# test_cmp EXPECTED ACTUAL: fails with a diff when they differ.
test_cmp() {
	diff -u "$1" "$2"
}

# test_expect_code CODE CMD...: CMD must exit with CODE.
test_expect_code() {
	local want=$1 rc=0
	shift
	"$@" || rc=$?
	if [ "$rc" != "$want" ]; then
		echo "exit status $rc, want $want: $*"
		return 1
	fi
}

# test_one_line_error FILE PATTERN: FILE holds exactly one line, matching PATTERN.
test_one_line_error() {
	if [ "$(wc -l < "$1")" != 1 ] || ! grep -q -- "$2" "$1"; then
		echo "want one line matching '$2', got:"
		cat "$1"
		return 1
	fi
}

# test_like_plain RATE NAME CMD...: CMD prints the same stdout and exits with
# the same status under memprof run --rate RATE as without it (within 120 s
# each); its profile, NAME.pb.gz, is read by go tool pprof. Leaves
# plain.out/.err and prof.out/.err for further checks.
test_like_plain() {
	local rate=$1 name=$2 rc1=0 rc2=0
	shift 2
	timeout 120 "$@" > plain.out 2> plain.err || rc1=$?
	timeout 120 $MEMPROF run -q --rate "$rate" -o "$name.pb.gz" -- "$@" > prof.out \
		2> prof.err || rc2=$?
	test_cmp plain.out prof.out || return 1
	if [ "$rc1" != "$rc2" ]; then
		echo "status $rc1 plain, $rc2 profiled"
		cat prof.err
		return 1
	fi
	go tool pprof -top "$name.pb.gz" > pprof.out 2>&1 || { cat pprof.out; return 1; }
}

# flat FILE SAMPLE_INDEX FUNCTION: the function's flat value (B or count).
flat() {
	local unit=
	case $2 in *space) unit=--unit=B ;; esac
	$MEMPROF top -n 0 --nodefraction=0 --sample-index=$2 $unit "$1" |
		awk -v f="$3" '$NF == f { v = $1; sub(/B$/, "", v); print v; found = 1 }
			END { if (!found) print "none" }'
}

# expect FILE SAMPLE_INDEX FUNCTION VALUE
expect() {
	local got
	got=$(flat "$1" "$2" "$3")
	[ "$got" = "$4" ] || { echo "$3 $2: got $got, want $4"; return 1; }
}

test_done() {
	echo "# $T: $test_passed passed, $test_failed failed"
	[ "$test_failed" = 0 ]
}
