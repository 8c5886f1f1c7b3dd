"""The chaos verdict: pure checks over what the run recorded. No lab, no clock, no SQL.

Checks (each a list of violations; the run fails if any is non-empty):

* **one writer at a time**: acknowledged writes are grouped by (server_id, epoch), the
  promotion that made that server writable. A group's *period* runs from its first write's
  ``sent_at`` to its last write's ``acked_at``; periods of different servers must not
  overlap. Why periods and not single writes: two servers taking writes at once show as
  interleaved writes of two groups, whose periods overlap even when no two single
  (millisecond) intervals do. An overlap inside a fault that cut db1 from db2 while the
  client saw both is reported apart as *expected in classic mode* (no arbiter) and is not a
  violation there; with an arbiter it is one.
* **no acknowledged write missing**: every acknowledged ``(writer, seq)`` is in the final
  active's table, unless a lost-writes report (``rejoin --analyze`` of a fenced node) lists
  it; those are counted as "lost, reported".
* **every step settles**: after each step's heal, one active within the bound; a step that
  never settles is a failure even if the run converges later.
* **convergence**: after the final heal, one active and one standby within the bound, and
  ``dualbeat checksum`` found both servers equal.
* **no agent crash**: no traceback in the agent logs, and every agent the run did not kill
  on purpose still alive (no restarts by the suite outside the agent-kill and host-restart
  faults).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dualbeat_lab.writer import WriteRecord


@dataclass(frozen=True)
class Period:
    """When one server, at one epoch, acknowledged writes."""

    server_id: int | None
    epoch: int | None
    first_sent: float
    last_acked: float
    writes: int


@dataclass(frozen=True)
class Window:
    """A fault's time span and whether classic mode may show two writers during it."""

    step: int
    kind: str
    target: str
    start: float
    end: float
    classic_limit: bool


@dataclass(frozen=True)
class Overlap:
    a: Period
    b: Period
    seconds: float
    expected_classic: bool
    step: int | None


@dataclass
class Evidence:
    """Everything the run observed, as plain data (the checker's only input)."""

    attempts: Sequence[WriteRecord]
    final_keys: set[tuple[str, int]] | None  # rows on the final active; None: not read
    reported_lost: set[tuple[str, int]]  # keys listed by lost-writes reports
    windows: Sequence[Window]
    arbiter: bool
    converged_s: float | None  # seconds after the final heal; None: never
    bound_s: float
    final_roles: Mapping[str, str | None]
    checksum_equal: bool | None
    checksum_note: str
    tracebacks: Mapping[str, list[str]]  # agent log -> lines starting a traceback
    dead_agents: Sequence[str]  # agents not alive at the end though not killed on purpose
    unresolved: Sequence[str] = field(default_factory=list)  # fenced nodes left fenced
    unsettled: Sequence[int] = field(default_factory=list)  # steps with no active after


def periods(attempts: Iterable[WriteRecord]) -> list[Period]:
    """Acknowledged writes grouped by (server_id, epoch), ordered by their first write."""
    groups: dict[tuple[int | None, int | None], list[WriteRecord]] = {}
    for a in attempts:
        if a.acked_at is not None:
            groups.setdefault((a.server_id, a.epoch), []).append(a)
    out = [
        Period(
            sid,
            epoch,
            min(a.sent_at for a in group),
            max(a.acked_at or 0.0 for a in group),
            len(group),
        )
        for (sid, epoch), group in groups.items()
    ]
    return sorted(out, key=lambda p: p.first_sent)


def overlaps(ps: Sequence[Period], windows: Sequence[Window], *, arbiter: bool) -> list[Overlap]:
    """Every pair of periods of different servers that share time."""
    found = []
    for i, a in enumerate(ps):
        for b in ps[i + 1 :]:
            if a.server_id == b.server_id:
                continue
            start, end = max(a.first_sent, b.first_sent), min(a.last_acked, b.last_acked)
            if end <= start:
                continue
            window = next((w for w in windows if w.start <= end and start <= w.end), None)
            expected = not arbiter and window is not None and window.classic_limit
            step = window.step if window else None
            found.append(Overlap(a, b, round(end - start, 6), expected, step))
    return found


