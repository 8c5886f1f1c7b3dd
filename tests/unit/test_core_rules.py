"""Every decision rule of the agent issue, one fake-clock scenario each (no I/O anywhere)."""

from __future__ import annotations

import dataclasses

from dualbeat.core.actions import (
    ClaimVip,
    Exit,
    HookEvent,
    KillSessions,
    PersistState,
    PrepareTakeover,
    ReleaseVip,
    RunHook,
    SendBeat,
    SetReadOnly,
    StartReplication,
    StopReplication,
)
from dualbeat.core.durable import Durable
from dualbeat.core.findings import Finding
from dualbeat.core.observations import (
    ActionDone,
    ActionFailed,
    CheckRan,
    Command,
    OperatorRequested,
    PositionRead,
    ProbeFailure,
    ShutdownRequested,
    TakeoverPrepared,
)
from dualbeat.core.roles import Health, Role
from dualbeat.core.transitions import TABLE, to_dot
from tests.unit.core_driver import DB1, DB2, Driver, gtids, peer_beat, promoted_active


def kinds(decision_actions: object) -> list[str]:
    return [type(a).__name__ for a in decision_actions]  # type: ignore[attr-defined]


def test_table_has_exactly_one_row_per_role_and_finding() -> None:
    assert set(TABLE) == {(r, f) for r in Role for f in Finding}
    assert len(TABLE) == len(Role) * len(Finding)
    assert "standby -> active" in to_dot()


def test_starting_waits_initdead_for_the_peer() -> None:
    d = Driver()
    d.start()
    decision = d.healthy()
    assert d.role() is Role.STARTING and d.state.finding == Finding.INITDEAD.value
    assert decision.wake_at == 10.0
    d.at(9.9)
    assert d.role() is Role.STARTING


def test_alone_after_initdead_promotes_only_when_peer_sql_is_unreachable() -> None:
    d = Driver()
    d.start()
    d.healthy()
    d.at(10.1)
    assert d.state.finding == Finding.PEER_SILENT.value and d.role() is Role.STARTING
    decision = d.peer_sql(False)
    assert d.role() is Role.ACTIVE
    assert PrepareTakeover(5.0) in decision.actions


def test_alone_with_a_lower_epoch_than_seen_does_not_promote() -> None:
    d = Driver()
    d.start(Durable(epoch=2, highest_seen=3, last_role=Role.STANDBY))
    d.healthy()
    d.at(10.1)
    d.peer_sql(False)
    assert d.role() is Role.STARTING
    assert d.state.finding == Finding.CANNOT_PROMOTE.value


def test_higher_durable_epoch_becomes_active_at_startup() -> None:
    low = Driver()  # db1 has config priority but a lower epoch
    low.start(Durable(epoch=2, highest_seen=2))
    low.healthy()
    low.hear(peer_beat(Role.STARTING, epoch=3, writable=False, vip_held=False))
    assert low.role() is Role.STANDBY and low.state.finding == Finding.NOT_ELECTED.value
    high = Driver(DB2)
    high.start(Durable(epoch=3, highest_seen=3))
    high.healthy()
    high.hear(peer_beat(Role.STARTING, node="db1", epoch=2, writable=False, vip_held=False))
    assert high.role() is Role.ACTIVE and high.state.finding == Finding.ELECTED.value


def test_restarted_agent_under_a_running_active_keeps_it_active() -> None:
    d = Driver(DB2)  # lower priority, but its MySQL is writable and it holds the VIP
    d.start(Durable(epoch=4, highest_seen=4, last_role=Role.ACTIVE))
    d.healthy(writable=True)
    d.vip(held=True)
    d.hear(peer_beat(Role.STANDBY, node="db1", epoch=4, writable=False, vip_held=False))
    assert d.role() is Role.ACTIVE


def test_never_two_actives_when_both_start_together() -> None:
    a, b = Driver(), Driver(DB2)
    for d in (a, b):
        d.start(Durable(epoch=1, highest_seen=1))
        d.healthy()
    for t in range(1, 30):
        now = t * 0.2
        a.at(now)
        b.at(now)
        a.hear(
            peer_beat(
                b.role(), node="db2", epoch=b.state.durable.epoch, writable=False, vip_held=False
            )
        )
        b.hear(
            peer_beat(
                a.role(), node="db1", epoch=a.state.durable.epoch, writable=False, vip_held=False
            )
        )
        assert not (a.role() is Role.ACTIVE and b.role() is Role.ACTIVE)
    assert {a.role(), b.role()} == {Role.ACTIVE, Role.STANDBY}
    assert a.role() is Role.ACTIVE  # config order breaks the tie


