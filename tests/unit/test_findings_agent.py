"""Issue 13, findings 12 and 13 on the agent's side: what the event loop, the actor and the
state file do around the pure core (threads, clocks, files; no MySQL)."""

from __future__ import annotations

import ast
import inspect
import os
import queue
import threading
from pathlib import Path

import pytest

from dualbeat.agent import beats, history, leases, runtime, statefile
from dualbeat.agent.actor import Actor
from dualbeat.agent.runtime import Agent
from dualbeat.arbiter import etcd
from dualbeat.config import Config
from dualbeat.core.actions import HookEvent, ReleaseVip, RunHook
from dualbeat.core.durable import Durable
from dualbeat.core.observations import ActionDone, Observation
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Health, Role
from dualbeat.core.state import Decision, NodeState, Reason
from dualbeat.heartbeat.message import Beat
from dualbeat.mysql.connection import Endpoint
from tests.unit.test_hooks import config_with

NOWHERE = Endpoint("db1", "127.0.0.1", 9, "u", "p", connect_timeout=0.1, read_timeout=0.1)


def test_finding_12_a_slow_hook_does_not_delay_the_next_actions(tmp_path: Path) -> None:
    """Hooks may run for ``[hooks].timeout`` (5 s by default): a demotion decided while a
    role-change hook runs must not wait behind it."""
    config = config_with(tmp_path, "sleep 3\n", timeout="10s")
    posted: queue.Queue[Observation] = queue.Queue()
    actor = Actor(config, "db1", NOWHERE, None, posted.put)
    try:
        actor.submit([RunHook(HookEvent.FAILOVER, {})])
        actor.submit([ReleaseVip()])
        assert posted.get(timeout=10) == ActionDone(ReleaseVip())
    finally:
        actor.close(timeout=10)


class _Device:
    """Stands in for the watchdog device: records the magic close."""

    is_open = True
    closed = False

    def kick(self) -> None:
        pass

    def close(self, magic: bool) -> None:
        self.closed, self.is_open = magic, False


def _agent(config: Config) -> Agent:
    return Agent(config, "db1")


def test_finding_12_watchdog_stays_armed_until_the_demotion_finished(tmp_path: Path) -> None:
    """The watchdog bounds a hung demotion: it must not be disarmed while the demotion
    (read-only, sessions, VIP release) is still running."""
    agent = _agent(config_with(tmp_path, "exit 0\n"))
    device = _Device()
    agent.watchdog = device  # type: ignore[assignment]
    agent.state = NodeState(role=Role.STANDBY, demoting=True)
    agent._kick()
    assert not device.closed
    agent.state = NodeState(role=Role.STANDBY, demoting=False)
    agent._kick()
    assert device.closed


def test_finding_12_history_is_fsynced_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow disk must not hold up the loop (beats, the next decision, the actions)."""
    threads: list[threading.Thread] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        threads.append(threading.current_thread())
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    h = history.History(tmp_path, "db1")
    h.decisions(Decision(NodeState(), reasons=(Reason(ReasonCode.STARTED, "agent started"),)))
    h.close()
    assert threads and threading.main_thread() not in threads
    assert "STARTED" in (tmp_path / history.FILENAME).read_text()


def test_finding_13_boot_id_grows_when_the_wall_clock_steps_back(tmp_path: Path) -> None:
    """The peer drops beats from a boot older than the newest it saw: a restart after a
    clock step back must still get a larger boot id."""
    first = statefile.next_boot_id(tmp_path, wall_ns=2_000_000_000_000_000_000)
    second = statefile.next_boot_id(tmp_path, wall_ns=1_000_000_000_000_000_000)
    assert second > first


def _beat(**fields: object) -> Beat:
    base = {
        "cluster": "c1",
        "node": "db2",
        "boot_id": 5,
        "seq": 9,
        "sent_at": 0.0,
        "epoch": 1,
        "role": Role.STANDBY,
        "mysql": Health.HEALTHY,
        "executed": "",
        "received": "",
        "vip_held": False,
        "writable": False,
        "maintenance": False,
        "yielding": True,
        "ack_boot": 111,
        "ack_seq": 3,
    }
    return Beat(**(base | fields))  # type: ignore[arg-type]


def test_finding_13_a_fresh_replay_window_ignores_an_old_yield() -> None:
    """After our restart the replay window is empty: a captured "yielding" beat of the
    peer's current boot would be accepted. A yield counts only when it echoes this boot
    of ours (the peer sent it after hearing us)."""
    old = beats.incoming(_beat(ack_boot=111), "mariadb", None, our_boot=222)
    assert old.yielding is False
    fresh = beats.incoming(_beat(ack_boot=222), "mariadb", None, our_boot=222)
    assert fresh.yielding is True


def test_finding_13_leases_and_promises_use_a_clock_that_counts_suspend() -> None:
    """CLOCK_MONOTONIC stops during a suspend: a resumed active would trust a lease that
    ran out while it slept. Every time the core compares with a lease comes from
    CLOCK_BOOTTIME."""
    from dualbeat.agent import clock

    assert clock.now() >= 0 and clock.CLOCK is __import__("time").CLOCK_BOOTTIME
    for module in (runtime, leases, beats):
        calls = {
            f"{n.value.id}.{n.attr}"
            for n in ast.walk(ast.parse(inspect.getsource(module)))
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
        }
        assert "time.monotonic" not in calls, module.__name__
    assert inspect.signature(etcd.EtcdArbiter).parameters["clock"].default is clock.now


def test_finding_13_a_lost_state_file_does_not_unfence_the_node(tmp_path: Path) -> None:
    """The state file is gone but the server's ``dualbeat.epoch`` shows the pair ran at
    epoch 4: this node cannot know it was not fenced, so it comes back fenced."""
    durable = statefile.load(tmp_path, server_epoch=lambda: 4)
    assert durable.last_role is Role.FENCED and durable.highest_seen == 4
    assert "state file" in durable.fenced_reason
    fresh = statefile.load(tmp_path / "new", server_epoch=lambda: None)
    assert fresh == Durable()  # a first start: nothing recorded anywhere
    statefile.save(tmp_path / "kept", Durable(epoch=2, highest_seen=2, last_role=Role.STANDBY))
    kept = statefile.load(tmp_path / "kept", server_epoch=lambda: 9)
    assert kept.last_role is Role.STANDBY  # the file, when present, is what counts
