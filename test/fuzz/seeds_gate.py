#!/usr/bin/env python3
"""Writes the gate fuzzer's seeds to test/fuzz/corpus-gate/seed-*: seeds.py's streams plus the gate's own cases,
each after one byte that picks the size of the pieces the harness feeds (fuzz_gate.cc)."""
import os
import sys

from seeds import ABORT, GET_VALUES, PARAMS, SEEDS, STDIN, begin, length, pairs, record, request

GATE_SEEDS = dict(SEEDS)
GATE_SEEDS.update({
    # fuzz_gate.cc's limits: maxParamsSize 2048, small body 512.
    "get-values-huge-names": record(GET_VALUES, 0, pairs([(b"FCGI_MAX_REQS", b""), (b"N" * 3000, b""),
                                                          (b"FCGI_MAX_CONNS", b"x" * 200)]), 3) + request(),
    "get-values-cut-pair": record(GET_VALUES, 0, length(20) + length(0) + b"FCGI"),
    "body-over-small": request(body=b"b" * 700, pad=5),
    "body-at-small": request(body=b"b" * 512),
    "body-one-byte-records": begin() + record(PARAMS, 1) + b"".join(record(STDIN, 1, b"z", 3) for _ in range(40))
    + record(STDIN, 1),
    "params-at-limit": begin() + record(PARAMS, 1, b"p" * 2048) + record(PARAMS, 1) + record(STDIN, 1),
    "params-over-limit": begin() + record(PARAMS, 1, b"p" * 2000) + record(PARAMS, 1, b"q" * 49),
    "announced-not-sent": begin() + record(PARAMS, 1)[:4] + b"\x07\xff\x00\x00" + b"x" * 100,
    "zero-length-everything": record(77, 0) + record(GET_VALUES, 0) + record(ABORT, 3) + record(STDIN, 3)
    + request(keep=True) + request(keep=True),
    "other-id-while-reading": begin() + record(PARAMS, 2, b"ab"),
    "abort-other-id-while-reading": begin() + record(ABORT, 2) + record(PARAMS, 1) + record(STDIN, 1),
})


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus-gate")
    os.makedirs(out_dir, exist_ok=True)
    for i, (name, data) in enumerate(sorted(GATE_SEEDS.items())):
        with open(os.path.join(out_dir, "seed-" + name), "wb") as f:
            f.write(bytes([i % 64]) + data)


if __name__ == "__main__":
    main()
