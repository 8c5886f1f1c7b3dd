"""``dualbeat history``, ``status --watch`` and ``maintenance`` as a user runs them, with no
agent running: the store is read from disk and the live view says the agent is away."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from dualbeat.agent import history
from dualbeat.agent.render import render_history, render_watch
from dualbeat.cli import cli
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.state import Reason
from tests.unit.test_config import BASE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    key = tmp_path / "hb.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    pw = tmp_path / "mysql.pass"
    pw.write_text("pw\n")
    pw.chmod(0o600)
    path = tmp_path / "dualbeat.toml"
    path.write_text(BASE.format(dir=tmp_path) + f'\n[state]\ndir = "{tmp_path}/state"\n')
    return path


def store(config: Path) -> Path:
    return config.parent / "state"


def fill(config: Path) -> None:
    h = history.History(store(config), "db1")
    now = time.time()
    phases = {"detect_s": 1.5, "fence_s": None, "apply_s": 0.01, "vip_s": 0.02, "total_s": 1.6}
    for ts, reason in (
        (now - 7200, Reason(ReasonCode.STARTED, "agent started as starting")),
        (now - 60, Reason(ReasonCode.PEER_DEAD, "the peer is dead on every link")),
        (now - 59, Reason(ReasonCode.PROMOTED, "active at epoch 2", phases)),
        (now - 1, Reason(ReasonCode.REJOIN_REPORT, "analysis", {"report": "/r/x-analysis.json"})),
    ):
        h.append(history.event("db1", reason, role="active", epoch=2, ts=ts))
    h.close()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


def test_history_reads_the_store_with_the_agent_down(config: Path) -> None:
    fill(config)
    code, out, _ = run("history", "-c", str(config), "--node", "db1", "--json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["code"] for e in events] == ["STARTED", "PEER_DEAD", "PROMOTED", "REJOIN_REPORT"]
    code, out, _ = run("history", "-c", str(config), "--node", "db1", "--since", "10m")
    assert code == 0 and "PROMOTED" in out and "STARTED" not in out
    assert "detect 1.500 s" in out and "report /r/x-analysis.json" in out
    code, out, _ = run("history", "-c", str(config), "--node", "db1", "--limit", "1", "--json")
    assert [json.loads(line)["code"] for line in out.splitlines()] == ["REJOIN_REPORT"]


def test_history_names_a_bad_since(config: Path) -> None:
    code, _, err = run("history", "-c", str(config), "--node", "db1", "--since", "yesterday")
    assert code == 2 and "--since" in err and "'yesterday'" in err


def test_history_of_an_empty_store_says_so(config: Path) -> None:
    code, out, _ = run("history", "-c", str(config), "--node", "db2")
    assert code == 0 and "no events" in out


def test_parse_since() -> None:
    assert history.parse_since("10m", 1000.0) == 400.0
    assert history.parse_since("1.5h", 10000.0) == 10000.0 - 5400.0
    assert history.parse_since("2026-11-25T17:00:00+00:00", 0.0) == 1795626000.0
    with pytest.raises(ValueError, match="ISO 8601"):
        history.parse_since("10 minutes", 0.0)


def test_tail_reads_the_newest_records_from_the_end(tmp_path: Path) -> None:
    h = history.History(tmp_path, "db1")
    for n in range(300):
        h.append(
            history.event(
                "db1",
                Reason(ReasonCode.ACTION_FAILED, str(n), {"pad": "x" * 500}),
                role="a",
                epoch=1,
            )
        )
    h.close()
    assert [e["text"] for e in history.tail(tmp_path, 3)] == ["297", "298", "299"]
    assert len(history.tail(tmp_path, 1000)) == 300
    assert history.tail(tmp_path / "none", 5) == []


def text_of(renderable: object) -> str:
    console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def test_watch_frame_shows_an_unreachable_agent_and_its_events() -> None:
    events = [{"ts": 1.0, "code": "PEER_DEAD", "text": "the peer is dead"}]
    frame = text_of(render_watch("db1", None, "no agent answers", events, interval=1, now=2.0))
    assert "agent unreachable: no agent answers" in frame and "PEER_DEAD" in frame


def test_history_table_shows_phase_timings() -> None:
    event = {
        "ts": 1.0,
        "node": "db2",
        "role": "active",
        "epoch": 3,
        "code": "PROMOTED",
        "text": "active at epoch 3",
        "evidence": {"detect_s": 1.2, "fence_s": None, "apply_s": 0.004, "total_s": 1.3},
    }
    shown = text_of(render_history([event], "db2"))
    assert "detect 1.200 s, apply 0.004 s, total 1.300 s" in shown and "fence" not in shown


def test_watch_refreshes_until_ctrl_c_then_exits_cleanly(config: Path) -> None:
    """On a terminal (a pty: rich draws live frames only there), with no agent running."""
    fill(config)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dualbeat",
            "status",
            "--watch",
            "--interval",
            "0.2",
            "-c",
            str(config),
            "--node",
            "db1",
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=os.environ | {"PYTHONPATH": str(ROOT), "COLUMNS": "160", "TERM": "xterm"},
        cwd=ROOT,
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 20
        while seen.count(b"agent unreachable") < 2 and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 65536)
        assert seen.count(b"agent unreachable") >= 2, seen[-2000:]  # refreshed at least once
        assert b"REJOIN_REPORT" in seen
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(OSError):
            while select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 65536)
        os.close(master)
    assert b"Traceback" not in seen


def test_maintenance_needs_a_running_agent(config: Path) -> None:
    code, _, err = run("maintenance", "on", "-c", str(config), "--node", "db1")
    assert code == 7 and "no dualbeat agent answers" in err
