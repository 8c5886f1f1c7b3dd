"""Self-heal benchmark (issue 12 item 7): N drills per scenario, "redundant again" figures.

    flock /tmp/dualbeat-sandbox.lock .venv/bin/python bench/selfheal.py --runs 3 --json
    ... --runs 1 --scenarios freeze,isolate --hold 20

Per scenario: the time from the heal until the pair is redundant again (both servers
replicating both ways with no lag, one writable, the writer's table equal on both;
min/median/max over the runs that got there), the runs that needed an operator (not
redundant within --timeout), acknowledged writes lost, in-doubt commits left on the old
active, and those its agent discarded by itself (committed while its client gate was shut,
acknowledged to no client). The lab is rebuilt before every run. Measured, not asserted
(a shared machine).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dualbeat_lab.sandbox import lab
from dualbeat_lab.sandbox.figures import summary
from dualbeat_lab.sandbox.provision import provision
from dualbeat_lab.sandbox.selfheal import Scenario, SelfHeal, run

STATE = Path("/var/lib/dualbeat-sandbox")


def _known(values: list[int | None]) -> int | None:
    """A total, or None when any run could not be checked (never a silent zero)."""
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def scenario(name: Scenario, runs: int, hold: float, timeout: float) -> dict[str, Any]:
    results: list[SelfHeal] = []
    for i in range(runs):
        lab.down(STATE)
        info = provision(STATE, lambda _m: None)
        result = run(info, name, hold=hold, timeout=timeout)
        print(f"{name.value} run {i + 1}/{runs}: {result.as_json()}", file=sys.stderr, flush=True)
        results.append(result)
    times = [r.redundant_s for r in results if r.redundant_s is not None]
    return {
        "runs": runs,
        "redundant_again_after_heal_s": summary(times),
        "runs_needing_operator": sum(r.needed_operator for r in results),
        "acked_writes_lost": _known([r.acked_lost for r in results]),
        "in_doubt_commits_on_old_active": _known([r.in_doubt for r in results]),
        "discarded_by_old_active_agent": sum(r.discarded for r in results),
        "detail": [r.as_json() for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(s.value for s in Scenario))
    parser.add_argument("--hold", type=float, default=20.0, help="seconds each fault lasts")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds after the heal before an operator"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    names = [Scenario(n) for n in args.scenarios.split(",")]
    results = {n.value: scenario(n, args.runs, args.hold, args.timeout) for n in names}
    lab.down(STATE)
    doc = {"benchmark": "selfheal", "hold_s": args.hold, "timeout_s": args.timeout}
    text = json.dumps(doc | {"results": results}, indent=2)
    if args.json:
        print(text)
    else:
        for name, r in results.items():
            print(
                f"{name}: redundant again {r['redundant_again_after_heal_s']}, "
                f"operator {r['runs_needing_operator']}/{r['runs']}, "
                f"lost {r['acked_writes_lost']}, in-doubt {r['in_doubt_commits_on_old_active']}, "
                f"discarded by the agent {r['discarded_by_old_active_agent']}"
            )
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
