"""What happened after a fault: the writer's log and the agents' events on one time axis.

Why here and this shape: the demo, the tests and the benchmark all ask the same questions
of a drill — when was the fault noticed, when was the new active writable, when did the
application write again (RTO), how long did it go without an acknowledged write, and were
acknowledged writes lost (RPO) — and they must answer them the same way. Everything is
wall-clock ``time.time()``, the clock of the fault injectors, the writer and the agents
(all on one machine, so one clock).

Definitions, chosen so a number cannot flatter the failover:

* only writes *sent* at or after the fault count as "after the fault" (a write sent before
  and acknowledged after proves nothing about the new active);
* ``rto`` is the first such write's acknowledgement minus the fault time;
* ``longest_gap`` runs between consecutive acknowledgements, starting from the last one
  before the fault; when nothing was acknowledged after it, the gap is open and ends at
  the writer's last attempt.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dualbeat_lab.sandbox.layout import Lab
from dualbeat_lab.writer import WriteRecord

DETECTION_CODES = frozenset(
    {"MYSQL_FAILED", "PEER_DEAD", "PEER_YIELDED", "LOCAL_FAILED", "LINK_DOWN", "CARRIER_LOST"}
)
PROMOTED = "PROMOTED"
EVENTS_FILE = "events.jsonl"
_SHOWN_EVENTS = 20


@dataclass(frozen=True)
class AgentEvent:
    """One line of an agent's ``events.jsonl``."""

    ts: float
    node: str
    code: str
    role: str | None = None
    epoch: int | None = None
    text: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentEvent:
        epoch = data.get("epoch")
        role = data.get("role")
        return cls(
            ts=float(data["ts"]),
            node=str(data.get("node", "?")),
            code=str(data["code"]),
            role=None if role is None else str(role),
            epoch=None if epoch is None else int(epoch),
            text=str(data.get("text", "")),
            evidence=dict(data.get("evidence") or {}),
        )


def load_events(paths: Iterable[Path]) -> list[AgentEvent]:
    """Events from several files, by time. A missing file is empty; a last line still being
    written (no newline yet) is skipped."""
    events = []
    for path in paths:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        for number, line in enumerate(text.split("\n")[:-1], start=1):
            if line.strip():
                try:
                    events.append(AgentEvent.from_json(json.loads(line)))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{number}: not an agent event: {exc}") from exc
    return sorted(events, key=lambda e: e.ts)


def lab_event_paths(lab: Lab) -> list[Path]:
    """``<state>/<node>/agent/events.jsonl`` of every database host of the lab."""
    return [lab.node_paths(h.name).agent_dir / EVENTS_FILE for h in lab.db_hosts]


def lost_writes(writes: Iterable[WriteRecord], present_seqs: Iterable[int]) -> list[int]:
    """Acknowledged seqs missing from ``present_seqs`` (the final active's ``app.writes``)."""
    present = set(present_seqs)
    return sorted(w.seq for w in writes if w.acked and w.seq not in present)


@dataclass(frozen=True)
class Gap:
    """The time between two acknowledgements (``end`` None: nothing acknowledged after)."""

    start: WriteRecord
    end: WriteRecord | None
    until: float  # end.acked_at, or the last attempt's sent_at for an open gap

    @property
    def seconds(self) -> float:
        assert self.start.acked_at is not None
        return self.until - self.start.acked_at

    @property
    def closed(self) -> bool:
        return self.end is not None

    def contains(self, ts: float) -> bool:
        assert self.start.acked_at is not None
        return self.start.acked_at <= ts <= self.until


def _longest_gap(writes: Sequence[WriteRecord], fault_at: float) -> Gap | None:
    acks = sorted((w for w in writes if w.acked_at is not None), key=lambda w: w.acked_at or 0.0)
    before = [w for w in acks if (w.acked_at or 0.0) <= fault_at]
    chain = acks[len(before) - 1 :] if before else acks
    if not chain:
        return None
    best: Gap | None = None
    for prev, nxt in itertools.pairwise(chain):
        gap = Gap(prev, nxt, nxt.acked_at or 0.0)
        if best is None or gap.seconds > best.seconds:
            best = gap
    last_try = max(w.sent_at for w in writes)
    tail = chain[-1]
    if tail.acked_at is not None and last_try > tail.acked_at:
        open_gap = Gap(tail, None, last_try)
        if best is None or open_gap.seconds > best.seconds:
            best = open_gap
    return best


