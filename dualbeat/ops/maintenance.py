"""Maintenance mode on both nodes, and the peer's confirmation that it follows."""

from __future__ import annotations

from dataclasses import dataclass

from dualbeat.agent.control import ControlAnswer
from dualbeat.ops.port import AgentPort, Progress, command, quiet, wait_status


@dataclass(frozen=True)
class Switched:
    on: bool
    answer: ControlAnswer  # the asked node's: its reasons, and whether it persisted it
    confirmed: bool  # the peer said (in its heartbeat) that it follows


def switch(
    port: AgentPort, node: str, on: bool, *, timeout: float, progress: Progress = quiet
) -> Switched:
    """Pause (``on``) or resume automation through ``node``'s agent, then wait up to
    ``timeout`` for the peer to confirm it follows (it does when it next hears ``node``,
    so a missing confirmation is not an error)."""
    answer = command(port, {"cmd": "maintenance", "on": on}, f"{node} refused")
    progress(f"waiting up to {timeout:g} s for the peer to confirm")
    confirmed = wait_status(port, lambda st: st.peer_view.maintenance is on, timeout)
    return Switched(on, answer, confirmed is not None)
