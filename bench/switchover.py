"""Switchover benchmark: N planned switchovers under a writer, figures as JSON.

    .venv/bin/python bench/switchover.py --runs 10   # as root

Each run moves the active role to the other node with `dualbeat switchover` while a writer
in the client namespace inserts a row every 10 ms through the VIP. Reported: the write gap
(the longest time without an acknowledged write around the switchover) min/median/max,
errors seen by the writer, and acknowledged writes missing on the new active.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from failover import STATE  # bench/ is on sys.path when this script runs

from dualbeat_lab.sandbox import lab
from dualbeat_lab.sandbox.drill import Fault, run
from dualbeat_lab.sandbox.figures import summary
from dualbeat_lab.sandbox.provision import provision
from dualbeat_lab.writer import BENCH_PROFILES, Profile


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--profile",
        choices=[p.value for p in BENCH_PROFILES],
        default="tight",
        help="the writer's connection timeouts (default: tight)",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    lab.down(STATE)
    info = provision(STATE, lambda _m: None)
    gaps: list[float] = []
    errors = lost = failed = 0
    for i in range(args.runs):
        result = run(info, Fault.SWITCHOVER, profile=Profile(args.profile))
        t = result.timeline
        gap = t.longest_gap.seconds if t.longest_gap else None
        print(
            f"switchover {i + 1}/{args.runs}: {result.old_active} -> {result.new_active} "
            f"gap={gap} errors={t.errors} lost={result.lost_text()}",
            file=sys.stderr,
            flush=True,
        )
        if gap is not None:
            gaps.append(gap)
        errors += t.errors
        if result.lost is None:
            failed += 1  # nobody settled as active: a failed switchover, loss unknown
        else:
            lost += len(result.lost)
    lab.down(STATE)
    text = json.dumps(
        {
            "benchmark": "switchover",
            "profile": args.profile,
            "runs": args.runs,
            "write_gap_s": summary(gaps),
            "writer_errors": errors,
            "acked_writes_lost": lost,
            "runs_without_new_active": failed,
        },
        indent=2,
    )
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
