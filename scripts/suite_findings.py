#!/usr/bin/env python3
"""Write docs/suite-findings.md from the committed results/suite/results.json.

    python3 scripts/suite_findings.py            # from the repository root

The tables are computed, not typed: min capacity per workload (pytorch's, the
smallest and the largest of the online policies), utilization at min
capacity (peak requested / min capacity) per workload for the best online
policy and the offline planners, and per policy the geometric mean of min
capacity relative to pytorch and the mean utilization. Offline policies (they
plan with the whole workload in view) are listed apart, never ranked with the
online ones.
"""
import json
import math
import os
import sys
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
RESULTS = os.path.join(ROOT, "results", "suite", "results.json")
OUT = os.path.join(ROOT, "docs", "suite-findings.md")
BASE = "pytorch"


def size(b):
    for unit, n in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= n:
            v = b / n
            return f"{v:.1f} {unit}" if unit == "GiB" or v != int(v) else f"{int(v)} {unit}"
    return f"{b} B"


def main():
    with open(RESULTS) as f:
        recs = json.load(f)
    mincap = defaultdict(dict)  # workload -> policy -> bytes
    util = defaultdict(dict)
    peak = {}
    offline = set()
    for r in recs:
        if r.get("status") != "ok" or not r.get("min_capacity"):
            continue
        w, p = r["workload"].split("#")[0], r["policy"]
        mincap[w][p] = r["min_capacity"]
        util[w][p] = r["utilization"]
        peak[w] = r["peak_requested"]
        if r.get("offline"):
            offline.add(p)
    policies = sorted({p for w in mincap for p in mincap[w]})
    online = [p for p in policies if p not in offline]
    lines = [
        "# Suite findings, per workload",
        "",
        "Computed by `python3 scripts/suite_findings.py` from the committed "
        "[results/suite/results.json](../results/suite/results.json) "
        "(`go run ./cmd/fraglab run experiments/suite.yaml`, sim device). Min capacity: the "
        "smallest device with no OOM, bisected at 2 MiB and probed upwards "
        "([metrics.md](metrics.md)). Utilization: the workload's peak requested bytes / min "
        "capacity. Offline policies (" + ", ".join(f"`{p}`" for p in sorted(offline)) +
        ") plan with the whole workload in view: they are a bound to aim at and are "
        "never ranked with the online policies. The snapshot rows come from "
        "../shared/traces/pytorch and are present only when it is.",
        "",
        "## Min capacity",
        "",
        f"| workload | peak requested | `{BASE}` | smallest online (vs `{BASE}`) | largest online (vs `{BASE}`) |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for w in sorted(mincap):
        m = mincap[w]
        base = m.get(BASE)
        on = {p: v for p, v in m.items() if p in online}
        lo = min(on.values())
        hi = max(on.values())
        los = sorted(p for p, v in on.items() if v == lo)
        his = sorted(p for p, v in on.items() if v == hi)
        name = lambda ps: f"`{ps[0]}`" + (f" and {len(ps) - 1} more" if len(ps) > 1 else "")
        lines.append(f"| {w} | {size(peak[w])} | {size(base)} | {name(los)} {size(lo)} ({(lo / base - 1) * 100:+.1f}%) "
                     f"| {name(his)} {size(hi)} ({hi / base:.2f}×) |")
    lines += [
        "",
        "## Utilization at min capacity",
        "",
        "| workload | best online | `" + BASE + "` | " + " | ".join(f"`{p}` (offline)" for p in sorted(offline)) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in offline) + " |",
    ]
    for w in sorted(util):
        u = util[w]
        on = {p: v for p, v in u.items() if p in online}
        best = max(on.values())
        bests = sorted(p for p, v in on.items() if v == best)
        lines.append(f"| {w} | `{bests[0]}`" + (f" and {len(bests) - 1} more" if len(bests) > 1 else "") +
                     f" {best:.3f} | {u[BASE]:.3f} | " + " | ".join(f"{u.get(p, float('nan')):.3f}" for p in sorted(offline)) + " |")
    lines += [
        "",
        "## Per policy",
        "",
        f"| policy | mean utilization | geometric mean of min capacity / `{BASE}`'s | worst workload vs `{BASE}` |",
        "| --- | ---: | ---: | --- |",
    ]
    rows = []
    for p in policies:
        ws = [w for w in mincap if p in mincap[w] and BASE in mincap[w]]
        g = math.exp(sum(math.log(mincap[w][p] / mincap[w][BASE]) for w in ws) / len(ws))
        mu = sum(util[w][p] for w in ws) / len(ws)
        worst = max(ws, key=lambda w: (mincap[w][p] / mincap[w][BASE], w))
        rows.append((p in offline, -mu, p, mu, g, worst, mincap[worst][p] / mincap[worst][BASE]))
    for off, _, p, mu, g, worst, r in sorted(rows):
        lines.append(f"| `{p}`{' (offline)' if off else ''} | {mu:.3f} | {g:.3f} | {worst} {r:.3f}× |")
    text = "\n".join(lines) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
