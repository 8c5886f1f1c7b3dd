"""Failover benchmark: N drills per scenario on the sandbox pair, figures as JSON.

    .venv/bin/python bench/failover.py --runs 5   # as root [--scenarios kill,freeze,linkdown]

Per scenario: RTO (fault to the first acknowledged write sent after it) min/median/max,
the longest write gap, acknowledged writes lost, and the agents' own phase timings. The
lab is rebuilt before every run, so each drill starts from a clean, settled pair.
Figures are measured, not asserted: a shared 2-core machine makes timings noisy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dualbeat.sandbox import lab
from dualbeat.sandbox.drill import Fault, run
from dualbeat.sandbox.figures import summary
from dualbeat.sandbox.provision import provision

STATE = Path("/var/lib/dualbeat-sandbox")


def scenario(fault: Fault, runs: int, hold: float) -> dict[str, Any]:
    rtos: list[float] = []
    gaps: list[float] = []
    lost = 0
    phases: list[dict[str, Any]] = []
    failures = 0
    for i in range(runs):
        lab.down(STATE)
        info = provision(STATE, lambda _m: None)
        result = run(info, fault, hold=hold)
        t = result.timeline
        print(
            f"{fault.value} run {i + 1}/{runs}: rto={t.rto} gap="
            f"{t.longest_gap.seconds if t.longest_gap else None} lost={len(result.lost)}",
            file=sys.stderr,
            flush=True,
        )
        if t.rto is None:
            failures += 1
        else:
            rtos.append(t.rto)
        if t.longest_gap is not None:
            gaps.append(t.longest_gap.seconds)
        lost += len(result.lost)
        if t.promoted is not None:
            phases.append(dict(t.promoted.evidence))
    return {
        "runs": runs,
        "rto_s": summary(rtos),
        "longest_write_gap_s": summary(gaps),
        "acked_writes_lost": lost,
        "runs_without_recovery": failures,
        "promotion_phases": phases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenarios", default="kill,freeze,linkdown")
    parser.add_argument(
        "--hold", type=float, default=5.0, help="seconds a freeze or link-down lasts"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    results = {
        name: scenario(Fault(name), args.runs, args.hold) for name in args.scenarios.split(",")
    }
    lab.down(STATE)
    text = json.dumps({"benchmark": "failover", "results": results}, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
