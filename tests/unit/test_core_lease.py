"""The split-brain rules of issue 5, one fake-clock scenario each: leases and promises,
the arbiter key, ping nodes (ipfail), the peer's replication view, the GTID high water."""

from __future__ import annotations

import dataclasses

from dualbeat.core.actions import (
    AcquireLease,
    Fence,
    KillSessions,
    PersistState,
    PrepareTakeover,
    ReleaseLease,
    ReleaseVip,
    RenewLease,
    SetReadOnly,
)
from dualbeat.core.durable import Durable
from dualbeat.core.findings import Finding
from dualbeat.core.lease import may_kick
from dualbeat.core.observations import (
    ActionDone,
    Command,
    LeaseAnswered,
    MysqlProbed,
    OperatorRequested,
    PingProbed,
)
from dualbeat.core.roles import Role
from dualbeat.core.state import CoreConfig
from tests.unit.core_driver import DB1, DB2, Driver, gtids, peer_beat

ARB1 = dataclasses.replace(DB1, arbiter=True, watchdog_timeout=1.0)
ARB2 = dataclasses.replace(DB2, arbiter=True)


def kinds(d: Driver) -> list[str]:
    return [type(a).__name__ for a in d.actions()]


def grant(d: Driver, valid_until: float, epoch: int = 1) -> None:
    d.feed(LeaseAnswered(AcquireLease(epoch), valid_until))


def arbiter_active(promise: float | None = 3.0) -> Driver:
    """db1 elected and promoted in arbiter mode, holding the key until 6.0 and (unless
    ``promise`` is None) the standby's promise until ``promise``."""
    d = Driver(ARB1)
    d.start()
    d.healthy(writable=True)
    d.vip(held=True)
    d.at(1.0, None)
    standby = dataclasses.replace(peer_beat(Role.STANDBY), seq=1, promise_until=promise)
    d.hear(standby)
    d.at(1.6)  # past our own start-up promise
    assert d.state.finding == Finding.AWAIT_LEASE.value
    assert any(isinstance(a, AcquireLease) for a in d.actions())
    grant(d, 6.0)
    assert d.role() is Role.ACTIVE
    d.settle()
    assert "PROMOTED" in d.codes()
    return d


def test_arbiter_mode_promotes_only_holding_the_key() -> None:
    d = arbiter_active()
    assert d.state.evidence.lease is not None


def test_active_renews_every_third_of_the_ttl() -> None:
    d = arbiter_active()
    d.decisions.clear()
    d.at(2.1, None)
    d.probe(writable=True)
    assert not any(isinstance(a, RenewLease) for a in d.actions())  # acquired at 1.6
    d.at(2.7)
    d.probe(writable=True)
    assert any(isinstance(a, RenewLease) for a in d.actions())


def test_active_demotes_before_both_the_lease_and_the_promise_end() -> None:
    d = arbiter_active(promise=3.0)
    d.at(2.3)
    d.feed(LeaseAnswered(RenewLease(), None))  # the key is gone
    assert d.role() is Role.ACTIVE  # the peer's promise still holds
    d.decisions.clear()
    d.at(2.5)  # 3.0 - margin 0.5: demote now
    assert d.role() is Role.STANDBY
    assert d.state.finding == Finding.LEASE_EXPIRED.value
    first = kinds(d)[:4]
    # No client write after the gate; the VIP goes before any MySQL step.
    assert first[:2] == ["ShutClients", "ReleaseVip"] and "SetReadOnly" in kinds(d)


def test_arbiter_outage_alone_keeps_an_active_that_hears_its_peer() -> None:
    d = arbiter_active(promise=3.0)
    for tick in range(20, 90):  # the key lapses at 6.0; the standby keeps promising
        t = tick / 10
        d.at(t)
        fresh = dataclasses.replace(peer_beat(Role.STANDBY), seq=tick, promise_until=t + 1.4)
        d.hear(fresh)
        d.probe(writable=True)
    assert d.role() is Role.ACTIVE
    assert d.state.evidence.lease is None
    assert "LEASE_LAPSED" in d.codes()
    assert any(isinstance(a, AcquireLease) for a in d.decisions[-1].actions) or any(
        isinstance(a, AcquireLease) for a in d.actions()
    )


