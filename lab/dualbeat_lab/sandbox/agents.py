"""The sandbox's agents: one ``dualbeat agent`` per database host, inside its namespace.

Started detached with a pid file in ``<state>/<node>/agent/`` (``lab.down`` stops them by
that pid, after checking the pid lives in the host's namespace), and waited for until the
pair has settled: one active holding the VIP, one standby.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from dualbeat.agent import control
from dualbeat.errors import AgentUnreachable
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import netns
from dualbeat_lab.sandbox.lab import LabInfo, Progress

SETTLE_TIMEOUT = 30.0


def pid_file(info: LabInfo, node: str) -> Path:
    return info.lab.node_paths(node).agent_dir / "agent.pid"


def running_pid(info: LabInfo, node: str) -> int | None:
    pid = netns.read_pid(pid_file(info, node))
    if pid is not None and netns.is_ours(pid, [node]):
        return pid
    return None


def start(info: LabInfo, node: str, progress: Progress) -> int:
    """Start the agent for ``node`` unless it already runs; returns its pid."""
    if (pid := running_pid(info, node)) is not None:
        progress(f"{node}: agent already running (pid {pid})")
        return pid
    agent_dir = info.lab.node_paths(node).agent_dir
    agent_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "dualbeat", "agent", "-c", str(info.config_path), "--node", node]
    pid = netns.spawn_in(node, argv, agent_dir / "agent.log")
    pid_file(info, node).write_text(f"{pid}\n")
    progress(f"{node}: agent started (pid {pid}, log {agent_dir / 'agent.log'})")
    return pid


def status(info: LabInfo, node: str) -> dict[str, Any] | None:
    """The agent's status, or None when it does not answer (yet)."""
    try:
        agent = control.SocketAgent(info.lab.node_paths(node).agent_dir, timeout=2.0)
        return agent.status().to_json()
    except (AgentUnreachable, OSError):
        return None


def _serving(view: dict[str, Any]) -> bool:
    """Active in deed, not only in intent: a promotion's first step already reports the
    role ``active`` (with ``promoting``), and the claim of the VIP may still fail."""
    return bool(
        view["role"] == "active"
        and view["vip"]["held"]
        and view["mysql"]["writable"]
        and not view["promoting"]
    )


def serving(info: LabInfo, node: str) -> bool:
    """Whether ``node`` is active, writable, holding the VIP and done promoting."""
    view = status(info, node)
    return view is not None and _serving(view)


def settled(info: LabInfo, *, standby: bool = False) -> str | None:
    """The active node's name once exactly one node is active, writable and holding the
    VIP, and the other is not active (with ``standby``: is a standby); else None.

    An agent that does not answer counts as not active (it may have been killed)."""
    views = {n.name: status(info, n.name) for n in info.nodes}
    actives = [name for name, v in views.items() if v and _serving(v)]
    others = [v for name, v in views.items() if name not in actives]
    if len(actives) != 1 or any(v and v["role"] == "active" for v in others):
        return None
    if standby and not all(v and v["role"] == "standby" for v in others):
        return None
    return actives[0]


def wait_settled(
    info: LabInfo, progress: Progress, timeout: float = SETTLE_TIMEOUT, *, standby: bool = True
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (active := settled(info, standby=standby)) is not None:
            progress(f"pair settled: {active} active with the VIP {info.lab.vip}")
            return active
        time.sleep(0.1)
    views = {n.name: status(info, n.name) for n in info.nodes}
    roles = {name: (v["role"], v["finding"]) if v else "no answer" for name, v in views.items()}
    raise SandboxError(
        f"the agents did not settle within {timeout:g} s: {roles}; see "
        f"{info.lab.state_dir}/dbN/agent/agent.log"
    )


def start_all(info: LabInfo, progress: Progress) -> str:
    for n in info.nodes:
        start(info, n.name, progress)
    return wait_settled(info, progress)
