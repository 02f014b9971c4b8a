#!/usr/bin/env python3
"""Writes the fuzzer's seed inputs (one web server -> application byte stream each) to test/fuzz/corpus/seed-*."""
import os
import struct
import sys

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR, DATA, GET_VALUES = 1, 2, 3, 4, 5, 6, 7, 8, 9
RESPONDER, AUTHORIZER, FILTER = 1, 2, 3


def record(rtype, rid, content=b"", padding=0, version=1):
    return struct.pack(">BBHHBB", version, rtype, rid, len(content), padding, 0) + content + b"\0" * padding


def length(n):
    return bytes([n]) if n < 0x80 else struct.pack(">I", n | 0x80000000)


def pairs(items):
    out = b""
    for name, value in items:
        out += length(len(name)) + length(len(value)) + name + value
    return out


def begin(rid=1, role=RESPONDER, keep=False, padding=0):
    return record(BEGIN, rid, struct.pack(">HB5x", role, 1 if keep else 0), padding)


def request(rid=1, params=None, body=b"", keep=False, role=RESPONDER, pad=0):
    params = params if params is not None else [(b"REQUEST_METHOD", b"POST"), (b"SCRIPT_NAME", b"/x")]
    out = begin(rid, role, keep, pad)
    if params:
        out += record(PARAMS, rid, pairs(params), pad)
    out += record(PARAMS, rid, b"", pad)
    if body:
        out += record(STDIN, rid, body, pad)
    out += record(STDIN, rid, b"", pad)
    return out


LONG = b"v" * 300
SEEDS = {
    "get": request(params=[(b"REQUEST_METHOD", b"GET"), (b"QUERY_STRING", b"a=1")]),
    "post-body": request(body=b"hello\nworld\n" * 20),
    "long-param": request(params=[(b"HTTP_COOKIE", LONG), (b"N" * 130, b"x")]),
    "split-records": begin() + b"".join(record(PARAMS, 1, bytes([c])) for c in pairs([(b"A", b"1"), (b"BB", b"22")]))
    + record(PARAMS, 1) + record(STDIN, 1, b"ab") + record(STDIN, 1, b"cd") + record(STDIN, 1),
    "keep-conn-pair": request(keep=True, body=b"first") + request(keep=True, body=b"second"),
    "keep-conn-unread": request(keep=True, body=b"x" * 5000) + request(keep=False),
    "get-values": record(GET_VALUES, 0, pairs([(b"FCGI_MAX_CONNS", b""), (b"FCGI_MAX_REQS", b""), (b"FCGI_MPXS_CONNS", b"")])),
    "get-values-repeated": record(GET_VALUES, 0, pairs([(b"FCGI_MPXS_CONNS", b"")] * 40)) + request(),
    "unknown-management": record(42, 0, b"\x01\x01AB" * 4) + request(),
    "unknown-management-in-params": begin() + record(PARAMS, 1, pairs([(b"A", b"1")]))
    + record(42, 0, pairs([(b"EVIL", b"1")])) + record(PARAMS, 1) + record(STDIN, 1),
    "cve-lengths": begin() + record(PARAMS, 1, struct.pack(">II", 0xFFFFFFFE, 0xFFFFFFFE) + b"xxxx") + record(PARAMS, 1),
    "padding": request(pad=7, body=b"padded"),
    "abort-in-params": begin() + record(PARAMS, 1, pairs([(b"A", b"1")])) + record(ABORT, 1),
    "abort-in-stdin": begin() + record(PARAMS, 1) + record(STDIN, 1, b"part") + record(ABORT, 1),
    "unknown-role": request(role=9, keep=True) + request(),
    "filter": begin(role=FILTER) + record(PARAMS, 1) + record(STDIN, 1, b"in") + record(STDIN, 1)
    + record(DATA, 1, b"data") + record(DATA, 1),
    "authorizer": request(role=AUTHORIZER),
    "second-begin-same-id": begin() + begin() + record(PARAMS, 1) + record(STDIN, 1),
    "second-begin-other-id": begin() + begin(2) + record(PARAMS, 1) + record(STDIN, 1),
    "params-hygiene": request(params=[(b"A=B", b"c"), (b"", b"empty"), (b"N\0UL", b"v"), (b"V", b"a\0b")]),
    "duplicates": request(params=[(b"A", b"first"), (b"A", b"second")]),
    "bad-version": record(BEGIN, 1, struct.pack(">HB5x", 1, 0), version=2),
    "truncated-header": begin()[:5],
    "content-longer-than-sent": begin() + struct.pack(">BBHHBB", 1, PARAMS, 1, 1000, 0, 0) + b"abc",
}


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out_dir, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out_dir, "seed-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
