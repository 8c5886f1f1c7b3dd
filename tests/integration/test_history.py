"""The history store on a real pair: a handover's timings on both sides, records that
survive a kill -9 of the agent, a rejoin report linked by path, and the agent's
``history`` command answering from the same store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dualbeat.agent import control, history
from dualbeat_lab.sandbox import agents, faults, netns
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration


def dualbeat(info: LabInfo, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI from the client host, which reaches both servers; the control sockets and
    the stores are files, so --node reaches any node's agent and history from there."""
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            "client",
            sys.executable,
            "-m",
            "dualbeat",
            *args,
            "-c",
            str(info.config_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cli_history(info: LabInfo, node: str, *args: str) -> list[dict[str, Any]]:
    done = dualbeat(info, "history", "--node", node, "--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def agent_dir(info: LabInfo, node: str) -> Path:
    return info.lab.node_paths(node).agent_dir


def test_history_survives_kill_9_and_records_a_handover(pair: LabInfo) -> None:
    handover = dualbeat(pair, "standby", "--node", "db1")
    assert handover.returncode == 0, handover.stderr + handover.stdout
    wait_for(lambda: agents.settled(pair, standby=True) == "db2", 20, "db2 active, db1 standby")
    promoted = wait_for(
        lambda: [e for e in cli_history(pair, "db2") if e["code"] == "PROMOTED"],
        10,
        "db2's PROMOTED record",
    )[-1]
    phases = promoted["evidence"]
    for phase in ("detect_s", "apply_s", "promote_s", "vip_s", "total_s"):
        assert isinstance(phases[phase], float) and phases[phase] >= 0.0, (phase, phases)
    assert phases["takeover"]["old_active"] == "db1" and promoted["kind"] == "takeover"
    assert promoted["epoch"] == phases["epoch"] and promoted["role"] == "active"
    demoted = [e for e in cli_history(pair, "db1") if e["code"] == "DEMOTED"]
    assert demoted and demoted[-1]["evidence"]["fence_s"] >= 0.0
    decisions = [e for e in cli_history(pair, "db1") if e["code"] == "STANDBY_REQUESTED"]
    assert decisions and decisions[-1]["evidence"]["command"] == "standby"

    # kill -9 the standby's agent (db1: its MySQL keeps replicating), then restart it.
    before = cli_history(pair, "db1")
    killed_at = faults.kill_agent(pair.lab, "db1")
    pid = netns.read_pid(agent_dir(pair, "db1") / "agent.pid")
    assert pid is not None
    wait_for(lambda: not netns.pid_alive(pid), 10, "the killed agent to be gone")
    while_down = cli_history(pair, "db1")  # readable with the agent down
    assert while_down[: len(before)] == before

    agents.start(pair, "db1", lambda _m: None)
    assert agents.wait_settled(pair, lambda _m: None) == "db2"
    after = cli_history(pair, "db1")
    assert after[: len(before)] == before  # every record from before the kill, unchanged
    assert any(e["code"] == "DEMOTED" for e in after)
    restarts = [e for e in after if e["code"] == "STARTED" and e["ts"] > killed_at]
    assert restarts, "the restarted agent appends to the same store"
    found = history.read(agent_dir(pair, "db1"))
    assert found.damaged == 0 and len(found.events) == len(cli_history(pair, "db1"))

    answer = control.request(agent_dir(pair, "db1"), {"cmd": "history", "limit": 3})
    assert answer.ok and len(answer.events) == 3
    assert [e["ts"] for e in answer.events] == sorted(e["ts"] for e in answer.events)
    assert all(e in cli_history(pair, "db1") for e in answer.events)  # the same store
    since = control.request(agent_dir(pair, "db1"), {"cmd": "history", "since": killed_at})
    assert since.events and all(e["ts"] >= killed_at for e in since.events)
    bad = control.request(agent_dir(pair, "db1"), {"cmd": "history", "limit": "3"})
    assert bad.ok is False and "limit" in bad.error


def test_a_rejoin_report_is_linked_from_the_nodes_history(pair: LabInfo) -> None:
    done = dualbeat(pair, "rejoin", "db2", "--analyze", "--json")
    assert done.returncode == 0, done.stderr  # a healthy standby lacks nothing
    linked = [e for e in cli_history(pair, "db2") if e["code"] == "REJOIN_REPORT"]
    assert len(linked) == 1 and linked[0]["kind"] == "rejoin"
    report = Path(linked[0]["evidence"]["report"])
    assert report.exists() and f"report saved: {report}" in done.stderr
    assert json.loads(report.read_text())["node"] == "db2"
    assert linked[0]["role"] == "standby" and linked[0]["evidence"]["transactions"] == 0
