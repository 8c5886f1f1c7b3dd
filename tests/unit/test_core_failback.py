"""auto_failback: the non-preferred active hands back to the preferred node once it has
been a healthy, caught-up standby for the hold-down, and never twice within min_interval."""

from __future__ import annotations

import dataclasses

from dualbeat.core.actions import PersistState, ReadPosition, ReleaseVip, SetReadOnly
from dualbeat.core.durable import Durable
from dualbeat.core.findings import Finding
from dualbeat.core.observations import PeerBeat
from dualbeat.core.roles import Role
from dualbeat.core.state import Failback
from tests.unit.core_driver import DB1, DB2, Driver, peer_beat, promoted_active

FAILBACK = dataclasses.replace(DB2, failback=Failback(holddown=5.0, min_interval=60.0))


def preferred_standby(*, lag: int | None = 0, replicating: bool = True) -> PeerBeat:
    beat = peer_beat(Role.STANDBY, node="db1", epoch=1)
    return dataclasses.replace(beat, replicating=replicating, lag=lag)


def beats(d: Driver, until: float, beat: PeerBeat, every: float = 0.2) -> None:
    while d.now + every <= until + 1e-9:
        d.at(round(d.now + every, 3))
        d.hear(beat)


def test_hands_back_after_the_holddown_with_a_lossless_handover() -> None:
    d = promoted_active(FAILBACK)
    start = d.now
    beats(d, start + 4.8, preferred_standby())
    assert d.role() is Role.ACTIVE, "handed back before the hold-down"
    beats(d, start + 5.2, preferred_standby())
    assert d.role() is Role.STANDBY and Finding.FAILBACK_DUE.name in d.codes()
    actions = [a for dec in d.decisions[-3:] for a in dec.actions]
    names = [type(a).__name__ for a in actions]
    assert names.index("SetReadOnly") < names.index("ReadPosition") < names.index("ReleaseVip")
    assert SetReadOnly(True) in actions and ReadPosition() in actions and ReleaseVip() in actions
    persisted = [a.durable for a in actions if isinstance(a, PersistState)]
    assert persisted and persisted[-1].last_failback_at == d.now
    assert d.state.yielding, "the preferred node must see us yield and take over"


def test_any_interruption_restarts_the_holddown() -> None:
    d = promoted_active(FAILBACK)
    start = d.now
    beats(d, start + 4.0, preferred_standby())
    d.at(start + 4.1)
    d.hear(preferred_standby(lag=3))  # a lag spike
    beats(d, start + 8.8, preferred_standby())
    assert d.role() is Role.ACTIVE, "the hold-down did not restart after the lag spike"
    beats(d, start + 9.4, preferred_standby())
    assert d.role() is Role.STANDBY


def test_not_replicating_or_unknown_lag_never_counts() -> None:
    for beat in (preferred_standby(replicating=False), preferred_standby(lag=None)):
        d = promoted_active(FAILBACK)
        beats(d, d.now + 20.0, beat)
        assert d.role() is Role.ACTIVE


def test_anti_flapping_interval_survives_a_restart() -> None:
    d = Driver(FAILBACK)
    d.start(Durable(epoch=1, highest_seen=1, last_failback_at=d.now - 30.0))  # 30 s ago
    d.healthy()
    d.vip(held=False)
    d.at(10.5)
    d.peer_sql(False)
    d.settle()
    d.at(11.0)
    d.vip(held=True)
    d.probe(writable=True)
    d.settle()
    assert d.role() is Role.ACTIVE
    beats(d, 29.0, preferred_standby())
    assert d.role() is Role.ACTIVE, "failed back twice within min_interval"
    beats(d, 31.0, preferred_standby())
    assert d.role() is Role.STANDBY  # 60 s after the last one


def test_the_preferred_node_and_the_default_config_never_hand_back() -> None:
    for cfg in (DB1, DB2):  # DB1 is preferred; DB2 without [failback] auto
        d = promoted_active(dataclasses.replace(cfg, failback=None))
        other = "db2" if cfg is DB1 else "db1"
        beat = dataclasses.replace(
            peer_beat(Role.STANDBY, node=other, epoch=1), replicating=True, lag=0
        )
        beats(d, d.now + 120.0, beat, every=1.0)
        assert d.role() is Role.ACTIVE
