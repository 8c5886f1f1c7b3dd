"""History store benchmark: what a durable record costs the agent, and what reading costs.

    .venv/bin/python bench/history.py --appends 2000 --records 100000 --runs 5

Appends: each record is written and fsynced by the agent's event loop before it acts, so
its latency is added to that decision; measured per record (min/median/p99/max, ms) in a
directory on the filesystem of the state directory (``--dir``, default /var/lib).
Reads: a store of ``--records`` typical records, read whole (``dualbeat history``),
filtered to the last minute (``--since 1m``), and its newest 12 by ``tail`` (one frame of
``status --watch``), each ``--runs`` times (min/median/max, ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dualbeat.agent import history
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.state import Reason

EVIDENCE = {
    "finding": "peer_dead",
    "role": "standby",
    "epoch": 7,
    "mysql": "healthy",
    "peer_silent_s": 1.512,
    "deadtime_s": 1.5,
    "links": {"lan": 1.512, "hb": 1.498},
    "peer_sql_reachable": False,
    "peer_role": "active",
    "peer_epoch": 7,
    "peer_mysql": "healthy",
}


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "min": round(ordered[0], 3),
        "median": round(statistics.median(ordered), 3),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "max": round(ordered[-1], 3),
    }


def timed_ms(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/var/lib"))
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    reason = Reason(ReasonCode.PEER_DEAD, "the peer is dead on every link and over SQL", EVIDENCE)
    with tempfile.TemporaryDirectory(prefix="dualbeat-bench-", dir=args.dir) as tmp:
        store = Path(tmp) / "append"
        h = history.History(store, "db1")
        appends = []
        for _ in range(args.appends):
            record = history.event("db1", reason, role="standby", epoch=7)
            started = time.perf_counter()
            h.append(record)
            appends.append((time.perf_counter() - started) * 1000)
        h.close()
        big = Path(tmp) / "read"
        big.mkdir()
        now = time.time()
        with open(big / history.FILENAME, "w") as f:
            for n in range(args.records):
                ts = now - (args.records - n) * 0.01  # the newest ~6000 in the last minute
                record = history.event("db1", reason, role="standby", epoch=7, ts=ts)
                f.write(json.dumps(record, sort_keys=True) + "\n")
        size = (big / history.FILENAME).stat().st_size
        read_all = timed_ms(lambda: history.read(big), args.runs)
        read_since = timed_ms(lambda: history.read(big, since=time.time() - 60), args.runs)
        tail = timed_ms(lambda: history.tail(big, 12), args.runs)
    text = json.dumps(
        {
            "benchmark": "history",
            "append_fsync_ms": summary(appends) | {"n": args.appends, "dir": str(args.dir)},
            "store": {"records": args.records, "bytes": size},
            "read_all_ms": summary(read_all),
            "read_since_1m_ms": summary(read_since),
            "tail_12_ms": summary(tail),
            "runs": args.runs,
        },
        indent=2,
    )
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
