"""How a workflow talks to a node's agent: the port, a command, and waiting on status."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from dualbeat.agent.control import ControlAnswer
from dualbeat.agent.status import AgentStatus
from dualbeat.errors import RefusedError, UsageError

Progress = Callable[[str], None]


def quiet(message: str) -> None:
    """The progress callback that shows nothing (the API's)."""


class AgentPort(Protocol):
    """One node's agent: ``dualbeat.agent.control.SocketAgent`` from the command line,
    ``dualbeat.api.port.LoopAgent`` inside the agent's own process."""

    def status(self) -> AgentStatus: ...

    def send(self, payload: dict[str, Any]) -> ControlAnswer: ...


def command(port: AgentPort, payload: dict[str, Any], who: str) -> ControlAnswer:
    """Send an operator command; a refusal becomes ``RefusedError`` with the agent's own
    reason, prefixed by ``who`` (who refused what); a request the agent does not take
    (unknown, malformed) a ``UsageError``."""
    answer = port.send(payload)
    if not answer.ok:
        raise UsageError(answer.why)
    if answer.refused:
        raise RefusedError(f"{who}: {answer.why}")
    return answer


def wait_status(
    port: AgentPort, done: Callable[[AgentStatus], bool], timeout: float, every: float = 0.1
) -> AgentStatus | None:
    """Poll the agent's status until ``done`` holds (that status) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = port.status()
        if done(status):
            return status
        time.sleep(every)
    return None
