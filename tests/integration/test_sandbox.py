"""The sandbox builds a real pair, keeps it on a second ``up``, repairs it, and removes it.

The lab's namespaces are machine-wide names, so this test uses the lab's own state dir
(``$DUALBEAT_SANDBOX_DIR`` or the default): it tears down any lab already running.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from dualbeat import config as dualbeat_config
from dualbeat.mysql.connection import Endpoint, Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import lab, mariadb, netns
from dualbeat_lab.sandbox.layout import DEFAULT_STATE_DIR, standard_lab

pytestmark = pytest.mark.integration

LAB_NAMESPACES = ("db1", "db2", "client", "dbsw")
T = TypeVar("T")


def _state_dir() -> Path:
    return Path(os.environ.get("DUALBEAT_SANDBOX_DIR", str(DEFAULT_STATE_DIR)))


class Timings:
    """Wall-clock time of each lab step, printed at the end (``pytest -s`` shows them)."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self.messages: list[str] = []

    def run(self, label: str, fn: Callable[[Path, lab.Progress], T], state: Path) -> T:
        t0 = time.monotonic()
        result = fn(state, self.messages.append)
        self.steps[label] = time.monotonic() - t0
        return result


def _check_running_lab(info: lab.LabInfo, state: Path, pids: dict[str, int]) -> None:
    """Both servers alive, read-only, reachable; sockets, accounts, config and secrets work."""
    st = lab.status(state)
    assert st.healthy, st.render()
    for name in ("db1", "db2"):
        server = st.server(name)
        assert server.alive and server.pid == pids[name]
        assert server.read_only is True, "every sandbox server starts read-only"
        assert server.tcp_ok, server.tcp_detail
    hosts = {h.name: h for h in st.hosts}
    assert hosts["db1"].addresses["eth1"] == ["10.78.0.11/24"]
    assert hosts["client"].addresses["eth0"] == ["10.77.0.10/24"]

    # A query through each socket, as root and as the generated dualbeat account.
    seen = {}
    for node in info.nodes:
        with Server(node.root_endpoint()) as root:
            assert root.query(Statement("SELECT %s AS echo", ("sandbox",))) == [{"echo": "sandbox"}]
            seen[node.name] = root.variables(["server_id", "gtid_domain_id"])
        admin = Endpoint(
            name=node.name,
            host="localhost",
            port=node.mysql_port,
            user="dualbeat",
            password=info.secrets.password("dualbeat"),
            unix_socket=str(node.socket),
        )
        with Server(admin) as as_admin:
            assert as_admin.variables(["read_only"]) == {"read_only": "ON"}
    assert seen["db1"] == {"server_id": "1", "gtid_domain_id": "1"}
    assert seen["db2"] == {"server_id": "2", "gtid_domain_id": "2"}

    # The generated config is what the dualbeat commands read.
    raw = tomllib.loads(info.config_path.read_text())
    assert [n["address"] for n in raw["nodes"]] == ["10.77.0.11", "10.77.0.12"]
    loaded = dualbeat_config.load(info.config_path)
    assert [n.name for n in loaded.nodes] == ["db1", "db2"]
    for f in ("dualbeat.pass", "repl.pass", "app.pass", "heartbeat.key"):
        assert (state / "secrets" / f).stat().st_mode & 0o777 == 0o600
    assert (state / "secrets" / "heartbeat.key").stat().st_size == 32


def test_up_is_idempotent_repairs_and_down_removes_everything() -> None:
    state = _state_dir()
    t = Timings()
    pids: dict[str, int] = {}

    t.run("down (clean slate)", lab.down, state)
    try:
        first = t.run("up (first)", lab.up, state)
        pids.update({n.name: n.pid for n in first.nodes})
        second = t.run("up (again)", lab.up, state)
        assert {n.name: n.pid for n in second.nodes} == pids, "a second up restarted a server"
        assert not any(n.started for n in second.nodes)
        _check_running_lab(first, state, pids)

        # Debris of a crash: a server killed, a veth pair gone. up repairs only that.
        killed = mariadb.kill_hard(standard_lab(state), "db2")
        assert not netns.pid_alive(killed)
        netns.ip("link", "delete", "eth1", ns="db1")
        repaired = t.run("up (repair)", lab.up, state)
        assert repaired.node("db1").pid == pids["db1"]
        assert repaired.node("db2").started and repaired.node("db2").pid != killed
        pids["db2 (restarted)"] = repaired.node("db2").pid
        after = lab.status(state)
        assert after.healthy, after.render()
        assert {h.name: h for h in after.hosts}["db1"].addresses["eth1"] == ["10.78.0.11/24"]
    finally:
        t.run("down", lab.down, state)

    assert not set(netns.list_namespaces()) & set(LAB_NAMESPACES)
    for name, pid in pids.items():
        assert not netns.pid_alive(pid), f"{name} mariadbd (pid {pid}) survived down"
    assert not state.exists()
    t.run("down (again)", lab.down, state)
    assert lab.status(state).absent
    print("\n".join(f"{k}: {v:.2f} s" for k, v in t.steps.items()))
