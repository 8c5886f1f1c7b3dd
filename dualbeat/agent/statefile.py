"""The node's durable state file: epoch, last role, fenced reason, last takeover, the
GTID high-water mark (everything this node ever saw executed, on either server), the last
automatic failback, and the maintenance setting (a paused pair stays paused across restarts).

Written atomically (temp file, fsync, rename, fsync of the directory), so a crash leaves
either the old or the new state, never a torn file: the epoch is what stops a returning
old active from acting as active again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from dualbeat.core.durable import Durable, TakeoverRecord
from dualbeat.core.roles import Role
from dualbeat.errors import ConfigError

FILENAME = "state.json"


def to_json(durable: Durable) -> dict[str, object]:
    data = asdict(durable)
    data["last_role"] = durable.last_role.value
    return data


def _optional_float(value: object) -> float | None:
    return None if value is None else float(str(value))


def from_json(data: dict[str, object]) -> Durable:
    takeover = data.get("last_takeover")
    return Durable(
        epoch=int(str(data.get("epoch", 0))),
        highest_seen=int(str(data.get("highest_seen", 0))),
        last_role=Role(str(data.get("last_role", Role.STARTING.value))),
        fenced_reason=str(data.get("fenced_reason", "")),
        last_takeover=TakeoverRecord(**takeover) if isinstance(takeover, dict) else None,
        last_failback_at=_optional_float(data.get("last_failback_at")),
        maintenance=_flag("maintenance", data.get("maintenance", False)),
        maintenance_version=int(str(data.get("maintenance_version", 0))),
        high_water=str(data.get("high_water", "")),
    )


def _flag(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    return value


def load(state_dir: Path) -> Durable:
    """The remembered state, or a fresh one on first start. A corrupt file is an error."""
    path = state_dir / FILENAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Durable()
    try:
        return from_json(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path}: the agent's state file is unreadable ({exc}); it holds the epoch that "
            "prevents split brain: restore it from the peer's epoch or remove it knowingly"
        ) from None


def save(state_dir: Path, durable: Durable) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / FILENAME
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(to_json(durable), f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