@dataclass(frozen=True)
class Timeline:
    """The milestones of one drill; build it with ``Timeline.build``."""

    fault_at: float
    detected: AgentEvent | None
    promoted: AgentEvent | None
    last_ack_before: WriteRecord | None
    first_write_after: WriteRecord | None
    longest_gap: Gap | None
    writes_total: int
    writes_acked: int
    errors: int  # failed attempts sent at or after the fault
    error_kinds: Mapping[str, int]  # their short texts, with counts
    events_after: tuple[AgentEvent, ...]

    @property
    def detected_at(self) -> float | None:
        return self.detected.ts if self.detected else None

    @property
    def promoted_at(self) -> float | None:
        return self.promoted.ts if self.promoted else None

    @property
    def rto(self) -> float | None:
        w = self.first_write_after
        return None if w is None or w.acked_at is None else w.acked_at - self.fault_at

    @classmethod
    def build(
        cls,
        fault_at: float,
        writes: Iterable[WriteRecord],
        events: Iterable[AgentEvent | Mapping[str, Any]] = (),
    ) -> Timeline:
        """Line up the writer log and the agents' events (objects or raw JSON dicts)."""
        ws = sorted(writes, key=lambda w: w.sent_at)
        evs = sorted(
            (e if isinstance(e, AgentEvent) else AgentEvent.from_json(e) for e in events),
            key=lambda e: e.ts,
        )
        after = [e for e in evs if e.ts >= fault_at]
        acked_before = [w for w in ws if w.acked_at is not None and w.acked_at <= fault_at]
        failed = [w for w in ws if w.sent_at >= fault_at and w.error is not None]
        kinds: dict[str, int] = {}
        for w in failed:
            kinds[w.error or ""] = kinds.get(w.error or "", 0) + 1
        return cls(
            fault_at=fault_at,
            detected=next((e for e in after if e.code in DETECTION_CODES), None),
            promoted=next((e for e in after if e.code == PROMOTED), None),
            last_ack_before=max(acked_before, key=lambda w: w.acked_at or 0.0, default=None),
            first_write_after=next((w for w in ws if w.acked and w.sent_at >= fault_at), None),
            longest_gap=_longest_gap(ws, fault_at) if ws else None,
            writes_total=len(ws),
            writes_acked=sum(1 for w in ws if w.acked),
            errors=len(failed),
            error_kinds=kinds,
            events_after=tuple(after),
        )

    def _ms(self, ts: float | None) -> float | None:
        return None if ts is None else round((ts - self.fault_at) * 1000, 1)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict: absolute times, offsets from the fault in ms, the figures."""
        gap = self.longest_gap
        first = self.first_write_after
        return {
            "fault_at": self.fault_at,
            "detected_at": self.detected_at,
            "detected_ms": self._ms(self.detected_at),
            "detected_code": self.detected.code if self.detected else None,
            "detected_node": self.detected.node if self.detected else None,
            "promoted_at": self.promoted_at,
            "promoted_ms": self._ms(self.promoted_at),
            "promoted_node": self.promoted.node if self.promoted else None,
            "promoted_epoch": self.promoted.epoch if self.promoted else None,
            "first_write_after_seq": first.seq if first else None,
            "first_write_after_server_id": first.server_id if first else None,
            "first_write_after_acked_ms": self._ms(first.acked_at) if first else None,
            "rto_s": self.rto,
            "longest_gap_s": gap.seconds if gap else None,
            "longest_gap_closed": gap.closed if gap else None,
            "longest_gap_from_ms": self._ms(gap.start.acked_at) if gap else None,
            "longest_gap_to_ms": self._ms(gap.until) if gap else None,
            "writes_total": self.writes_total,
            "writes_acked": self.writes_acked,
            "errors": self.errors,
            "error_kinds": dict(self.error_kinds),
        }

    def render(self) -> str:
        """A readable timeline, offsets in ms from the fault, in time order."""
        rows: list[tuple[float, str]] = [(self.fault_at, "fault injected")]
        if (w := self.last_ack_before) and w.acked_at is not None:
            rows.append((w.acked_at, f"last ack before the fault: seq {w.seq} ({_sid(w)})"))
        shown = self.events_after[:_SHOWN_EVENTS]
        for e in shown:
            mark = " <- detected" if e is self.detected else ""
            mark += " <- promoted" if e is self.promoted else ""
            epoch = f" epoch {e.epoch}" if e.epoch is not None else ""
            rows.append((e.ts, f"{e.node} {e.code}{epoch}: {e.text}{mark}"))
        if len(self.events_after) > len(shown):
            more = len(self.events_after) - len(shown)
            rows.append((shown[-1].ts, f"... {more} more events"))
        if (w := self.first_write_after) and w.acked_at is not None:
            sent = self._ms(w.sent_at)
            text = (
                f"first write after the fault acked: seq {w.seq} ({_sid(w)}, sent {sent:+.1f} ms)"
            )
            rows.append((w.acked_at, text))
        lines = [f"{self._ms(ts):+10.1f} ms  {text}" for ts, text in sorted(rows)]
        gap = self.longest_gap
        lines.append("")
        detect, promote = _sub(self.detected_at, self), _sub(self.promoted_at, self)
        lines.append(
            f"RTO: {_fmt_s(self.rto)}; detected: {_fmt_s(detect)}; promoted: {_fmt_s(promote)}"
        )
        if gap is not None:
            end = f"seq {gap.end.seq}" if gap.end else "still open at the last attempt"
            lines.append(
                f"longest gap without an ack: {gap.seconds * 1000:.1f} ms "
                f"(seq {gap.start.seq} -> {end})"
            )
        lines.append(
            f"writes: {self.writes_acked} acked of {self.writes_total}; "
            f"{self.errors} failed after the fault"
        )
        for text, count in sorted(self.error_kinds.items(), key=lambda kv: -kv[1])[:5]:
            lines.append(f"  {count:5d} x {text}")
        return "\n".join(lines)


def _sid(w: WriteRecord) -> str:
    return f"server_id {w.server_id}" if w.server_id is not None else "server unknown"


def _sub(ts: float | None, t: Timeline) -> float | None:
    return None if ts is None else ts - t.fault_at


def _fmt_s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"
