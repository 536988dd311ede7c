#!/bin/bash
# bench/own-peak.sh CMD [ARGS...] - runs CMD and prints CMD's own peak RSS
# in kB (VmHWM) on stderr, without its children's: /usr/bin/time's %M is
# the largest of the whole tree, and under `memprof run` the profiled
# program (its tracker's tables) can be the larger. CMD's stdout and
# stderr pass through; the exit status is CMD's. VmHWM is read every 5 ms
# while CMD runs; it only grows, so the last read before CMD ends is its
# peak unless the peak came in those last milliseconds.
"$@" &
pid=$!
hwm=0
while v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) && [ -n "$v" ]; do
	hwm=$v
	sleep 0.005
done
wait "$pid"
rc=$?
echo "own peak RSS: $hwm kB" >&2
exit $rc
