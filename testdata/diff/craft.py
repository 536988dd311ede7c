#!/usr/bin/env python3
"""Writes a small pprof profile described in text, for tests/t0120-diff.sh.

Usage: craft.py OUT < SPEC. OUT gets raw (not gzipped) protobuf. SPEC lines:

  types T/U T/U ...        sample types, e.g. alloc_space/bytes (required)
  period T/U N             period type and period (none when absent)
  time NANOS               time_nanos
  duration NANOS           duration_nanos
  comment TEXT             a comment (several allowed)
  default TYPE             default_sample_type
  mapping FILE [BUILDID]   the one mapping every location belongs to
  sample V V ... ; STACK [; LABEL ...]
                           a sample: one value per type, then its stack,
                           root first, frames separated by spaces. A frame
                           is NAME, NAME@FILE:LINE, or several of these
                           joined by '>' for one location holding inlined
                           frames (caller first); %XX in a name is the byte
                           XX (%3B for ';'). A LABEL is KEY=STRING or
                           KEY#NUMBER or KEY#NUMBER:UNIT.

Each distinct frame text is one location at its own address; functions are
shared by name and file.
"""
import sys
import urllib.parse


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


def vfield(field, n):
    return varint(field << 3) + varint(n)


def lfield(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data


def packed(field, nums):
    return lfield(field, b"".join(varint(n) for n in nums))


class Strings:
    def __init__(self):
        self.table, self.index = [""], {"": 0}

    def __call__(self, s):
        if s not in self.index:
            self.index[s] = len(self.table)
            self.table.append(s)
        return self.index[s]


def main():
    out_path = sys.argv[1]
    st = Strings()
    fields, samples, locations, functions = [], [], {}, {}
    mapping = None
    for raw in sys.stdin:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "types":
            for t in rest.split():
                ty, unit = t.split("/")
                fields.append(lfield(1, vfield(1, st(ty)) + vfield(2, st(unit))))
        elif word == "period":
            t, n = rest.split()
            ty, unit = t.split("/")
            fields.append(lfield(11, vfield(1, st(ty)) + vfield(2, st(unit))))
            fields.append(vfield(12, int(n)))
        elif word == "time":
            fields.append(vfield(9, int(rest)))
        elif word == "duration":
            fields.append(vfield(10, int(rest)))
        elif word == "comment":
            fields.append(vfield(13, st(rest)))
        elif word == "default":
            fields.append(vfield(14, st(rest)))
        elif word == "mapping":
            parts = rest.split()
            mapping = lfield(3, vfield(1, 1) + vfield(2, 0x400000) + vfield(3, 0x800000) +
                             vfield(5, st(parts[0])) +
                             (vfield(6, st(parts[1])) if len(parts) > 1 else b"") +
                             vfield(7, 1) + vfield(8, 1) + vfield(9, 1))
        elif word == "sample":
            parts = [p.strip() for p in rest.split(";")]
            values = [int(v) for v in parts[0].split()]
            ids = []
            for frame in parts[1].split():
                if frame not in locations:
                    lines = []
                    for f in reversed(frame.split(">")):
                        name, _, where = f.partition("@")
                        name = urllib.parse.unquote(name)
                        file, _, ln = where.partition(":")
                        fkey = (name, file)
                        if fkey not in functions:
                            functions[fkey] = len(functions) + 1
                        lines.append((functions[fkey], int(ln or 0)))
                    locations[frame] = (len(locations) + 1, lines)
                ids.append(locations[frame][0])
            labels = b""
            for lab in parts[2:]:
                if "=" in lab:
                    k, v = lab.split("=", 1)
                    labels += lfield(3, vfield(1, st(k)) + vfield(2, st(v)))
                else:
                    k, v = lab.split("#", 1)
                    num, _, unit = v.partition(":")
                    labels += lfield(3, vfield(1, st(k)) + vfield(3, int(num)) +
                                     (vfield(4, st(unit)) if unit else b""))
            samples.append(lfield(2, packed(1, list(reversed(ids))) +
                                  packed(2, values) + labels))
        else:
            sys.exit("craft.py: unknown line: " + line)
    out = fields + samples
    if mapping:
        out.append(mapping)
    for frame, (lid, lines) in locations.items():
        body = vfield(1, lid) + vfield(3, 0x400000 + 16 * lid)
        if mapping:
            body += vfield(2, 1)
        for fid, ln in lines:
            body += lfield(4, vfield(1, fid) + vfield(2, ln))
        out.append(lfield(4, body))
    for (name, file), fid in functions.items():
        out.append(lfield(5, vfield(1, fid) + vfield(2, st(name)) + vfield(3, st(name)) +
                          (vfield(4, st(file)) if file else b"")))
    out.append(b"".join(lfield(6, s.encode()) for s in st.table))
    with open(out_path, "wb") as f:
        f.write(b"".join(out))


main()