def test_active_whose_mysql_fails_releases_the_vip_first_then_yields() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    d.probe(ok=False)
    d.probe(ok=False)
    assert d.role() is Role.ACTIVE
    decision = d.probe(ok=False)
    assert d.role() is Role.STANDBY and d.state.yielding and d.state.demoting
    names = kinds(decision.actions)
    assert names[0] == "ShutClients"
    assert names.index("ReleaseVip") < names.index("SetReadOnly") < names.index("KillSessions")
    assert SendBeat() in decision.actions
    assert "MYSQL_FAILED" in d.codes() and "LOCAL_FAILED" in d.codes()
    d.feed(ActionDone(ReleaseVip()))
    assert not d.state.demoting  # only now may the peer hear that we yield


def test_handover_makes_mysql_read_only_before_releasing_the_vip() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    decision = d.feed(OperatorRequested(Command.STANDBY))
    names = kinds(decision.actions)
    assert names[0] == "ShutClients"
    assert names.index("SetReadOnly") < names.index("KillSessions") < names.index("ReleaseVip")


def test_standby_promotes_at_once_when_the_active_yields() -> None:
    d = Driver(DB2)
    d.start(Durable(epoch=1, highest_seen=1))
    d.healthy()
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    assert d.role() is Role.STANDBY
    d.at(0.3)
    decision = d.hear(
        peer_beat(Role.STANDBY, node="db1", epoch=1, yielding=True, writable=False, vip_held=False)
    )
    assert d.role() is Role.ACTIVE and d.state.finding == Finding.PEER_YIELDED.value
    assert PrepareTakeover(5.0) in decision.actions


def standby_of_db1() -> Driver:
    d = Driver(DB2)
    d.start(Durable(epoch=1, highest_seen=1))
    d.healthy()
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-20"))
    d.settle()
    return d


def test_peer_dead_needs_silence_and_sql_unreachable() -> None:
    d = standby_of_db1()
    d.peer_sql(False)  # an old failure, from before the last beat...
    d.at(0.1)
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    d.at(1.7)
    assert d.role() is Role.STANDBY  # ...cannot condemn the peer
    assert d.state.finding == Finding.PEER_SILENT.value
    d.peer_sql(True)
    assert d.role() is Role.STANDBY  # its MySQL answers: the agent died, not the server
    decision = d.peer_sql(False)
    assert d.role() is Role.ACTIVE and d.state.finding == Finding.PEER_DEAD.value
    assert kinds(decision.actions) == ["RunHook", "SendBeat", "PrepareTakeover"]
    reason = next(r for r in decision.reasons if r.code == "PEER_DEAD")
    assert (
        reason.evidence["peer_silent_s"] == 1.6 and reason.evidence["peer_sql_reachable"] is False
    )


def test_promotion_claims_vip_then_raises_epoch_durably_before_writable() -> None:
    """Issue 13 finding 3: read_only stays on (and the epoch unchanged) until the VIP
    claim is confirmed; then the new epoch is durable before the server is writable."""
    d = standby_of_db1()
    d.at(2.0)
    d.peer_sql(False)
    prepared = d.feed(
        TakeoverPrepared(gtids("1-1-19"), gtids("1-1-20"), gtids("1-1-20..20"), applied_all=False)
    )
    assert kinds(prepared.actions) == ["ClaimVip"]
    assert d.state.durable.epoch == 1
    assert "APPLY_TIMEOUT" in [r.code for r in prepared.reasons]
    claimed = d.feed(ActionDone(ClaimVip()))
    names = kinds(claimed.actions)
    assert names.index("PersistState") < names.index("SetReadOnly")
    persist = next(a for a in claimed.actions if isinstance(a, PersistState))
    record = persist.durable.last_takeover
    assert persist.durable.epoch == 2 and record is not None
    assert record.peer_executed == "1-1-20" and record.unapplied == "1-1-20..20"
    assert record.old_active == "db1" and record.new_active == "db2"
    assert SetReadOnly(False) in claimed.actions
    d.settle()
    promoted = next(r for dec in d.decisions for r in dec.reasons if r.code == "PROMOTED")
    assert promoted.evidence["epoch"] == 2
    assert {"detect_s", "apply_s", "promote_vip_s", "total_s"} <= set(promoted.evidence)


