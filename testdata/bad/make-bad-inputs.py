#!/usr/bin/env python3
"""Writes the malformed profiles in testdata/bad/ (run from the repo root).

Each file breaks one rule; tests/t0030-bad-input.sh checks the message
memprof gives for it. The files are committed; this script documents how
they were made and regenerates them.
"""
import gzip
import os
import random
import zlib

OUT = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wt):
    return varint(field << 3 | wt)


def vfield(field, n):
    return key(field, 0) + varint(n)


def lfield(field, data):
    return key(field, 2) + varint(len(data)) + data


def packed(field, nums):
    return lfield(field, b"".join(varint(n) for n in nums))


def strings(*ss):
    return b"".join(lfield(6, s.encode()) for s in ss)


def valid_parts():
    """A small valid heap-style profile, as a list of encoded fields."""
    return [
        lfield(1, vfield(1, 1) + vfield(2, 2)),           # sample_type space/bytes
        lfield(2, packed(1, [1]) + packed(2, [100])),      # sample at location 1
        lfield(3, vfield(1, 1) + vfield(5, 3)),            # mapping 1, file "a.out"
        lfield(4, vfield(1, 1) + vfield(2, 1) + lfield(4, vfield(1, 1) + vfield(2, 7))),
        lfield(5, vfield(1, 1) + vfield(2, 4) + vfield(4, 5)),  # function main in main.c
        strings("", "space", "bytes", "a.out", "main", "main.c"),
    ]


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    good = b"".join(valid_parts())
    write("valid.pb", good)
    write("valid.pb.gz", gzip.compress(good, mtime=0))
    write("empty", b"")
    write("text.txt", b"heap profile: 1: 100 [1: 100] @ heapprofile\nhello world\n")
    rnd = random.Random(42)
    write("random.bin", bytes(rnd.randrange(256) for _ in range(4096)))
    gz = gzip.compress(good * 50, mtime=0)
    write("truncated.pb.gz", gz[: len(gz) // 2])
    corrupt = bytearray(gz)
    for i in range(12, 40):
        corrupt[i] ^= 0x5A
    write("corrupt.pb.gz", bytes(corrupt))
    write("truncated.pb", good[:-3])
    # a length field pointing past the end, and one claiming gigabytes
    write("length-past-end.pb", good + key(2, 2) + varint(200) + b"\x0a\x01")
    write("length-huge.pb", good + key(2, 2) + varint(3 << 30) + b"\x0a\x01")
    write("varint-overlong.pb", good + key(9, 0) + b"\xff" * 11)
    # wrong wire types: sample as a varint, string table entry as 64-bit
    write("wiretype-sample.pb", good + vfield(2, 5))
    write("wiretype-string.pb", good + key(6, 1) + b"\x00" * 8)
    write("wiretype-group.pb", good + key(4, 3) + key(4, 4))
    # validation rules
    parts = valid_parts()
    parts[5] = strings("x", "space", "bytes", "a.out", "main", "main.c")
    write("strtab-first-not-empty.pb", b"".join(parts))
    parts = valid_parts()
    parts[5] = b""
    write("strtab-missing.pb", b"".join(parts))
    parts = valid_parts()
    parts[0] = lfield(1, vfield(1, 1) + vfield(2, 99))
    write("string-index-range.pb", b"".join(parts))
    parts = valid_parts()
    parts[1] = lfield(2, packed(1, [7]) + packed(2, [100]))
    write("location-id-range.pb", b"".join(parts))
    parts = valid_parts()
    parts[1] = lfield(2, packed(1, [1]) + packed(2, [100, 5]))
    write("value-count.pb", b"".join(parts))
    parts = valid_parts()
    parts[4] = lfield(5, vfield(1, 0) + vfield(2, 4))
    write("function-id-zero.pb", b"".join(parts))
    parts = valid_parts()
    parts.append(lfield(3, vfield(1, 1) + vfield(5, 3)))
    write("mapping-id-duplicate.pb", b"".join(parts))
    parts = valid_parts()
    parts[3] = lfield(4, vfield(1, 1) + vfield(2, 9) + lfield(4, vfield(1, 1)))
    write("mapping-id-range.pb", b"".join(parts))
    parts = valid_parts()
    parts[3] = lfield(4, vfield(1, 1) + lfield(4, vfield(1, 8)))
    write("function-id-range.pb", b"".join(parts))
    # many tiny samples: memory must stay proportional
    write("many-empty-samples.pb.gz",
          gzip.compress(good + lfield(2, packed(2, [1])) * 200000, mtime=0))
    # a gzip bomb: 1 GiB of zeros in ~1 MB; decompresses, then fails as protobuf
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\x00" * (1 << 20)
    bomb = b"".join(z.compress(chunk) for _ in range(1024)) + z.flush()
    write("zeros.pb.gz", bomb)


if __name__ == "__main__":
    main()
