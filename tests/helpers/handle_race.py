#!/usr/bin/env python3
"""handle_race.py - one file, one descriptor kept open for writing, and
short-lived read-only descriptors of the same file, all from one process.

    handle_race.py [--ops N] PATH SEED

Each step is one of: a write through the kept descriptor (7 B, 4 KiB or
64 KiB, at offsets around multiples of 64 KiB, so that writes overlap and
leave gaps), futimens on it, a read-only open with one pread and a
close, a read-only open and close, or a full read checked against
stat() and the size the writes made. Several of these run at once on
one mount, each on its own file, so that the mount's handles flush,
close and keep attribute changes concurrently. A mismatch prints the
step and exits 1; the same SEED replays the sequence.
"""

import argparse
import os
import random
import sys

OFFSETS = [0, 4096, 65536, 131072, 196608, 262144]
LENGTHS = [7, 4096, 65536]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=3000)
    ap.add_argument("path")
    ap.add_argument("seed", type=int)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    writer = os.open(args.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    size = 0
    for step in range(args.ops):
        op = rnd.randrange(6)
        if op <= 1:
            off = max(rnd.choice(OFFSETS) + rnd.randrange(-3, 4) * 7, 0)
            data = rnd.randbytes(rnd.choice(LENGTHS))
            os.pwrite(writer, data, off)
            size = max(size, off + len(data))
        elif op == 2:
            os.utime(writer, ns=(rnd.randrange(1 << 40),
                                 rnd.randrange(1 << 40)))
        elif op == 3:
            fd = os.open(args.path, os.O_RDONLY)
            os.pread(fd, 65535, rnd.randrange(size + 1))
            os.close(fd)
        elif op == 4:
            st = os.stat(args.path).st_size
            with open(args.path, "rb") as f:
                got = len(f.read())
            if got != size or st != size:
                print(f"seed {args.seed} step {step}: read {got} bytes, "
                      f"stat {st}, written {size}")
                return 1
        else:
            os.close(os.open(args.path, os.O_RDONLY))
    os.close(writer)
    print(f"seed {args.seed}: {args.ops} steps ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
