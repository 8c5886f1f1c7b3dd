"""Benchmark arithmetic, kept pure: summaries, overlap of sampled states, the side-by-side
table and the dualbeat / keepalived ratios.

Why a module of its own: ``bench/compare.py`` runs drills on the real lab, but what it
reports is computed here from plain records, so the numbers in bench/RESULTS.md come from
code with unit tests, and the failover, switchover and compare benchmarks summarise their
runs the same way.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def summary(values: Sequence[float]) -> dict[str, float | None]:
    """min / median / max rounded to the millisecond; None each when there is no value."""
    if not values:
        return {"min": None, "median": None, "max": None}
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


@dataclass(frozen=True)
class Sample:
    """One observation of one node: ``value`` of ``kind`` ("vip" or "writable") at ``ts``.

    A server that did not answer is sampled as not writable: it takes no write then.
    """

    ts: float
    node: str
    kind: str
    value: bool


def overlap_seconds(samples: Iterable[Sample], kind: str) -> float:
    """Seconds during which every sampled node had ``kind`` true at the same time.

    Each node's state holds from one of its samples to its next (step function); time
    before a node's first sample counts as false. The result is exact for the sampled
    states, so its resolution is the sampling period.
    """
    series = sorted((s for s in samples if s.kind == kind), key=lambda s: s.ts)
    nodes = {s.node for s in series}
    if len(nodes) < 2:
        return 0.0
    state: dict[str, bool] = {}
    total = 0.0
    previous: float | None = None
    for s in series:
        if previous is not None and len(state) == len(nodes) and all(state.values()):
            total += s.ts - previous
        state[s.node] = s.value
        previous = s.ts
    return total


@dataclass(frozen=True)
class RunResult:
    """One drill of one stack: what the writer and the samplers saw, and the repair."""

    stack: str
    scenario: str
    run: int
    rto_s: float | None
    longest_gap_s: float | None
    acked_lost: int
    two_vip_holders_s: float
    two_writable_s: float
    checksum_equal: bool | None  # None: the pair could not be repaired and compared
    differing_rows: int | None
    error: str | None = None
    old_active: str | None = None
    new_active: str | None = None
    profile: str = "tight"  # the writer's connection profile (dualbeat_lab.writer.Profile)
    # Two hosts answering ARP for the VIP (None: not sampled, runs saved before 2026-12-05).
    two_arp_answerers_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResult:
        return cls(**dict(data))


def aggregate(results: Iterable[RunResult]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{scenario: {stack: figures}}`` over the runs, in the order first seen."""
    groups: dict[str, dict[str, list[RunResult]]] = {}
    for r in results:
        groups.setdefault(r.scenario, {}).setdefault(r.stack, []).append(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for scenario, stacks in groups.items():
        out[scenario] = {}
        for stack, runs in stacks.items():
            out[scenario][stack] = {
                "runs": len(runs),
                "rto_s": summary([r.rto_s for r in runs if r.rto_s is not None]),
                "runs_without_recovery": sum(1 for r in runs if r.rto_s is None),
                "longest_write_gap_s": summary(
                    [r.longest_gap_s for r in runs if r.longest_gap_s is not None]
                ),
                "acked_writes_lost": sum(r.acked_lost for r in runs),
                "two_vip_holders_s_max": round(max(r.two_vip_holders_s for r in runs), 3),
                "two_arp_answerers_s_max": _max_sampled(r.two_arp_answerers_s for r in runs),
                "two_writable_s_max": round(max(r.two_writable_s for r in runs), 3),
                "runs_diverged": sum(1 for r in runs if r.checksum_equal is False),
                "runs_not_compared": sum(1 for r in runs if r.checksum_equal is None),
                "errors": [r.error for r in runs if r.error],
            }
    return out


def _sampled(value: float | None) -> str:
    return "not sampled" if value is None else f"{value:.3f}"


def _max_sampled(values: Iterable[float | None]) -> float | None:
    """The largest of the sampled values; None when no run sampled it."""
    sampled = [v for v in values if v is not None]
    return round(max(sampled), 3) if sampled else None


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs, None when either is missing or theirs is zero."""
    if ours is None or theirs is None or theirs == 0:
        return None
    return round(ours / theirs, 3)


def ratios(
    figures: Mapping[str, Mapping[str, Mapping[str, Any]]],
    ours: str = "dualbeat",
    theirs: str = "keepalived",
) -> dict[str, dict[str, float | None]]:
    """Per scenario: median RTO and median longest gap of ``ours`` divided by ``theirs``."""
    out: dict[str, dict[str, float | None]] = {}
    for scenario, stacks in figures.items():
        a, b = stacks.get(ours), stacks.get(theirs)
        if a is None or b is None:
            continue
        out[scenario] = {
            "rto_median": ratio(a["rto_s"]["median"], b["rto_s"]["median"]),
            "gap_median": ratio(
                a["longest_write_gap_s"]["median"], b["longest_write_gap_s"]["median"]
            ),
        }
    return out


def _triple(s: Mapping[str, float | None]) -> str:
    if s["median"] is None:
        return "n/a"
    return f"{s['min']:.3f} / {s['median']:.3f} / {s['max']:.3f}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def markdown_table(
    figures: Mapping[str, Mapping[str, Mapping[str, Any]]],
    scenario_titles: Mapping[str, str] | None = None,
    baselines: Sequence[str] = ("keepalived",),
) -> str:
    """The side-by-side table: one row per scenario and stack, ratios in the last columns.

    Runs that never recovered have no RTO, so the RTO column covers the others only; the
    "not recovered" column beside the run count keeps them in sight. One ratio column per
    baseline stack (dualbeat's median RTO over the baseline's), on dualbeat's rows.
    """
    titles = scenario_titles or {}
    ratio_heads = "".join(
        f"| RTO ratio to {b} " if len(baselines) > 1 else "| RTO ratio " for b in baselines
    )
    rows = [
        "| scenario | stack | runs | not recovered | RTO min / median / max (s) "
        "| longest gap median (s) "
        "| acked lost | VIP on two hosts max (s) | two hosts answering ARP for it max (s) "
        f"| two writable max (s) | diverged runs {ratio_heads}|",
        "|---|---|---|---|---|---|---|---|---|---|---" + "|---" * len(baselines) + "|",
    ]
    all_ratios = {b: ratios(figures, theirs=b) for b in baselines}
    for scenario, stacks in figures.items():
        for stack, f in stacks.items():
            ratio_cells = "".join(
                "|  "
                if stack != "dualbeat"
                else f"| {_num(all_ratios[b].get(scenario, {}).get('rto_median'))} "
                for b in baselines
            )
            diverged = f"{f['runs_diverged']}"
            if f["runs_not_compared"]:
                diverged += f" ({f['runs_not_compared']} not compared)"
            rows.append(
                f"| {titles.get(scenario, scenario)} | {stack} | {f['runs']} "
                f"| {f['runs_without_recovery']} | {_triple(f['rto_s'])} "
                f"| {_num(f['longest_write_gap_s']['median'])} "
                f"| {f['acked_writes_lost']} | {f['two_vip_holders_s_max']:.3f} "
                f"| {_sampled(f.get('two_arp_answerers_s_max'))} "
                f"| {f['two_writable_s_max']:.3f} | {diverged} "
                f"{ratio_cells}|"
            )
    return "\n".join(rows) + "\n"