def test_standby_promises_only_to_an_active_peer_and_keeps_its_promise() -> None:
    d = Driver(ARB2)
    d.start()
    d.healthy()
    d.at(0.5)
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    assert d.role() is Role.STANDBY
    assert d.state.evidence.promising
    assert d.state.evidence.promised_until == 0.5 + DB2.timing.deadtime
    d.at(1.0)
    # The peer stepped down unasked, and we hold more than it: we would win the election.
    d.hear(peer_beat(Role.STANDBY, node="db1", epoch=1, executed="1-1-5"))
    assert not d.state.evidence.promising
    d.at(0.5 + DB2.timing.deadtime - 0.25)  # but we promised until 0.5 + deadtime
    assert d.role() is Role.STANDBY
    assert d.state.finding == Finding.CANNOT_PROMOTE.value


def test_peer_that_yields_voids_the_promise() -> None:
    d = Driver(ARB2)
    d.start()
    d.healthy()
    d.at(2.0)
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    d.at(2.1)
    d.hear(peer_beat(Role.STANDBY, node="db1", epoch=1, yielding=True))
    assert d.state.finding == Finding.AWAIT_LEASE.value
    grant(d, 5.0, epoch=2)
    assert d.role() is Role.ACTIVE


def test_denied_key_keeps_the_standby_and_teaches_it_the_epoch() -> None:
    d = Driver(ARB2)
    d.start()
    d.healthy()
    d.at(1.0)
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=3))
    d.at(3.0)
    d.peer_sql(False)
    assert d.state.finding == Finding.AWAIT_LEASE.value
    d.feed(LeaseAnswered(AcquireLease(4), None, "db1", 4))
    assert d.role() is Role.STANDBY
    assert d.state.evidence.holder == "db1"
    assert d.state.durable.highest_seen == 4 and d.state.durable.epoch == 4


def test_key_taken_but_no_longer_needed_is_released() -> None:
    d = Driver(ARB2)
    d.start()
    d.healthy()
    d.at(1.0)
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    d.at(3.0)
    d.peer_sql(False)
    assert d.state.finding == Finding.AWAIT_LEASE.value
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))  # back before the answer
    grant(d, 6.0, epoch=2)
    assert d.role() is Role.STANDBY
    assert isinstance(d.decisions[-1].actions[-1], ReleaseLease)


def test_classic_mode_never_talks_to_an_arbiter() -> None:
    d = Driver(DB1)
    d.start()
    d.healthy()
    d.at(10.5)
    d.peer_sql(False)
    d.settle()
    assert d.role() is Role.ACTIVE
    assert not {"AcquireLease", "RenewLease", "ReleaseLease"} & set(kinds(d))


def test_node_reaching_no_ping_node_never_promotes() -> None:
    d = Driver(dataclasses.replace(DB2, ping=True))
    d.start()
    d.healthy()
    d.feed(PingProbed(False, "no answer"))
    d.at(10.5)
    d.peer_sql(False)
    assert d.role() is not Role.ACTIVE
    assert d.state.finding == Finding.CANNOT_PROMOTE.value
    d.feed(PingProbed(True))
    assert d.role() is Role.ACTIVE


def test_active_losing_the_peer_and_every_ping_node_demotes_itself() -> None:
    d = Driver(dataclasses.replace(DB1, ping=True))
    d.start()
    d.healthy(writable=True)
    d.vip(held=True)
    d.feed(PingProbed(True))
    d.at(0.5)
    d.hear(peer_beat(Role.STANDBY))
    d.settle()
    assert d.role() is Role.ACTIVE
    d.at(1.0)
    d.feed(PingProbed(False))
    d.feed(PingProbed(False))  # two rounds: one lost round is not a cut (issue 13, #11)
    assert d.role() is Role.ACTIVE  # the peer still answers
    d.at(2.5)
    assert d.role() is Role.STANDBY
    assert d.state.finding == Finding.ISOLATED.value
    assert {SetReadOnly(True), KillSessions(), ReleaseVip()} <= set(d.actions())
    assert "PING_LOST" in d.codes()