def longest_gap(attempts: Sequence[WriteRecord], start: float, end: float) -> float | None:
    """Longest time without an acknowledgement between ``start`` and ``end`` (the last ack
    before ``start`` opens it); None when nothing was acknowledged at all."""
    acks = sorted(a.acked_at for a in attempts if a.acked_at is not None)
    before = [t for t in acks if t <= start]
    inside = [t for t in acks if start < t <= end]
    chain = before[-1:] + inside
    if not chain:
        return None
    edges = [*chain, max(end, chain[-1])]
    return round(max(b - a for a, b in itertools.pairwise(edges)), 3)


def missing(attempts: Iterable[WriteRecord], final: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Acknowledged keys absent from the final active."""
    return {a.key for a in attempts if a.acked and a.key not in final}


def verdict(ev: Evidence) -> dict[str, Any]:
    """The JSON verdict: ``ok``, the violations (one line each) and the figures."""
    ps = periods(ev.attempts)
    over = overlaps(ps, ev.windows, arbiter=ev.arbiter)
    acked = [a for a in ev.attempts if a.acked]
    violations: list[str] = []
    for o in over:
        if not o.expected_classic:
            violations.append(
                f"two writers: server {o.a.server_id} (epoch {o.a.epoch}) and server "
                f"{o.b.server_id} (epoch {o.b.epoch}) both acknowledged writes during the same "
                f"{o.seconds:.3f} s" + (f" (step {o.step})" if o.step else "")
            )
    if ev.final_keys is None:
        gone: set[tuple[str, int]] = set()
        violations.append("the final active's rows could not be read")
    else:
        gone = missing(acked, ev.final_keys)
    unexplained = sorted(gone - ev.reported_lost)
    if unexplained:
        shown = ", ".join(f"{w}#{s}" for w, s in unexplained[:10])
        violations.append(
            f"{len(unexplained)} acknowledged writes missing and not in any lost-writes "
            f"report: {shown}"
        )
    if ev.converged_s is None or ev.converged_s > ev.bound_s:
        violations.append(
            f"no convergence to one active + one standby within {ev.bound_s:g} s after the "
            f"final heal (roles {dict(ev.final_roles)})"
        )
    for step in ev.unsettled:
        violations.append(f"step {step} never settled: no single active after its heal")
    for node in ev.unresolved:
        violations.append(f"{node} stayed fenced: {node}'s lost writes could not be resolved")
    if ev.checksum_equal is not True:
        violations.append(f"checksums after the final heal: {ev.checksum_note}")
    for log, lines in ev.tracebacks.items():
        if lines:
            violations.append(f"traceback in {log}: {lines[0]}")
    for node in ev.dead_agents:
        violations.append(f"the agent on {node} died without being killed by the suite")
    reported_acked = {a.key for a in acked} & ev.reported_lost
    gaps = {str(w.step): longest_gap(ev.attempts, w.start, w.end) for w in ev.windows}
    return {
        "ok": not violations,
        "violations": violations,
        "mode": "arbiter" if ev.arbiter else "classic",
        "writes": {
            "attempts": len(ev.attempts),
            "acked": len(acked),
            "missing_unreported": len(unexplained),
            "lost_reported": len(reported_acked),
            "lost_reported_now_present": len(
                reported_acked - gone if ev.final_keys is not None else set()
            ),
        },
        "periods": [asdict(p) for p in ps],
        "longest_gap_s": gaps,
        "overlaps": [
            {
                "servers": [o.a.server_id, o.b.server_id],
                "epochs": [o.a.epoch, o.b.epoch],
                "seconds": o.seconds,
                "step": o.step,
                "expected_in_classic_mode": o.expected_classic,
            }
            for o in over
        ],
        "converged_s": ev.converged_s,
        "bound_s": ev.bound_s,
        "final_roles": dict(ev.final_roles),
        "checksum_equal": ev.checksum_equal,
        "checksum_note": ev.checksum_note,
    }


def traceback_lines(text: str) -> list[str]:
    """Lines of an agent log that start a Python traceback."""
    return [line for line in text.splitlines() if line.startswith("Traceback (most recent")]
