"""What a node remembers across restarts: epoch, last role, last takeover, GTID high water,
the last automatic failback and whether automation is paused (maintenance mode).

The agent writes it to the state file (atomically, fsynced) before acting on it, and the
epoch also to a table on the server: a node that comes back must know whether it may have
been the active when the peer took over.
"""

from __future__ import annotations

from dataclasses import dataclass

from dualbeat.core.roles import Role


@dataclass(frozen=True)
class TakeoverRecord:
    """Written by the new active at every promotion (the lost-writes analysis starts here)."""

    epoch: int
    at: float  # wall-clock seconds, for humans
    new_active: str
    old_active: str
    reason: str
    peer_executed: str  # the old active's executed GTID set as last heard
    peer_received: str
    local_executed: str  # what the new active had executed when it took over
    unapplied: str  # received from the old active but not applied within the timeout


@dataclass(frozen=True)
class Durable:
    epoch: int = 0
    highest_seen: int = 0  # the highest epoch any heartbeat ever showed this node
    last_role: Role = Role.STARTING
    fenced_reason: str = ""
    last_takeover: TakeoverRecord | None = None
    last_failback_at: float | None = None  # wall-clock seconds of the last automatic failback
    # Maintenance mode (automation paused), with a version that grows at every change: the
    # pair converges on the setting with the highest version (see ``core.maintenance``).
    maintenance: bool = False
    maintenance_version: int = 0
    # The union of every executed GTID set this node saw (its own and the peer's), as text:
    # after a full restart a node behind it must not become active by itself.
    high_water: str = ""
