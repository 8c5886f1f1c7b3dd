"""Issue 12: an active whose peer falls silent releases the commits waiting for semi-sync's
acknowledgement behind its shut client gate (``SetSemiSync.behind_gate``).

Without ``[ping]`` the active cannot tell a dead peer from being cut off itself; in the
second case the peer promotes without those commits. Released behind the gate they answer
no client, and the gate's window says so (``gate.acks``), so the node can discard them by
itself after the heal. The core asks for it only when the peer fell silent; the actor
shuts the gate only when the last probe saw a commit waiting (else it would reset every
client of a healthy active for nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dualbeat.agent.actor import Actor
from dualbeat.config import safety_warnings, semisync_timeout
from dualbeat.core.actions import SetSemiSync
from dualbeat.core.roles import Health, Role
from dualbeat.gate.acks import AckTrail, Sample
from dualbeat.gate.fake import FakeGate
from dualbeat.mysql.semisync import SemisyncSource
from tests.unit.agent_world import Posts, Servers, config, endpoint
from tests.unit.core_driver import Driver, peer_beat, promoted_active


def _serving() -> Driver:
    """An active with a healthy standby: semi-sync's source side on."""
    d = promoted_active()
    d.hear(peer_beat(Role.STANDBY, epoch=d.state.durable.epoch))
    assert SetSemiSync(True) in d.actions()
    d.settle()
    return d


def _last_semisync(d: Driver) -> SetSemiSync:
    return [a for a in d.actions() if isinstance(a, SetSemiSync)][-1]


def test_a_peer_fallen_silent_turns_the_source_side_off_behind_the_gate() -> None:
    d = _serving()
    d.at(d.now + 1.5)  # past deadtime: no beat heard
    d.probe(writable=True)
    assert _last_semisync(d) == SetSemiSync(False, behind_gate=True)
    assert d.role() is Role.ACTIVE  # classic mode: the active stays


def test_a_peer_that_says_its_mysql_failed_turns_it_off_in_the_open() -> None:
    """The peer is heard: it is not promoting, the commits' clients may have their answer."""
    d = _serving()
    d.at(d.now + 0.2)
    d.hear(peer_beat(Role.STANDBY, epoch=d.state.durable.epoch, mysql=Health.FAILED))
    assert _last_semisync(d) == SetSemiSync(False)


World = tuple[Actor, FakeGate, AckTrail, Posts]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    servers, posts, gate, acks = Servers(), Posts(), FakeGate(), AckTrail()
    actor = Actor(
        config(tmp_path), "db1", endpoint("db1"), None, posts,
        connect=servers.connect, gate=gate, acks=acks,
    )  # fmt: skip
    yield actor, gate, acks, posts
    actor.close()


def _probed(acks: AckTrail, waiting: int) -> None:
    acks.add(Sample(0.0, "0-1-5", SemisyncSource(True, 0, waiting, 2.0, True)))


def test_the_actor_shuts_the_gate_around_the_release_when_a_commit_waits(world: World) -> None:
    actor, gate, acks, posts = world
    actor.submit([SetSemiSync(True)])
    posts.take(1)
    _probed(acks, waiting=1)
    gate.connections = 3
    actor.submit([SetSemiSync(False, behind_gate=True)])
    [done] = posts.take(1)
    assert gate.calls == ["shut briefly", "open"] and not gate.is_shut()
    assert "behind the shut client gate (3 destroyed)" in str(done)


def test_nothing_waiting_or_no_gate_asked_leaves_the_clients_alone(world: World) -> None:
    actor, gate, acks, posts = world
    actor.submit([SetSemiSync(True)])
    _probed(acks, waiting=0)
    actor.submit([SetSemiSync(False, behind_gate=True)])
    posts.take(2)
    _probed(acks, waiting=1)
    actor.submit([SetSemiSync(True), SetSemiSync(False)])
    posts.take(2)
    assert gate.calls == []


def test_the_timeout_defaults_to_what_lets_the_agent_release_first(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    least = cfg.heartbeat.deadtime + 2 * cfg.monitor.interval + 0.5
    assert semisync_timeout(cfg) == pytest.approx(least)
    assert not [w for w in safety_warnings(cfg) if w.section == "replication"]
    short = cfg.model_copy(
        update={"replication": cfg.replication.model_copy(update={"semisync_timeout": 1.0})}
    )
    assert semisync_timeout(short) == 1.0
    [warning] = [w for w in safety_warnings(short) if w.section == "replication"]
    assert "shorter than" in warning.risk and "fenced" in warning.risk
    assert f'semisync_timeout = "{least:g}s"' in warning.fix