def test_failed_standby_never_promotes() -> None:
    d = standby_of_db1()
    for _ in range(3):
        d.probe(ok=False)
    assert d.state.local.health is Health.FAILED
    d.at(2.0)
    d.peer_sql(False)
    assert d.role() is Role.STANDBY
    assert not any(isinstance(a, PrepareTakeover) for a in d.actions())


def test_misconfigured_or_busy_mysql_never_fails_over() -> None:
    for failure, code in (
        (ProbeFailure.MISCONFIGURED, "MYSQL_MISCONFIGURED"),
        (ProbeFailure.BUSY, "MYSQL_BUSY"),
    ):
        d = promoted_active()
        d.hear(peer_beat(Role.STANDBY, epoch=1))
        for _ in range(10):
            d.probe(ok=False, failure=failure)
        assert d.role() is Role.ACTIVE
        assert code in d.codes()
        assert "LOCAL_FAILED" not in d.codes()


def test_returning_old_active_with_unreplicated_writes_is_fenced() -> None:
    d = Driver()
    d.start(Durable(epoch=1, highest_seen=1, last_role=Role.ACTIVE))
    d.healthy(writable=True, executed="1-1-25")
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed="1-1-20,2-2-3"))
    assert d.role() is not Role.FENCED  # a heartbeat may lag: the writes must stay missing
    d.at(0.5)
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed="1-1-20,2-2-3"))
    assert d.role() is not Role.FENCED
    before = len(d.decisions)
    d.at(0.7)  # warntime after the first sight: the wake-up alone fences
    assert d.role() is Role.FENCED and d.state.finding == Finding.HOLDS_ERRANT.value
    fencing = [a for dec in d.decisions[before:] for a in dec.actions]
    assert SetReadOnly(True) in fencing and StopReplication() in fencing
    fenced = d.state.durable
    assert (
        fenced.last_role is Role.FENCED and "transactions the active lacks" in fenced.fenced_reason
    )
    again = Driver()
    again.start(fenced)
    assert again.role() is Role.FENCED  # survives a restart
    again.healthy(writable=False, executed="1-1-25")
    again.at(20.0)
    again.peer_sql(False)
    assert again.role() is Role.FENCED  # and never promotes by itself


def test_returning_node_without_errant_writes_becomes_standby() -> None:
    d = Driver()
    d.start(Durable(epoch=1, highest_seen=1, last_role=Role.ACTIVE))
    d.healthy(executed="1-1-20")
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed="1-1-20,2-2-3"))
    assert d.role() is Role.STANDBY
    assert d.state.durable.epoch == 2  # adopts the active's epoch


def test_stale_active_fences_itself_on_a_newer_epoch() -> None:
    d = promoted_active()  # epoch 1
    d.probe(writable=True, executed="1-1-11")  # a write of ours the new active lacks
    decision = d.hear(peer_beat(Role.ACTIVE, epoch=2))
    assert d.role() is Role.FENCED and d.state.finding == Finding.PEER_NEWER_EPOCH.value
    # The gate and the VIP first: nothing before the release waits on MySQL.
    assert kinds(decision.actions)[:5] == [
        "ShutClients",
        "ReleaseVip",
        "SendBeat",
        "SetReadOnly",
        "KillSessions",
    ]


def test_vip_removed_by_someone_is_added_back_once() -> None:
    d = promoted_active()
    first = d.vip(held=False)
    assert ClaimVip() in first.actions
    again = d.vip(held=False)
    assert ClaimVip() not in again.actions  # still in flight


def test_passive_node_found_writable_is_made_read_only() -> None:
    d = standby_of_db1()
    decision = d.probe(writable=True)
    assert SetReadOnly(True) in decision.actions


def test_active_losing_carrier_yields() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    d.vip(held=True, carrier=False)
    assert d.role() is Role.ACTIVE  # one sample is a NIC renegotiating (issue 13, #11)
    decision = d.vip(held=True, carrier=False)
    assert d.role() is Role.STANDBY and d.state.finding == Finding.LINK_DOWN.value
    assert ReleaseVip() in decision.actions


