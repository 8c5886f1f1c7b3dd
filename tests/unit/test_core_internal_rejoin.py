"""Issue 12 item 1: a deposed active whose only difference with the new active is
dualbeat's own (the probe leaves its internal GTID domains out) rejoins by itself; one
holding a client write of its own stays fenced for the review."""

from __future__ import annotations

from dualbeat.core.actions import StartReplication
from dualbeat.core.roles import Role
from tests.unit.core_driver import Driver, peer_beat, promoted_active


def deposed(ours: str = "1-1-10") -> Driver:
    """db1 was active at epoch 1 with ``ours``; db2 took over (epoch 2) with db1's 1-1-10
    and added writes of its own."""
    d = promoted_active()
    d.at(20.0)
    d.probe(writable=True, executed=ours)
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed="1-1-10,2-2-3"))
    assert d.role() is Role.FENCED
    d.settle(executed=ours)
    return d


def keep_hearing(d: Driver, executed: str, until: float) -> list[object]:
    actions: list[object] = []
    t = d.now
    while t < until:
        t += 0.5
        d.at(t)
        actions += d.probe(executed=executed, replicating=False).actions
        actions += d.hear(peer_beat(Role.ACTIVE, epoch=2, executed="1-1-10,2-2-3")).actions
    return actions


def test_a_deposed_active_holding_nothing_of_its_own_rejoins_by_itself() -> None:
    d = deposed()
    actions = keep_hearing(d, "1-1-10", until=30.0)
    assert d.role() is Role.STANDBY
    assert StartReplication() in actions


def test_a_deposed_active_holding_a_client_write_stays_fenced() -> None:
    d = deposed("1-1-11")
    keep_hearing(d, "1-1-11", until=30.0)
    assert d.role() is Role.FENCED
