"""Resync time against data size, per rejoin method (issue 12 item 5).

    flock /tmp/dualbeat-sandbox.lock .venv/bin/python bench/resync.py \\
        --sizes 20,200 --runs 1 --out bench/out/resync.json

Per size: a fresh lab, ``app.big`` filled to SIZE MB on both servers (identical rows,
binary logs off). Then per method and run: the active writes ``--lost`` rows its peer
never receives and is killed (kill -9), the peer takes over, the old active comes back
fenced, and ``dualbeat rejoin NODE --discard --method M`` runs where NODE's agent runs.
Reported per (size, method): ``resync_s``, the method's own step (from the chosen
method's line to "rebuilt at": the revert, the copy, or the backup with the server
restart), and ``total_s``, the whole command (analysis, binary-log copy, resync,
repositioning, and the accept step with its checksum of every table), min/median/max
over the runs. Measured, not asserted (a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from dualbeat_lab.sandbox import lab, resync
from dualbeat_lab.sandbox.figures import summary
from dualbeat_lab.sandbox.provision import provision

STATE = Path("/var/lib/dualbeat-sandbox")
METHODS = ("flashback", "dump", "backup")


def one(info: lab.LabInfo, method: str, lost: int, tag: str) -> dict[str, Any]:
    fenced, active = resync.lose_writes(info, lost, tag)
    run = resync.rejoin(info, fenced, "--discard", "--method", method)
    if run.code != 0:
        raise SystemExit(f"rejoin {fenced} --method {method} failed:\n{run.output}")
    began, rebuilt = run.at("rejoin " + fenced + ": method "), run.at("rebuilt at")
    return {
        "fenced": fenced,
        "active": active,
        "total_s": round(run.seconds, 3),
        "resync_s": round(rebuilt - began, 3)
        if began is not None and rebuilt is not None
        else None,
    }


def size(mb: int, runs: int, lost: int, methods: list[str]) -> list[dict[str, Any]]:
    lab.down(STATE)
    info = provision(STATE, lambda _m: None)
    filled = resync.fill(info, mb)
    rows = resync.sql(info, "db1", "SELECT COUNT(*) AS n, SUM(LENGTH(pad)) AS b FROM app.big")[0]
    out = []
    for method in methods:
        detail = [one(info, method, lost, f"{mb}_{method}_{i}") for i in range(runs)]
        result = {
            "size_mb": mb,
            "rows": int(rows["n"]),
            "payload_bytes": int(rows["b"]),
            "fill_s": round(filled, 3),
            "method": method,
            "runs": runs,
            "resync_s": summary([d["resync_s"] for d in detail if d["resync_s"] is not None]),
            "total_s": summary([d["total_s"] for d in detail]),
            "detail": detail,
        }
        print(json.dumps(result), file=sys.stderr, flush=True)
        out.append(result)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="20,200", help="MB of data, comma-separated")
    parser.add_argument("--runs", type=int, default=1, help="rejoins per size and method")
    parser.add_argument("--lost", type=int, default=300, help="rows each fenced node loses")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    started = time.time()
    methods = args.methods.split(",")
    results = [
        r for mb in args.sizes.split(",") for r in size(int(mb), args.runs, args.lost, methods)
    ]
    lab.down(STATE)
    doc = {
        "benchmark": "resync",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "cpus": os.cpu_count(),
        "lost_rows": args.lost,
        "command": "rejoin NODE --discard --method M",
        "results": results,
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
