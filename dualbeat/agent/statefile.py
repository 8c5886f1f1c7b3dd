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
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from dualbeat.core.durable import Durable, TakeoverRecord
from dualbeat.core.roles import Role
from dualbeat.errors import ConfigError

FILENAME = "state.json"
BOOT_FILE = "boot_id"  # the last boot id (see ``next_boot_id``)


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


def load(state_dir: Path, *, server_epoch: Callable[[], int | None] | None = None) -> Durable:
    """The remembered state, or a fresh one on first start. A corrupt file is an error.

    Without a file, ``server_epoch`` (the agent's start) tells a first start from a lost
    file: the epoch ``dualbeat.epoch`` holds on our server, None when it holds none. A
    pair that ran already (an epoch there) and a node that forgot its state cannot know
    it was not fenced: it comes back fenced, for the operator's rejoin, rather than
    silently unfenced as a fresh node."""
    path = state_dir / FILENAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        epoch = server_epoch() if server_epoch is not None else None
        if not epoch:
            return Durable()
        return Durable(
            epoch=epoch,
            highest_seen=epoch,
            last_role=Role.FENCED,
            fenced_reason=f"the state file {path} was lost while the server's dualbeat.epoch "
            f"shows epoch {epoch}: whether this node was fenced is unknown; review it and run "
            "`dualbeat rejoin`",
        )
    try:
        return from_json(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path}: the agent's state file is unreadable ({exc}); it holds the epoch that "
            "prevents split brain: restore it from the peer's epoch or remove it knowingly"
        ) from None


def next_boot_id(state_dir: Path, *, wall_ns: int) -> int:
    """This start's boot id for the heartbeat: larger than every earlier one of this node,
    because the peer drops beats of an older boot as replays. The wall clock in ns, or
    one more than the last boot id when the clock stepped back; saved before use."""
    path = state_dir / BOOT_FILE
    try:
        last = int(path.read_text())
    except (FileNotFoundError, ValueError):
        last = 0
    boot = max(wall_ns, last + 1)
    _write_atomically(state_dir, BOOT_FILE, f"{boot}\n")
    return boot


def save(state_dir: Path, durable: Durable) -> None:
    _write_atomically(state_dir, FILENAME, json.dumps(to_json(durable), indent=2, sort_keys=True))


def _write_atomically(state_dir: Path, name: str, text: str) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / name
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
