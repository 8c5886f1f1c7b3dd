"""Maintenance mode in the pure core: judged and logged, never acted on; one fake-clock
scenario per rule (see ``dualbeat.core.maintenance``)."""

from __future__ import annotations

import dataclasses

from dualbeat.core.actions import (
    ClaimVip,
    Exit,
    PersistState,
    PrepareTakeover,
    ReleaseVip,
    SendBeat,
    SetReadOnly,
)
from dualbeat.core.durable import Durable
from dualbeat.core.findings import Finding
from dualbeat.core.observations import (
    ActionDone,
    Command,
    OperatorRequested,
    PeerBeat,
    ShutdownRequested,
)
from dualbeat.core.roles import Health, Role
from tests.unit.core_driver import DB2, Driver, peer_beat, promoted_active


def paused(d: Driver) -> Driver:
    d.feed(OperatorRequested(Command.MAINTENANCE_ON))
    d.settle()
    assert d.state.durable.maintenance
    return d


def standby_of_db1() -> Driver:
    d = Driver(DB2)
    d.start(Durable(epoch=1, highest_seen=1))
    d.healthy()
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-20"))
    d.settle()
    return d


def with_maintenance(beat: PeerBeat, on: bool, version: int) -> PeerBeat:
    return dataclasses.replace(beat, maintenance=on, maintenance_version=version)


def test_maintenance_on_is_persisted_announced_and_logged() -> None:
    d = promoted_active()
    decision = d.feed(OperatorRequested(Command.MAINTENANCE_ON))
    persist = next(a for a in decision.actions if isinstance(a, PersistState))
    assert persist.durable.maintenance and persist.durable.maintenance_version == 1
    assert SendBeat() in decision.actions
    assert [r.code for r in decision.reasons][:1] == ["MAINTENANCE_ON"]
    assert d.role() is Role.ACTIVE and d.state.command is None
    off = d.feed(OperatorRequested(Command.MAINTENANCE_OFF))
    assert not d.state.durable.maintenance and d.state.durable.maintenance_version == 2
    assert "MAINTENANCE_OFF" in [r.code for r in off.reasons]


def test_paused_standby_does_not_take_over_from_a_dead_peer_then_does_when_resumed() -> None:
    d = paused(standby_of_db1())
    d.at(2.0)
    decision = d.peer_sql(False)
    assert d.role() is Role.STANDBY and d.state.finding == Finding.PEER_DEAD.value
    assert decision.actions == ()
    held = next(r for r in decision.reasons if r.code == "PEER_DEAD")
    assert held.evidence["held"] == "active" and held.evidence["maintenance"] is True
    assert "held by maintenance mode" in held.text
    d.at(5.0)
    assert not any(isinstance(a, PrepareTakeover) for a in d.actions())
    resumed = d.feed(OperatorRequested(Command.MAINTENANCE_OFF))
    assert d.role() is Role.ACTIVE and d.state.finding == Finding.PEER_DEAD.value
    assert PrepareTakeover(5.0) in resumed.actions


def test_paused_active_whose_mysql_fails_keeps_the_vip_and_does_nothing() -> None:
    d = paused(promoted_active())
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    before = len(d.actions())
    for _ in range(5):
        d.probe(ok=False)
    assert d.state.local.health is Health.FAILED
    assert d.role() is Role.ACTIVE and d.state.finding == Finding.LOCAL_FAILED.value
    assert d.actions()[before:] == []
    assert {"MYSQL_FAILED", "LOCAL_FAILED"} <= set(d.codes())
    resumed = d.feed(OperatorRequested(Command.MAINTENANCE_OFF))
    assert d.role() is Role.STANDBY and d.state.yielding
    assert ReleaseVip() in resumed.actions


def test_paused_nodes_take_no_corrective_action() -> None:
    active = paused(promoted_active())
    before = len(active.actions())
    active.vip(held=False)  # someone removed the VIP
    active.probe(writable=False)  # and made the server read-only
    active.at(20.0)
    assert active.actions()[before:] == []
    resumed = active.feed(OperatorRequested(Command.MAINTENANCE_OFF))
    assert ClaimVip() in resumed.actions and SetReadOnly(False) in resumed.actions
    standby = paused(standby_of_db1())
    decision = standby.probe(writable=True)  # someone made the standby writable
    assert decision.actions == ()
    resumed = standby.feed(OperatorRequested(Command.MAINTENANCE_OFF))
    assert SetReadOnly(True) in resumed.actions


