"""The actor's handoff lane: a demotion's gate and VIP release never wait behind a MySQL
statement still hanging on a frozen server, and what it supersedes does not run late."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dualbeat.agent.actor import Actor
from dualbeat.core.actions import (
    AdmitClients,
    ClaimVip,
    KillSessions,
    ReleaseVip,
    SendBeat,
    SetReadOnly,
    SetSemiSync,
    ShutClients,
)
from dualbeat.core.observations import ActionDone, ActionFailed
from dualbeat.gate.base import Shut
from dualbeat.gate.fake import FakeGate
from dualbeat.mysql.connection import Endpoint
from dualbeat.mysql.dialect import Statement
from tests.unit.agent_world import Posts, Servers, config, endpoint


class Frozen:
    """Sessions whose statements hang until ``thaw`` (a SIGSTOPped mysqld, bounded)."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers
        self.frozen = False
        self.thawed = threading.Event()

    def connect(self, ep: Endpoint, *, idle_check: float | None = None) -> Any:
        session = self.servers.connect(ep, idle_check=idle_check)
        outer = self

        class Session:
            def __getattr__(self, name: str) -> Any:
                return getattr(session, name)

            def query(self, stmt: Statement) -> Any:
                if outer.frozen:
                    assert outer.thawed.wait(10), "the test never thawed the server"
                return session.query(stmt)

        return Session()


World = tuple[Actor, Frozen, FakeGate, Posts]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    servers, posts, gate = Servers(), Posts(), FakeGate()
    frozen = Frozen(servers)
    cfg = config(tmp_path)
    actor = Actor(cfg, "db1", endpoint("db1"), None, posts, connect=frozen.connect, gate=gate)
    yield actor, frozen, gate, posts
    frozen.thawed.set()
    actor.close()


def test_the_release_runs_while_a_statement_hangs_on_the_frozen_server(world: World) -> None:
    actor, frozen, gate, posts = world
    frozen.frozen = True
    actor.submit([SetSemiSync(True)])  # hangs on the main lane
    gate.connections = 2
    actor.submit([ShutClients(), ReleaseVip(), SendBeat(), SetReadOnly(True)])
    assert posts.take(3) == [
        ActionDone(ShutClients(), "destroyed 2 client connection(s)"),
        ActionDone(ReleaseVip()),
        ActionDone(SendBeat()),
    ]
    assert gate.is_shut()
    frozen.thawed.set()
    rest = posts.take(2)
    assert [type(o.action) for o in rest if isinstance(o, ActionDone | ActionFailed)] == [
        SetSemiSync,
        SetReadOnly,
    ]


def test_serving_steps_queued_before_a_demotion_are_skipped(world: World) -> None:
    actor, frozen, gate, posts = world
    frozen.frozen = True
    actor.submit([SetSemiSync(True)])
    actor.submit([SetReadOnly(False), AdmitClients(), ClaimVip()])  # a promotion, queued
    actor.submit([ShutClients(), ReleaseVip()])  # then the demotion
    assert posts.take(2) == [
        ActionDone(ShutClients(), "destroyed 0 client connection(s)"),
        ActionDone(ReleaseVip()),
    ]
    frozen.thawed.set()
    late = posts.take(4)[1:]
    assert all(isinstance(o, ActionFailed) and "superseded" in o.error for o in late), late
    assert gate.is_shut()  # AdmitClients never ran


def test_admit_opens_the_gate(world: World) -> None:
    actor, _, gate, posts = world
    gate.shut()
    actor.submit([AdmitClients()])
    assert posts.take(1) == [ActionDone(AdmitClients())]
    assert not gate.is_shut()


class SlowGate(FakeGate):
    """A shut that takes a while (nft and the socket destroy: tens of ms on a real host)."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def shut(self) -> Shut:
        time.sleep(0.2)
        done = super().shut()
        self.log.append("gate shut")
        return done


class RecordingVip:
    def __init__(self, gate: FakeGate, log: list[str]) -> None:
        self.gate, self.log = gate, log

    def release(self, grace: float = 0.0) -> None:
        self.log.append(f"release grace={grace:g} arp_silent={self.gate.is_arp_silent()}")


def test_a_handover_s_mysql_steps_and_release_wait_for_the_gate(tmp_path: Path) -> None:
    """Found in the compare bench (2026-12-05, switchover run 3: a 0.53 s write gap): a
    handover's head (the gate) runs on the handoff lane and its MySQL steps and release on
    the main lane. The main lane did not wait for the gate: sessions were killed while
    clients could still reconnect, and the release found no silenced ARP, dropped the
    address at once, and a client connecting then waited its whole connect timeout."""
    log: list[str] = []
    servers, posts = Servers(), Posts()
    gate = SlowGate(log)
    vip = RecordingVip(gate, log)
    actor = Actor(
        config(tmp_path), "db1", endpoint("db1"), vip, posts,  # type: ignore[arg-type]
        connect=servers.connect, gate=gate,
    )  # fmt: skip
    try:
        actor.submit([ShutClients(), SetReadOnly(True), KillSessions(), ReleaseVip(), SendBeat()])
        taken = posts.take(5)
        assert {type(o.action) for o in taken if isinstance(o, ActionDone)} >= {
            ShutClients,
            SetReadOnly,
            ReleaseVip,
        }, taken
        assert log == ["gate shut", "release grace=2 arp_silent=True"], log
        done = [type(o.action) for o in taken if isinstance(o, ActionDone | ActionFailed)]
        assert done.index(ShutClients) < done.index(SetReadOnly), done
    finally:
        actor.close()