def test_shutdown_hands_over_to_a_healthy_standby_unless_keep() -> None:
    d = promoted_active()
    caught_up = dataclasses.replace(peer_beat(Role.STANDBY, epoch=1), replicating=True, lag=0)
    d.hear(caught_up)
    decision = d.feed(ShutdownRequested())
    assert d.role() is Role.STANDBY and d.state.yielding
    assert SetReadOnly(True) in decision.actions
    assert Exit() not in decision.actions  # only once the peer took over (issue 13, #8)
    d.settle()
    decision = d.hear(peer_beat(Role.ACTIVE, epoch=2))
    assert kinds(decision.actions)[-1] == "Exit"
    kept = promoted_active()
    kept.hear(peer_beat(Role.STANDBY, epoch=1))
    decision = kept.feed(ShutdownRequested(keep=True))
    assert kept.role() is Role.ACTIVE and list(decision.actions) == [Exit()]


def test_operator_standby_needs_a_healthy_standby() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1, mysql=Health.FAILED))
    d.feed(OperatorRequested(Command.STANDBY))
    assert d.role() is Role.ACTIVE and "STANDBY_REFUSED" in d.codes()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    d.feed(OperatorRequested(Command.STANDBY))
    assert d.role() is Role.STANDBY and d.state.yielding


def test_takeover_asks_a_live_active_to_yield() -> None:
    d = standby_of_db1()
    d.feed(OperatorRequested(Command.TAKEOVER))
    assert d.role() is Role.STANDBY and d.state.wants_takeover
    active = promoted_active()
    active.hear(peer_beat(Role.STANDBY, epoch=1, wants_takeover=True))
    assert active.role() is Role.STANDBY and active.state.yielding


def test_takeover_refuses_while_the_peer_holds_more_unless_forced() -> None:
    d = standby_of_db1()  # the peer had 1-1-20; we applied 1-1-10
    d.at(5.0)
    d.feed(OperatorRequested(Command.TAKEOVER))
    assert d.role() is Role.STANDBY and "TAKEOVER_REFUSED" in d.codes()
    d.feed(OperatorRequested(Command.TAKEOVER_FORCE))
    assert d.role() is Role.ACTIVE and d.state.finding == Finding.TAKEOVER_NOW.value


def test_critical_failure_aborts_the_promotion() -> None:
    d = standby_of_db1()
    d.at(2.0)
    d.peer_sql(False)
    d.feed(TakeoverPrepared(gtids("1-1-20"), gtids("1-1-20"), None, True))
    decision = d.feed(ActionFailed(ClaimVip(), "VIP 10.0.0.100 answered by 02:00:00:00:00:01"))
    assert d.role() is Role.STANDBY and "PROMOTION_ABORTED" in d.codes()
    assert SetReadOnly(True) in decision.actions


def test_active_restarts_replication_from_a_caught_up_standby() -> None:
    d = promoted_active()
    d.probe(writable=True, replicating=False, executed="1-1-30")
    decision = d.hear(peer_beat(Role.STANDBY, epoch=1, executed="1-1-30"))
    assert StartReplication() in decision.actions


def test_active_does_not_restart_replication_from_a_fenced_peer() -> None:
    d = promoted_active()
    d.probe(writable=True, replicating=False, executed="1-1-30")
    decision = d.hear(peer_beat(Role.FENCED, epoch=0, executed="1-1-35"))
    assert StartReplication() not in decision.actions
    assert KillSessions() not in decision.actions


def test_standby_ahead_of_a_stale_beat_is_not_errant() -> None:
    d = standby_of_db1()  # the active's last beat said 1-1-20
    d.probe(executed="1-1-23")  # we already applied its newer writes
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-20"))
    assert d.role() is Role.STANDBY


def test_standby_that_wrote_itself_is_fenced() -> None:
    d = standby_of_db1()
    d.probe(executed="1-1-20,2-2-1")  # something wrote on the passive (server 2)
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-20"))
    d.at(0.8)  # errant past warntime, the active heard within deadtime
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-20"))
    assert d.role() is Role.FENCED and d.state.finding == Finding.HOLDS_ERRANT.value


