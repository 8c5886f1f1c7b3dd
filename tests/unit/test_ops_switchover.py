"""One switchover, refused through both shells: ``dualbeat switchover`` (over the control
socket, here a fake agent behind a real Unix socket) and ``POST /switchover`` (in the
agent's process, here the same fake) run the same pre-checks and refuse with the same
reason and the same row of the exit-code table (exit 4, HTTP 409).

The pre-checks are given as a function (both servers over SQL in production), so a lagging
standby is written down here rather than built."""

from __future__ import annotations

import asyncio
import json
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from dualbeat.agent.control import FILENAME, ControlAnswer
from dualbeat.api.app import build_app
from dualbeat.cli import cli
from dualbeat.cli.operate import Seams
from dualbeat.config import Config
from dualbeat.ops.outcome import EXIT_CODES, ExitCode
from dualbeat.repl.check import CheckResult, Status
from dualbeat.repl.switchover import Preflight
from tests.unit.test_api import API, AUTH, FakeAgent, make_config
from tests.unit.test_config import BASE


def lagging(config: Config, active: str, target: str) -> Preflight:
    """The pre-checks of a pair whose standby is two minutes behind."""
    lag = CheckResult("lag", target, Status.FAIL, "120 s behind", "wait for it to catch up")
    return Preflight(active, target, (lag,))


class _Handler(socketserver.StreamRequestHandler):
    agent: FakeAgent

    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        if request.get("cmd") == "status":
            status = self.agent.status()
            answer: dict[str, Any] = ControlAnswer(ok=True, status=status).to_json()
        else:
            answer = asyncio.run(self.agent._answer(request))
        self.wfile.write(json.dumps(answer).encode() + b"\n")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeAgent, Path]]:
    """A fake agent answering on db1's control socket, and the config file naming it."""
    state = Path(tempfile.mkdtemp(prefix="dualbeat-ops-"))  # a socket path must be short
    text = BASE.format(dir=tmp_path) + API.format(dir=tmp_path) + f'\n[state]\ndir = "{state}"\n'
    agent = FakeAgent(make_config(tmp_path, API))
    path = tmp_path / "dualbeat.toml"
    path.write_text(text)
    handler = type("Handler", (_Handler,), {"agent": agent})
    server = socketserver.ThreadingUnixStreamServer(str(state / FILENAME), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield agent, path
    server.shutdown()
    server.server_close()
    shutil.rmtree(state, ignore_errors=True)


def test_a_lagging_standby_is_refused_the_same_way_by_the_cli_and_the_api(
    served: tuple[FakeAgent, Path],
) -> None:
    agent, path = served
    argv = ["switchover", "-c", str(path), "--node", "db1"]
    by_cli = CliRunner().invoke(cli, argv, obj=Seams(checks=lagging), terminal_width=500)
    by_api = TestClient(build_app(agent, checks=lagging)).post("/switchover", headers=AUTH)

    reason = "switchover refused:\n  db2: the standby is behind by more than"
    assert by_cli.exit_code == ExitCode.REFUSED
    assert by_api.status_code == EXIT_CODES[ExitCode.REFUSED].http == 409
    said = by_cli.stderr.removeprefix("dualbeat: error: ").strip()
    assert said.startswith(reason) and said == by_api.json()["detail"]
    assert "120 s behind" in said
    assert agent.requests == []  # neither asked the agent to move anything


def test_the_same_switchover_passes_both_when_the_checks_pass(
    served: tuple[FakeAgent, Path],
) -> None:
    agent, path = served

    def fit(config: Config, active: str, target: str) -> Preflight:
        return Preflight(active, target, ())

    argv = ["switchover", "-c", str(path), "--node", "db1", "--dry-run"]
    by_cli = CliRunner().invoke(cli, argv, obj=Seams(checks=fit))
    assert by_cli.exit_code == 0, by_cli.output
    assert "would move the active role from db1 to db2" in by_cli.stdout
    by_api = TestClient(build_app(agent, checks=fit)).post("/switchover", headers=AUTH)
    assert by_api.status_code == 200
    assert (by_api.json()["active"], by_api.json()["target"]) == ("db1", "db2")
    assert agent.requests == [{"cmd": "switchover"}]  # the dry run asked nothing


def test_no_active_node_is_refused_by_both(served: tuple[FakeAgent, Path]) -> None:
    agent, path = served
    agent.state["role"] = "standby"
    agent.state["peer_view"]["role"] = "fenced"
    by_cli = CliRunner().invoke(cli, ["switchover", "-c", str(path), "--node", "db1"])
    by_api = TestClient(build_app(agent, checks=lagging)).post("/switchover", headers=AUTH)
    assert (by_cli.exit_code, by_api.status_code) == (4, 409)
    reason = "no node is active right now: there is nothing to switch over"
    assert reason in by_cli.stderr and by_api.json()["detail"] == reason
