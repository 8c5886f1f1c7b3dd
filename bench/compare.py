"""dualbeat against keepalived + MySQL dual-master, same lab, same writer, same faults.

    python3 bench/compare.py --runs 3                 # as root; every scenario
    python3 bench/compare.py --runs 1 --scenario kill --scenario freeze

For each scenario and run, each stack gets a fresh lab (``dualbeat sandbox`` pair, no
agents), starts its HA software, and goes through one drill (``sidebyside.run_once``):
a writer through the VIP, one fault, the fault undone, the pair repaired, the app data
checksummed. Reported per scenario and stack: RTO min/median/max, the median longest
write gap, acknowledged writes lost, the longest time with two VIP holders and with two
writable servers (sampled every 0.1 s), runs whose data diverged after the repair, and
the ratio dualbeat / keepalived of the median RTO and gap.

The lab is shared: /tmp/dualbeat-sandbox.lock is taken for each scenario run (both
stacks, back to back) and released in between, so other users get turns. Outputs: JSON
on stdout (and --out), a markdown table (--table), a PNG chart of the ratios (--chart).
Figures are measured, not asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dualbeat_lab.sandbox import lab
from dualbeat_lab.sandbox.figures import RunResult, aggregate, markdown_table, ratios
from dualbeat_lab.sandbox.keepalived import Timings
from dualbeat_lab.sandbox.sidebyside import STACKS, TITLES, Scenario, run_once
from dualbeat_lab.writer import BENCH_PROFILES, Profile

STATE = Path("/var/lib/dualbeat-sandbox")
LAB_LOCK = Path("/tmp/dualbeat-sandbox.lock")


@contextlib.contextmanager
def lab_lock() -> Iterator[None]:
    """The machine-wide sandbox lock (the one ``flock`` and the test suite take)."""
    with LAB_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            lab.down(STATE)
            fcntl.flock(handle, fcntl.LOCK_UN)


def chart(figures: dict[str, dict[str, dict[str, Any]]], path: Path) -> None:
    """Bars of dualbeat / keepalived per scenario (median RTO and gap); 1 = as fast.

    Where neither stack had an outage (keepalived killed, standby lost) the RTO is just
    the next write's latency, so read those bars with the table's absolute figures.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = ratios(figures)
    names = list(rs)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.38
    for offset, key, label in (
        (-width / 2, "rto_median", "RTO"),
        (width / 2, "gap_median", "longest write gap"),
    ):
        values = [rs[n][key] or float("nan") for n in names]
        bars = ax.bar([i + offset for i in range(len(names))], values, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yscale("log")  # 0.3 and 3 are equally far from "as fast"
    ax.set_xticks(
        range(len(names)), [TITLES[Scenario(n)] for n in names], rotation=20, ha="right", fontsize=8
    )
    ax.set_ylabel("dualbeat / keepalived (median, log)")
    ax.set_title("dualbeat / keepalived + MySQL dual-master: below 1, dualbeat is faster")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def document(results: list[RunResult]) -> dict[str, Any]:
    figures = aggregate(results)
    return {
        "benchmark": "compare",
        "profiles": sorted({r.profile for r in results}),
        "keepalived_timings": vars(Timings()),
        "results": figures,
        "ratios": ratios(figures),
        "runs": [r.as_json() for r in results],
    }


def report(results: list[RunResult], out: Path | None, table_path: Path | None) -> str:
    """Write the JSON and the table so far; the table's text."""
    table = markdown_table(aggregate(results), {s.value: s.title for s in Scenario})
    if out:
        out.write_text(json.dumps(document(results), indent=2) + "\n")
    if table_path:
        table_path.write_text(table)
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[s.value for s in Scenario],
        help="run only this scenario (repeatable; default: all)",
    )
    parser.add_argument("--stack", action="append", choices=list(STACKS), help="default: both")
    parser.add_argument(
        "--hold",
        type=float,
        default=10.0,
        help="seconds a link-down or partition lasts (default 10)",
    )
    parser.add_argument(
        "--freeze-hold", type=float, default=20.0, help="seconds mysqld stays frozen (default 20)"
    )
    parser.add_argument(
        "--profile",
        choices=[p.value for p in BENCH_PROFILES],
        default="tight",
        help="the writer's connection timeouts (default: tight)",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here (after every run)")
    parser.add_argument("--table", type=Path, help="write the markdown table here (same)")
    parser.add_argument("--chart", type=Path, help="write the PNG ratio chart here")
    parser.add_argument(
        "--from-json",
        type=Path,
        action="append",
        help="run nothing: merge the runs saved in these --out files and report them",
    )
    args = parser.parse_args(argv)  # fmt: skip

    scenarios = [Scenario(s) for s in args.scenario or [s.value for s in Scenario]]
    stacks = [STACKS[name]() for name in args.stack or list(STACKS)]

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results: list[RunResult] = []
    table = ""
    for saved in args.from_json or []:
        results += [RunResult.from_json(r) for r in json.loads(saved.read_text())["runs"]]
    if args.from_json:
        scenarios = []
        table = report(results, args.out, args.table)
    for scenario in scenarios:
        for run in range(1, args.runs + 1):
            with lab_lock():
                for stack in stacks:
                    r = run_once(stack, scenario, run, STATE, hold=args.hold,
                                 freeze_hold=args.freeze_hold, progress=progress,
                                 profile=Profile(args.profile))  # fmt: skip
                    progress(f"  -> {json.dumps(r.as_json())}")
                    results.append(r)
            table = report(results, args.out, args.table)  # after each run: partial results
    print(json.dumps(document(results), indent=2))
    if args.chart:
        chart(aggregate(results), args.chart)
    progress(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