def test_handed_over_writes_the_new_actives_beat_does_not_show_yet_are_not_errant() -> None:
    d = Driver()  # the old active after a switchover: its last writes 1-1-26..30
    d.start(Durable(epoch=1, highest_seen=1, last_role=Role.STANDBY))
    d.healthy(executed="1-1-30")
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed="1-1-25"))  # beat from before applying
    d.at(0.3)
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed="1-1-30,2-2-1"))  # caught up
    d.at(2.0)
    d.hear(peer_beat(Role.ACTIVE, epoch=2, executed="1-1-30,2-2-1"))
    assert d.role() is Role.STANDBY and d.state.errant_since is None


def test_node_whose_link_returns_does_not_judge_the_peer_by_its_own_outage() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    d.vip(held=True, carrier=False)  # our link is cut...
    d.vip(held=True, carrier=False)  # ...still: we yield
    assert d.role() is Role.STANDBY
    d.at(20.0)
    d.peer_sql(False)  # probed through the dead link: no evidence
    d.at(20.1)
    d.vip(held=False, carrier=True)
    assert d.role() is Role.STANDBY  # silence only counts from the carrier's return
    d.at(21.0)
    d.peer_sql(False)
    assert d.role() is Role.STANDBY and d.state.finding == Finding.PEER_SILENT.value
    d.at(21.7)
    d.peer_sql(False)  # deadtime of silence heard with our link up: now it is evidence
    assert d.role() is Role.ACTIVE and d.state.finding == Finding.PEER_DEAD.value


def test_failing_extra_check_counts_like_a_failed_probe() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    d.feed(CheckRan("disk", False, "exit 1: /var/lib/mysql 99% full"))
    d.feed(CheckRan("disk", False, "exit 1: /var/lib/mysql 99% full"))
    assert d.role() is Role.ACTIVE
    d.feed(CheckRan("disk", False, "exit 1: /var/lib/mysql 99% full"))
    assert d.role() is Role.STANDBY and d.state.finding == Finding.LOCAL_FAILED.value
    assert "CHECK_FAILED" in d.codes()


def test_pre_promote_veto_aborts_the_promotion() -> None:
    d = Driver(dataclasses.replace(DB2, pre_promote_veto=True))
    d.start(Durable(epoch=1, highest_seen=1))
    d.healthy()
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    d.settle()
    d.at(2.0)
    decision = d.peer_sql(False)
    hook = next(a for a in decision.actions if isinstance(a, RunHook))
    assert hook.veto and hook.event is HookEvent.PRE_PROMOTE
    d.feed(ActionFailed(hook, "exited 1: maintenance window"))
    assert d.role() is Role.STANDBY and "PROMOTION_ABORTED" in d.codes()


def test_switchover_hands_over_its_final_position_and_the_standby_must_apply_it() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    decision = d.feed(OperatorRequested(Command.SWITCHOVER))
    names = kinds(decision.actions)
    assert names.index("KillSessions") < names.index("ReadPosition") < names.index("ReleaseVip")
    d.feed(PositionRead(gtids("1-1-30")))
    assert d.state.final_executed == gtids("1-1-30") and d.state.yielding

    standby = standby_of_db1()
    standby.at(3.0)
    decision = standby.hear(
        peer_beat(
            Role.STANDBY,
            node="db1",
            epoch=1,
            yielding=True,
            writable=False,
            vip_held=False,
            final="1-1-30",
        )
    )
    assert PrepareTakeover(5.0, target=gtids("1-1-30"), strict=True) in decision.actions
    return_ = standby.feed(
        TakeoverPrepared(gtids("1-1-28"), gtids("1-1-28"), gtids("1-1-29..30"), applied_all=False)
    )
    assert standby.role() is Role.STANDBY and "SWITCHOVER_ABORTED" in standby.codes()
    assert StartReplication() in return_.actions
    assert not any(isinstance(a, SetReadOnly) and not a.on for a in standby.actions())


def test_after_a_rolled_back_switchover_the_node_with_more_data_wins() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1, executed="1-1-10"))
    d.feed(OperatorRequested(Command.SWITCHOVER))
    d.settle(executed="1-1-30")
    d.probe(executed="1-1-30")
    d.at(20.0)  # the yield expired: the peer never took over
    d.hear(peer_beat(Role.STANDBY, epoch=1, executed="1-1-28", writable=False, vip_held=False))
    assert d.role() is Role.ACTIVE and d.state.finding == Finding.ELECTED.value


