#!/usr/bin/env python3
"""Compare two fraglab driver logs (replay --driver-log) apart from addresses.

usage: compare_driver_logs.py A.jsonl B.jsonl

Every line must carry the same event, action, size, stream and pool, in the
same order; only "addr" may differ (the sim and a real GPU hand out different
addresses). Prints the first difference with its line number and exits 1, or
prints "identical apart from addresses (N operations)" and exits 0. Plain
Python 3, no third-party modules (the GPU machine may lack jq).
"""
import json
import sys

KEYS = ("event", "action", "size", "stream", "pool")


def load(path):
    ops = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                op = json.loads(line)
            except ValueError as e:
                sys.exit("%s:%d: not JSON: %s" % (path, n, e))
            missing = [k for k in KEYS + ("addr",) if k not in op]
            if missing:
                sys.exit("%s:%d: missing %s" % (path, n, ", ".join(missing)))
            ops.append(op)
    return ops


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    a_path, b_path = sys.argv[1], sys.argv[2]
    a, b = load(a_path), load(b_path)
    for i, (x, y) in enumerate(zip(a, b)):
        diff = [k for k in KEYS if x[k] != y[k]]
        if diff:
            print("DIFFER at operation %d (line %d): %s" % (i, i + 1, ", ".join(
                "%s %r vs %r" % (k, x[k], y[k]) for k in diff)))
            print("  %s: %s" % (a_path, json.dumps(x)))
            print("  %s: %s" % (b_path, json.dumps(y)))
            return 1
    if len(a) != len(b):
        print("DIFFER in length: %s has %d operations, %s has %d (the first %d agree)" % (
            a_path, len(a), b_path, len(b), min(len(a), len(b))))
        return 1
    print("identical apart from addresses (%d operations)" % len(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
