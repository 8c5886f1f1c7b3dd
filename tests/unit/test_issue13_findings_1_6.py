"""Issue 13, findings 1 to 6: fault sequences that stalled, lost or duplicated writes.

Each test reproduces one finding with the real core, under the fake-clock driver (with a
model of the actor: a batch stops at a failing critical action) or the simulator; the
agent-side ones drive the beat translation and the actor with a fake server.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest

from dualbeat.agent import beats, statefile
from dualbeat.agent.actor import Actor
from dualbeat.agent.settings import core_config
from dualbeat.config import loads
from dualbeat.core.actions import (
    Action,
    ClaimVip,
    PersistState,
    PrepareTakeover,
    ReleaseVip,
    SetReadOnly,
    StartReplication,
    StopReplication,
    is_critical,
)
from dualbeat.core.durable import Durable, TakeoverRecord
from dualbeat.core.gtid import MariadbGtidSet
from dualbeat.core.observations import (
    ActionDone,
    ActionFailed,
    MysqlProbed,
    PeerSqlProbed,
    ProbeFailure,
    TakeoverPrepared,
)
from dualbeat.core.roles import Health, Role
from dualbeat.mysql.connection import Endpoint
from tests.unit.core_driver import DB1, DB2, Driver, gtids, peer_beat, promoted_active
from tests.unit.sim import World

# ---------------------------------------------------------------- a model of the actor


@dataclasses.dataclass
class Host:
    """What the actions did to the local server and address (the model the core drives)."""

    writable: bool = False
    vip: bool = False
    applying: bool = True  # the replica's SQL thread
    executed: str = "1-1-10"
    arp_answered: bool = False  # another host's kernel answers ARP for the VIP
    writable_without_vip: bool = False  # ever writable while a claim had not succeeded


Fails = Callable[[Action, Host], str | None]


def act(d: Driver, host: Host, fails: Fails | None = None) -> None:
    """Run every outstanding batch like the actor does: in order, a failing critical action
    skips the rest of its batch; each report may issue a new batch, run after it."""
    batches = deque(dec.actions for dec in d.decisions[d._settled :])
    d._settled = len(d.decisions)
    while batches:
        skip = ""
        for action in batches.popleft():
            if skip:
                d.feed(ActionFailed(action, f"skipped: {skip}"))
            elif (error := (fails(action, host) if fails else None)) is not None:
                d.feed(ActionFailed(action, error))
                skip = type(action).__name__ if is_critical(action) else ""
            else:
                d.feed(_carry_out(action, host))
            batches.extend(dec.actions for dec in d.decisions[d._settled :])
            d._settled = len(d.decisions)


def _carry_out(action: Action, host: Host) -> ActionDone | TakeoverPrepared:
    match action:
        case SetReadOnly(on=on):
            host.writable = not on
            if host.writable and not host.vip:
                host.writable_without_vip = True
        case ClaimVip():
            host.vip = True
        case ReleaseVip():
            host.vip = False
        case PrepareTakeover():
            host.applying = False
            ex = gtids(host.executed)
            return TakeoverPrepared(ex, ex, MariadbGtidSet(), True)
        case StopReplication():
            host.applying = False
        case StartReplication():
            host.applying = True
    return ActionDone(action)


def arp_answered(action: Action, host: Host) -> str | None:
    """The VIP's old holder (its kernel) answers the claim's ARP probe."""
    if isinstance(action, ClaimVip) and host.arp_answered and not action.force:
        return "VIP answered by another host"
    return None


def observe(d: Driver, host: Host) -> None:
    d.feed(
        MysqlProbed(
            ok=True,
            writable=host.writable,
            replicating=host.applying,
            executed=gtids(host.executed),
            received=gtids(host.executed),
            origin=d.cfg.node.removeprefix("db"),
        )
    )
    d.vip(held=host.vip)


def standby_of_db1(host: Host) -> Driver:
    """db2, a standby replicating from the active db1 (epoch 1), fully settled."""
    d = Driver(DB2)
    d.start(Durable(epoch=1, highest_seen=1, last_role=Role.STANDBY))
    observe(d, host)
    observe(d, host)
    d.hear(peer_beat(Role.ACTIVE, node="db1", epoch=1))
    assert d.role() is Role.STANDBY
    act(d, host)
    return d


def peer_refused() -> PeerSqlProbed:
    """The peer's host is up and refuses the MySQL port: its mysqld is gone."""
    return PeerSqlProbed(False, "Connection refused", refused=True)