def test_switchover_asked_on_the_standby() -> None:
    d = standby_of_db1()
    d.feed(OperatorRequested(Command.SWITCHOVER))
    assert d.state.wants_takeover and d.state.finding == Finding.TAKEOVER_ASKED.value
    alone = standby_of_db1()
    alone.at(5.0)
    alone.feed(OperatorRequested(Command.SWITCHOVER))
    assert (
        alone.state.finding == Finding.SWITCHOVER_REFUSED.value and not alone.state.wants_takeover
    )


def test_rejoin_is_accepted_only_once_nothing_of_ours_is_missing() -> None:
    d = standby_of_db1()
    d.probe(executed="1-1-20,2-2-1")  # an errant write on the passive
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-20"))
    d.at(0.8)  # errant past warntime, the active heard within deadtime
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-20"))
    assert d.role() is Role.FENCED
    d.feed(OperatorRequested(Command.REJOINED))
    assert d.role() is Role.FENCED and "REJOIN_REFUSED" in d.codes()
    d.at(1.5)  # the operator let the active apply it
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1, executed="1-1-20,2-2-1"))
    decision = d.feed(OperatorRequested(Command.REJOINED))
    assert d.role() is Role.STANDBY and d.state.finding == Finding.REJOIN_ACCEPTED.value
    assert StartReplication() in decision.actions
    persisted = next(a for a in decision.actions if isinstance(a, PersistState))
    assert persisted.durable.last_role is Role.STANDBY and persisted.durable.fenced_reason == ""


def test_a_restarting_active_agent_is_not_deposed_before_its_first_probe() -> None:
    """db2 (second in the config) is active; its agent restarts. Until its first probe its
    beat says starting, MySQL unknown, not writable: db1 must wait, not win the election
    on config order and take over from a server that is still the writable one."""
    d = Driver(DB1)
    d.start(Durable(epoch=2, highest_seen=2))
    d.healthy()
    d.hear(peer_beat(Role.ACTIVE, node="db2", epoch=2))
    d.settle()
    assert d.role() is Role.STANDBY
    d.at(0.2)
    restarted = peer_beat(
        Role.STARTING, node="db2", epoch=2, mysql=Health.UNKNOWN, writable=False, vip_held=False
    )
    decision = d.hear(restarted)
    assert d.role() is Role.STANDBY and d.state.finding == Finding.PEER_UNPROBED.value
    assert not any(isinstance(a, PrepareTakeover) for a in decision.actions)
    d.at(0.4)  # its first probe: the server is writable and holds the VIP
    d.hear(peer_beat(Role.STARTING, node="db2", epoch=2, writable=True, vip_held=True))
    assert d.role() is Role.STANDBY and d.state.finding == Finding.NOT_ELECTED.value


def test_a_standby_holding_every_write_of_a_newer_term_adopts_its_epoch_and_is_elected() -> None:
    """Both nodes stand by; the peer was active in a term we never heard (it lost its
    lease while we were cut off) and is at that newer epoch; we hold all of its writes
    and more. We take its epoch (we missed no write of that term) and, holding more, are
    elected; without it neither node would ever be active (we behind an epoch, the peer
    deferring to our data). Found by the arbiter simulator, seed 1259."""
    d = standby_of_db1()
    d.at(0.3)
    d.hear(peer_beat(Role.STANDBY, node="db1", epoch=2, executed="1-1-15,2-2-3"))
    d.probe(executed="1-1-20,2-2-3")
    assert d.state.durable.epoch == 2  # adopted: no longer behind an epoch seen
    d.settle(executed="1-1-20,2-2-3")
    d.probe(executed="1-1-20,2-2-3")
    d.settle(executed="1-1-20,2-2-3")
    assert d.role() is Role.ACTIVE and "ELECTED" in d.codes() and "PROMOTED" in d.codes()
    assert d.state.durable.epoch == 3


def test_a_standby_lacking_writes_of_a_newer_term_keeps_its_epoch() -> None:
    d = standby_of_db1()
    d.at(0.3)
    d.hear(peer_beat(Role.STANDBY, node="db1", epoch=2, executed="1-1-15,2-2-4"))
    d.probe(executed="1-1-20,2-2-3")
    assert d.state.durable.epoch == 1
    assert d.role() is Role.STANDBY