def test_operator_commands_are_refused_while_paused() -> None:
    d = paused(promoted_active())
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    for command in (Command.STANDBY, Command.SWITCHOVER):
        decision = d.feed(OperatorRequested(command))
        assert d.state.finding == Finding.MAINTENANCE_REFUSED.value
        assert decision.actions == () and d.role() is Role.ACTIVE
    standby = paused(standby_of_db1())
    standby.feed(OperatorRequested(Command.TAKEOVER_FORCE))
    assert standby.state.finding == Finding.MAINTENANCE_REFUSED.value
    assert standby.role() is Role.STANDBY


def test_shutdown_while_paused_exits_without_handing_over() -> None:
    d = paused(promoted_active())
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    decision = d.feed(ShutdownRequested())
    assert list(decision.actions) == [Exit()]
    assert d.role() is Role.ACTIVE and not d.state.yielding


def test_the_newer_setting_of_the_peer_is_adopted() -> None:
    d = standby_of_db1()
    beat = peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-20")
    decision = d.hear(with_maintenance(beat, True, 3))
    assert d.state.durable.maintenance and d.state.durable.maintenance_version == 3
    assert PersistState(d.state.durable) in decision.actions
    assert "set on db1" in next(r.text for r in decision.reasons if r.code == "MAINTENANCE_ON")
    assert d.hear(with_maintenance(beat, False, 2)).reasons == ()  # older: ignored
    assert d.state.durable.maintenance
    d.hear(with_maintenance(beat, False, 4))
    assert not d.state.durable.maintenance
    # One version, two settings (both toggled at once): "on" wins on both sides.
    d.hear(with_maintenance(beat, True, 4))
    assert d.state.durable.maintenance


def test_a_toggle_outranks_every_version_heard() -> None:
    d = standby_of_db1()
    beat = peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-20")
    d.hear(with_maintenance(beat, True, 7))
    d.feed(OperatorRequested(Command.MAINTENANCE_OFF))
    assert d.state.durable.maintenance_version == 8 and not d.state.durable.maintenance
    d.hear(with_maintenance(beat, True, 7))  # the peer's stale beat does not undo it
    assert not d.state.durable.maintenance


def test_node_started_paused_adopts_the_role_its_servers_show() -> None:
    active = Driver(DB2)
    active.start(Durable(epoch=4, highest_seen=4, maintenance=True, maintenance_version=1))
    active.healthy(writable=True)
    assert active.role() is Role.STARTING  # the VIP not seen yet: no guess
    decision = active.vip(held=True)
    assert active.role() is Role.ACTIVE and decision.actions == ()
    assert "ROLE_ADOPTED" in active.codes()
    standby = Driver()
    standby.start(Durable(epoch=4, highest_seen=4, maintenance=True, maintenance_version=1))
    standby.healthy(writable=False)
    standby.vip(held=False)
    standby.hear(peer_beat(Role.ACTIVE, epoch=4))
    assert standby.role() is Role.STANDBY
    assert not any(isinstance(a, PrepareTakeover | SetReadOnly) for a in standby.actions())


def test_a_promotion_under_way_when_paused_finishes() -> None:
    d = standby_of_db1()
    d.at(2.0)
    d.peer_sql(False)
    assert d.role() is Role.ACTIVE and d.state.promotion is not None
    d.feed(OperatorRequested(Command.MAINTENANCE_ON))
    d.settle()
    d.vip(held=True)
    assert "PROMOTED" in d.codes() and d.state.promotion is None


def test_promotion_records_each_phase_and_the_yielding_side_its_fence() -> None:
    d = standby_of_db1()
    d.at(2.0)
    d.peer_sql(False)
    d.at(2.5)
    d.settle()
    promoted = next(r for dec in d.decisions for r in dec.reasons if r.code == "PROMOTED")
    phases = promoted.evidence
    assert {"detect_s", "fence_s", "apply_s", "promote_s", "vip_s", "total_s"} <= set(phases)
    assert phases["detect_s"] == 2.0 and phases["apply_s"] == 0.5
    assert phases["planned"] is False  # a failover (a switchover's promotion is strict)
    old = promoted_active()
    old.hear(peer_beat(Role.STANDBY, epoch=1))
    old.feed(OperatorRequested(Command.STANDBY))
    old.at(12.25)
    old.feed(ActionDone(ReleaseVip()))
    fence = next(r for dec in old.decisions for r in dec.reasons if r.code == "DEMOTED")
    assert fence.evidence["fence_s"] == 0.25 and fence.evidence["vip_released"] is True
