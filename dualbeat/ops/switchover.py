"""The planned switchover, for ``dualbeat switchover`` and ``POST /switchover`` alike.

The move itself belongs to the agents (``Command.SWITCHOVER``): the active goes
read-only, kills sessions, reads its final executed set and releases the VIP; the standby
applies exactly that set (or the switchover rolls back) and takes over. Around it, every
shell runs the same three steps: ``check`` (which node is active, then the pre-checks over
SQL on both servers: the standby replicating, its lag, errant transactions, offsets and
server ids), ``start`` (the command to the agent) and, if it wants to wait, ``wait``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dualbeat.agent.control import ControlAnswer
from dualbeat.agent.status import AgentStatus
from dualbeat.config import Config
from dualbeat.core.reasons import ReasonCode
from dualbeat.errors import RefusedError, UsageError
from dualbeat.ops.port import AgentPort, Progress, command, quiet, wait_status
from dualbeat.repl.switchover import Preflight, preflight

#: The pre-checks: both servers over SQL, judged for moving the role from active to target.
Checks = Callable[[Config, str, str], Preflight]


@dataclass(frozen=True)
class Plan:
    """What a switchover asked of ``asked``'s agent will do."""

    asked: str  # the node whose agent is asked
    active: str
    target: str
    checks: Preflight


def check(
    config: Config,
    port: AgentPort,
    asked: str,
    *,
    to: str | None = None,
    checks: Checks = preflight,
    progress: Progress = quiet,
) -> Plan:
    """The plan, or ``RefusedError`` with every reason the pair is not fit to switch."""
    status = port.status()
    if status.active:
        active = asked
    elif status.peer_active:
        active = config.peer_of(asked).name
    else:
        raise RefusedError("no node is active right now: there is nothing to switch over")
    target = config.peer_of(active).name
    if to is not None and to != target:
        raise UsageError(
            f"--to {to}: {to} is already the active node"
            if to == active
            else f"--to {to}: no node named {to!r} (nodes: {config.node_names()})"
        )
    progress(f"checking {active} and {target} over SQL")
    found = checks(config, active, target)
    if found.blockers:
        raise RefusedError("switchover refused:\n  " + "\n  ".join(found.explain()))
    return Plan(asked, active, target, found)


def start(port: AgentPort, plan: Plan, progress: Progress = quiet) -> ControlAnswer:
    """Ask the agent to switch over (it refuses with reasons if the pair changed since)."""
    progress(f"asking {plan.asked}'s agent to move the active role to {plan.target}")
    return command(port, {"cmd": "switchover"}, "switchover refused by the agent")


def wait(port: AgentPort, plan: Plan, timeout: float) -> float:
    """Seconds until the target is active with the VIP; ``RefusedError`` if the agents
    rolled the switchover back or it did not end within ``timeout``."""
    started, asked_at = time.monotonic(), time.time()

    def moved(st: AgentStatus) -> bool:
        if any(
            e.get("code") == ReasonCode.SWITCHOVER_ABORTED
            and float(e.get("ts", 0)) >= asked_at - timeout
            for e in st.recent
        ):
            raise RefusedError(
                f"switchover rolled back: {plan.target} could not apply {plan.active}'s "
                "final transactions in time; see `dualbeat status`"
            )
        if plan.target == plan.asked:
            return bool(st.active and st.vip.held)
        return bool(st.peer_active and st.peer_view.vip_held)

    if wait_status(port, moved, timeout) is None:
        raise RefusedError(f"switchover did not finish within {timeout:g} s; see `dualbeat status`")
    return time.monotonic() - started
