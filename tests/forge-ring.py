#!/usr/bin/env python3
# forge-ring.py SOCK MODE [PID]: a crafted client of memprof agent (t0270)
# that sends one ring with its hello, lying about who it is as MODE says:
#   honest     its own pid everywhere (the agent takes it)
#   ring-pid   the ring's header says PID, the hello its own
#   hello-pid  the hello says PID, the ring its own
#   pidfd      its own pid, but the pidfd sent with it is PID's
#   not-pidfd  its own pid, and a memfd where the pidfd goes
#   threads    its own pid, and a ring with per-thread rings (the agent's
#              trackers never make them: refused)
# Prints "sent", then waits for a line on stdin, so that the agent sees it
# alive, and ends.
import fcntl, os, socket, struct, sys, time

path, mode = sys.argv[1], sys.argv[2]
other = int(sys.argv[3]) if len(sys.argv) > 3 else 0
me = os.getpid()
# VERSION: MEMPROF_VERSION_RECORDS (lib/tracker/records.h)
RING_MAGIC, HELLO_MAGIC, VERSION, HELLO_RING, REC_START = 0x474e5252, 0x4c484d4d, 3, 1, 1
SIZE = OFF = 4096	# the smallest ring: a data area of 4 KiB after a 4 KiB head

TSLOTS, TSIZE = (1, 4096) if mode == 'threads' else (0, 0)

ring = os.memfd_create('forged-ring', os.MFD_ALLOW_SEALING)
os.ftruncate(ring, OFF + SIZE + TSLOTS * (128 + TSIZE))
fcntl.fcntl(ring, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
exe = b'/forged/' + mode.encode()
start = struct.pack('<BBIIQQH', REC_START, VERSION, os.getppid(), 0, 1, time.time_ns(),
		    len(exe)) + exe
os.pwrite(ring, struct.pack('<IIIIQQ', RING_MAGIC, VERSION, other if mode == 'ring-pid' else me,
			    4242, SIZE, OFF), 0)
if TSLOTS:	# thread_slots, thread_size, threads_offset
	os.pwrite(ring, struct.pack('<IIQ', TSLOTS, TSIZE, OFF + SIZE), 176)
os.pwrite(ring, start, OFF)
os.pwrite(ring, struct.pack('<Q', len(start)), 64)	# head: the records written
if mode == 'pidfd':
	second = os.pidfd_open(other)
elif mode == 'not-pidfd':
	second = os.memfd_create('not-a-pidfd')
else:
	second = os.pidfd_open(me)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(path)
hello = struct.pack('<IIII', HELLO_MAGIC, HELLO_RING, other if mode == 'hello-pid' else me, 4242)
s.sendmsg([hello], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('ii', ring, second))])
print('sent', flush=True)
sys.stdin.readline()
