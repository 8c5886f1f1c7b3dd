"""The event log: one JSON line per decision reason, appended and fsynced.

JSON lines because a crash can at worst truncate the last line, which ``read`` skips;
every earlier decision stays readable for ``dualbeat history`` and the drill timelines.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dualbeat.core.state import Reason

FILENAME = "events.jsonl"


class EventLog:
    def __init__(self, state_dir: Path, node: str) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / FILENAME
        self.node = node
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def write(self, reason: Reason, *, role: str, epoch: int) -> dict[str, Any]:
        record = {
            "ts": time.time(),
            "node": self.node,
            "role": role,
            "epoch": epoch,
            "code": reason.code,
            "text": reason.text,
            "evidence": reason.evidence,
        }
        line = json.dumps(record, default=str, sort_keys=True) + "\n"
        os.write(self._fd, line.encode())
        os.fsync(self._fd)
        return record

    def close(self) -> None:
        os.close(self._fd)


def read(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record; a torn last line (crash mid-write) is skipped."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record