def fail_over(d: Driver, host: Host, *, sql: Callable[[], PeerSqlProbed], until: float) -> None:
    """The active db1 went silent at t=0: db2 probes, checks the peer's SQL and acts, every
    200 ms until ``until``."""
    t = d.now
    while t < until:
        t = round(t + 0.2, 6)
        d.at(t)
        observe(d, host)
        d.feed(sql())
        act(d, host, arp_answered)


# ---------------------------------------------------------------- finding 1


TAKEOVER = TakeoverRecord(
    epoch=3,
    at=1_700_000_000.0,
    new_active="db1",
    old_active="db2",
    reason="peer_dead",
    peer_executed="2-2-5",
    peer_received="2-2-5",
    local_executed="1-1-10,2-2-5",
    unapplied="",
)


def test_finding_01_restarted_agent_resumes_as_active() -> None:
    """kill -9 the active's agent and start it again: its server is still writable and
    holds the VIP, its standby still stands by. It resumes as active: no promotion, so no
    channel stop, no epoch raise, the takeover record kept."""
    durable = Durable(epoch=3, highest_seen=3, last_role=Role.ACTIVE, last_takeover=TAKEOVER)
    d = Driver(DB1)
    d.start(durable)
    host = Host(writable=True, vip=True, applying=True)
    observe(d, host)
    observe(d, host)
    d.hear(peer_beat(Role.STANDBY, epoch=3))
    act(d, host)
    for t in (0.2, 0.4, 0.6, 1.0, 2.0):
        d.at(t)
        observe(d, host)
        d.hear(peer_beat(Role.STANDBY, epoch=3))
        act(d, host)
    assert d.role() is Role.ACTIVE
    issued = d.actions()
    assert not any(isinstance(a, PrepareTakeover | StopReplication) for a in issued), issued
    assert "PROMOTED" not in d.codes()
    assert d.state.durable.epoch == 3
    assert d.state.durable.last_takeover == TAKEOVER
    assert all(a.durable.epoch == 3 for a in issued if isinstance(a, PersistState))
    assert host.writable and host.vip and host.applying


@pytest.mark.parametrize("seed", range(8))
def test_finding_01_restarted_agent_resumes_in_the_simulator(seed: int) -> None:
    w = World(seed)
    while w.now < 5.0:
        w.step()
    assert w.settled()
    active = next(n for n, v in w.nodes.items() if v.state.role is Role.ACTIVE)
    epoch, promoted = w.nodes[active].disk.epoch, list(w.promoted)
    w.crash_agent(active)
    for _ in range(10):
        w.step()
    w.restart_agent(active)
    while w.now < 12.0:
        w.step()
        assert w.writers() == [active], "\n".join(w.log[-30:])
    assert w.nodes[active].state.role is Role.ACTIVE
    assert w.promoted == promoted, "\n".join(w.log[-30:])
    assert w.nodes[active].disk.epoch == epoch


# ---------------------------------------------------------------- finding 2


def _arbiter_config(tmp_path: Path) -> str:
    key = tmp_path / "hb.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o600)
    return f"""
cluster = "orders"
[[nodes]]
name = "db1"
address = "10.1.0.11"
[[nodes]]
name = "db2"
address = "10.1.0.12"
[mysql]
user = "dualbeat"
password = "pw"
[replication]
user = "repl"
password = "pw"
[heartbeat]
key_file = "{key}"
[arbiter]
kind = "etcd"
endpoints = ["http://10.0.0.5:2379"]
ttl = "3s"
[watchdog]
enabled = true
timeout = "2s"
"""


@pytest.mark.parametrize("seed", range(6))
def test_finding_02_etcd_down_moves_nothing_with_the_watchdog_on(tmp_path: Path, seed: int) -> None:
    """The README's arbiter + watchdog example (ttl 3 s, watchdog 2 s, default deadtime):
    etcd stops for 5 s while the pair is healthy. Nothing moves: the active keeps serving
    on its peer's promise, and its watchdog goes on being kicked (a reset host would leave
    no writer: nobody can take the key while etcd is down)."""
    cfg = core_config(loads(_arbiter_config(tmp_path)), "db1")
    timing = dataclasses.replace(cfg.timing, initdead=3.0)
    w = World(seed, arbiter=True, watchdog=cfg.watchdog_timeout, timing=timing)
    while w.now < 8.0:
        w.step()
    assert w.settled(), "\n".join(w.log[-30:])
    active = next(n for n, v in w.nodes.items() if v.state.role is Role.ACTIVE)
    w.arb_up = False
    end = w.now + 5.0
    while w.now < end:
        w.step()
        assert w.writers() == [active], f"t={w.now}\n" + "\n".join(w.log[-30:])
    assert not any("WATCHDOG" in line for line in w.log), "\n".join(w.log[-30:])
    assert w.nodes[active].state.role is Role.ACTIVE


