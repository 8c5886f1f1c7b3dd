"""Serving the API inside the agent: uvicorn on the agent's own asyncio loop.

Why uvicorn's ``Server.serve()`` rather than a thread or a process: the agent already
owns an asyncio loop, its state is read there without locks, and actions reach the core
through the same queue as the control socket. Handlers are short (a status read or an
await on the core's answer), so they never hold the loop.

Three departures from uvicorn's defaults, all because the agent owns the process: signal
handling stays with the agent (SIGTERM is a handover, not an HTTP shutdown), logging is
not reconfigured, and the server's housekeeping wakes once a second instead of ten times
(``_Server.main_loop``: on an idle agent those wakeups were a third of its event loop's).
Sockets are bound here, one per ``[api].bind`` address, so a wrong address fails at start
with a message naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from dualbeat.api.app import build_app
from dualbeat.api.metrics import AgentMetrics
from dualbeat.api.port import Controlled
from dualbeat.errors import ConfigError

log = logging.getLogger("dualbeat.api")


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the agent's own SIGTERM/SIGINT handlers stay in place

    async def main_loop(self) -> None:
        """uvicorn's loop, one tick a second: its tick refreshes the ``Date`` header once
        a second (when its counter is a multiple of 10) and checks ``should_exit``, which
        ``exit`` also signals at once. uvicorn polls every 100 ms for signals the agent
        handles itself."""
        ticks = 0
        while not await self.on_tick(ticks):
            ticks += 10
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)

    def exit(self) -> None:
        """Stop serving now (``main_loop`` returns at once)."""
        self.should_exit = True
        self._exit.set()


def bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"api.bind: cannot listen on {address}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


class ApiServer:
    """The HTTP API of one agent; ``start`` binds and serves, ``stop`` closes."""

    def __init__(self, agent: Controlled, listeners: list[Any]) -> None:
        settings = agent.config.api
        assert settings is not None
        self.settings = settings
        self.addresses = settings.addresses(agent.config.node(agent.node))
        self.metrics = AgentMetrics(agent.status)
        listeners.append(self.metrics.observe)
        config = uvicorn.Config(
            build_app(agent, self.metrics),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
        )
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sockets = [bind(address, self.settings.port) for address in self.addresses]
        self._task = asyncio.create_task(self.server.serve(sockets=sockets))
        while not self.server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # raises what stopped it
            raise ConfigError("the HTTP API stopped at start-up")
        scheme = "https" if self.settings.tls_cert else "http"
        where = ", ".join(f"{scheme}://{a}:{self.settings.port}" for a in self.addresses)
        log.info("HTTP API listening on %s", where)

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.exit()
        try:
            await asyncio.wait_for(self._task, 3.0)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
