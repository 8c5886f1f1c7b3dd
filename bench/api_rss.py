"""What ``[api]`` adds to an idle agent's memory, step by step: imports, app, serving.

    .venv/bin/python bench/api_rss.py          # one fresh interpreter, a line per step

Issue 14 item 5 asks for at most 50 MB RSS per host for an idle agent. ``bench/imports.py``
measures imports only; this goes on as the agent does when ``[api]`` is configured: it
builds the ``ApiServer`` (the app, the metrics registry), serves on a loopback port on its
own loop, and answers a few hundred requests to every read-only route, with a fake agent
in place of the real one (no lab, MySQL or root needed). Each line is ``VmRSS`` from
``/proc/self/status`` after the step, and what the step added. The first step imports
what ``dualbeat agent`` has imported when it starts (``AGENT_IMPORTS`` of ``bench/imports.py``); the
script's own imports before it are a few standard modules the agent loads anyway.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import os
from pathlib import Path
from typing import Any

CONFIG = """
cluster = "bench"
[[nodes]]
name = "db1"
address = "127.0.0.1"
[[nodes]]
name = "db2"
address = "127.0.0.2"
[mysql]
user = "dualbeat"
password_file = "{dir}/mysql.pass"
[replication]
user = "repl"
password = "secret"
[heartbeat]
key_file = "{dir}/hb.key"
[[heartbeat.links]]
name = "lan"
addresses = {{ db1 = "127.0.0.1", db2 = "127.0.0.2" }}
[api]
bind = ["127.0.0.1"]
port = {port}
"""
STATUS = {
    "node": "db1", "peer": "db2", "cluster": "bench", "role": "active", "epoch": 1,
    "finding": None, "vip": {"address": None, "held": None}, "peer_view": {},
    "mysql": {"health": "healthy", "writable": True, "replicating": True, "lag_s": 0,
              "executed": "", "received": "", "semisync_active": None, "detail": ""},
}  # fmt: skip
ROUTES = ("/health", "/active", "/standby", "/status", "/metrics", "/history", "/")


def agent_imports() -> tuple[str, ...]:
    """``AGENT_IMPORTS`` of ``bench/imports.py``, read without importing that script: its
    argparse, statistics and subprocess are 1 MB the agent does not load."""
    tree = ast.parse((Path(__file__).parent / "imports.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and "AGENT_IMPORTS" in ast.unparse(node):
            assert node.value is not None
            names: tuple[str, ...] = ast.literal_eval(node.value)
            return names
    raise LookupError("bench/imports.py has no AGENT_IMPORTS")


class Step:
    """Prints RSS after each step and what the step added."""

    def __init__(self) -> None:
        self.last = self.rss()

    @staticmethod
    def rss() -> float:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

    def __call__(self, what: str) -> None:
        now = self.rss()
        print(f"{what:32} {now:6.1f} MB  {now - self.last:+5.1f}")
        self.last = now


async def get(port: int, path: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await reader.read()
    writer.close()


async def serve(step: Step, agent: Any, port: int) -> None:
    from dualbeat.api.server import ApiServer

    server = ApiServer(agent, [])
    step("ApiServer (app, metrics)")
    await server.start()
    step("serving")
    for _ in range(50):
        for path in ROUTES:
            await get(port, path)
    step(f"{50 * len(ROUTES)} requests")
    await get(port, "/openapi.json")
    step("/openapi.json once")
    await server.stop()


def main() -> None:
    step = Step()
    for name in agent_imports():
        importlib.import_module(name)
    step("agent imports")
    importlib.import_module("dualbeat.api.server")
    step("dualbeat.api.server imported")
    import tempfile  # not before: the agent does not load it

    from dualbeat.agent.status import AgentStatus
    from dualbeat.config import loads

    port = 18000 + os.getpid() % 1000
    with tempfile.TemporaryDirectory(prefix="api-rss-") as tmp:
        for name, data in (("hb.key", os.urandom(32)), ("mysql.pass", b"pw\n")):
            (Path(tmp) / name).write_bytes(data)
            (Path(tmp) / name).chmod(0o600)
        config = loads(CONFIG.format(dir=tmp, port=port))

    class Agent:
        node = "db1"

        def __init__(self) -> None:
            self.config = config

        def status(self) -> AgentStatus:
            return AgentStatus.from_json(STATUS)

        async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
            return {"ok": True, "events": []}

    asyncio.run(serve(step, Agent(), port))


if __name__ == "__main__":
    main()