# ---------------------------------------------------------------- finding 3


def test_finding_03_aborted_failover_restarts_replication() -> None:
    """The VIP claim of a failover fails once: the abort must restart the SQL thread the
    takeover stopped, or the next failover applies nothing received since."""
    host = Host()
    d = standby_of_db1(host)
    host.arp_answered = True
    fail_over(d, host, sql=lambda: PeerSqlProbed(False, "timed out"), until=2.4)
    assert "PROMOTION_ABORTED" in d.codes()
    assert d.role() is Role.STANDBY
    assert host.applying, "the SQL thread stays stopped after the aborted promotion"


def test_finding_03_read_only_stays_on_until_the_vip_is_claimed() -> None:
    """A promotion whose claim fails never made the server writable: read_only goes off
    only once the VIP claim succeeded."""
    host = Host()
    d = standby_of_db1(host)
    host.arp_answered = True
    fail_over(d, host, sql=lambda: PeerSqlProbed(False, "timed out"), until=2.4)
    assert "PROMOTION_ABORTED" in d.codes()
    assert not host.writable_without_vip


def test_finding_03_a_promotion_still_completes() -> None:
    """The same failover with nobody answering the ARP probe ends writable with the VIP."""
    host = Host()
    d = standby_of_db1(host)
    fail_over(d, host, sql=lambda: PeerSqlProbed(False, "timed out"), until=2.4)
    assert "PROMOTED" in d.codes() and d.role() is Role.ACTIVE
    assert host.writable and host.vip and not host.writable_without_vip
    assert d.state.durable.epoch == 2


class _FakeServer:
    """Records every statement; the server is read-only (the standby still is)."""

    def __init__(self) -> None:
        self.statements: list[object] = []

    def execute(self, *statements: object) -> None:
        self.statements.extend(statements)

    def close(self) -> None:
        pass


def test_finding_03_persist_state_never_writes_through_read_only(tmp_path: Path) -> None:
    """``PersistState`` with ``last_role=active`` is issued before read_only goes off (the
    new epoch must be durable first): it must write the state file only. An epoch row
    written then, on a server still read-only to clients, is an errant transaction when
    the promotion aborts."""
    config = loads(_arbiter_config(tmp_path) + f'\n[state]\ndir = "{tmp_path}"\n')
    actor = Actor(config, "db1", Endpoint("db1", "127.0.0.1", 1, "u", "p"), None, lambda o: None)
    try:
        fake = _FakeServer()
        actor.fast = fake  # type: ignore[assignment]
        durable = Durable(epoch=4, highest_seen=4, last_role=Role.ACTIVE, last_takeover=TAKEOVER)
        outcome = actor._do(PersistState(durable))
        assert isinstance(outcome, ActionDone)
        assert fake.statements == []
        assert statefile.load(config.state_dir("db1")).epoch == 4
    finally:
        actor.close()


# ---------------------------------------------------------------- finding 4


def test_finding_04_vip_on_a_host_whose_mysqld_refuses_is_taken_over() -> None:
    """The active's agent is killed, then its mysqld: its host's kernel still answers ARP
    for the VIP and refuses the MySQL port. That is not a silent peer: nothing can write
    there. The standby must end up active with the VIP, not abort every 3 s forever."""
    host = Host()
    d = standby_of_db1(host)
    host.arp_answered = True
    fail_over(d, host, sql=peer_refused, until=20.0)
    assert "PROMOTED" in d.codes(), d.codes()
    assert d.role() is Role.ACTIVE and host.vip and host.writable
    assert d.codes().count("PROMOTION_ABORTED") <= 1


def test_finding_04_a_peer_that_answers_nothing_is_never_overridden() -> None:
    """The other half of the rule: a peer whose MySQL port does not answer at all (hung,
    or cut off) may still serve the clients that reach it; its VIP is never taken while
    its kernel answers ARP."""
    host = Host()
    d = standby_of_db1(host)
    host.arp_answered = True
    fail_over(d, host, sql=lambda: PeerSqlProbed(False, "timed out"), until=20.0)
    assert "PROMOTED" not in d.codes()
    assert not host.vip and not host.writable


