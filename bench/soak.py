"""False-positive soak: a busy active must not fail over. Exit status 1 on any failover.

    python3 bench/soak.py                  # as root; 5 minutes at default timings
    python3 bench/soak.py --duration 60 --out /tmp/soak.json

A fresh sandbox pair with both agents (default timings), then for --duration seconds:
sysbench oltp_read_write through the VIP, a CPU burner and a disk writer in the active's
namespace, a long query on the active, a replication lag spike on the standby, then on
the active, one at a time: a backup lock (FLUSH TABLES WITH READ LOCK for --lock-hold s),
an fsync stall (--stall-hold s) and read_only set ON by hand
(``dualbeat_lab.sandbox.soak`` and ``.disturb`` describe each). The JSON's
``disturbances`` say when each ran (``at_s`` from the start of the load), how long it was
held and what it did. Printed as JSON: failovers (must be 0), the
agent events seen during the soak, and each agent's CPU (% of one core, average and
busiest second) and RSS, idle (--baseline seconds before the load) and under load.
Targets (reported, not asserted): CPU <= 2 %, RSS <= 80 MB.
The sandbox lock (/tmp/dualbeat-sandbox.lock) is held for the whole soak: taken here, or
by the caller with --caller-holds-lock (``flock /tmp/dualbeat-sandbox.lock python3
bench/soak.py --caller-holds-lock ...``; without it that command waits on itself forever).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from dualbeat_lab.sandbox import lab, soak
from dualbeat_lab.sandbox.provision import provision

STATE = Path("/var/lib/dualbeat-sandbox")
LAB_LOCK = Path("/tmp/dualbeat-sandbox.lock")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=300.0, help="seconds (default 300)")
    parser.add_argument(
        "--lag-hold",
        type=float,
        default=15.0,
        help="seconds the standby's SQL thread stays stopped (default 15)",
    )
    parser.add_argument(
        "--big-rows",
        type=int,
        default=200_000,
        help="rows of the large transaction (default 200000)",
    )
    parser.add_argument(
        "--lock-hold",
        type=float,
        default=5.0,
        help="seconds FLUSH TABLES WITH READ LOCK is held on the active (default 5)",
    )
    parser.add_argument(
        "--stall-hold",
        type=float,
        default=5.0,
        help="seconds the active's disk writes are stalled (default 5)",
    )
    parser.add_argument("--threads", type=int, default=4, help="sysbench threads (default 4)")
    parser.add_argument(
        "--baseline",
        type=float,
        default=10.0,
        help="seconds the agents are watched before the load (default 10)",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument(
        "--caller-holds-lock",
        action="store_true",
        help="take no lab lock: the caller holds it (flock /tmp/dualbeat-sandbox.lock ...)",
    )
    args = parser.parse_args(argv)  # fmt: skip

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with LAB_LOCK.open("a") as handle:
        if not args.caller_holds_lock:  # a second lock under flock(1) would wait forever
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            lab.down(STATE)
            info = provision(STATE, lambda _m: None)
            result = soak.run(
                info,
                args.duration,
                lag_hold=args.lag_hold,
                big_rows=args.big_rows,
                threads=args.threads,
                baseline=args.baseline,
                lock_hold=args.lock_hold,
                stall_hold=args.stall_hold,
                progress=progress,
            )
        finally:
            lab.down(STATE)
    text = json.dumps({"benchmark": "soak", **result.as_json()}, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if result.failovers:
        progress(f"FAILED: {result.failovers} failover(s) during the soak")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
