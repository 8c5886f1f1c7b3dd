"""The operator's role commands, HeartBeat's ``hb_standby`` and ``hb_takeover``."""

from __future__ import annotations

from dualbeat.agent.control import ControlAnswer
from dualbeat.ops.port import AgentPort, command


def standby(port: AgentPort, node: str) -> ControlAnswer:
    """``node`` (if active) hands over to its healthy standby; refused otherwise."""
    return command(port, {"cmd": "standby"}, f"{node} refused")


def takeover(port: AgentPort, node: str, *, force: bool = False) -> ControlAnswer:
    """``node`` becomes active; refused while the peer holds transactions it lacks,
    unless ``force`` accepts their loss."""
    return command(port, {"cmd": "takeover", "force": force}, f"{node} refused")