# ---------------------------------------------------------------- finding 5


def test_finding_05_promotion_is_not_advertised_before_the_claim() -> None:
    """While a promotion is in flight (not yet holding the VIP), the beats keep saying
    what the node was, at the epoch it had: a peer that still serves must not fence
    itself on a takeover that may yet abort."""
    host = Host()
    d = standby_of_db1(host)
    for step in range(1, 25):
        d.at(round(step * 0.2, 6))
        observe(d, host)
        d.feed(PeerSqlProbed(False, "timed out"))
        if d.state.promotion is not None:
            break
    assert d.state.promotion is not None, "no promotion"
    beat = beats.outgoing("orders", "db2", d.state, 7)
    assert (beat.role, beat.epoch) == (Role.STANDBY, 1)
    ex = gtids(host.executed)
    d.feed(TakeoverPrepared(ex, ex, MariadbGtidSet(), True))  # the VIP is not claimed yet
    assert d.state.promotion is not None
    beat = beats.outgoing("orders", "db2", d.state, 8)
    assert (beat.role, beat.epoch) == (Role.STANDBY, 1)


@pytest.mark.parametrize("seed", range(10))
def test_finding_05_one_way_loss_keeps_one_writer_with_every_write(seed: int) -> None:
    """IP from the active to the standby is dropped for 20 s, ARP passes. Never both
    stop: there is one writer through the cut, and every acknowledged write is on it
    (the old active is not left fenced holding writes nobody else has)."""
    w = World(seed)
    while w.now < 5.0:
        w.step()
    assert w.settled()
    active = next(n for n, v in w.nodes.items() if v.state.role is Role.ACTIVE)
    standby = w.nodes[active].cfg.peer
    w.drop(active, standby)
    w.log.append(f"{w.now:7.2f} FAULT drop {active} -> {standby}")
    cut_at = w.now
    while w.now < cut_at + 20.0:
        w.step()
        trail = f"seed {seed} t={w.now}\n" + "\n".join(w.log[-40:])
        assert len(w.writers()) <= 1 and len(w.vip_holders()) <= 1, trail
        if w.now > cut_at + 10.0:
            assert len(w.writers()) == 1, trail
    writer = w.nodes[w.writers()[0]]
    missing = [a for a in w.acked if not writer.mysql.has(*a)]
    assert not missing, f"seed {seed}: {len(missing)} acknowledged writes not on the writer\n" + (
        "\n".join(w.log[-40:])
    )
    assert not any(n.state.role is Role.FENCED for n in w.nodes.values()), "\n".join(w.log[-40:])
    w.heal()
    end = w.now + 15.0
    while w.now < end and not w.settled():
        w.step()
    assert w.settled(), "\n".join(w.log[-40:])


# ---------------------------------------------------------------- finding 6


def test_finding_06_a_failed_server_advertises_no_executed_set() -> None:
    """The active's mysqld crashed: its last good probe's executed set lacks the crash
    tail. The beat must not carry it as if it were current."""
    d = Driver(DB1)
    d.start()
    d.healthy(writable=True, executed="1-1-10")
    for _ in range(3):
        d.probe(ok=False)
    assert d.state.local.health is Health.FAILED
    beat = beats.outgoing("orders", "db1", d.state, 3)
    assert beat.executed == "" and beat.received == ""
    d.feed(MysqlProbed(ok=False, failure=ProbeFailure.BUSY, detail="1040"))
    beat = beats.outgoing("orders", "db1", d.state, 4)
    assert beat.executed == ""


def test_finding_06_new_active_never_restarts_replication_from_a_failed_peer() -> None:
    """db2 took over from db1, whose mysqld crashed and restarts: db1 still stands by at
    the new epoch with its server failed. db2 must not reopen replication from it (its
    binlog holds a crash tail nobody reviewed) until db1's server is healthy again and its
    fresh executed set is contained in ours."""
    d = promoted_active(DB2)
    since = len(d.decisions)
    epoch = d.state.durable.epoch
    for t in (12.2, 12.4, 12.6, 12.8, 23.0, 34.0):
        d.at(t)
        d.probe(writable=True, replicating=False, executed="1-1-10,2-2-3")
        d.vip(held=True)
        d.hear(
            peer_beat(Role.STANDBY, node="db1", epoch=epoch, mysql=Health.FAILED, executed="1-1-10")
        )
        d.settle()
        assert d.role() is Role.ACTIVE
    issued = [a for dec in d.decisions[since:] for a in dec.actions]
    assert StartReplication() not in issued