def test_replica_still_receiving_means_the_peer_is_alive() -> None:
    d = Driver(DB2)
    d.start()
    d.healthy(executed="1-1-10")
    d.at(1.0)
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    d.at(2.6)
    d.probe(executed="1-1-12")  # our I/O thread got more from it after the silence began
    d.peer_sql(False)
    assert d.state.finding == Finding.PEER_SILENT.value
    assert d.role() is Role.STANDBY
    d.at(4.2)  # nothing more came for deadtime: the last events were only in flight
    d.peer_sql(False)
    assert d.state.finding != Finding.PEER_SILENT.value


def test_high_water_mark_is_persisted() -> None:
    d = Driver(DB2)
    d.start()
    d.healthy(executed="1-1-10")
    d.settle()
    d.hear(peer_beat(Role.ACTIVE, node="db1", executed="1-1-15"))
    d.settle()  # standing by writes the state file; the high water follows once that is done
    d.at(1.5)
    d.probe(executed="1-1-12")
    saved = [a for a in d.actions() if isinstance(a, PersistState)]
    assert saved and saved[-1].durable.high_water == "1-1-15"


def behind_after_restart() -> Driver:
    d = Driver(DB2)
    d.start(Durable(epoch=2, highest_seen=2, high_water="1-1-20,2-2-5"))
    d.healthy(executed="1-1-18,2-2-5")
    return d


def test_node_behind_the_high_water_never_becomes_active_alone() -> None:
    d = behind_after_restart()
    d.at(10.5)
    d.peer_sql(False)
    assert d.role() is Role.STARTING
    assert d.state.finding == Finding.BEHIND_HIGH_WATER.value
    reason = next(r for dec in d.decisions for r in dec.reasons if r.code == "BEHIND_HIGH_WATER")
    assert reason.evidence["will_lose"] == "1-1-19..20"


def test_takeover_behind_the_mark_is_refused_and_force_names_the_loss() -> None:
    d = behind_after_restart()
    d.at(10.5)
    d.peer_sql(False)
    d.feed(OperatorRequested(Command.TAKEOVER))
    assert d.state.finding == Finding.TAKEOVER_REFUSED.value
    d.feed(OperatorRequested(Command.TAKEOVER_FORCE))
    assert d.role() is Role.ACTIVE
    text = d.decisions[-1].reasons[0].text
    assert "1-1-19..20" in text


def test_node_with_the_high_water_starts_alone() -> None:
    d = Driver(DB2)
    d.start(Durable(epoch=2, highest_seen=2, high_water="1-1-20"))
    d.healthy(executed="1-1-20")
    d.at(10.5)
    d.peer_sql(False)
    assert d.role() is Role.ACTIVE


def test_fence_hook_runs_before_a_promotion_over_a_silent_peer() -> None:
    d = Driver(dataclasses.replace(DB1, fence=True, fence_required=True))
    d.start()
    d.healthy()
    d.at(10.5)
    decision = d.peer_sql(False)
    names = [type(a).__name__ for a in decision.actions]
    assert names.index("Fence") < names.index("PrepareTakeover")
    fence = next(a for a in decision.actions if isinstance(a, Fence))
    assert fence.critical


def test_no_fence_when_the_peer_yielded() -> None:
    d = Driver(dataclasses.replace(DB2, fence=True))
    d.start()
    d.healthy()
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    d.at(0.3)
    decision = d.hear(peer_beat(Role.STANDBY, node="db1", epoch=1, yielding=True))
    assert d.role() is Role.ACTIVE
    assert not any(isinstance(a, Fence) for a in decision.actions)
    assert any(isinstance(a, PrepareTakeover) for a in decision.actions)


