"""The node's history: every decision, its evidence and timings, appended and fsynced.

One JSON object per line in ``STATE_DIR/events.jsonl``: ``ts`` (wall clock), ``node``;
``role``, ``epoch``, ``maintenance`` and ``finding`` after the decision; ``code`` (the
core's reason code, stable), ``kind`` (decision, takeover, demotion, maintenance, rejoin, agent),
``text`` (one sentence) and ``evidence`` (the finding and the observations behind it;
phase timings for a takeover, with its takeover record; the report path for a rejoin).

Why JSON lines and not SQLite: the store is written by one agent and read rarely, by
time; each record is one ``write`` of a complete line on an ``O_APPEND`` descriptor,
then ``fsync``, so a crash (kill -9, power loss) can at worst leave the last line torn,
and a torn line is recognisable without any recovery machinery. ``read`` skips lines that
do not parse and ``History`` cuts a torn tail off when it opens, so the next record
starts on a line of its own. The file stays readable with ``tail -f``, ``grep`` and ``jq``
while the agent is down, and the drill timelines read the same file. SQLite (WAL) would
be as safe, but would add a schema and a second format for the same records.

The file is rotated at ``MAX_BYTES`` to ``events.1.jsonl`` (one generation kept), so a
flapping node cannot fill the disk; ``read`` covers both files.
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dualbeat.agent import statefile
from dualbeat.core.state import Decision, Reason

FILENAME = "events.jsonl"
ROTATED = "events.1.jsonl"
MAX_BYTES = 64 * 1024 * 1024
CLOCK_SLACK = 300.0  # seconds a wall-clock step back may disorder the records
_KINDS = {
    "PROMOTED": "takeover",
    "DEMOTED": "demotion",
    "MAINTENANCE_ON": "maintenance",
    "MAINTENANCE_OFF": "maintenance",
    "REJOIN_REPORT": "rejoin",
    "STARTED": "agent",
}


def kind_of(code: str) -> str:
    return _KINDS.get(code, "decision")


def repair(path: Path) -> int:
    """Cut a torn last line (a crash in the middle of a write) off ``path``; returns the
    bytes removed. Every complete line is kept, so nothing that was fsynced is lost."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = end = os.fstat(fd).st_size
        while end > 0:
            start = max(0, end - 4096)
            chunk = os.pread(fd, end - start, start)
            if end == size and chunk.endswith(b"\n"):
                return 0
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                end = start + cut + 1
                break
            end = start
        os.ftruncate(fd, end)
        os.fsync(fd)
        return size - end
    finally:
        os.close(fd)