# ---------------------------------------------------------------- the fixes' edges


def test_finding_01_alone_the_restarted_active_resumes_after_initdead() -> None:
    """No peer heard (it is down too): the restarted agent waits initdead like any starting
    node, then resumes rather than promoting."""
    d = Driver(DB1)
    d.start(Durable(epoch=3, highest_seen=3, last_role=Role.ACTIVE, last_takeover=TAKEOVER))
    host = Host(writable=True, vip=True)
    for t in (0.2, 0.4, 5.0, 10.2):
        d.at(t)
        observe(d, host)
        act(d, host)
    assert d.role() is Role.ACTIVE and "RESUMED" in d.codes()
    assert d.state.durable.epoch == 3 and "PROMOTED" not in d.codes()


def test_finding_01_a_newer_epoch_or_a_read_only_server_is_elected_as_usual() -> None:
    for beat, writable in ((peer_beat(Role.STANDBY, epoch=4), True), (None, False)):
        d = Driver(DB1)
        d.start(Durable(epoch=3, highest_seen=3, last_role=Role.ACTIVE))
        host = Host(writable=writable, vip=False)
        observe(d, host)
        observe(d, host)
        if beat is not None:
            d.hear(beat)
        d.at(10.2)
        observe(d, host)
        assert "RESUMED" not in d.codes()


def test_finding_03_a_failed_read_only_switch_still_ends_the_promotion() -> None:
    """Epoch durable and VIP held, but ``SET GLOBAL read_only=0`` failed: the role is
    taken (the reconcile retries the switch), the promotion does not hang in flight."""
    host = Host()
    d = standby_of_db1(host)

    def read_only_fails(action: Action, host: Host) -> str | None:
        return "lock wait timeout" if action == SetReadOnly(False) else None

    t = d.now
    while "PROMOTED" not in d.codes():
        t = round(t + 0.2, 6)
        assert t < 5.0
        d.at(t)
        observe(d, host)
        d.feed(PeerSqlProbed(False, "timed out"))
        act(d, host, read_only_fails)
    promoted = next(r for dec in d.decisions for r in dec.reasons if r.code == "PROMOTED")
    assert promoted.evidence["writable"] is False
    assert d.state.promotion is None and d.role() is Role.ACTIVE


def test_finding_03_an_aborted_forced_takeover_of_a_fenced_node_does_not_replicate() -> None:
    """A fenced node forced to take over whose claim fails goes back without replicating
    from the active: its difference is still unreviewed."""
    from dualbeat.core.observations import Command, OperatorRequested

    d = Driver(DB2)
    d.start(Durable(epoch=1, highest_seen=1, last_role=Role.FENCED))
    host = Host(applying=False, arp_answered=True)
    observe(d, host)
    observe(d, host)
    d.at(10.2)
    observe(d, host)
    d.feed(OperatorRequested(Command.TAKEOVER_FORCE))
    act(d, host, arp_answered)
    assert "PROMOTION_ABORTED" in d.codes()
    assert StartReplication() not in d.actions() and not host.applying


def test_finding_05_a_demoting_active_still_says_active() -> None:
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=1))
    d.probe(ok=False)
    d.probe(ok=False)
    d.probe(ok=False)  # failed: demotes, the VIP goes first
    assert d.state.demoting
    assert beats.outgoing("orders", "db1", d.state, 9).role is Role.ACTIVE


def test_finding_04_a_refused_connection_is_its_own_evidence() -> None:
    """A closed port on a live host (a reset) is told apart from silence at the seam."""
    import socket

    import pymysql

    from dualbeat.errors import MysqlRefused, MysqlUnavailable
    from dualbeat.mysql.connection import Server, classify
    from dualbeat.mysql.dialect import Statement

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again once the block ends
    endpoint = Endpoint("db1", "127.0.0.1", port, "u", "p", connect_timeout=0.5)
    with pytest.raises(MysqlRefused), Server(endpoint) as server:
        server.query(Statement("SELECT 1 AS ok"))
    timed_out = pymysql.err.OperationalError(2003, "Can't connect to MySQL server (timed out)")
    timed_out.original_exception = TimeoutError("timed out")  # type: ignore[attr-defined]
    error = classify("db1", timed_out)
    assert isinstance(error, MysqlUnavailable) and not isinstance(error, MysqlRefused)