def test_watchdog_is_kicked_only_while_a_vote_outlasts_its_timeout() -> None:
    d = arbiter_active(promise=3.0)
    assert may_kick(ARB1, d.state, 2.0)  # the lease runs to 6.0
    assert not may_kick(ARB1, d.state, 5.5)
    classic = CoreConfig(node="db1", peer="db2", priority=0, watchdog_timeout=1.0)
    assert may_kick(classic, d.state, 100.0)
    standby = Driver(ARB2)
    standby.start()
    assert not may_kick(ARB2, standby.state, 0.0)


def test_restarted_agent_assumes_it_just_promised() -> None:
    d = Driver(ARB2)
    d.start()
    assert d.state.evidence.promised_until == ARB2.timing.deadtime


def test_mark_of_another_family_starts_over() -> None:
    d = Driver(DB2)
    d.start(Durable(high_water="3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"))
    d.feed(MysqlProbed(ok=True, executed=gtids("1-1-3"), received=gtids("1-1-3"), origin="2"))
    assert str(d.state.high_water) == "1-1-3"
    d.feed(ActionDone(SetReadOnly(True)))


def test_fenced_node_does_not_ask_for_the_key() -> None:
    d = Driver(ARB2)
    d.start(Durable(epoch=1, highest_seen=1, last_role=Role.FENCED))
    d.healthy()
    d.at(10.5)
    d.peer_sql(False)
    assert d.role() is Role.FENCED
    assert not any(isinstance(a, AcquireLease) for a in d.actions())


def test_forced_takeover_in_arbiter_mode_waits_for_the_key() -> None:
    d = Driver(ARB2)
    d.start(Durable(epoch=1, highest_seen=1, last_role=Role.FENCED))
    d.healthy()
    d.at(10.5)
    d.peer_sql(False)
    d.feed(OperatorRequested(Command.TAKEOVER_FORCE))
    assert d.state.finding == Finding.AWAIT_LEASE.value
    assert any(isinstance(a, AcquireLease) for a in d.decisions[-1].actions)
    grant(d, 14.0, epoch=2)
    assert d.role() is Role.ACTIVE


def test_a_free_key_refused_at_a_spent_epoch_is_asked_for_at_the_next() -> None:
    """The arbiter keeps the highest epoch it granted after the key is gone (its floor):
    a term no beat showed us still counts once the arbiter names it, so the retry asks
    for floor + 1 and two terms never share an epoch."""
    d = Driver(ARB2)
    d.start()
    d.healthy()
    d.at(1.0)
    d.hear(peer_beat(Role.STANDBY, node="db1", epoch=0))
    d.at(3.0)
    d.peer_sql(False)
    assert d.state.finding == Finding.AWAIT_LEASE.value
    assert AcquireLease(1) in d.actions()
    d.feed(LeaseAnswered(AcquireLease(1), None, None, 1))  # free, but epoch 1 was spent
    assert d.role() is Role.STANDBY
    assert d.state.durable.highest_seen == 1
    d.at(3.6)
    assert AcquireLease(2) in d.actions()


def test_a_restarted_active_takes_the_key_at_its_own_epoch() -> None:
    """A resume opens no term (no promotion, same epoch), so it asks for the key at that
    epoch, as its re-take after a lapsed lease will. Asking one above left the arbiter's
    floor over its own term, and refused that re-take forever (seed 4392)."""
    d = Driver(ARB1)
    d.start(Durable(epoch=1, highest_seen=1, last_role=Role.ACTIVE))
    d.healthy(writable=True)
    d.at(1.0)
    d.hear(dataclasses.replace(peer_beat(Role.STANDBY, epoch=1), seq=1, promise_until=None))
    assert d.state.finding == Finding.AWAIT_LEASE.value
    asked = [a for a in d.actions() if isinstance(a, AcquireLease)]
    assert asked and set(asked) == {AcquireLease(1)}
    grant(d, 6.0, epoch=1)
    assert d.role() is Role.ACTIVE and "RESUMED" in d.codes()
    assert d.state.durable.epoch == 1
