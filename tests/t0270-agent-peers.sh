#!/bin/bash
# memprof agent: a peer may speak only for itself. A crafted client
# (tests/forge-ring.py) sends a ring whose hello, header or pidfd names
# another process (a service that runs beside it): each is refused with one
# line in the agent's log and never listed; an honest one is taken. A ring
# with per-thread rings (which the agent's trackers never make) is refused.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
FORGE=$SRC/tests/forge-ring.py
cd "$TRASH"
${CC:-cc} -g -O2 -o phases $F/phases.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null
LIB=$BUILD/libmemprof.so

# service: ./phases as a service of the agent, fed from svc.in (the caller
# opens it on fd 3), its output in svc.out
service() {
	rm -f svc.in && mkfifo svc.in
	env LD_PRELOAD=$LIB MEMPROF_AGENT=$TRASH/a.d/sock MEMPROF_RATE=1 ./phases \
		< svc.in > svc.out 4>&- &
}

# forge MODE PID: the crafted client, started (its pid in $fp) and kept
# alive on fd 4 until the caller closes it
forge() {
	rm -f forge.in && mkfifo forge.in
	python3 "$FORGE" "$TRASH/a.d/sock" "$1" "$2" < forge.in > forge.out 3>&- &
	fp=$!
	exec 4> forge.in
	wait_grep forge.out "^sent$"
}

python3 -c 'import os; os.pidfd_open; os.memfd_create' 2> /dev/null || {
	test_skip "forged rings" "python3 has no os.pidfd_open"; test_done; exit 0; }

test_expect_success "rings that name another process are refused, one line each; an honest one is taken" '
	start_agent a &&
	trap "kill $ag 2>/dev/null || :" EXIT &&
	service && svc=$! && exec 3> svc.in &&
	echo >&3 && wait_grep svc.out "^done 1$" &&
	n=0 &&
	for mode in ring-pid hello-pid pidfd not-pidfd; do
		forge $mode $svc && n=$((n + 1)) &&
		wait_grep a.err "refused a ring" &&
		for _ in $(seq 200); do
			[ "$(grep -c "refused a ring" a.err)" -ge $n ] && break
			sleep 0.05
		done &&
		curl -sf "${url}sampling" > s.$mode &&
		{ ! grep -q "^$fp " s.$mode || { echo "$mode: pid $fp listed:"; cat s.$mode; false; }; } &&
		exec 4>&- && wait $fp || return 1
	done &&
	cat a.err &&
	grep -q "^memprof: agent: refused a ring from pid [0-9]* (uid [0-9]*): its ring said it was pid $svc$" a.err &&
	grep -q "^memprof: agent: refused a ring from pid [0-9]* (uid [0-9]*): its hello said it was pid $svc$" a.err &&
	grep -q "^memprof: agent: refused a ring from pid [0-9]* (uid [0-9]*): the pidfd it sent was pid $svc.s$" a.err &&
	grep -q "^memprof: agent: refused a ring from pid [0-9]* (uid [0-9]*): what it sent as its pidfd is not one$" a.err &&
	test "$(grep -c "refused a ring" a.err)" = 4 &&
	forge honest 0 &&
	for _ in $(seq 200); do
		curl -sf "${url}sampling" > s.honest && grep -q "^$fp on running$" s.honest && break
		sleep 0.05
	done &&
	{ grep -q "^$fp on running$" s.honest || { echo "the honest client is not listed:"; cat s.honest; false; }; } &&
	exec 4>&- && wait $fp &&
	curl -sf "${url}sampling?pid=$svc" > s.svc && cat s.svc &&
	test "$(cat s.svc)" = "$svc on running" &&
	echo >&3 && wait_grep svc.out "^done 2$" &&
	go tool pprof -top -sample_index=alloc_objects "${url}allocs?pid=$svc" > top.svc 2>&1 &&
	grep -q " phase_two$" top.svc &&
	exec 3>&- && wait $svc && kill $ag && wait $ag
'

test_expect_success "a ring with per-thread rings is refused, one line; the agent goes on" '
	start_agent a &&
	trap "kill $ag 2>/dev/null || :" EXIT &&
	forge threads 0 &&
	wait_grep a.err "refused a ring" &&
	cat a.err &&
	grep -q "^memprof: agent: refused a ring from pid $fp (uid [0-9]*): it has per-thread rings, which an agent.s process never makes$" a.err &&
	test "$(grep -c "refused a ring" a.err)" = 1 &&
	curl -sf "${url}sampling" > s.threads &&
	{ ! grep -q "^$fp " s.threads || { echo "pid $fp listed:"; cat s.threads; false; }; } &&
	exec 4>&- && wait $fp &&
	forge honest 0 &&
	for _ in $(seq 200); do
		curl -sf "${url}sampling" > s.honest && grep -q "^$fp on running$" s.honest && break
		sleep 0.05
	done &&
	grep -q "^$fp on running$" s.honest &&
	exec 4>&- && wait $fp && kill $ag && wait $ag
'

test_done
