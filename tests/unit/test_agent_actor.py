"""The actor against an in-memory MariaDB (``FakeServer``): each action's effect on the
server, the report it posts, and how a failure skips the rest of a batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from dualbeat.agent.actor import Actor
from dualbeat.core.actions import (
    Action,
    KillSessions,
    PersistState,
    PrepareTakeover,
    ReadPosition,
    ReleaseVip,
    SetReadOnly,
    SetSemiSync,
    StartReplication,
    StopReplication,
)
from dualbeat.core.durable import Durable
from dualbeat.core.gtid import MariadbGtidSet
from dualbeat.core.observations import (
    ActionDone,
    ActionFailed,
    Observation,
    PositionRead,
    TakeoverPrepared,
)
from dualbeat.core.roles import Role
from dualbeat.mysql.dialect import ThreadState
from dualbeat.mysql.fake import Failure, FakeClient, FakeReplica, FakeServer
from tests.unit.agent_world import Posts, Servers, config, endpoint

World = tuple[Actor, FakeServer, Posts]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    servers, posts = Servers(), Posts()
    actor = Actor(config(tmp_path), "db1", endpoint("db1"), None, posts, connect=servers.connect)
    yield actor, servers.db1, posts
    actor.close()


def run(actor: Actor, posts: Posts, actions: Sequence[Action]) -> list[Observation]:
    actor.submit(actions)
    return posts.take(len(actions))


def test_promotion_makes_the_server_writable_and_creates_the_schema(world: World) -> None:
    actor, db1, posts = world
    assert run(actor, posts, [SetReadOnly(False)]) == [
        ActionDone(SetReadOnly(False), "writable; no epoch to record")
    ]
    assert not db1.read_only
    sent = db1.statements
    # The server-side lock wait is bounded before the global read lock is asked for.
    assert sent.index("SET SESSION lock_wait_timeout = %s") < sent.index(
        "SET GLOBAL read_only = %s"
    )
    assert any(s.startswith("CREATE TABLE IF NOT EXISTS dualbeat.epoch") for s in sent)


def test_demotion_sets_read_only(world: World) -> None:
    actor, db1, posts = world
    db1.read_only = False
    assert run(actor, posts, [SetReadOnly(True)]) == [ActionDone(SetReadOnly(True))]
    assert db1.read_only


def test_an_active_records_its_epoch_on_the_server(world: World, tmp_path: Path) -> None:
    """Once read_only is off, never before (issue 13, finding 9): the agent's account
    may write through read_only, and a row written there would be errant."""
    actor, db1, posts = world
    durable = Durable(epoch=7, highest_seen=7, last_role=Role.ACTIVE)
    [saved] = run(actor, posts, [PersistState(durable)])
    assert saved == ActionDone(PersistState(durable), "state file written")
    assert db1.tables["dualbeat.epoch"] == {}
    [done] = run(actor, posts, [SetReadOnly(False)])
    assert done == ActionDone(SetReadOnly(False), "writable; epoch table written")
    assert db1.tables["dualbeat.epoch"][1][:2] == (7, "db1")
    assert (tmp_path / "state").is_dir()


def test_a_standby_never_writes_its_epoch_to_the_server(world: World) -> None:
    actor, db1, posts = world
    before = db1.executed
    durable = Durable(epoch=7, highest_seen=7, last_role=Role.STANDBY)
    [done] = run(actor, posts, [PersistState(durable)])
    assert done == ActionDone(PersistState(durable), "state file written")
    assert db1.tables["dualbeat.epoch"] == {}
    assert db1.executed == before  # no errant transaction on a passive server


def test_epoch_table_failure_is_reported_but_the_state_file_decides(world: World) -> None:
    actor, db1, posts = world
    db1.read_only = False
    db1.fail_on("INSERT INTO dualbeat.epoch", 1114, "The table 'epoch' is full")
    durable = Durable(epoch=3, last_role=Role.ACTIVE)
    [saved, done] = run(actor, posts, [PersistState(durable), SetReadOnly(False)])
    assert saved == ActionDone(PersistState(durable), "state file written")
    assert isinstance(done, ActionDone)
    assert "epoch table not updated" in done.detail and "is full" in done.detail


def test_kill_spares_replication_and_the_agents_own_sessions(world: World) -> None:
    actor, db1, posts = world
    db1.replica = FakeReplica()
    db1.clients = [FakeClient(10), FakeClient(11, user="dualbeat"), FakeClient(12, "report")]
    [done] = run(actor, posts, [KillSessions()])
    assert done == ActionDone(KillSessions(), "killed 2 session(s)")
    assert [c.id for c in db1.clients] == [11]


def test_unreachable_server_skips_the_remaining_mysql_steps_not_the_vip(world: World) -> None:
    actor, db1, posts = world
    db1.fail(Failure.TIMEOUT)
    batch: list[Action] = [SetReadOnly(True), KillSessions(), ReleaseVip(), StopReplication()]
    reports = run(actor, posts, batch)
    assert isinstance(reports[0], ActionFailed) and "Lost connection" in reports[0].error
    assert reports[1] == ActionFailed(KillSessions(), "skipped: the local MySQL is unreachable")
    assert reports[2] == ActionDone(ReleaseVip())
    assert reports[3] == ActionFailed(StopReplication(), "skipped: the local MySQL is unreachable")
    # One attempt only: the skipped steps never waited for their own timeouts.
    assert sum(s.startswith("SET") for s in db1.statements) == 1


def test_a_failed_critical_step_skips_the_rest_of_the_promotion(world: World) -> None:
    actor, db1, posts = world
    db1.replica = FakeReplica()
    db1.fail_on("STOP SLAVE SQL_THREAD", 1198, "This operation cannot be performed")
    batch: list[Action] = [PrepareTakeover(timeout=1.0), SetReadOnly(False)]
    reports = run(actor, posts, batch)
    assert isinstance(reports[0], ActionFailed)
    assert reports[1] == ActionFailed(SetReadOnly(False), "skipped: PrepareTakeover failed")
    assert db1.read_only


def test_takeover_applies_what_was_received_then_stops_applying(world: World) -> None:
    actor, db1, posts = world
    db1.replica = FakeReplica()
    db1.replicate("2-2-40")
    [prepared] = run(actor, posts, [PrepareTakeover(timeout=1.0)])
    assert prepared == TakeoverPrepared(
        executed=MariadbGtidSet.parse("2-2-40"),
        received=MariadbGtidSet.parse("2-2-40"),
        unapplied=MariadbGtidSet.parse(""),
        applied_all=True,
    )
    assert db1.replica.sql is ThreadState.STOPPED
    assert db1.replica.io is ThreadState.RUNNING  # stopped later, once the VIP moved


def test_takeover_with_a_stuck_applier_reports_what_is_missing(world: World) -> None:
    actor, db1, posts = world
    db1.replica = FakeReplica()
    db1.replicate("2-2-40")
    db1.replica.applying = False
    db1.replicate("2-2-45")
    [prepared] = run(actor, posts, [PrepareTakeover(timeout=0.05)])
    assert isinstance(prepared, TakeoverPrepared)
    assert not prepared.applied_all
    assert prepared.unapplied == MariadbGtidSet.parse("2-2-41..45")
    assert any(s.startswith("KILL QUERY") for s in db1.statements)  # the applier interrupted


def test_position_and_replication_switches(world: World) -> None:
    actor, db1, posts = world
    db1.replica = FakeReplica()
    db1.executed = MariadbGtidSet.parse("1-1-5,2-2-9")
    reports = run(actor, posts, [ReadPosition(), StopReplication()])
    assert reports == [
        PositionRead(MariadbGtidSet.parse("1-1-5,2-2-9")),
        ActionDone(StopReplication()),
    ]
    assert db1.replica.io is ThreadState.STOPPED
    assert run(actor, posts, [StartReplication()]) == [ActionDone(StartReplication())]
    assert db1.replica.running


def test_semisync_source_side_follows_the_role_and_is_idempotent(world: World) -> None:
    actor, db1, posts = world
    assert run(actor, posts, [SetSemiSync(source=True)]) == [
        ActionDone(SetSemiSync(source=True), "changed")
    ]
    assert db1.settings["rpl_semi_sync_master_enabled"] == "ON"
    assert db1.settings["rpl_semi_sync_master_wait_point"] == "AFTER_SYNC"
    assert run(actor, posts, [SetSemiSync(source=True)]) == [
        ActionDone(SetSemiSync(source=True), "unchanged")
    ]


def test_the_agents_own_writes_stay_out_of_the_servers_domain(world: World) -> None:
    """Issue 12 item 1: the schema and the epoch row, written by a promoting node, go to
    dualbeat's own GTID domain (the default's first: db1 is the first node), so a node
    holding no other extra transaction is never taken for an errant one."""
    actor, db1, posts = world
    durable = Durable(epoch=2, highest_seen=2, last_role=Role.ACTIVE)
    run(actor, posts, [PersistState(durable), SetReadOnly(False)])
    assert db1.tables["dualbeat.epoch"][1][:2] == (2, "db1")
    assert db1.executed.domains() == (9000,)


def test_persisting_the_state_writes_nothing_to_the_server(world: World) -> None:
    """The active persists its state often (the high-water mark): none of it may become a
    transaction on the server, in any domain."""
    actor, db1, posts = world
    first = Durable(epoch=4, last_role=Role.ACTIVE)
    run(actor, posts, [PersistState(first), SetReadOnly(False)])
    db1.fail_on("INSERT INTO dualbeat.epoch", 1114, "The table 'epoch' is full")
    [_, again] = run(actor, posts, [PersistState(evolve_mark(first, "1-1-9")), SetReadOnly(False)])
    assert again == ActionDone(SetReadOnly(False), "writable; epoch table already holds this epoch")
    [_, newer] = run(
        actor, posts, [PersistState(Durable(epoch=5, last_role=Role.ACTIVE)), SetReadOnly(False)]
    )
    assert isinstance(newer, ActionDone) and "epoch table not updated" in newer.detail


def evolve_mark(durable: Durable, mark: str) -> Durable:
    return dataclasses.replace(durable, high_water=mark)
