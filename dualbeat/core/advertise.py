"""What our heartbeat tells the peer about us: one rule, for the agent and the simulator.

Rule 1: a node says ``active`` from the moment it may serve until it can serve no more,
        at the epoch it serves at: a demoting node says so until its VIP is released (and
        adopts no newer epoch until then); a promoting node says what it
        was, at the epoch it had, until it holds the VIP at its new epoch (a takeover
        that may yet abort must not make a serving peer give up its role).
Rule 2: GTID sets go out only while current: read by the last probe, which succeeded.
        A failed server's last known sets lack whatever it committed since (a crash tail).
"""

from __future__ import annotations

from dataclasses import dataclass

from dualbeat.core.gtid import GtidSet
from dualbeat.core.roles import Health, Role
from dualbeat.core.state import NodeState


@dataclass(frozen=True)
class Advert:
    role: Role
    epoch: int
    writable: bool
    yielding: bool
    executed: GtidSet | None
    received: GtidSet | None


def advert(s: NodeState) -> Advert:
    local, p = s.local, s.promotion
    role, epoch = s.role, s.durable.epoch
    if s.demoting:
        role = Role.ACTIVE
    elif p is not None:
        role, epoch = p.was, p.was_epoch
    current = local.oks > 0
    return Advert(
        role=role,
        epoch=epoch,
        # A failed server's last known state is stale: never advertise it as writable.
        writable=bool(local.writable) and local.health is not Health.FAILED,
        yielding=s.yielding and not s.demoting,
        executed=local.executed if current else None,
        received=local.received if current else None,
    )
