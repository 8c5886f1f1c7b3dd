"""The agent as the ops workflows see it from inside its own process.

A workflow is blocking code (it runs SQL, sleeps between polls), so the API runs it in a
worker thread; every question it asks the agent hops back onto the agent's loop, where
the state is written, so it reads a consistent view without locks, as the routes do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from dualbeat.agent.control import ControlAnswer
from dualbeat.agent.status import AgentStatus
from dualbeat.config import Config
from dualbeat.errors import AgentUnreachable

T = TypeVar("T")


class Controlled(Protocol):
    """What the API needs from the agent (``dualbeat.agent.runtime.Agent``)."""

    config: Config
    node: str

    def status(self) -> AgentStatus: ...

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LoopAgent:
    """An ``ops.port.AgentPort`` for a worker thread: each call runs on ``loop`` and
    waits at most ``timeout`` seconds. A command the agent took is never cancelled by
    an answer that comes late: only the waiting ends (``AgentUnreachable``, HTTP 503)."""

    agent: Controlled
    loop: asyncio.AbstractEventLoop
    timeout: float

    def status(self) -> AgentStatus:
        async def read() -> AgentStatus:
            return self.agent.status()

        return self._run(read())

    def send(self, payload: dict[str, Any]) -> ControlAnswer:
        return ControlAnswer.from_json(self._run(self.agent._answer(payload)))

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            raise AgentUnreachable(f"the agent did not answer within {self.timeout:g} s") from None
