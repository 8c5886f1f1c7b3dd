"""The API server on a real loopback socket: serves on the running loop, leaves the
agent's signal handlers alone, fails clearly on a bad address, speaks TLS when told."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from dualbeat.api.server import ApiServer
from dualbeat.errors import ConfigError
from tests.unit.test_api import FakeAgent, make_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def api_config(port: int, extra: str = "") -> str:
    return f'\n[api]\nbind = ["127.0.0.1"]\nport = {port}\n{extra}'


def test_serves_on_the_agents_loop_and_keeps_its_signal_handlers(tmp_path: Path) -> None:
    port = free_port()
    agent = FakeAgent(make_config(tmp_path, api_config(port)))
    listeners: list[object] = []

    async def scenario() -> tuple[int, int, bool]:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR1, stopped.set)
        server = ApiServer(agent, listeners)
        await server.start()
        try:
            async with httpx.AsyncClient() as client:
                health = await client.get(f"http://127.0.0.1:{port}/health")
                active = await client.get(f"http://127.0.0.1:{port}/active")
            signal.raise_signal(signal.SIGUSR1)  # still the loop's handler, not uvicorn's
            await asyncio.wait_for(stopped.wait(), 2.0)
        finally:
            await server.stop()
            loop.remove_signal_handler(signal.SIGUSR1)
        with socket.socket() as probe:
            closed = probe.connect_ex(("127.0.0.1", port)) != 0
        return health.status_code, active.status_code, closed

    assert asyncio.run(scenario()) == (200, 200, True)
    assert len(listeners) == 1  # the metrics listener, fed every decision record


def test_an_address_that_is_not_ours_fails_naming_the_key(tmp_path: Path) -> None:
    config = make_config(tmp_path, '\n[api]\nbind = ["192.0.2.1"]\nport = 8008\n')
    server = ApiServer(FakeAgent(config), [])
    with pytest.raises(ConfigError, match=r"api.bind: cannot listen on 192.0.2.1:8008"):
        asyncio.run(server.start())


def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    port = free_port()
    extra = f'tls_cert = "{cert}"\ntls_key = "{key}"\n'
    agent = FakeAgent(make_config(tmp_path, api_config(port, extra)))

    async def scenario() -> int:
        server = ApiServer(agent, [])
        await server.start()
        try:
            async with httpx.AsyncClient(verify=False) as client:
                return (await client.get(f"https://127.0.0.1:{port}/active")).status_code
        finally:
            await server.stop()

    assert asyncio.run(scenario()) == 200
