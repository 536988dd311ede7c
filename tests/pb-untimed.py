#!/usr/bin/env python3
# pb-untimed.py PROFILE: writes PROFILE (a pprof file, gzip'ed or not) to
# stdout as it is but for what says when it was made: the top-level fields
# time_nanos (9), duration_nanos (10) and memprof's timeline (1000). Two
# profiles of the same run made differently (t0320: symbolized while the
# program ran or at its end) must then be the same bytes.
import gzip
import sys

WHEN = {9, 10, 1000}


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


data = open(sys.argv[1], "rb").read()
if data[:2] == b"\x1f\x8b":
    data = gzip.decompress(data)
out = bytearray()
i = 0
while i < len(data):
    start = i
    key, i = varint(data, i)
    field, wire = key >> 3, key & 7
    if wire == 0:
        _, i = varint(data, i)
    elif wire == 1:
        i += 8
    elif wire == 2:
        n, i = varint(data, i)
        i += n
    elif wire == 5:
        i += 4
    else:
        sys.exit("pb-untimed.py: %s: wire type %d at %d" % (sys.argv[1], wire, start))
    if i > len(data):
        sys.exit("pb-untimed.py: %s: cut short" % sys.argv[1])
    if field not in WHEN:
        out += data[start:i]
sys.stdout.buffer.write(out)
