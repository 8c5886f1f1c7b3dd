"""dualbeat against keepalived + MySQL dual-master, same lab, same writer, same faults.

    python3 bench/compare.py --runs 3                 # as root; every scenario, both profiles
    python3 bench/compare.py --runs 1 --scenario kill --profiles driver-defaults

Three stacks: dualbeat, ``keepalived`` (the common guides' recipe) and ``keepalived-tuned``
(VRRP v3, 0.2 s adverts, check every 1 s with fall 1, track_process on mariadbd:
``keepalived.TUNED``). The writer runs with each connection profile of ``--profiles``
(default both: ``tight``, connect 0.5 s / read 2 s, and ``driver-defaults``, connect 10 s /
no read timeout), because a timeout shorter than the applications' hides what they suffer.

For each profile, scenario and run, each stack gets a fresh lab (``dualbeat sandbox`` pair, no
agents), starts its HA software, and goes through one drill (``sidebyside.run_once``):
a writer through the VIP, one fault, the fault undone, the pair repaired, the app data
checksummed. Reported per scenario and stack: RTO min/median/max, the median longest
write gap, acknowledged writes lost, the longest time with two VIP holders and with two
writable servers (sampled every 0.1 s), runs whose data diverged after the repair, and
the ratios dualbeat / each keepalived of the median RTO and gap, per profile. A run with
no acknowledged write after the fault (within the drill's wait) has no RTO: it is counted
as "not recovered", never dropped.

The lab is shared: /tmp/dualbeat-sandbox.lock is taken for each scenario run (every
stack, back to back) and released in between, so other users get turns; ``--hold-lock``
keeps it for the whole invocation, bounded by ``--budget`` minutes. Outputs: JSON
on stdout (and --out), a markdown table (--table), a PNG chart of the ratios (--chart).
Figures are measured, not asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dualbeat_lab.sandbox import lab
from dualbeat_lab.sandbox.figures import RunResult, aggregate, markdown_table, ratios
from dualbeat_lab.sandbox.keepalived import TUNED, Timings
from dualbeat_lab.sandbox.sidebyside import STACKS, TITLES, Scenario, run_once
from dualbeat_lab.writer import BENCH_PROFILES, Profile

STATE = Path("/var/lib/dualbeat-sandbox")
LAB_LOCK = Path("/tmp/dualbeat-sandbox.lock")
BASELINES = ("keepalived", "keepalived-tuned")
PROFILE_TITLES = {
    Profile.TIGHT: "`tight` writer (connect 0.5 s, read 2 s)",
    Profile.DRIVER_DEFAULTS: "`driver-defaults` writer (connect 10 s, no read timeout)",
}


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


def headline(scenario: str) -> str:
    """The figure a scenario is judged on: the longest write gap for a planned switchover
    (its "RTO" counts from the command, not from an outage), the RTO otherwise."""
    return "gap_median" if scenario == Scenario.SWITCHOVER.value else "rto_median"


def chart(figures: dict[str, dict[str, dict[str, Any]]], path: Path, title: str) -> None:
    """Bars of dualbeat / each keepalived per scenario (median RTO; the gap for the
    switchover); 1 = as fast, below 1 = dualbeat faster.

    Where no stack had an outage (keepalived killed, standby lost) the RTO is just the
    next write's latency, so read those bars with the table's absolute figures.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_baseline = {b: ratios(figures, theirs=b) for b in BASELINES}
    names = [n for n in figures if any(n in r for r in per_baseline.values())]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.38
    for offset, baseline in zip((-width / 2, width / 2), BASELINES, strict=True):
        rs = per_baseline[baseline]
        values = [(rs.get(n) or {}).get(headline(n)) or float("nan") for n in names]
        bars = ax.bar([i + offset for i in range(len(names))], values, width, label=baseline)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yscale("log")  # 0.3 and 3 are equally far from "as fast"
    ax.set_xticks(
        range(len(names)), [TITLES[Scenario(n)] for n in names], rotation=20, ha="right", fontsize=8
    )
    ax.set_ylabel("dualbeat / keepalived (median, log)")
    ax.set_title(f"dualbeat / keepalived, {title}: below 1, dualbeat is faster", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def by_profile(results: list[RunResult]) -> dict[str, list[RunResult]]:
    """The runs grouped by the writer's profile, in the order first seen."""
    groups: dict[str, list[RunResult]] = {}
    for r in results:
        groups.setdefault(r.profile, []).append(r)
    return groups


def document(results: list[RunResult]) -> dict[str, Any]:
    profiles: dict[str, Any] = {}
    for profile, runs in by_profile(results).items():
        figures = aggregate(runs)
        profiles[profile] = {
            "results": figures,
            "ratios": {b: ratios(figures, theirs=b) for b in BASELINES},
        }
    return {
        "benchmark": "compare",
        "keepalived_timings": {"keepalived": vars(Timings()), "keepalived-tuned": vars(TUNED)},
        "profiles": profiles,
        "runs": [r.as_json() for r in results],
    }


def _cell(f: dict[str, Any] | None, key: str) -> str:
    """One stack's headline median, with the runs that did not recover beside it."""
    if f is None:
        return "not run"
    value = f[key]["median"]
    text = "n/a" if value is None else f"{value:.2f} s"
    if f["runs_without_recovery"]:
        text += f" (**{f['runs_without_recovery']} of {f['runs']} not recovered**)"
    return text


def summary_table(figures: dict[str, dict[str, dict[str, Any]]]) -> str:
    """One row per scenario: the medians of the three stacks and dualbeat's ratios."""
    stacks = ("dualbeat", *BASELINES)
    per_baseline = {b: ratios(figures, theirs=b) for b in BASELINES}
    rows = [
        "| scenario | runs | " + " | ".join(stacks) + " | "
        + " | ".join(f"ratio to {b}" for b in BASELINES) + " |",
        "|---|---|" + "---|" * (len(stacks) + len(BASELINES)),
    ]  # fmt: skip
    for scenario, found in figures.items():
        switchover = scenario == Scenario.SWITCHOVER.value
        key = "longest_write_gap_s" if switchover else "rto_s"
        title = TITLES[Scenario(scenario)] + (": longest write gap" if switchover else "")
        runs = "/".join(str(found[s]["runs"]) for s in stacks if s in found)
        cells = [_cell(found.get(s), key) for s in stacks]
        rs = [(per_baseline[b].get(scenario) or {}).get(headline(scenario)) for b in BASELINES]
        ratio_cells = ["n/a" if r is None else f"{r:.2f}" for r in rs]
        rows.append(f"| {title} | {runs} | " + " | ".join(cells + ratio_cells) + " |")
    return "\n".join(rows) + "\n"


def report(results: list[RunResult], out: Path | None, table_path: Path | None) -> str:
    """Write the JSON and the tables so far (one section per profile); the tables' text."""
    titles = {s.value: s.title for s in Scenario}
    sections = []
    for profile, runs in by_profile(results).items():
        figures = aggregate(runs)
        sections.append(
            f"### {PROFILE_TITLES.get(Profile(profile), profile)}\n\n"
            + summary_table(figures)
            + "\n"
            + markdown_table(figures, titles, BASELINES)
        )
    table = "\n".join(sections)
    if out:
        out.write_text(json.dumps(document(results), indent=2) + "\n")
    if table_path:
        table_path.write_text(table)
    return table


def profile_list(text: str) -> list[Profile]:
    """``tight,driver-defaults`` -> the profiles, in that order; a bad name is an error."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    allowed = {p.value: p for p in BENCH_PROFILES}
    for name in names:
        if name not in allowed:
            raise argparse.ArgumentTypeError(
                f"unknown profile {name!r} (choose from {', '.join(allowed)})"
            )
    if not names:
        raise argparse.ArgumentTypeError("no profile given")
    return [allowed[n] for n in names]


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
        "--profiles",
        type=profile_list,
        default=list(BENCH_PROFILES),
        help="the writer's connection profiles, comma-separated, each run in turn "
        "(default: tight,driver-defaults)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="minutes: start no new scenario run after this (the results so far are kept)",
    )
    parser.add_argument(
        "--hold-lock",
        action="store_true",
        help="hold the lab lock for the whole invocation (default: per scenario run); "
        "bound it with --budget",
    )
    parser.add_argument(
        "--caller-holds-lock",
        action="store_true",
        help="take no lab lock: the caller holds it (flock /tmp/dualbeat-sandbox.lock ...)",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here (after every run)")
    parser.add_argument("--table", type=Path, help="write the markdown table here (same)")
    parser.add_argument(
        "--chart", type=Path, help="write the PNG ratio chart of the first profile here"
    )
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
    # Run-major order: every scenario gets its first run before any gets a second, so a
    # batch cut short by --budget still covers them all.
    plan = [
        (profile, run, scenario)
        for profile in args.profiles
        for run in range(1, args.runs + 1)
        for scenario in scenarios
    ]
    whole = (
        lab_lock() if args.hold_lock and not args.caller_holds_lock else contextlib.nullcontext()
    )
    per_run = args.hold_lock or args.caller_holds_lock
    with whole:
        # counted from the first turn of the lab: time spent waiting for it is not the budget
        deadline = time.monotonic() + 60.0 * args.budget if args.budget else None
        for profile, run, scenario in plan:
            if deadline is not None and time.monotonic() >= deadline:
                progress(f"budget of {args.budget:g} min spent: stopping before "
                         f"{profile.value} {scenario.value} run {run}")  # fmt: skip
                break
            with contextlib.nullcontext() if per_run else lab_lock():
                for stack in stacks:
                    progress(f"[{time.strftime('%H:%M:%S')}] {profile.value} "
                             f"{scenario.value} run {run}/{args.runs}: {stack.name}")  # fmt: skip
                    r = run_once(stack, scenario, run, STATE, hold=args.hold,
                                 freeze_hold=args.freeze_hold, progress=progress,
                                 profile=profile)  # fmt: skip
                    progress(f"  -> {json.dumps(r.as_json())}")
                    results.append(r)
            table = report(results, args.out, args.table)  # after each run: partial results
    print(json.dumps(document(results), indent=2))
    if args.chart and results:
        first = results[0].profile
        chart(
            aggregate(r for r in results if r.profile == first),
            args.chart,
            PROFILE_TITLES.get(Profile(first), first),
        )
    progress(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
