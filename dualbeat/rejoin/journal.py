"""The in-progress record of a rejoin: ``STATE_DIR/rejoin/in-progress.json`` of NODE.

Why it exists: after its first destructive step a rejoin must be finished the way it
began. A flashback that reset NODE's GTID history, or a physical rebuild that replaced
NODE's datadir, leaves a server whose GTID set no longer tells the truth about its data;
a fresh analysis of it, and a method chosen from that analysis, could restart the history
at a wrong position. So the method, and the position once known, are written here (fsync,
then rename) *before* the step that needs them, and removed only after the rejoin's
record is written. A run that finds the file resumes with the same method and position
(``method.choose``); a kill -9 at any moment leaves either no file (nothing destructive
done yet) or a file that says how to go on.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from dualbeat.rejoin.method import Method

__all__ = ["Journal", "clear", "load", "path", "write"]

_NAME = "in-progress.json"


@dataclass(frozen=True)
class Journal:
    method: Method
    mode: str  # reapply | discard
    stamp: str  # the rejoin's time stamp (its record's name)
    position: str | None = None  # where NODE's GTID history restarts, once known
    datadir: str | None = None  # backup: NODE's datadir (known while its server is down)
    binlog: str | None = None  # backup: the name of NODE's binary logs in its datadir
    server_stopped: bool = False  # backup: NODE's server was stopped by the rejoin
    swapped: bool = False  # backup: NODE's datadir now holds the active's copy

    def but(self, **changes: object) -> Journal:
        return replace(self, **changes)  # type: ignore[arg-type]


def path(directory: Path) -> Path:
    return directory / _NAME


def load(directory: Path) -> Journal | None:
    try:
        data = json.loads(path(directory).read_text())
    except FileNotFoundError:
        return None
    return Journal(**{**data, "method": Method(data["method"])})


def write(directory: Path, journal: Journal) -> Journal:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = directory / f".{_NAME}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({**asdict(journal), "method": journal.method.value}, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path(directory))
    return journal


def clear(directory: Path) -> None:
    path(directory).unlink(missing_ok=True)