class History:
    """The agent's writer; one per agent process.

    ``append`` is durable on return. ``decisions`` (the event loop's call) returns at
    once: its records are written and fsynced in the writer's own thread, in order, so a
    slow disk never holds up the loop (beats, the next decision, the actions it starts).
    ``close`` waits for every queued record."""

    def __init__(self, state_dir: Path, node: str) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path, self.node = state_dir / FILENAME, node
        self.repaired = repair(self.path)
        self._fd = self._open()
        self._queued: queue.Queue[Mapping[str, Any] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._drain, name="dualbeat-history", daemon=True)
        self._writer.start()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Write one record durably (returns it as written: JSON-safe)."""
        line = json.dumps(record, default=str, sort_keys=True, ensure_ascii=False) + "\n"
        os.write(self._fd, line.encode())
        os.fsync(self._fd)
        if os.fstat(self._fd).st_size >= MAX_BYTES:
            self._rotate()
        written: dict[str, Any] = json.loads(line)
        return written

    def _drain(self) -> None:
        while (record := self._queued.get()) is not None:
            self.append(record)

    def _rotate(self) -> None:
        os.close(self._fd)
        self.path.replace(self.path.with_name(ROTATED))
        self._fd = self._open()
        _fsync_dir(self.path.parent)

    def decisions(self, decision: Decision) -> list[dict[str, Any]]:
        """Queue every reason of one decision, with the state it left behind, for the
        writer thread; returns the records as they will be written (JSON-safe)."""
        s = decision.state
        records = []
        for reason in decision.reasons:
            evidence = dict(reason.evidence)
            if reason.code == "PROMOTED" and s.durable.last_takeover is not None:
                evidence["takeover"] = statefile.to_json(s.durable)["last_takeover"]
            record = event(
                self.node,
                reason,
                role=s.role.value,
                epoch=s.durable.epoch,
                maintenance=s.durable.maintenance,
                evidence=evidence,
                finding=s.finding or "",
            )
            self._queued.put(record)
            records.append(json.loads(json.dumps(record, default=str, ensure_ascii=False)))
        return records

    def close(self) -> None:
        """Write what is queued, then close the file."""
        self._queued.put(None)
        self._writer.join()
        os.close(self._fd)


def event(
    node: str,
    reason: Reason,
    *,
    role: str | None,
    epoch: int | None,
    maintenance: bool | None = None,
    evidence: Mapping[str, object] | None = None,
    ts: float | None = None,
    finding: str | None = None,
) -> dict[str, Any]:
    return {
        "ts": time.time() if ts is None else ts,
        "node": node,
        "role": role,
        "epoch": epoch,
        "maintenance": maintenance,
        "finding": finding,
        "code": reason.code,
        "kind": kind_of(reason.code),
        "text": reason.text,
        "evidence": dict(reason.evidence if evidence is None else evidence),
    }


def record(state_dir: Path, node: str, reason: Reason) -> dict[str, Any]:
    """Append one record from another process (the rejoin command), agent up or down.
    Role and epoch come from the state file, as the agent last persisted them."""
    durable = statefile.load(state_dir)
    history = History(state_dir, node)
    try:
        return history.append(
            event(
                node,
                reason,
                role=durable.last_role.value,
                epoch=durable.epoch,
                maintenance=durable.maintenance,
            )
        )
    finally:
        history.close()


@dataclass(frozen=True)
class Read:
    events: list[dict[str, Any]]  # oldest first
    damaged: int  # lines that were not a record (a torn write, a stray edit)


def _reverse_lines(path: Path, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """The lines of ``path`` from the last to the first, reading backwards in chunks: the
    questions asked of a history (the newest N, the last ten minutes) end near its end."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (a generator: closed by the with below)
    except FileNotFoundError:
        return
    with f:
        pos, rest = f.seek(0, os.SEEK_END), b""
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            f.seek(pos)
            lines = (f.read(step) + rest).split(b"\n")
            rest = lines[0]  # may continue in the chunk before
            yield from reversed(lines[1:])
        yield rest


def read(
    state_dir: Path,
    *,
    since: float | None = None,
    limit: int | None = None,
    clock_slack: float = CLOCK_SLACK,
) -> Read:
    """The records at or after ``since`` (wall clock), the newest ``limit`` of them, in
    the order they were written (oldest first). Readable while the agent runs or after it
    died: damaged lines are skipped and counted, never fatal.

    The files are read from the end and reading stops at ``limit`` records, or at the
    first record older than ``since`` by more than ``clock_slack`` (a wall clock stepped
    back may leave a few records out of time order), so recent questions cost little
    whatever the size of the store."""
    events: list[dict[str, Any]] = []
    damaged = 0
    if limit is not None and limit <= 0:
        return Read([], 0)
    for path in (state_dir / FILENAME, state_dir / ROTATED):
        for raw in _reverse_lines(path):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8", errors="replace"))
                ts = float(rec["ts"])
            except (ValueError, KeyError, TypeError):
                damaged += 1
                continue
            if since is not None and ts < since - clock_slack:
                return Read(events[::-1], damaged)
            if since is None or ts >= since:
                events.append(rec)
                if limit is not None and len(events) >= limit:
                    return Read(events[::-1], damaged)
    return Read(events[::-1], damaged)


def tail(state_dir: Path, count: int) -> list[dict[str, Any]]:
    """The newest ``count`` records (one frame of ``status --watch``)."""
    return read(state_dir, limit=count).events


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float) -> float:
    """``--since``: a span back from ``now`` (``90s``, ``10m``, ``2h``, ``1d``) or an ISO
    8601 time (``2026-11-25T17:00``, local time unless it names a zone). ValueError with
    the accepted forms otherwise."""
    if match := _DURATION.match(text):
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a span back from now (90s, 10m, 2h, 1d) nor an ISO 8601 "
            "time (2026-11-25T17:00, 2026-11-25 17:00:00+00:00)"
        ) from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
